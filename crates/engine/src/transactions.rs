//! TransactWriteItems and TransactGetItems.
//!
//! Isolation comes from ordered partition locks: a transaction takes the writer of every
//! partition it touches, in one global order (table id, then partition index), so two
//! transactions never deadlock and a single-item write (which takes one writer) never sees half a
//! transaction. Under the locks it reads every item, checks every condition, and either cancels
//! with a reason per action or commits every change — items and partition statistics — in one
//! atomic storage batch. TransactGetItems reads under the same locks, so its items are one
//! consistent snapshot with respect to all writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use flywheel_expr::UpdateExpression;
use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{ConsumedCapacity, TransactGetItemsInput, TransactWriteItemsInput};
use flywheel_protocol::wire::WireItem;
use flywheel_protocol::{ApiError, ErrorKind};
use flywheel_types::limits::{TRANSACTION_BYTES_MAX, TRANSACT_ITEMS_MAX};
use flywheel_types::{item_size_bytes, Item};
use serde::Serialize;

use crate::capacity::{consumed, read_units, write_units, ReturnCapacity};
use crate::catalog::{Table, TableRef};
use crate::change::Staging;
use crate::conditions::{self, expr_error, Condition};
use crate::items::{key_from_key_param, key_of_item, validate_item_values, PrimaryKey};
use crate::projection::Projection;
use crate::streams::Origin;
use crate::update_item::{creates_nothing, validate_updated_item};
use crate::{storage_error, Engine, RequestContext};

/// How long a ClientRequestToken is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(600);

/// A remembered outcome: request fingerprint, when, and the response sent.
type Remembered = (u64, Instant, Vec<u8>);

/// Remembered outcomes of TransactWriteItems by ClientRequestToken.
#[derive(Default)]
pub struct IdempotencyCache {
    entries: parking_lot::Mutex<HashMap<String, Remembered>>,
}

impl IdempotencyCache {
    fn lookup(&self, token: &str, fingerprint: u64) -> Result<Option<Vec<u8>>, ApiError> {
        let mut entries = self.entries.lock();
        entries.retain(|_, (_, at, _)| at.elapsed() < IDEMPOTENCY_WINDOW);
        match entries.get(token) {
            None => Ok(None),
            Some((f, _, response)) if *f == fingerprint => Ok(Some(response.clone())),
            Some(_) => Err(ApiError::new(
                ErrorKind::IdempotentParameterMismatch,
                "Request parameters do not match the original request with the same client request token",
            )),
        }
    }

    fn store(&self, token: String, fingerprint: u64, response: Vec<u8>) {
        self.entries.lock().insert(token, (fingerprint, Instant::now(), response));
    }
}

enum Action {
    Check,
    /// The item, and why it cannot be stored if it cannot (its size or values): DynamoDB reports
    /// that as this action's `ValidationError`, not as a failure of the whole request.
    Put(Item, Option<ApiError>),
    Update(Option<UpdateExpression>),
    Delete,
}

struct Planned {
    table: TableRef,
    key: PrimaryKey,
    condition: Option<Condition>,
    return_old_on_failure: bool,
    action: Action,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WriteOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransactGetItemsOutput {
    responses: Vec<ItemResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

#[derive(Default)]
struct ItemResponse(Option<Item>);

impl Serialize for ItemResponse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(item) = &self.0 {
            m.serialize_entry("Item", &WireItem(item))?;
        }
        m.end()
    }
}

/// A cancellation reason as DynamoDB reports it.
fn reason(code: &str, message: Option<&str>, item: Option<&Item>) -> String {
    let mut out = format!("{{\"Code\":{}", serde_json::to_string(code).unwrap_or_default());
    if let Some(m) = message {
        out.push_str(&format!(",\"Message\":{}", serde_json::to_string(m).unwrap_or_default()));
    }
    if let Some(i) = item {
        out.push_str(&format!(",\"Item\":{}", serde_json::to_string(&WireItem(i)).unwrap_or_default()));
    }
    out.push('}');
    out
}

fn cancelled(reasons: Vec<(String, String)>) -> ApiError {
    let codes: Vec<&str> = reasons.iter().map(|(c, _)| c.as_str()).collect();
    let mut e = ApiError::new(
        ErrorKind::TransactionCanceled,
        format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
    );
    let json: Vec<String> = reasons.into_iter().map(|(_, j)| j).collect();
    e.extra_json = Some(format!("\"CancellationReasons\":[{}]", json.join(",")));
    e
}

fn fingerprint(body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
}

/// The distinct partitions a set of keys touches, in the global lock order.
fn lock_order<'a>(keys: impl Iterator<Item = (&'a TableRef, &'a [u8])>) -> Vec<(TableRef, usize)> {
    let mut seen = BTreeMap::new();
    for (table, key) in keys {
        let id = table.meta.read().id.clone();
        seen.insert((id, Table::partition_index(key)), table.clone());
    }
    seen.into_iter().map(|((_, index), table)| (table, index)).collect()
}

/// DynamoDB refuses a transaction that names one item twice, reads and writes alike.
fn check_distinct_items<'a>(keys: impl Iterator<Item = (&'a TableRef, &'a PrimaryKey)>) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    for (table, key) in keys {
        if !seen.insert((table.meta.read().id.clone(), key.storage_key.as_slice())) {
            return Err(ApiError::validation("Transaction request cannot include multiple operations on one item"));
        }
    }
    Ok(())
}

/// A cancellation reason for an action whose change DynamoDB would refuse to store.
fn validation_error(e: &ApiError) -> (String, String) {
    ("ValidationError".to_string(), reason("ValidationError", Some(&e.message), None))
}

/// What one action changes, once its condition holds: `None` for a condition check,
/// `Some(None)` for an item that ends up absent (deleted, or never created), or an error that
/// cancels the transaction with this action's `ValidationError`.
fn planned_change(p: &Planned, old: Option<&Item>) -> Result<Option<Option<Item>>, ApiError> {
    Ok(match &p.action {
        Action::Check => None,
        Action::Delete => Some(None),
        Action::Put(_, Some(invalid)) => return Err(invalid.clone()),
        Action::Put(item, None) => Some(Some(item.clone())),
        Action::Update(update) => {
            let mut item = old.cloned().unwrap_or_else(|| p.key.attributes.clone());
            if let Some(u) = update {
                flywheel_expr::apply_update(u, &mut item, &p.table.key.names()).map_err(expr_error)?;
                if creates_nothing(old, &item, &p.key.attributes) {
                    return Ok(Some(None));
                }
            }
            validate_updated_item(&item)?;
            Some(Some(item))
        }
    })
}

impl Engine {
    pub async fn transact_write_items(
        &self,
        ctx: &RequestContext,
        input: TransactWriteItemsInput,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let mut c = Constraints::new();
        c.required("transactItems", &input.transact_items);
        if let Some(items) = &input.transact_items {
            c.length("transactItems", "null", items.len(), 1, TRANSACT_ITEMS_MAX);
        }
        let capacity = ReturnCapacity::parse(&mut c, &input.return_consumed_capacity);
        c.one_of("returnItemCollectionMetrics", &input.return_item_collection_metrics, &["SIZE", "NONE"]);
        if let Some(token) = &input.client_request_token {
            c.length("clientRequestToken", &format!("'{token}'"), token.len(), 1, 36);
        }
        c.finish()?;
        let print = fingerprint(body);
        if let Some(token) = &input.client_request_token {
            if let Some(response) = self.idempotency.lookup(token, print)? {
                return Ok(response);
            }
        }

        let mut planned = Vec::new();
        for w in input.transact_items.unwrap_or_default() {
            let present = [w.condition_check.is_some(), w.put.is_some(), w.delete.is_some(), w.update.is_some()];
            if present.iter().filter(|p| **p).count() != 1 {
                return Err(ApiError::validation("TransactItems can only contain one of Check, Put, Update or Delete"));
            }
            let (a, kind) = if let Some(a) = w.put {
                (a, 'P')
            } else if let Some(a) = w.update {
                (a, 'U')
            } else if let Some(a) = w.delete {
                (a, 'D')
            } else {
                (w.condition_check.unwrap_or_default(), 'C')
            };
            let mut c = Constraints::new();
            c.table_name("tableName", &a.table_name);
            c.one_of(
                "returnValuesOnConditionCheckFailure",
                &a.return_values_on_condition_check_failure,
                &["ALL_OLD", "NONE"],
            );
            if kind == 'P' {
                c.required("item", &a.item);
            } else {
                c.required("key", &a.key);
            }
            if kind == 'U' {
                c.required("updateExpression", &a.update_expression);
            }
            if kind == 'C' {
                c.required("conditionExpression", &a.condition_expression);
            }
            c.finish()?;
            let (condition, update) = if kind == 'U' {
                conditions::for_update(
                    &a.update_expression,
                    &None,
                    &a.condition_expression,
                    &None,
                    &None,
                    &a.expression_attribute_names,
                    &a.expression_attribute_values,
                )?
            } else {
                let cond = conditions::for_write(
                    &a.condition_expression,
                    &None,
                    &None,
                    &a.expression_attribute_names,
                    &a.expression_attribute_values,
                )?;
                (cond, None)
            };
            let table = self.get_item_table(ctx, &a.table_name)?;
            let (key, action) = match kind {
                'P' => {
                    let item = a.item.unwrap_or_default();
                    let key = key_of_item(&table.key, &item)?;
                    let invalid =
                        validate_item_values(&item).and_then(|()| Staging::validate_index_keys(&table, &item)).err();
                    (key, Action::Put(item, invalid))
                }
                'U' => {
                    (key_from_key_param(&table.key, a.key.as_ref().unwrap_or(&Item::new()))?, Action::Update(update))
                }
                'D' => (key_from_key_param(&table.key, a.key.as_ref().unwrap_or(&Item::new()))?, Action::Delete),
                _ => (key_from_key_param(&table.key, a.key.as_ref().unwrap_or(&Item::new()))?, Action::Check),
            };
            planned.push(Planned {
                table,
                key,
                condition,
                return_old_on_failure: a.return_values_on_condition_check_failure.as_deref() == Some("ALL_OLD"),
                action,
            });
        }
        let carried: usize = planned
            .iter()
            .map(|p| match &p.action {
                Action::Put(item, _) => item_size_bytes(item),
                _ => item_size_bytes(&p.key.attributes),
            })
            .sum();
        if carried > TRANSACTION_BYTES_MAX {
            return Err(ApiError::validation("Transaction request cannot be larger than 4 MB"));
        }
        check_distinct_items(planned.iter().map(|p| (&p.table, &p.key)))?;

        let order = lock_order(planned.iter().map(|p| (&p.table, p.key.storage_key.as_slice())));
        let mut guards = Vec::with_capacity(order.len());
        for (table, index) in &order {
            guards.push(table.partitions[*index].writer.lock().await);
        }
        if order.iter().any(|(t, _)| t.dropped.load(Ordering::Acquire)) {
            return Err(ApiError::table_not_found());
        }

        // Read and check everything first; nothing is written unless every condition holds and
        // every change is valid. Each action gets its reason, as DynamoDB reports them.
        let mut olds = Vec::with_capacity(planned.len());
        let mut news: Vec<Option<Option<Item>>> = Vec::with_capacity(planned.len());
        let mut reasons = Vec::with_capacity(planned.len());
        let mut failed = false;
        for p in &planned {
            let old = self.read_item(&p.table, &p.key.storage_key)?;
            let holds = match &p.condition {
                Some(c) => conditions::evaluate(c, old.as_ref())?,
                None => true,
            };
            let new = if holds { planned_change(p, old.as_ref()) } else { Ok(None) };
            match (holds, new) {
                (true, Ok(new)) => {
                    reasons.push(("None".to_string(), reason("None", None, None)));
                    news.push(new);
                }
                (true, Err(e)) => {
                    failed = true;
                    reasons.push(validation_error(&e));
                    news.push(None);
                }
                (false, _) => {
                    failed = true;
                    let item = if p.return_old_on_failure { old.as_ref() } else { None };
                    reasons.push((
                        "ConditionalCheckFailed".to_string(),
                        reason("ConditionalCheckFailed", Some("The conditional request failed"), item),
                    ));
                    news.push(None);
                }
            }
            olds.push(old);
        }
        if failed {
            // The answer rests on the partitions' latest state: give it once that is durable.
            drop(guards);
            for (table, index) in &order {
                table.partitions[*index].settle_read(self.storage.as_ref()).await.map_err(storage_error)?;
            }
            return Err(cancelled(reasons));
        }

        // One batch: every item change with its index entries and stream records, plus the
        // statistics of every touched partition.
        let mut staging = Staging::new();
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        let mut invalid = None;
        for (i, p) in planned.iter().enumerate() {
            let old = &olds[i];
            let old_size = old.as_ref().map_or(0, item_size_bytes);
            let name = p.table.meta.read().name.clone();
            let Some(new) = &news[i] else {
                *units.entry(name).or_default() += 2.0 * read_units(old_size, true);
                continue;
            };
            let new_size = new.as_ref().map_or(0, item_size_bytes);
            *units.entry(name).or_default() += 2.0 * write_units(old_size.max(new_size));
            if let Err(e) = staging.stage(&p.table, &p.key.storage_key, old.as_ref(), new.as_ref(), Origin::Client) {
                invalid = Some((i, e));
                break;
            }
        }
        if let Some((i, e)) = invalid {
            drop(guards);
            for (table, index) in &order {
                table.partitions[*index].settle_read(self.storage.as_ref()).await.map_err(storage_error)?;
            }
            // A change the item's indexes refuse is that action's ValidationError; a storage
            // failure stays what it is.
            if e.kind != ErrorKind::Validation {
                return Err(e);
            }
            let mut reasons: Vec<(String, String)> =
                planned.iter().map(|_| ("None".to_string(), reason("None", None, None))).collect();
            reasons[i] = validation_error(&e);
            return Err(cancelled(reasons));
        }
        let ticket = if staging.is_empty() {
            None
        } else {
            let (batch, published) = staging.finish(&self.catalog_tree);
            for (table, index) in &order {
                table.partitions[*index].begin_commit();
            }
            let result = self.storage.commit(batch);
            let ticket = match &result {
                Ok(t) => *t,
                Err(_) => self.storage.durability().issued(),
            };
            for (table, index) in &order {
                table.partitions[*index].end_commit(ticket);
            }
            result.map_err(storage_error)?;
            published.apply();
            Some(ticket)
        };
        drop(guards);
        match ticket {
            Some(t) => self.storage.durability().wait(t).await.map_err(storage_error)?,
            // Nothing changed, but the answer rests on the partitions' latest state.
            None => {
                for (table, index) in &order {
                    table.partitions[*index].settle_read(self.storage.as_ref()).await.map_err(storage_error)?;
                }
            }
        }
        let capacities: Vec<ConsumedCapacity> =
            units.iter().filter_map(|(name, u)| consumed(name, *u, capacity)).collect();
        let response = flywheel_protocol::encode(&WriteOutput {
            consumed_capacity: (capacity != ReturnCapacity::None).then_some(capacities),
        });
        if let Some(token) = input.client_request_token {
            self.idempotency.store(token, print, response.clone());
        }
        Ok(response)
    }

    pub async fn transact_get_items(
        &self,
        ctx: &RequestContext,
        input: TransactGetItemsInput,
    ) -> Result<TransactGetItemsOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("transactItems", &input.transact_items);
        if let Some(items) = &input.transact_items {
            c.length("transactItems", "null", items.len(), 1, TRANSACT_ITEMS_MAX);
        }
        let capacity = ReturnCapacity::parse(&mut c, &input.return_consumed_capacity);
        c.finish()?;
        let mut planned = Vec::new();
        for g in input.transact_items.unwrap_or_default() {
            let get = g.get.ok_or_else(|| {
                ApiError::validation("1 validation error detected: Value null at 'transactItems.1.member.get' failed to satisfy constraint: Member must not be null")
            })?;
            let mut c = Constraints::new();
            c.table_name("tableName", &get.table_name);
            c.required("key", &get.key);
            c.finish()?;
            let projection = Projection::for_get(&get.projection_expression, &None, &get.expression_attribute_names)?;
            let table = self.get_item_table(ctx, &get.table_name)?;
            let key = key_from_key_param(&table.key, get.key.as_ref().unwrap_or(&Item::new()))?;
            planned.push((table, key, projection));
        }
        check_distinct_items(planned.iter().map(|(table, key, _)| (table, key)))?;
        let order = lock_order(planned.iter().map(|(t, k, _)| (t, k.storage_key.as_slice())));
        let mut items = Vec::with_capacity(planned.len());
        {
            let mut guards = Vec::with_capacity(order.len());
            for (table, index) in &order {
                guards.push(table.partitions[*index].writer.lock().await);
            }
            for (table, key, _) in &planned {
                items.push(self.read_item(table, &key.storage_key)?);
            }
        }
        for (table, index) in &order {
            table.partitions[*index].settle_read(self.storage.as_ref()).await.map_err(storage_error)?;
        }
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        let mut responses = Vec::with_capacity(items.len());
        for ((table, _, projection), item) in planned.iter().zip(items) {
            let size = item.as_ref().map_or(0, item_size_bytes);
            *units.entry(table.meta.read().name.clone()).or_default() += 2.0 * read_units(size, true);
            responses.push(ItemResponse(item.map(|i| projection.apply(i))));
        }
        let capacities: Vec<ConsumedCapacity> =
            units.iter().filter_map(|(name, u)| consumed(name, *u, capacity)).collect();
        Ok(TransactGetItemsOutput {
            responses,
            consumed_capacity: (capacity != ReturnCapacity::None).then_some(capacities),
        })
    }
}
