//! Table operations: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable, tags,
//! DescribeLimits, DescribeEndpoints, DescribeTimeToLive, DescribeContinuousBackups.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{
    BillingModeSummary, CreateTableInput, IndexDescription, ListTablesInput, ListTagsOfResourceInput,
    ProvisionedThroughputDescription, SecondaryIndex, SseDescription, StreamSpecification, TableClassSummary,
    TableDescription, TableNameInput, Tag, TagResourceInput, UntagResourceInput, UpdateTableInput,
};
use flywheel_protocol::ApiError;
use flywheel_storage::WriteBatch;
use flywheel_types::limits::{
    KEY_ATTRIBUTE_NAME_BYTES_MAX, LIST_TABLES_LIMIT_MAX, PROJECTED_ATTRIBUTE_NAME_BYTES_MAX, TAGS_PER_RESOURCE_MAX,
    TAG_KEY_LENGTH_MAX, TAG_VALUE_LENGTH_MAX,
};
use serde::Serialize;

use crate::backfill::{plan_index_updates, IndexChange, GLOBAL_SECONDARY_INDEXES_MAX};
use crate::catalog::{
    index_stats_key, items_tree_name, retired_key, stats_key, stream_trim_key, table_key, Table, TableMeta, TableRef,
    TreeKind, PARTITIONS_PER_TABLE,
};
use crate::indexes::{check_key_schema, check_projection, Index, IndexMeta};
use crate::streams::{Stream, StreamMeta};

/// Most local secondary indexes per table.
const LOCAL_SECONDARY_INDEXES_MAX: usize = 5;

/// Most `NonKeyAttributes` summed over a table's indexes.
const PROJECTED_ATTRIBUTES_MAX: usize = 100;
use crate::{storage_error, Engine, RequestContext};

const BILLING_MODES: &[&str] = &["PROVISIONED", "PAY_PER_REQUEST"];
const STREAM_VIEW_TYPES: &[&str] = &["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"];
const TABLE_CLASSES: &[&str] = &["STANDARD", "STANDARD_INFREQUENT_ACCESS"];

fn now_seconds() -> f64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    // DynamoDB reports millisecond precision.
    (d.as_millis() as f64) / 1000.0
}

/// The index descriptions of a table (local first, then global), as DescribeTable shows them.
fn describe_indexes(
    table: &Table,
    meta: &TableMeta,
    global: bool,
    table_creating: bool,
) -> Option<Vec<IndexDescription>> {
    let live = table.indexes.read().clone();
    let out: Vec<IndexDescription> = meta
        .indexes
        .iter()
        .filter(|m| m.global == global)
        .map(|m| {
            let index = live.iter().find(|i| i.name == m.name);
            let backfilling = index.is_some_and(|i| !i.is_active());
            // A new table's indexes are CREATING along with it; an added index while it backfills.
            let active = !backfilling && !table_creating;
            IndexDescription {
                index_name: m.name.clone(),
                key_schema: m.key_schema.clone(),
                projection: m.projection.clone(),
                index_status: global.then(|| if active { "ACTIVE" } else { "CREATING" }.to_string()),
                backfilling: (global && backfilling).then_some(true),
                provisioned_throughput: global.then_some(ProvisionedThroughputDescription {
                    number_of_decreases_today: 0,
                    read_capacity_units: m.read_capacity_units,
                    write_capacity_units: m.write_capacity_units,
                    last_increase_date_time: None,
                    last_decrease_date_time: None,
                }),
                index_size_bytes: index.map_or(0, |i| i.size_bytes()),
                item_count: index.map_or(0, |i| i.item_count()),
                index_arn: format!("{}/index/{}", meta.arn, m.name),
            }
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

pub(crate) fn describe(table: &Table, status: &str) -> TableDescription {
    let meta = table.meta.read();
    let pay_per_request = meta.billing_mode == "PAY_PER_REQUEST";
    let latest = meta.streams.last();
    let stream_enabled = latest.is_some_and(|s| s.disabled_at.is_none());
    TableDescription {
        table_name: meta.name.clone(),
        table_arn: meta.arn.clone(),
        table_id: meta.id.clone(),
        table_status: status.to_string(),
        creation_date_time: meta.creation_time,
        attribute_definitions: meta.attribute_definitions.clone(),
        key_schema: meta.key_schema.clone(),
        provisioned_throughput: ProvisionedThroughputDescription {
            number_of_decreases_today: 0,
            read_capacity_units: if pay_per_request { 0 } else { meta.read_capacity_units },
            write_capacity_units: if pay_per_request { 0 } else { meta.write_capacity_units },
            last_increase_date_time: meta.last_increase_time,
            last_decrease_date_time: meta.last_decrease_time,
        },
        billing_mode_summary: meta.pay_per_request_since.filter(|_| pay_per_request).map(|t| BillingModeSummary {
            billing_mode: "PAY_PER_REQUEST".to_string(),
            last_update_to_pay_per_request_date_time: t,
        }),
        item_count: table.item_count(),
        table_size_bytes: table.size_bytes(),
        deletion_protection_enabled: meta.deletion_protection,
        stream_specification: latest
            .filter(|_| stream_enabled)
            .map(|s| StreamSpecification { stream_enabled: Some(true), stream_view_type: Some(s.view_type.clone()) }),
        latest_stream_arn: latest.map(|s| format!("{}/stream/{}", meta.arn, s.label)),
        latest_stream_label: latest.map(|s| s.label.clone()),
        local_secondary_indexes: describe_indexes(table, &meta, false, status == "CREATING"),
        global_secondary_indexes: describe_indexes(table, &meta, true, status == "CREATING"),
        sse_description: meta.sse_enabled.then(|| SseDescription {
            status: "ENABLED".to_string(),
            sse_type: "KMS".to_string(),
            kms_master_key_arn: meta.sse_kms_key_arn.clone().unwrap_or_else(|| {
                format!(
                    "arn:aws:kms:{}:{}:key/aws-dynamodb-managed",
                    meta.region,
                    meta.arn.split(':').nth(4).unwrap_or("")
                )
            }),
        }),
        table_class_summary: meta.table_class.clone().map(|c| TableClassSummary { table_class: c }),
        restore_summary: meta.restore_summary.clone(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDescriptionOutput {
    pub table_description: TableDescription,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTableOutput {
    pub table: TableDescription,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTablesOutput {
    pub table_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_evaluated_table_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsOutput {
    pub tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLimitsOutput {
    account_max_read_capacity_units: i64,
    account_max_write_capacity_units: i64,
    table_max_read_capacity_units: i64,
    table_max_write_capacity_units: i64,
}

/// DynamoDB's default quotas.
pub fn describe_limits() -> DescribeLimitsOutput {
    DescribeLimitsOutput {
        account_max_read_capacity_units: 80_000,
        account_max_write_capacity_units: 80_000,
        table_max_read_capacity_units: 40_000,
        table_max_write_capacity_units: 40_000,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    address: String,
    cache_period_in_minutes: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeEndpointsOutput {
    endpoints: Vec<Endpoint>,
}

/// This server is the only endpoint: the address the client reached it by.
pub fn describe_endpoints(ctx: &RequestContext) -> DescribeEndpointsOutput {
    DescribeEndpointsOutput { endpoints: vec![Endpoint { address: ctx.host.clone(), cache_period_in_minutes: 1440 }] }
}

fn table_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Requested resource not found: Table: {name} not found"))
}

fn invalid(msg: impl AsRef<str>) -> ApiError {
    ApiError::validation(format!("One or more parameter values were invalid: {}", msg.as_ref()))
}

fn check_tags(c: &mut Constraints, path: &str, tags: &[Tag]) {
    for (i, t) in tags.iter().enumerate() {
        c.required(&format!("{path}.{}.member.key", i + 1), &t.key);
        c.required(&format!("{path}.{}.member.value", i + 1), &t.value);
        if let Some(k) = &t.key {
            c.length(
                &format!("{path}.{}.member.key", i + 1),
                &format!("'{k}'"),
                k.chars().count(),
                1,
                TAG_KEY_LENGTH_MAX,
            );
        }
        if let Some(v) = &t.value {
            c.length(
                &format!("{path}.{}.member.value", i + 1),
                &format!("'{v}'"),
                v.chars().count(),
                0,
                TAG_VALUE_LENGTH_MAX,
            );
        }
    }
}

fn check_stream_spec(spec: &StreamSpecification) -> Result<(), ApiError> {
    match (spec.stream_enabled, &spec.stream_view_type) {
        (Some(true), None) => {
            Err(ApiError::validation("StreamSpecification.StreamViewType is required when StreamEnabled is true"))
        }
        (Some(false), Some(_)) => Err(ApiError::validation(
            "One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false",
        )),
        _ => Ok(()),
    }
}

/// DynamoDB labels a stream by its creation time, e.g. 2026-11-23T13:45:10.123.
fn stream_label(at_seconds: f64) -> String {
    let millis = (at_seconds * 1000.0).round() as i64;
    let secs = millis.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        millis.rem_euclid(1000)
    )
}

/// A new stream of a table, created at `now`.
fn new_stream_meta(meta: &mut TableMeta, view_type: String, now: f64) -> StreamMeta {
    let label = stream_label(now);
    StreamMeta {
        tree: meta.allocate_tree(TreeKind::Stream),
        label,
        view_type,
        created: now,
        disabled_at: None,
        ending: None,
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Shape constraints shared by CreateTable and UpdateTable.
fn check_throughput_and_stream(
    c: &mut Constraints,
    throughput: &Option<flywheel_protocol::model::ProvisionedThroughput>,
    stream: &Option<StreamSpecification>,
) {
    if let Some(pt) = throughput {
        c.required("provisionedThroughput.readCapacityUnits", &pt.read_capacity_units);
        c.required("provisionedThroughput.writeCapacityUnits", &pt.write_capacity_units);
        c.at_least("provisionedThroughput.readCapacityUnits", pt.read_capacity_units, 1);
        c.at_least("provisionedThroughput.writeCapacityUnits", pt.write_capacity_units, 1);
    }
    if let Some(s) = stream {
        c.required("streamSpecification.streamEnabled", &s.stream_enabled);
        c.one_of("streamSpecification.streamViewType", &s.stream_view_type, STREAM_VIEW_TYPES);
    }
}

/// Request-shape constraints of one index definition.
pub(crate) fn check_index_shape(c: &mut Constraints, path: &str, index: &SecondaryIndex) {
    c.table_name(&format!("{path}.indexName"), &index.index_name);
    c.required(&format!("{path}.keySchema"), &index.key_schema);
    c.required(&format!("{path}.projection"), &index.projection);
    if let Some(ks) = &index.key_schema {
        c.length(&format!("{path}.keySchema"), "null", ks.len(), 1, 2);
        for (i, k) in ks.iter().enumerate() {
            let p = format!("{path}.keySchema.{}.member", i + 1);
            c.required(&format!("{p}.attributeName"), &k.attribute_name);
            c.required(&format!("{p}.keyType"), &k.key_type);
            c.one_of(&format!("{p}.keyType"), &k.key_type, &["HASH", "RANGE"]);
            if let Some(n) = &k.attribute_name {
                c.length(&format!("{p}.attributeName"), &format!("'{n}'"), n.len(), 1, KEY_ATTRIBUTE_NAME_BYTES_MAX);
            }
        }
    }
    if let Some(p) = &index.projection {
        c.one_of(&format!("{path}.projection.projectionType"), &p.projection_type, &["ALL", "KEYS_ONLY", "INCLUDE"]);
        if let Some(attrs) = &p.non_key_attributes {
            c.length(&format!("{path}.projection.nonKeyAttributes"), "null", attrs.len(), 1, 20);
            // A list's members are checked as one constraint on the list, as DynamoDB does.
            if attrs.iter().any(|a| a.is_empty() || a.len() > PROJECTED_ATTRIBUTE_NAME_BYTES_MAX) {
                c.members(
                    &format!("{path}.projection.nonKeyAttributes"),
                    &format!("'[{}]'", attrs.join(", ")),
                    1,
                    PROJECTED_ATTRIBUTE_NAME_BYTES_MAX,
                );
            }
        }
    }
    if let Some(pt) = &index.provisioned_throughput {
        c.required(&format!("{path}.provisionedThroughput.readCapacityUnits"), &pt.read_capacity_units);
        c.required(&format!("{path}.provisionedThroughput.writeCapacityUnits"), &pt.write_capacity_units);
        c.at_least(&format!("{path}.provisionedThroughput.readCapacityUnits"), pt.read_capacity_units, 1);
        c.at_least(&format!("{path}.provisionedThroughput.writeCapacityUnits"), pt.write_capacity_units, 1);
    }
}

/// CreateTable's rules for LocalSecondaryIndexes and GlobalSecondaryIndexes.
fn validate_indexes(
    input: &CreateTableInput,
    table_keys: &[flywheel_protocol::model::KeySchemaElement],
    pay_per_request: bool,
) -> Result<(), ApiError> {
    let mut names = BTreeSet::new();
    let mut non_key_attributes = 0;
    let table_hash = table_keys[0].attribute_name.as_deref().unwrap_or_default();
    if let Some(lsis) = &input.local_secondary_indexes {
        if lsis.is_empty() {
            return Err(invalid("List of LocalSecondaryIndexes is empty"));
        }
        if table_keys.len() < 2 {
            return Err(invalid(
                "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
            ));
        }
        for lsi in lsis {
            let name = lsi.index_name.as_deref().unwrap_or_default();
            let ks = lsi.key_schema.as_deref().unwrap_or_default();
            check_key_schema(ks)?;
            let hash = ks[0].attribute_name.as_deref().unwrap_or_default();
            if hash != table_hash {
                return Err(invalid(format!(
                    "Index KeySchema does not have the same leading hash key as table KeySchema for index: {name}. index hash key: {hash}, table hash key: {table_hash}"
                )));
            }
            if ks.len() < 2 {
                return Err(invalid(format!("Index KeySchema does not have a range key for index: {name}")));
            }
            non_key_attributes += check_projection(lsi.projection.as_ref().expect("checked"))?;
            if !names.insert(name) {
                return Err(invalid(format!("Duplicate index name: {name}")));
            }
        }
        if lsis.len() > LOCAL_SECONDARY_INDEXES_MAX {
            return Err(invalid(format!(
                "Number of LocalSecondaryIndexes exceeds per-table limit of {LOCAL_SECONDARY_INDEXES_MAX}"
            )));
        }
    }
    if let Some(gsis) = &input.global_secondary_indexes {
        if gsis.is_empty() {
            return Err(invalid("List of GlobalSecondaryIndexes is empty"));
        }
        for gsi in gsis {
            let name = gsi.index_name.as_deref().unwrap_or_default();
            check_key_schema(gsi.key_schema.as_deref().unwrap_or_default())?;
            non_key_attributes += check_projection(gsi.projection.as_ref().expect("checked"))?;
            match (&gsi.provisioned_throughput, pay_per_request) {
                (Some(_), true) => {
                    return Err(invalid(format!(
                        "ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                    )))
                }
                (None, false) => return Err(invalid(format!("ProvisionedThroughput is not specified for index: {name}"))),
                _ => {}
            }
            if !names.insert(name) {
                return Err(invalid(format!("Duplicate index name: {name}")));
            }
        }
        if gsis.len() > GLOBAL_SECONDARY_INDEXES_MAX {
            return Err(invalid(format!(
                "GlobalSecondaryIndex count exceeds the per-table limit of {GLOBAL_SECONDARY_INDEXES_MAX}"
            )));
        }
    }
    if non_key_attributes > PROJECTED_ATTRIBUTES_MAX {
        return Err(invalid(format!(
            "The number of attributes in key schema and non-key attributes of all indexes exceeds the limit of {PROJECTED_ATTRIBUTES_MAX}"
        )));
    }
    Ok(())
}

fn validate_create(input: &CreateTableInput) -> Result<(), ApiError> {
    let mut c = Constraints::new();
    c.required("attributeDefinitions", &input.attribute_definitions);
    c.table_name("tableName", &input.table_name);
    c.required("keySchema", &input.key_schema);
    if let Some(ks) = &input.key_schema {
        c.length("keySchema", "null", ks.len(), 1, 2);
        for (i, k) in ks.iter().enumerate() {
            let path = format!("keySchema.{}.member", i + 1);
            c.required(&format!("{path}.attributeName"), &k.attribute_name);
            c.required(&format!("{path}.keyType"), &k.key_type);
            c.one_of(&format!("{path}.keyType"), &k.key_type, &["HASH", "RANGE"]);
            if let Some(n) = &k.attribute_name {
                c.length(&format!("{path}.attributeName"), &format!("'{n}'"), n.len(), 1, KEY_ATTRIBUTE_NAME_BYTES_MAX);
            }
        }
    }
    if let Some(defs) = &input.attribute_definitions {
        for (i, d) in defs.iter().enumerate() {
            let path = format!("attributeDefinitions.{}.member", i + 1);
            c.required(&format!("{path}.attributeName"), &d.attribute_name);
            if let Some(n) = &d.attribute_name {
                c.length(&format!("{path}.attributeName"), &format!("'{n}'"), n.len(), 1, KEY_ATTRIBUTE_NAME_BYTES_MAX);
            }
            c.required(&format!("{path}.attributeType"), &d.attribute_type);
            c.one_of(&format!("{path}.attributeType"), &d.attribute_type, &["B", "N", "S"]);
        }
    }
    for (list, path) in [
        (&input.local_secondary_indexes, "localSecondaryIndexes"),
        (&input.global_secondary_indexes, "globalSecondaryIndexes"),
    ] {
        for (i, index) in list.iter().flatten().enumerate() {
            check_index_shape(&mut c, &format!("{path}.{}.member", i + 1), index);
        }
    }
    c.one_of("billingMode", &input.billing_mode, BILLING_MODES);
    check_throughput_and_stream(&mut c, &input.provisioned_throughput, &input.stream_specification);
    c.one_of("tableClass", &input.table_class, TABLE_CLASSES);
    if let Some(tags) = &input.tags {
        check_tags(&mut c, "tags", tags);
    }
    c.finish()?;

    let key_schema = input.key_schema.as_deref().unwrap_or_default();
    let defs = input.attribute_definitions.as_deref().unwrap_or_default();
    check_key_schema(key_schema)?;
    let def_names: Vec<&str> = defs.iter().filter_map(|d| d.attribute_name.as_deref()).collect();
    let distinct: BTreeSet<&str> = def_names.iter().copied().collect();
    if distinct.len() != def_names.len() {
        return Err(invalid("Cannot have two attributes with the same name"));
    }
    let lsis = input.local_secondary_indexes.as_deref().unwrap_or_default();
    let gsis = input.global_secondary_indexes.as_deref().unwrap_or_default();
    let index_key_names = lsis.iter().chain(gsis).flat_map(|i| i.key_schema.iter().flatten());
    let mut key_names: Vec<&str> = Vec::new();
    for name in key_schema.iter().chain(index_key_names).filter_map(|k| k.attribute_name.as_deref()) {
        if !key_names.contains(&name) {
            key_names.push(name);
        }
    }
    let missing: Vec<&str> = key_names.iter().copied().filter(|k| !distinct.contains(k)).collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            missing.join(", "),
            def_names.join(", ")
        )));
    }
    let pay_per_request = input.billing_mode.as_deref() == Some("PAY_PER_REQUEST");
    validate_indexes(input, key_schema, pay_per_request)?;
    if def_names.len() != key_names.len() {
        if input.local_secondary_indexes.is_some() || input.global_secondary_indexes.is_some() {
            return Err(invalid(format!(
                "Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
                def_names.join(", "),
                key_names.join(", ")
            )));
        }
        return Err(invalid(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let pay_per_request = input.billing_mode.as_deref() == Some("PAY_PER_REQUEST");
    match (&input.provisioned_throughput, pay_per_request) {
        (None, false) => {
            return Err(invalid(
                "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
            ))
        }
        (Some(_), true) => {
            return Err(invalid(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ))
        }
        _ => {}
    }
    if let Some(s) = &input.stream_specification {
        check_stream_spec(s)?;
    }
    if let Some(tags) = &input.tags {
        if tags.len() > TAGS_PER_RESOURCE_MAX {
            return Err(ApiError::new(
                flywheel_protocol::ErrorKind::Validation,
                "One or more parameter values were invalid: The number of tags exceeds the limit of 50",
            ));
        }
    }
    Ok(())
}

pub(crate) fn new_table_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let h = |r: std::ops::Range<usize>| bytes[r].iter().map(|b| format!("{b:02x}")).collect::<String>();
    // A version-4 UUID.
    let v = format!("4{}", &h(6..8)[1..]);
    let variant = format!("{:x}{}", 8 | (bytes[8] & 0x3), &h(8..10)[1..]);
    format!("{}-{}-{}-{}-{}", h(0..4), h(4..6), v, variant, h(10..16))
}

impl Engine {
    fn arn(&self, region: &str, name: &str) -> String {
        format!("arn:aws:dynamodb:{region}:{}:table/{name}", self.config.account_id)
    }

    fn get_table(&self, ctx: &RequestContext, name: &Option<String>) -> Result<TableRef, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", name);
        c.finish()?;
        let name = name.as_deref().unwrap_or_default();
        self.find_request_table(ctx, name).ok_or_else(|| table_not_found(name))
    }

    /// The table an ARN names, in the caller's region.
    fn get_table_by_arn(&self, ctx: &RequestContext, arn: &Option<String>) -> Result<TableRef, ApiError> {
        let mut c = Constraints::new();
        c.required("resourceArn", arn);
        c.finish()?;
        let arn = arn.as_deref().unwrap_or_default();
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let name = match parts.as_slice() {
            ["arn", _, "dynamodb", region, _, resource] if *region == ctx.region => resource.strip_prefix("table/"),
            ["arn", ..] => None,
            _ => {
                return Err(ApiError::validation(format!(
                    "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
                )))
            }
        };
        name.and_then(|n| self.find_table(&ctx.region, n))
            .filter(|t| t.meta.read().arn == arn)
            .ok_or_else(|| ApiError::not_found(format!("Requested resource not found: ResourceArn: {arn} not found")))
    }

    fn save_meta(&self, batch: &mut WriteBatch, meta: &TableMeta) {
        let json = serde_json::to_vec(meta).expect("table metadata serializes");
        batch.put(&self.catalog_tree, table_key(&meta.region, &meta.name), json);
    }

    async fn commit_catalog(&self, batch: WriteBatch) -> Result<(), ApiError> {
        let ticket = self.storage.commit(batch).map_err(storage_error)?;
        self.storage.durability().wait(ticket).await.map_err(storage_error)
    }

    pub async fn create_table(
        &self,
        ctx: &RequestContext,
        input: CreateTableInput,
    ) -> Result<TableDescriptionOutput, ApiError> {
        validate_create(&input)?;
        let name = input.table_name.clone().unwrap_or_default();
        let _ddl = self.ddl.lock().await;
        if self.name_taken(&ctx.region, &name) {
            return Err(ApiError::in_use(format!("Table already exists: {name}")));
        }
        let count = self.tables.read().keys().filter(|(r, _)| *r == ctx.region).count();
        if count >= self.config.tables_per_region_max {
            return Err(ApiError::new(
                flywheel_protocol::ErrorKind::LimitExceeded,
                format!(
                    "Subscriber limit exceeded: Only {} tables can be created per region",
                    self.config.tables_per_region_max
                ),
            ));
        }
        let id = new_table_id();
        let now = now_seconds();
        let pay_per_request = input.billing_mode.as_deref() == Some("PAY_PER_REQUEST");
        let pt = input.provisioned_throughput.clone().unwrap_or_default();
        let stream_on = input.stream_specification.as_ref().and_then(|s| s.stream_enabled).unwrap_or(false);
        let sse = input.sse_specification.clone().unwrap_or_default();
        // Tree names are filled in below, from the table's id and serials.
        let index_meta = |index: &SecondaryIndex, global: bool| {
            let name = index.index_name.clone().unwrap_or_default();
            let pt = index.provisioned_throughput.clone().unwrap_or_default();
            IndexMeta {
                tree: String::new(),
                name,
                global,
                key_schema: index.key_schema.clone().unwrap_or_default(),
                projection: index.projection.clone().unwrap_or_default(),
                active: true,
                read_capacity_units: pt.read_capacity_units.unwrap_or(0),
                write_capacity_units: pt.write_capacity_units.unwrap_or(0),
            }
        };
        let indexes: Vec<IndexMeta> = input
            .local_secondary_indexes
            .iter()
            .flatten()
            .map(|i| index_meta(i, false))
            .chain(input.global_secondary_indexes.iter().flatten().map(|i| index_meta(i, true)))
            .collect();
        let mut meta = TableMeta {
            region: ctx.region.clone(),
            name: name.clone(),
            arn: self.arn(&ctx.region, &name),
            items_tree: items_tree_name(&id),
            id,
            key_schema: input.key_schema.clone().unwrap_or_default(),
            attribute_definitions: input.attribute_definitions.clone().unwrap_or_default(),
            billing_mode: if pay_per_request { "PAY_PER_REQUEST" } else { "PROVISIONED" }.to_string(),
            read_capacity_units: pt.read_capacity_units.unwrap_or(0),
            write_capacity_units: pt.write_capacity_units.unwrap_or(0),
            creation_time: now,
            pay_per_request_since: pay_per_request.then_some(now),
            last_increase_time: None,
            last_decrease_time: None,
            stream_specification: None,
            stream_label: None,
            sse_enabled: sse.enabled.unwrap_or(false),
            sse_kms_key_arn: sse.kms_master_key_id.clone(),
            tags: input.tags.clone().unwrap_or_default(),
            deletion_protection: input.deletion_protection_enabled.unwrap_or(false),
            table_class: input.table_class.clone(),
            indexes,
            streams: Vec::new(),
            ttl_attribute: None,
            expiry: None,
            pitr: None,
            restore_summary: None,
            restoring: false,
            next_tree_serial: 0,
        };
        for i in 0..meta.indexes.len() {
            meta.indexes[i].tree = meta.allocate_tree(TreeKind::Index);
        }
        if let Some(spec) = input.stream_specification.as_ref().filter(|_| stream_on) {
            let stream = new_stream_meta(&mut meta, spec.stream_view_type.clone().unwrap_or_default(), now);
            meta.streams.push(stream);
        }
        // Open the trees before the catalog names them: a failure then leaves no half-made table
        // in the catalog, only empty trees nothing refers to.
        let table = Arc::new(
            crate::load_table(self.storage.as_ref(), &self.catalog_tree, meta.clone()).map_err(storage_error)?,
        );
        let mut batch = WriteBatch::new();
        self.save_meta(&mut batch, &meta);
        self.commit_catalog(batch).await?;
        self.tables.write().insert((ctx.region.clone(), name.clone()), table.clone());
        // The table now exists: the request's metrics name it (and its region) like any other.
        let _ = ctx.table.set(name);
        tracing::info!(table = %table.meta.read().name, region = %ctx.region, "table created");
        Ok(TableDescriptionOutput { table_description: describe(&table, "CREATING") })
    }

    pub fn describe_table(&self, ctx: &RequestContext, input: TableNameInput) -> Result<DescribeTableOutput, ApiError> {
        let table = self.get_table(ctx, &input.table_name)?;
        Ok(DescribeTableOutput { table: describe(&table, "ACTIVE") })
    }

    pub fn list_tables(&self, ctx: &RequestContext, input: ListTablesInput) -> Result<ListTablesOutput, ApiError> {
        let mut c = Constraints::new();
        c.optional_table_name("exclusiveStartTableName", &input.exclusive_start_table_name);
        c.at_least("limit", input.limit, 1);
        c.at_most("limit", input.limit, LIST_TABLES_LIMIT_MAX as i64);
        c.finish()?;
        let limit = input.limit.map_or(LIST_TABLES_LIMIT_MAX, |l| l as usize);
        let mut names: Vec<String> =
            self.tables.read().keys().filter(|(r, _)| *r == ctx.region).map(|(_, n)| n.clone()).collect();
        if ctx.listing_filter.is_some() {
            names.retain(|n| ctx.may_list(&self.arn(&ctx.region, n)));
        }
        names.sort();
        let start = match &input.exclusive_start_table_name {
            Some(s) => names.partition_point(|n| n.as_str() <= s.as_str()),
            None => 0,
        };
        let page: Vec<String> = names[start..].iter().take(limit).cloned().collect();
        let more = start + page.len() < names.len();
        Ok(ListTablesOutput {
            last_evaluated_table_name: if more { page.last().cloned() } else { None },
            table_names: page,
        })
    }

    pub async fn update_table(
        &self,
        ctx: &RequestContext,
        input: UpdateTableInput,
    ) -> Result<TableDescriptionOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.one_of("billingMode", &input.billing_mode, BILLING_MODES);
        c.one_of("tableClass", &input.table_class, TABLE_CLASSES);
        check_throughput_and_stream(&mut c, &input.provisioned_throughput, &input.stream_specification);
        c.finish()?;
        let nothing = input.provisioned_throughput.is_none()
            && input.billing_mode.is_none()
            && input.stream_specification.is_none()
            && input.global_secondary_index_updates.is_none()
            && input.sse_specification.is_none()
            && input.replica_updates.is_none()
            && input.table_class.is_none()
            && input.deletion_protection_enabled.is_none();
        if nothing {
            return Err(ApiError::validation(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
            ));
        }
        if input.replica_updates.as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::validation(
                "Flywheel does not support global tables: ReplicaUpdates are not accepted",
            ));
        }
        let _ddl = self.ddl.lock().await;
        let table = self.get_table(ctx, &input.table_name)?;
        let mut meta = table.meta.read().clone();
        let now = now_seconds();
        let target_mode = input.billing_mode.clone().unwrap_or_else(|| meta.billing_mode.clone());
        match (&input.provisioned_throughput, target_mode.as_str()) {
            (Some(_), "PAY_PER_REQUEST") => return Err(invalid(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            )),
            (None, "PROVISIONED") if meta.billing_mode == "PAY_PER_REQUEST" => {
                return Err(invalid(
                    "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                ))
            }
            _ => {}
        }
        if target_mode != meta.billing_mode {
            meta.pay_per_request_since = (target_mode == "PAY_PER_REQUEST").then_some(now);
            meta.billing_mode = target_mode;
        }
        if let Some(pt) = &input.provisioned_throughput {
            let (r, w) = (pt.read_capacity_units.unwrap_or(0), pt.write_capacity_units.unwrap_or(0));
            if r == meta.read_capacity_units && w == meta.write_capacity_units && meta.billing_mode == "PROVISIONED" {
                return Err(ApiError::validation(format!(
                    "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {}. Requested ReadCapacityUnits: {r}. Current WriteCapacityUnits provisioned for the table: {}. Requested WriteCapacityUnits: {w}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
                    meta.read_capacity_units, meta.write_capacity_units
                )));
            }
            if r > meta.read_capacity_units || w > meta.write_capacity_units {
                meta.last_increase_time = Some(now);
            }
            if r < meta.read_capacity_units || w < meta.write_capacity_units {
                meta.last_decrease_time = Some(now);
            }
            meta.read_capacity_units = r;
            meta.write_capacity_units = w;
        }
        let index_changes = match &input.global_secondary_index_updates {
            Some(updates) => plan_index_updates(&mut meta, updates, &input.attribute_definitions)?,
            None => Vec::new(),
        };
        let mut stream_change = None;
        if let Some(spec) = &input.stream_specification {
            check_stream_spec(spec)?;
            let current = meta.streams.last().filter(|s| s.disabled_at.is_none());
            match (spec.stream_enabled, current) {
                (Some(true), Some(_)) => {
                    return Err(ApiError::validation(format!(
                        "Table already has an enabled stream: TableName: {}",
                        meta.name
                    )))
                }
                (Some(true), None) => {
                    let stream = new_stream_meta(&mut meta, spec.stream_view_type.clone().unwrap_or_default(), now);
                    meta.streams.push(stream.clone());
                    stream_change = Some(Ok(stream));
                }
                (_, None) => {
                    return Err(ApiError::validation(format!(
                        "Table has no stream to disable: TableName: {}",
                        meta.name
                    )))
                }
                (_, Some(_)) => stream_change = Some(Err(())),
            }
        }
        if let Some(sse) = &input.sse_specification {
            meta.sse_enabled = sse.enabled.unwrap_or(true);
            meta.sse_kms_key_arn = sse.kms_master_key_id.clone();
        }
        if let Some(class) = &input.table_class {
            meta.table_class = Some(class.clone());
        }
        if let Some(p) = input.deletion_protection_enabled {
            meta.deletion_protection = p;
        }
        let mut created = Vec::new();
        let mut deleted = Vec::new();
        for change in index_changes {
            match change {
                IndexChange::Create(index) => {
                    meta.indexes.push(index.clone());
                    created.push(index);
                }
                IndexChange::Delete(name) => {
                    if let Some(pos) = meta.indexes.iter().position(|i| i.name == name) {
                        deleted.push(meta.indexes.remove(pos));
                    }
                }
                IndexChange::Throughput(name, r, w) => {
                    if let Some(m) = meta.indexes.iter_mut().find(|i| i.name == name) {
                        m.read_capacity_units = r;
                        m.write_capacity_units = w;
                    }
                }
            }
        }
        // Deleting an index or closing a stream must not race a write: hold every writer.
        let exclusive = !deleted.is_empty() || matches!(stream_change, Some(Err(())));
        let mut guards = Vec::new();
        if exclusive {
            for p in &table.partitions {
                guards.push(p.writer.lock().await);
            }
        }
        let mut batch = WriteBatch::new();
        if matches!(stream_change, Some(Err(()))) {
            let current = table.current_stream().ok_or_else(ApiError::internal)?;
            let mut ending = Vec::with_capacity(PARTITIONS_PER_TABLE);
            for shard in 0..PARTITIONS_PER_TABLE {
                ending.push(current.last_seq(shard).map_err(storage_error)?.unwrap_or(current.start));
            }
            if let Some(m) = meta.streams.last_mut() {
                m.disabled_at = Some(now);
                m.ending = Some(ending);
            }
        }
        for index in &deleted {
            for i in 0..PARTITIONS_PER_TABLE {
                batch.delete(&self.catalog_tree, index_stats_key(&meta.id, &index.name, i));
            }
        }
        // Open new trees before the catalog names them, so a failure leaves the catalog as it was.
        let created_trees: Vec<_> = created
            .iter()
            .map(|index| self.storage.open_tree(&index.tree))
            .collect::<Result<_, _>>()
            .map_err(storage_error)?;
        let stream_tree = match &stream_change {
            Some(Ok(stream)) => Some(self.storage.open_tree(&stream.tree).map_err(storage_error)?),
            _ => None,
        };
        self.save_meta(&mut batch, &meta);
        self.commit_catalog(batch).await?;
        // Install the runtime side of what the catalog now says.
        let mut indexes: Vec<Arc<Index>> = table.indexes.read().iter().cloned().collect();
        indexes.retain(|i| !deleted.iter().any(|d| d.name == i.name));
        for (index, tree) in created.iter().zip(created_trees) {
            indexes.push(Arc::new(Index::new(index, &|n| meta.attribute_type(n), tree)));
        }
        *table.indexes.write() = Arc::new(indexes);
        match &stream_change {
            Some(Ok(stream)) => {
                let tree = stream_tree.ok_or_else(ApiError::internal)?;
                let live = Stream::open(stream.clone(), &meta.arn, tree, &[]).map_err(storage_error)?;
                table.streams.write().push(Arc::new(live));
            }
            Some(Err(())) => {
                if let (Some(live), Some(m)) = (table.current_stream(), meta.streams.last()) {
                    *live.meta.write() = m.clone();
                }
            }
            None => {}
        }
        *table.meta.write() = meta;
        drop(guards);
        for index in &deleted {
            self.storage.drop_tree(&index.tree).map_err(storage_error)?;
        }
        if !created.is_empty() {
            self.wake.notify_one();
        }
        Ok(TableDescriptionOutput { table_description: describe(&table, "UPDATING") })
    }

    /// Replaces a table's metadata, durably. Call with the DDL lock held.
    pub(crate) async fn replace_meta(&self, table: &Table, meta: TableMeta) -> Result<(), ApiError> {
        let mut batch = WriteBatch::new();
        self.save_meta(&mut batch, &meta);
        self.commit_catalog(batch).await?;
        *table.meta.write() = meta;
        Ok(())
    }

    /// Forgets disabled streams whose records have all aged out, and drops their trees.
    pub(crate) async fn drop_streams(&self, table: &TableRef, expired: &[Arc<Stream>]) -> Result<(), ApiError> {
        let _ddl = self.ddl.lock().await;
        if table.dropped.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let labels: Vec<String> = expired.iter().map(|s| s.meta.read().label.clone()).collect();
        let mut meta = table.meta.read().clone();
        meta.streams.retain(|s| !labels.contains(&s.label));
        let mut batch = WriteBatch::new();
        for label in &labels {
            for shard in 0..PARTITIONS_PER_TABLE {
                batch.delete(&self.catalog_tree, stream_trim_key(&meta.id, label, shard));
            }
        }
        let trees: Vec<String> = expired.iter().map(|s| s.meta.read().tree.clone()).collect();
        self.save_meta(&mut batch, &meta);
        self.commit_catalog(batch).await?;
        *table.meta.write() = meta;
        table.streams.write().retain(|s| !expired.iter().any(|e| Arc::ptr_eq(e, s)));
        for tree in trees {
            self.storage.drop_tree(&tree).map_err(storage_error)?;
        }
        Ok(())
    }

    pub async fn delete_table(
        &self,
        ctx: &RequestContext,
        input: TableNameInput,
    ) -> Result<TableDescriptionOutput, ApiError> {
        let _ddl = self.ddl.lock().await;
        let table = self.get_table(ctx, &input.table_name)?;
        let meta = table.meta.read().clone();
        if meta.deletion_protection {
            return Err(ApiError::validation(format!(
                "Table '{}' can't be deleted while DeletionProtectionEnabled is set to True",
                meta.name
            )));
        }
        // Take every partition's writer so that no write is in flight while the table goes.
        let mut guards = Vec::with_capacity(PARTITIONS_PER_TABLE);
        for p in &table.partitions {
            guards.push(p.writer.lock().await);
        }
        let description = describe(&table, "DELETING");
        table.dropped.store(true, std::sync::atomic::Ordering::Release);
        let mut batch = WriteBatch::new();
        batch.delete(&self.catalog_tree, table_key(&meta.region, &meta.name));
        for i in 0..PARTITIONS_PER_TABLE {
            batch.delete(&self.catalog_tree, stats_key(&meta.id, i));
            for index in &meta.indexes {
                batch.delete(&self.catalog_tree, index_stats_key(&meta.id, &index.name, i));
            }
        }
        // Its streams stay readable until their records age out, as in DynamoDB: the enabled
        // one is closed, and the table is kept as "retired" for them alone.
        let retired = if meta.streams.is_empty() {
            None
        } else {
            let mut kept = meta.clone();
            if let (Some(live), Some(last)) = (table.current_stream(), kept.streams.last_mut()) {
                let mut ending = Vec::with_capacity(PARTITIONS_PER_TABLE);
                for shard in 0..PARTITIONS_PER_TABLE {
                    ending.push(live.last_seq(shard).map_err(storage_error)?.unwrap_or(live.start));
                }
                last.disabled_at = Some(now_seconds());
                last.ending = Some(ending);
                *live.meta.write() = last.clone();
            }
            kept.indexes = Vec::new();
            kept.pitr = None;
            kept.ttl_attribute = None;
            kept.expiry = None;
            let json = serde_json::to_vec(&kept).expect("table metadata serialises");
            batch.put(&self.catalog_tree, retired_key(&kept.region, &kept.id), json);
            *table.meta.write() = kept;
            Some(table.clone())
        };
        self.commit_catalog(batch).await?;
        self.tables.write().remove(&(meta.region.clone(), meta.name.clone()));
        if let Some(t) = retired {
            self.retired.write().insert((meta.region.clone(), meta.id.clone()), t);
        }
        self.storage.drop_tree(&meta.items_tree).map_err(storage_error)?;
        let trees = meta.indexes.iter().map(|i| &i.tree);
        for tree in trees.chain(meta.pitr.iter().map(|p| &p.tree)).chain(meta.expiry.iter().map(|e| &e.tree)) {
            self.storage.drop_tree(tree).map_err(storage_error)?;
        }
        tracing::info!(table = %meta.name, region = %meta.region, "table deleted");
        Ok(TableDescriptionOutput { table_description: description })
    }

    pub async fn tag_resource(&self, ctx: &RequestContext, input: TagResourceInput) -> Result<(), ApiError> {
        let mut c = Constraints::new();
        c.required("resourceArn", &input.resource_arn);
        c.required("tags", &input.tags);
        if let Some(tags) = &input.tags {
            check_tags(&mut c, "tags", tags);
        }
        c.finish()?;
        let _ddl = self.ddl.lock().await;
        let table = self.get_table_by_arn(ctx, &input.resource_arn)?;
        let mut meta = table.meta.read().clone();
        for tag in input.tags.unwrap_or_default() {
            match meta.tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value,
                None => meta.tags.push(tag),
            }
        }
        if meta.tags.len() > TAGS_PER_RESOURCE_MAX {
            return Err(ApiError::new(
                flywheel_protocol::ErrorKind::Validation,
                "One or more parameter values were invalid: The number of tags exceeds the limit of 50",
            ));
        }
        let mut batch = WriteBatch::new();
        self.save_meta(&mut batch, &meta);
        self.commit_catalog(batch).await?;
        *table.meta.write() = meta;
        Ok(())
    }

    pub async fn untag_resource(&self, ctx: &RequestContext, input: UntagResourceInput) -> Result<(), ApiError> {
        let mut c = Constraints::new();
        c.required("resourceArn", &input.resource_arn);
        c.required("tagKeys", &input.tag_keys);
        c.finish()?;
        let _ddl = self.ddl.lock().await;
        let table = self.get_table_by_arn(ctx, &input.resource_arn)?;
        let mut meta = table.meta.read().clone();
        let remove = input.tag_keys.unwrap_or_default();
        meta.tags.retain(|t| !t.key.as_ref().is_some_and(|k| remove.contains(k)));
        let mut batch = WriteBatch::new();
        self.save_meta(&mut batch, &meta);
        self.commit_catalog(batch).await?;
        *table.meta.write() = meta;
        Ok(())
    }

    pub fn list_tags(&self, ctx: &RequestContext, input: ListTagsOfResourceInput) -> Result<ListTagsOutput, ApiError> {
        let table = self.get_table_by_arn(ctx, &input.resource_arn)?;
        let tags = table.meta.read().tags.clone();
        Ok(ListTagsOutput { tags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_protocol::model::KeySchemaElement;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn table_ids_are_v4_uuids() {
        let id = new_table_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn key_schema_element_roundtrip() {
        let k = KeySchemaElement { attribute_name: Some("pk".into()), key_type: Some("HASH".into()) };
        assert_eq!(serde_json::to_string(&k).unwrap(), r#"{"AttributeName":"pk","KeyType":"HASH"}"#);
    }
}
