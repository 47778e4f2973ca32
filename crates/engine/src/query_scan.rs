//! Query and Scan: one contiguous key range (Query: one partition key, sorted by sort key; Scan:
//! a slice of the hash space), read up to Limit items or 1 MB, then filtered and projected.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use flywheel_expr::legacy::{self, parameters};
use flywheel_expr::{Condition, ExpressionKind, KeyCondition, Operand, Resolver, SortKeyCondition};
use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{LegacyCondition, PageOutput, QueryInput, ScanInput};
use flywheel_protocol::ApiError;
use flywheel_types::codec::decode_item;
use flywheel_types::key::{encode_prefix, item_key, partition_prefix, prefix_successor};
use flywheel_types::limits::QUERY_PAGE_BYTES_MAX;
use flywheel_types::{item_size_bytes, Item, KeyValue};

use crate::capacity::{consumed, read_units, ReturnCapacity};
use crate::catalog::{KeySchema, Table};
use crate::conditions::{expr_error, parse_conditional_operator, COMPARISON_OPERATORS};
use crate::indexes::{Index, Projected};
use crate::items::key_from_key_param;
use crate::{storage_error, Engine, RequestContext};

const SELECT_VALUES: &[&str] = &["SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"];

/// Scan segments: DynamoDB allows up to a million.
const TOTAL_SEGMENTS_MAX: i64 = 1_000_000;

fn convert_legacy(
    c: &mut Constraints,
    path: &str,
    conditions: &HashMap<String, LegacyCondition>,
) -> HashMap<String, legacy::LegacyCondition> {
    let mut names: Vec<&String> = conditions.keys().collect();
    names.sort();
    let mut out = HashMap::new();
    for name in names {
        let cond = &conditions[name];
        let member = format!("{path}.{name}.member.comparisonOperator");
        c.required(&member, &cond.comparison_operator);
        c.one_of(&member, &cond.comparison_operator, COMPARISON_OPERATORS);
        if let Some(op) = cond.comparison_operator.as_deref().and_then(legacy::ComparisonOperator::from_wire) {
            out.insert(
                name.clone(),
                legacy::LegacyCondition {
                    comparison_operator: op,
                    attribute_value_list: cond.attribute_value_list.clone().unwrap_or_default(),
                },
            );
        }
    }
    out
}

/// The read plan shared by Query and Scan.
struct Plan {
    filter: Option<Condition>,
    projection: crate::projection::Projection,
    count_only: bool,
    limit: Option<usize>,
    consistent: bool,
    capacity: ReturnCapacity,
}

/// A read ready to run: the table, the index if any, where to read, and the plan.
type PreparedRead = (crate::catalog::TableRef, Option<Arc<Index>>, Source, Plan);

/// The request members Query and Scan share once their expressions are parsed.
struct ReadRequest<'a> {
    table_name: &'a Option<String>,
    index_name: &'a Option<String>,
    select: &'a Option<String>,
    projection_expression: bool,
    attributes_to_get: bool,
    consistent_read: Option<bool>,
    limit: Option<i64>,
    capacity: ReturnCapacity,
}

/// Checks Select against the projection, as DynamoDB does.
fn check_select(
    select: &Option<String>,
    projection_expression: bool,
    attributes_to_get: bool,
    index: &Option<String>,
) -> Result<bool, ApiError> {
    let which = if projection_expression { "ProjectionExpression" } else { "AttributesToGet" };
    let has_projection = projection_expression || attributes_to_get;
    match select.as_deref() {
        Some("SPECIFIC_ATTRIBUTES") if !has_projection => Err(ApiError::validation(
            "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
        )),
        Some("ALL_ATTRIBUTES") if has_projection => Err(ApiError::validation(format!(
            "1 validation error detected: Cannot specify the {which} when choosing to get ALL_ATTRIBUTES"
        ))),
        Some("COUNT") if has_projection => Err(ApiError::validation(format!(
            "1 validation error detected: Cannot specify the {which} when choosing to get only the Count"
        ))),
        Some("ALL_PROJECTED_ATTRIBUTES") if index.is_none() => Err(ApiError::validation(
            "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        )),
        Some("COUNT") => Ok(true),
        _ => Ok(false),
    }
}

/// The filter and projection of a Query or Scan, from expressions or their legacy forms; then
/// the request's unused placeholders are reported (after every expression is parsed, as DynamoDB
/// does).
fn read_expressions(
    resolver: &mut Resolver<'_>,
    filter_expression: &Option<String>,
    legacy_filter: Option<&HashMap<String, legacy::LegacyCondition>>,
    op: Option<legacy::ConditionalOperator>,
    projection_expression: &Option<String>,
    attributes_to_get: &Option<Vec<String>>,
) -> Result<(Option<Condition>, Option<Vec<flywheel_expr::DocumentPath>>), ApiError> {
    let filter = match filter_expression {
        Some(text) => Some(flywheel_expr::parse_condition(text, resolver, ExpressionKind::Filter).map_err(expr_error)?),
        None => match legacy_filter {
            Some(f) => legacy::filter_condition(f.iter(), op).map_err(expr_error)?,
            None => None,
        },
    };
    let projection = match projection_expression {
        Some(text) => Some(flywheel_expr::parse_projection(text, resolver).map_err(expr_error)?.paths),
        None => match attributes_to_get {
            Some(names) => Some(legacy::attributes_to_get(names).map_err(expr_error)?.paths),
            None => None,
        },
    };
    resolver.check_unused().map_err(expr_error)?;
    Ok((filter, projection))
}

/// Every top-level attribute name a condition reads.
fn condition_attributes<'a>(c: &'a Condition, out: &mut Vec<&'a str>) {
    fn operand<'a>(o: &'a Operand, out: &mut Vec<&'a str>) {
        match o {
            Operand::Path(p) => out.push(p.top_level_name()),
            Operand::Size(inner) => operand(inner, out),
            Operand::Value(_) => {}
        }
    }
    match c {
        Condition::Compare { left, right, .. } => {
            operand(left, out);
            operand(right, out);
        }
        Condition::Between { operand: o, lower, upper } => {
            operand(o, out);
            operand(lower, out);
            operand(upper, out);
        }
        Condition::In { operand: o, list } => {
            operand(o, out);
            list.iter().for_each(|x| operand(x, out));
        }
        Condition::AttributeExists(p) | Condition::AttributeNotExists(p) => out.push(p.top_level_name()),
        Condition::AttributeType { operand: o, .. } => operand(o, out),
        Condition::BeginsWith { operand: o, prefix } => {
            operand(o, out);
            operand(prefix, out);
        }
        Condition::Contains { operand: o, value } => {
            operand(o, out);
            operand(value, out);
        }
        Condition::Not(inner) => condition_attributes(inner, out),
        Condition::And(l, r) | Condition::Or(l, r) => {
            condition_attributes(l, out);
            condition_attributes(r, out);
        }
    }
}

/// A Query's filter may not read the key attributes.
fn check_filter_keys(filter: &Option<Condition>, schema: &KeySchema) -> Result<(), ApiError> {
    let Some(f) = filter else { return Ok(()) };
    let mut names = Vec::new();
    condition_attributes(f, &mut names);
    for key in schema.names() {
        if names.contains(&key) {
            return Err(ApiError::validation(format!(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: {key}"
            )));
        }
    }
    Ok(())
}

/// Pages through `range` of the table: Limit items or 1 MB, whichever first.
struct Page {
    items: Vec<Item>,
    count: usize,
    scanned: usize,
    bytes: usize,
    last_key: Option<Item>,
}

impl Engine {
    /// The table a Query or Scan reads, and the index if it names one.
    fn get_read_table(
        &self,
        ctx: &RequestContext,
        table_name: &Option<String>,
        index_name: &Option<String>,
        consistent: bool,
    ) -> Result<(crate::catalog::TableRef, Option<Arc<Index>>), ApiError> {
        let table = self.get_item_table(ctx, table_name)?;
        let Some(name) = index_name else { return Ok((table, None)) };
        let index = table
            .find_index(name)
            .ok_or_else(|| ApiError::validation(format!("The table does not have the specified index: {name}")))?;
        if index.global && consistent {
            return Err(ApiError::validation("Consistent reads are not supported on global secondary indexes"));
        }
        if !index.is_active() {
            return Err(ApiError::validation(format!("Cannot read from backfilling global secondary index: {name}")));
        }
        Ok((table, Some(index)))
    }

    /// What Query and Scan do alike after parsing their expressions, in DynamoDB's order: check
    /// Select, find the table and index, decide where to read, and make the plan.
    fn prepare_read(
        &self,
        ctx: &RequestContext,
        r: ReadRequest<'_>,
        filter: Option<Condition>,
        projection: Option<Vec<flywheel_expr::DocumentPath>>,
    ) -> Result<PreparedRead, ApiError> {
        let count_only = check_select(r.select, r.projection_expression, r.attributes_to_get, r.index_name)?;
        let consistent = r.consistent_read.unwrap_or(false);
        let (table, index) = self.get_read_table(ctx, r.table_name, r.index_name, consistent)?;
        let source = read_source(&table, &index, r.select, &projection, &filter)?;
        let plan = Plan {
            filter,
            projection: match projection {
                Some(paths) => crate::projection::Projection::paths(paths),
                None => crate::projection::Projection::all(),
            },
            count_only,
            limit: r.limit.map(|l| l as usize),
            consistent,
            capacity: r.capacity,
        };
        Ok((table, index, source, plan))
    }

    fn read_page(
        &self,
        table: &Table,
        source: &Source,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
        plan: &Plan,
    ) -> Result<Page, ApiError> {
        let mut page = Page { items: Vec::new(), count: 0, scanned: 0, bytes: 0, last_key: None };
        let tree = match source {
            Source::Table => &table.items,
            Source::Index { index, .. } => &index.tree,
        };
        let iter = tree.range(start.as_ref().map(Vec::as_slice), end.as_ref().map(Vec::as_slice), reverse);
        let mut stopped_early = false;
        let mut last: Option<Item> = None;
        for entry in iter {
            if plan.limit.is_some_and(|l| page.scanned >= l) || page.bytes >= QUERY_PAGE_BYTES_MAX {
                stopped_early = true;
                break;
            }
            let (_, value) = entry.map_err(storage_error)?;
            let mut item = decode_item(&value).map_err(|e| {
                tracing::error!(error = %e, "corrupt item");
                ApiError::internal()
            })?;
            if let Source::Index { fetch_base: true, .. } = source {
                // A local index that does not hold every attribute asked for: read the item.
                let base_key = base_storage_key(&table.key, &item);
                match base_key.and_then(|k| self.read_item(table, &k).transpose()) {
                    Some(found) => item = found?,
                    None => continue,
                }
            }
            page.scanned += 1;
            page.bytes += item_size_bytes(&item);
            let keep = match &plan.filter {
                Some(f) => flywheel_expr::evaluate(f, Some(&item)).map_err(expr_error)?,
                None => true,
            };
            last = Some(match source {
                Source::Table => key_of(&table.key, &item),
                Source::Index { index, .. } => index.key_of(&table.key, &item),
            });
            if keep {
                page.count += 1;
                if !plan.count_only {
                    page.items.push(plan.projection.apply(item));
                }
            }
        }
        // DynamoDB reports LastEvaluatedKey whenever it stopped on Limit, and when 1 MB was
        // reached with items left.
        let hit_limit = plan.limit.is_some_and(|l| page.scanned >= l);
        if stopped_early || hit_limit {
            page.last_key = last;
        }
        Ok(page)
    }

    async fn settle_all(&self, table: &Table) -> Result<(), ApiError> {
        for p in &table.partitions {
            p.settle_read(self.storage.as_ref()).await.map_err(storage_error)?;
        }
        Ok(())
    }

    fn output(&self, table: &Table, page: Page, plan: &Plan) -> PageOutput {
        let name = table.meta.read().name.clone();
        PageOutput {
            items: if plan.count_only { None } else { Some(page.items) },
            count: page.count,
            scanned_count: page.scanned,
            last_evaluated_key: page.last_key,
            consumed_capacity: consumed(&name, read_units(page.bytes, plan.consistent), plan.capacity),
        }
    }

    pub async fn query(&self, ctx: &RequestContext, input: QueryInput) -> Result<PageOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.one_of("select", &input.select, SELECT_VALUES);
        c.at_least("limit", input.limit, 1);
        let capacity = ReturnCapacity::parse(&mut c, &input.return_consumed_capacity);
        let op = parse_conditional_operator(&mut c, &input.conditional_operator);
        let legacy_keys = input.key_conditions.as_ref().map(|k| convert_legacy(&mut c, "keyConditions", k));
        let legacy_filter = input.query_filter.as_ref().map(|f| convert_legacy(&mut c, "queryFilter", f));
        c.finish()?;

        let expression: Vec<&str> = parameters::QUERY_EXPRESSION
            .iter()
            .copied()
            .filter(|p| match *p {
                "ProjectionExpression" => input.projection_expression.is_some(),
                "FilterExpression" => input.filter_expression.is_some(),
                _ => input.key_condition_expression.is_some(),
            })
            .collect();
        let legacy_params: Vec<&str> = parameters::QUERY_LEGACY
            .iter()
            .copied()
            .filter(|p| match *p {
                "AttributesToGet" => input.attributes_to_get.is_some(),
                "QueryFilter" => input.query_filter.is_some(),
                "ConditionalOperator" => input.conditional_operator.is_some(),
                _ => input.key_conditions.is_some(),
            })
            .collect();
        legacy::check_parameters(
            &expression,
            &legacy_params,
            input.expression_attribute_names.is_some(),
            input.expression_attribute_values.is_some(),
        )
        .map_err(expr_error)?;
        let mut resolver =
            Resolver::new(input.expression_attribute_names.as_ref(), input.expression_attribute_values.as_ref())
                .map_err(expr_error)?;
        let key_cond = match &input.key_condition_expression {
            Some(text) => Some(
                flywheel_expr::parse_condition(text, &mut resolver, ExpressionKind::KeyCondition)
                    .map_err(expr_error)?,
            ),
            None => None,
        };
        let (filter, projection) = read_expressions(
            &mut resolver,
            &input.filter_expression,
            legacy_filter.as_ref(),
            op,
            &input.projection_expression,
            &input.attributes_to_get,
        )?;
        let (table, index, source, plan) = self.prepare_read(
            ctx,
            ReadRequest {
                table_name: &input.table_name,
                index_name: &input.index_name,
                select: &input.select,
                projection_expression: input.projection_expression.is_some(),
                attributes_to_get: input.attributes_to_get.is_some(),
                consistent_read: input.consistent_read,
                limit: input.limit,
                capacity,
            },
            filter,
            projection,
        )?;
        let schema = match &index {
            Some(i) => &i.key,
            None => &table.key,
        };
        let sk_name = schema.sk.as_ref().map(|(n, _)| n.as_str());
        let key =
            match (&key_cond, &legacy_keys) {
                (Some(cond), _) => flywheel_expr::key_condition(cond, &schema.pk, sk_name).map_err(expr_error)?,
                (None, Some(k)) => legacy::key_conditions(k.iter(), &schema.pk, sk_name).map_err(expr_error)?,
                (None, None) => return Err(ApiError::validation(
                    "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
                )),
            };
        key.check_types(schema.pk_type, schema.sk.as_ref().map(|(_, t)| *t)).map_err(expr_error)?;
        if input.filter_expression.is_some() {
            check_filter_keys(&plan.filter, schema)?;
        }
        let (mut start, mut end) = query_range(schema, &key, index.is_some())?;
        let forward = input.scan_index_forward.unwrap_or(true);
        if let Some(esk) = &input.exclusive_start_key {
            let has_all_keys =
                esk.contains_key(&schema.pk) && schema.sk.as_ref().is_none_or(|(n, _)| esk.contains_key(n));
            if !has_all_keys {
                return Err(ApiError::validation("The provided starting key is invalid"));
            }
            let k = start_key(&table, &index, esk)
                .map_err(|_| ApiError::validation("The provided key element does not match the schema"))?;
            if esk.get(&schema.pk) != Some(&key.partition_key) {
                return Err(ApiError::validation(
                    "The provided starting key is outside query boundaries based on provided conditions",
                ));
            }
            if forward {
                start = Bound::Excluded(k);
            } else {
                end = Bound::Excluded(k);
            }
        }
        let page = self.read_page(&table, &source, start, end, !forward, &plan)?;
        match &index {
            // A local index shares the table's partitioning; a global one spans every partition.
            Some(i) if i.global => self.settle_all(&table).await?,
            _ => {
                let pk = KeyValue::from_attribute(&key.partition_key).ok_or_else(ApiError::internal)?;
                let partition = &table.partitions[Table::partition_index(&partition_prefix(&pk))];
                partition.settle_read(self.storage.as_ref()).await.map_err(storage_error)?;
            }
        }
        Ok(self.output(&table, page, &plan))
    }

    pub async fn scan(&self, ctx: &RequestContext, input: ScanInput) -> Result<PageOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.one_of("select", &input.select, SELECT_VALUES);
        c.at_least("limit", input.limit, 1);
        c.at_least("totalSegments", input.total_segments, 1);
        c.at_most("totalSegments", input.total_segments, TOTAL_SEGMENTS_MAX);
        c.at_least("segment", input.segment, 0);
        c.at_most("segment", input.segment, TOTAL_SEGMENTS_MAX - 1);
        let capacity = ReturnCapacity::parse(&mut c, &input.return_consumed_capacity);
        let op = parse_conditional_operator(&mut c, &input.conditional_operator);
        let legacy_filter = input.scan_filter.as_ref().map(|f| convert_legacy(&mut c, "scanFilter", f));
        c.finish()?;
        let (segment, total) = match (input.segment, input.total_segments) {
            (None, None) => (0u64, 1u64),
            (Some(s), Some(t)) if s < t => (s as u64, t as u64),
            (Some(s), Some(t)) => {
                return Err(ApiError::validation(format!(
                    "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
                )))
            }
            (Some(_), None) => {
                return Err(ApiError::validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present"))
            }
            (None, Some(_)) => {
                return Err(ApiError::validation("The Segment parameter is required but was not present in the request when parameter TotalSegments is present"))
            }
        };
        let expression: Vec<&str> = parameters::SCAN_EXPRESSION
            .iter()
            .copied()
            .filter(|p| match *p {
                "ProjectionExpression" => input.projection_expression.is_some(),
                _ => input.filter_expression.is_some(),
            })
            .collect();
        let legacy_params: Vec<&str> = parameters::SCAN_LEGACY
            .iter()
            .copied()
            .filter(|p| match *p {
                "AttributesToGet" => input.attributes_to_get.is_some(),
                "ScanFilter" => input.scan_filter.is_some(),
                _ => input.conditional_operator.is_some(),
            })
            .collect();
        legacy::check_parameters(
            &expression,
            &legacy_params,
            input.expression_attribute_names.is_some(),
            input.expression_attribute_values.is_some(),
        )
        .map_err(expr_error)?;
        let mut resolver =
            Resolver::new(input.expression_attribute_names.as_ref(), input.expression_attribute_values.as_ref())
                .map_err(expr_error)?;
        let (filter, projection) = read_expressions(
            &mut resolver,
            &input.filter_expression,
            legacy_filter.as_ref(),
            op,
            &input.projection_expression,
            &input.attributes_to_get,
        )?;
        let (table, index, source, plan) = self.prepare_read(
            ctx,
            ReadRequest {
                table_name: &input.table_name,
                index_name: &input.index_name,
                select: &input.select,
                projection_expression: input.projection_expression.is_some(),
                attributes_to_get: input.attributes_to_get.is_some(),
                consistent_read: input.consistent_read,
                limit: input.limit,
                capacity,
            },
            filter,
            projection,
        )?;
        // Segment i of T owns hashes [i·2³²/T, (i+1)·2³²/T).
        let bound = |i: u64| -> u64 { (i << 32) / total };
        let mut start = Bound::Included((bound(segment) as u32).to_be_bytes().to_vec());
        let end = if segment + 1 == total {
            Bound::Unbounded
        } else {
            Bound::Excluded((bound(segment + 1) as u32).to_be_bytes().to_vec())
        };
        if let Some(esk) = &input.exclusive_start_key {
            let k = start_key(&table, &index, esk).map_err(|_| {
                ApiError::validation(
                    "The provided starting key is invalid: The provided key element does not match the schema",
                )
            })?;
            let hash = u64::from(u32::from_be_bytes([k[0], k[1], k[2], k[3]]));
            let in_segment = hash >= bound(segment) && (segment + 1 == total || hash < bound(segment + 1));
            if !in_segment {
                return Err(ApiError::validation(format!(
                    "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: {total} Segment: {segment}"
                )));
            }
            start = Bound::Excluded(k);
        }
        let page = self.read_page(&table, &source, start, end, false, &plan)?;
        self.settle_all(&table).await?;
        Ok(self.output(&table, page, &plan))
    }
}

/// The key attributes of a stored item (its LastEvaluatedKey form).
fn key_of(schema: &KeySchema, item: &Item) -> Item {
    let mut key = Item::new();
    if let Some(v) = item.get(&schema.pk) {
        key.insert(schema.pk.clone(), v.clone());
    }
    if let Some((name, _)) = &schema.sk {
        if let Some(v) = item.get(name) {
            key.insert(name.clone(), v.clone());
        }
    }
    key
}

/// The storage-key range a key condition selects.
/// A storage-key range: start and end bounds.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// `suffixed`: the tree is an index, whose entries continue after the index key with the base
/// table's key, so a bound "at" a key value must cover every entry that starts with it.
fn query_range(schema: &KeySchema, key: &KeyCondition, suffixed: bool) -> Result<KeyRange, ApiError> {
    let pk = KeyValue::from_attribute(&key.partition_key).ok_or_else(ApiError::internal)?;
    let prefix = partition_prefix(&pk);
    let prefix_end = prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let with = |v: &flywheel_types::AttributeValue| -> Result<Vec<u8>, ApiError> {
        let sk = KeyValue::from_attribute(v).ok_or_else(ApiError::internal)?;
        Ok(item_key(&pk, Some(&sk)))
    };
    // Just past every entry starting with `k` (for tables, `k` itself is the only one).
    let after = |k: Vec<u8>| -> Bound<Vec<u8>> {
        if suffixed {
            prefix_successor(&k).map_or(Bound::Unbounded, Bound::Excluded)
        } else {
            Bound::Included(k)
        }
    };
    if schema.sk.is_none() {
        return Ok((Bound::Included(prefix.clone()), after(prefix)));
    }
    Ok(match &key.sort_key {
        None => (Bound::Included(prefix), prefix_end),
        Some(SortKeyCondition::Eq(v)) => (Bound::Included(with(v)?), after(with(v)?)),
        Some(SortKeyCondition::Lt(v)) => (Bound::Included(prefix), Bound::Excluded(with(v)?)),
        Some(SortKeyCondition::Le(v)) => (Bound::Included(prefix), after(with(v)?)),
        Some(SortKeyCondition::Gt(v)) => {
            let start = match after(with(v)?) {
                Bound::Included(k) => Bound::Excluded(k),
                Bound::Excluded(k) => Bound::Included(k),
                Bound::Unbounded => Bound::Excluded(prefix_end_key(&prefix)),
            };
            (start, prefix_end)
        }
        Some(SortKeyCondition::Ge(v)) => (Bound::Included(with(v)?), prefix_end),
        Some(SortKeyCondition::Between(lo, hi)) => {
            let (lo, hi) = (with(lo)?, with(hi)?);
            if lo > hi {
                // An empty range; DynamoDB rejects inverted bounds while parsing.
                (Bound::Included(lo.clone()), Bound::Excluded(lo))
            } else {
                (Bound::Included(lo), after(hi))
            }
        }
        Some(SortKeyCondition::BeginsWith(p)) => {
            let sk = KeyValue::from_attribute(p).ok_or_else(ApiError::internal)?;
            let mut start = prefix.clone();
            encode_prefix(&sk, &mut start);
            let end = prefix_successor(&start).map_or(Bound::Unbounded, Bound::Excluded);
            (Bound::Included(start), end)
        }
    })
}

/// A key past every key starting with `prefix` (only for the all-0xFF corner case).
fn prefix_end_key(prefix: &[u8]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&[0xFF; 8]);
    k
}

/// Where a Query or Scan reads.
enum Source {
    Table,
    /// An index; `fetch_base`: a local index that does not hold everything asked for, so each
    /// item is read from the table.
    Index {
        index: Arc<Index>,
        fetch_base: bool,
    },
}

/// Decides the source of a read, checking Select against the index's projection.
fn read_source(
    table: &Table,
    index: &Option<Arc<Index>>,
    select: &Option<String>,
    projection: &Option<Vec<flywheel_expr::DocumentPath>>,
    filter: &Option<Condition>,
) -> Result<Source, ApiError> {
    let Some(index) = index else { return Ok(Source::Table) };
    let all_projected = index.projected == Projected::All;
    let wants_all = select.as_deref() == Some("ALL_ATTRIBUTES");
    if index.global && wants_all && !all_projected {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
            index.name
        )));
    }
    let mut names: Vec<&str> = projection.iter().flatten().map(|p| p.top_level_name()).collect();
    if let Some(f) = filter {
        condition_attributes(f, &mut names);
    }
    let missing = names.iter().any(|n| !index.holds(&table.key, n));
    let fetch_base = !index.global && !all_projected && (wants_all || missing);
    Ok(Source::Index { index: index.clone(), fetch_base })
}

/// The storage key of an ExclusiveStartKey: the table's item key, or an index entry's key.
fn start_key(table: &Table, index: &Option<Arc<Index>>, esk: &Item) -> Result<Vec<u8>, ApiError> {
    let base = key_from_key_param(&table.key, &key_of(&table.key, esk))?;
    let Some(index) = index else {
        if esk.len() != base.attributes.len() {
            return Err(ApiError::validation("The provided key element does not match the schema"));
        }
        return Ok(base.storage_key);
    };
    let mismatch = || ApiError::validation("The provided key element does not match the schema");
    let value = |name: &str| esk.get(name).and_then(KeyValue::from_attribute).ok_or_else(mismatch);
    let pk = value(&index.key.pk)?;
    let sk = match &index.key.sk {
        Some((name, _)) => Some(value(name)?),
        None => None,
    };
    Ok(Index::entry_key(&pk, sk.as_ref(), &base.storage_key))
}

/// The table's storage key of an item (from its key attributes).
fn base_storage_key(schema: &KeySchema, item: &Item) -> Option<Vec<u8>> {
    let pk = KeyValue::from_attribute(item.get(&schema.pk)?)?;
    let sk = match &schema.sk {
        Some((name, _)) => Some(KeyValue::from_attribute(item.get(name)?)?),
        None => None,
    };
    Some(item_key(&pk, sk.as_ref()))
}
