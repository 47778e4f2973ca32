//! The DynamoDB API model: typed requests and responses, named as on the wire.
//!
//! Every request member is optional here, so that "missing" is reported by validation with
//! DynamoDB's own message rather than by the JSON decoder.

use std::collections::{BTreeMap, HashMap};

use flywheel_types::{AttributeValue, Item};
use serde::{Deserialize, Serialize};

use crate::wire::{de_opt_item, de_opt_value, de_opt_value_list, de_opt_values, ser_items, ser_opt_item};

pub type Names = HashMap<String, String>;
pub type Values = HashMap<String, AttributeValue>;

// ---------------------------------------------------------------- shared shapes

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeySchemaElement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AttributeDefinition {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProvisionedThroughput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_capacity_units: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_capacity_units: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct StreamSpecification {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_view_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct SseSpecification {
    #[serde(rename = "Enabled")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(rename = "SSEType")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sse_type: Option<String>,
    #[serde(rename = "KMSMasterKeyId")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Projection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_key_attributes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecondaryIndex {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_schema: Option<Vec<KeySchemaElement>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection: Option<Projection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<ProvisionedThroughput>,
}

/// Legacy `Expected` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExpectedAttributeValue {
    #[serde(deserialize_with = "de_opt_value")]
    pub value: Option<AttributeValue>,
    pub exists: Option<bool>,
    pub comparison_operator: Option<String>,
    #[serde(deserialize_with = "de_opt_value_list")]
    pub attribute_value_list: Option<Vec<AttributeValue>>,
}

/// Legacy `AttributeUpdates` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AttributeValueUpdate {
    #[serde(deserialize_with = "de_opt_value")]
    pub value: Option<AttributeValue>,
    pub action: Option<String>,
}

/// Legacy `KeyConditions` / `QueryFilter` / `ScanFilter` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LegacyCondition {
    pub comparison_operator: Option<String>,
    #[serde(deserialize_with = "de_opt_value_list")]
    pub attribute_value_list: Option<Vec<AttributeValue>>,
}

// ---------------------------------------------------------------- tables

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateTableInput {
    pub table_name: Option<String>,
    pub attribute_definitions: Option<Vec<AttributeDefinition>>,
    pub key_schema: Option<Vec<KeySchemaElement>>,
    pub billing_mode: Option<String>,
    pub provisioned_throughput: Option<ProvisionedThroughput>,
    pub local_secondary_indexes: Option<Vec<SecondaryIndex>>,
    pub global_secondary_indexes: Option<Vec<SecondaryIndex>>,
    pub stream_specification: Option<StreamSpecification>,
    #[serde(rename = "SSESpecification")]
    pub sse_specification: Option<SseSpecification>,
    pub tags: Option<Vec<Tag>>,
    pub table_class: Option<String>,
    pub deletion_protection_enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TableNameInput {
    pub table_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListTablesInput {
    pub exclusive_start_table_name: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateTableInput {
    pub table_name: Option<String>,
    pub attribute_definitions: Option<Vec<AttributeDefinition>>,
    pub billing_mode: Option<String>,
    pub provisioned_throughput: Option<ProvisionedThroughput>,
    pub global_secondary_index_updates: Option<Vec<GlobalSecondaryIndexUpdate>>,
    pub stream_specification: Option<StreamSpecification>,
    #[serde(rename = "SSESpecification")]
    pub sse_specification: Option<SseSpecification>,
    pub replica_updates: Option<Vec<serde_json::Value>>,
    pub table_class: Option<String>,
    pub deletion_protection_enabled: Option<bool>,
}

/// One entry of UpdateTable's `GlobalSecondaryIndexUpdates`: exactly one of the three.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GlobalSecondaryIndexUpdate {
    pub create: Option<SecondaryIndex>,
    pub update: Option<SecondaryIndex>,
    pub delete: Option<SecondaryIndex>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TimeToLiveSpecification {
    pub enabled: Option<bool>,
    pub attribute_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateTimeToLiveInput {
    pub table_name: Option<String>,
    pub time_to_live_specification: Option<TimeToLiveSpecification>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagResourceInput {
    pub resource_arn: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UntagResourceInput {
    pub resource_arn: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListTagsOfResourceInput {
    pub resource_arn: Option<String>,
    pub next_token: Option<String>,
}

/// DescribeTable's `Table`, CreateTable's and DeleteTable's `TableDescription`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TableDescription {
    pub table_name: String,
    pub table_arn: String,
    pub table_id: String,
    pub table_status: String,
    pub creation_date_time: f64,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub provisioned_throughput: ProvisionedThroughputDescription,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_mode_summary: Option<BillingModeSummary>,
    pub item_count: u64,
    pub table_size_bytes: u64,
    pub deletion_protection_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_specification: Option<StreamSpecification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_stream_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_stream_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_secondary_indexes: Option<Vec<IndexDescription>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_secondary_indexes: Option<Vec<IndexDescription>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_summary: Option<RestoreSummary>,
    #[serde(rename = "SSEDescription", skip_serializing_if = "Option::is_none")]
    pub sse_description: Option<SseDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_class_summary: Option<TableClassSummary>,
}

/// A local or global secondary index in a table description (the LSI form has no status,
/// backfilling or throughput).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDescription {
    pub index_name: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: Projection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfilling: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<ProvisionedThroughputDescription>,
    pub index_size_bytes: u64,
    pub item_count: u64,
    pub index_arn: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedThroughputDescription {
    pub number_of_decreases_today: u64,
    pub read_capacity_units: i64,
    pub write_capacity_units: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_increase_date_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_decrease_date_time: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BillingModeSummary {
    pub billing_mode: String,
    pub last_update_to_pay_per_request_date_time: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SseDescription {
    pub status: String,
    #[serde(rename = "SSEType")]
    pub sse_type: String,
    #[serde(rename = "KMSMasterKeyArn")]
    pub kms_master_key_arn: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TableClassSummary {
    pub table_class: String,
}

// ---------------------------------------------------------------- items

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PutItemInput {
    pub table_name: Option<String>,
    #[serde(deserialize_with = "de_opt_item")]
    pub item: Option<Item>,
    pub condition_expression: Option<String>,
    pub expression_attribute_names: Option<Names>,
    #[serde(deserialize_with = "de_opt_values")]
    pub expression_attribute_values: Option<Values>,
    pub expected: Option<HashMap<String, ExpectedAttributeValue>>,
    pub conditional_operator: Option<String>,
    pub return_values: Option<String>,
    pub return_consumed_capacity: Option<String>,
    pub return_item_collection_metrics: Option<String>,
    pub return_values_on_condition_check_failure: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetItemInput {
    pub table_name: Option<String>,
    #[serde(deserialize_with = "de_opt_item")]
    pub key: Option<Item>,
    pub consistent_read: Option<bool>,
    pub projection_expression: Option<String>,
    pub expression_attribute_names: Option<Names>,
    pub attributes_to_get: Option<Vec<String>>,
    pub return_consumed_capacity: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteItemInput {
    pub table_name: Option<String>,
    #[serde(deserialize_with = "de_opt_item")]
    pub key: Option<Item>,
    pub condition_expression: Option<String>,
    pub expression_attribute_names: Option<Names>,
    #[serde(deserialize_with = "de_opt_values")]
    pub expression_attribute_values: Option<Values>,
    pub expected: Option<HashMap<String, ExpectedAttributeValue>>,
    pub conditional_operator: Option<String>,
    pub return_values: Option<String>,
    pub return_consumed_capacity: Option<String>,
    pub return_item_collection_metrics: Option<String>,
    pub return_values_on_condition_check_failure: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateItemInput {
    pub table_name: Option<String>,
    #[serde(deserialize_with = "de_opt_item")]
    pub key: Option<Item>,
    pub update_expression: Option<String>,
    pub condition_expression: Option<String>,
    pub expression_attribute_names: Option<Names>,
    #[serde(deserialize_with = "de_opt_values")]
    pub expression_attribute_values: Option<Values>,
    pub attribute_updates: Option<HashMap<String, AttributeValueUpdate>>,
    pub expected: Option<HashMap<String, ExpectedAttributeValue>>,
    pub conditional_operator: Option<String>,
    pub return_values: Option<String>,
    pub return_consumed_capacity: Option<String>,
    pub return_item_collection_metrics: Option<String>,
    pub return_values_on_condition_check_failure: Option<String>,
}

/// `ConsumedCapacity` in responses.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsumedCapacity {
    pub table_name: String,
    pub capacity_units: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_capacity_units: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_capacity_units: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<Capacity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_secondary_indexes: Option<BTreeMap<String, Capacity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_secondary_indexes: Option<BTreeMap<String, Capacity>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Capacity {
    pub capacity_units: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_capacity_units: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_capacity_units: Option<f64>,
}

/// Response of PutItem, DeleteItem and UpdateItem (`Attributes`) and GetItem (`Item`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ItemOutput {
    #[serde(serialize_with = "ser_opt_item", skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Item>,
    #[serde(serialize_with = "ser_opt_item", skip_serializing_if = "Option::is_none")]
    pub item: Option<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumed_capacity: Option<ConsumedCapacity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_collection_metrics: Option<ItemCollectionMetrics>,
}

/// `ItemCollectionMetrics`: the size of one item collection (items sharing a partition key) of
/// a table with local secondary indexes.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ItemCollectionMetrics {
    #[serde(serialize_with = "crate::wire::ser_item")]
    pub item_collection_key: Item,
    #[serde(rename = "SizeEstimateRangeGB")]
    pub size_estimate_range_gb: [f64; 2],
}

/// Items in a page, for Query and Scan responses.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PageOutput {
    #[serde(serialize_with = "ser_items_opt", skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<Item>>,
    pub count: usize,
    pub scanned_count: usize,
    #[serde(serialize_with = "ser_opt_item", skip_serializing_if = "Option::is_none")]
    pub last_evaluated_key: Option<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumed_capacity: Option<ConsumedCapacity>,
}

fn ser_items_opt<S: serde::Serializer>(items: &Option<Vec<Item>>, s: S) -> Result<S::Ok, S::Error> {
    match items {
        Some(v) => ser_items(v, s),
        None => s.serialize_none(),
    }
}

// ---------------------------------------------------------------- query and scan

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryInput {
    pub table_name: Option<String>,
    pub index_name: Option<String>,
    pub select: Option<String>,
    pub attributes_to_get: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub consistent_read: Option<bool>,
    pub key_conditions: Option<HashMap<String, LegacyCondition>>,
    pub query_filter: Option<HashMap<String, LegacyCondition>>,
    pub conditional_operator: Option<String>,
    pub scan_index_forward: Option<bool>,
    #[serde(deserialize_with = "de_opt_item")]
    pub exclusive_start_key: Option<Item>,
    pub return_consumed_capacity: Option<String>,
    pub projection_expression: Option<String>,
    pub filter_expression: Option<String>,
    pub key_condition_expression: Option<String>,
    pub expression_attribute_names: Option<Names>,
    #[serde(deserialize_with = "de_opt_values")]
    pub expression_attribute_values: Option<Values>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScanInput {
    pub table_name: Option<String>,
    pub index_name: Option<String>,
    pub attributes_to_get: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub select: Option<String>,
    pub scan_filter: Option<HashMap<String, LegacyCondition>>,
    pub conditional_operator: Option<String>,
    #[serde(deserialize_with = "de_opt_item")]
    pub exclusive_start_key: Option<Item>,
    pub return_consumed_capacity: Option<String>,
    pub total_segments: Option<i64>,
    pub segment: Option<i64>,
    pub projection_expression: Option<String>,
    pub filter_expression: Option<String>,
    pub expression_attribute_names: Option<Names>,
    #[serde(deserialize_with = "de_opt_values")]
    pub expression_attribute_values: Option<Values>,
    pub consistent_read: Option<bool>,
}

// ---------------------------------------------------------------- batches

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeysAndAttributes {
    #[serde(deserialize_with = "crate::wire::de_opt_item_list")]
    pub keys: Option<Vec<Item>>,
    pub attributes_to_get: Option<Vec<String>>,
    pub consistent_read: Option<bool>,
    pub projection_expression: Option<String>,
    pub expression_attribute_names: Option<Names>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BatchGetItemInput {
    pub request_items: Option<BTreeMap<String, KeysAndAttributes>>,
    pub return_consumed_capacity: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PutRequest {
    #[serde(deserialize_with = "de_opt_item")]
    pub item: Option<Item>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteRequest {
    #[serde(deserialize_with = "de_opt_item")]
    pub key: Option<Item>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WriteRequest {
    pub put_request: Option<PutRequest>,
    pub delete_request: Option<DeleteRequest>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BatchWriteItemInput {
    pub request_items: Option<BTreeMap<String, Vec<WriteRequest>>>,
    pub return_consumed_capacity: Option<String>,
    pub return_item_collection_metrics: Option<String>,
}

// ---------------------------------------------------------------- transactions

/// One of Put, Update, Delete, ConditionCheck or Get: the members all four share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransactAction {
    pub table_name: Option<String>,
    #[serde(deserialize_with = "de_opt_item")]
    pub key: Option<Item>,
    #[serde(deserialize_with = "de_opt_item")]
    pub item: Option<Item>,
    pub update_expression: Option<String>,
    pub condition_expression: Option<String>,
    pub projection_expression: Option<String>,
    pub expression_attribute_names: Option<Names>,
    #[serde(deserialize_with = "de_opt_values")]
    pub expression_attribute_values: Option<Values>,
    pub return_values_on_condition_check_failure: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransactWriteItem {
    pub condition_check: Option<TransactAction>,
    pub put: Option<TransactAction>,
    pub delete: Option<TransactAction>,
    pub update: Option<TransactAction>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransactWriteItemsInput {
    pub transact_items: Option<Vec<TransactWriteItem>>,
    pub return_consumed_capacity: Option<String>,
    pub return_item_collection_metrics: Option<String>,
    pub client_request_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransactGetItem {
    pub get: Option<TransactAction>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransactGetItemsInput {
    pub transact_items: Option<Vec<TransactGetItem>>,
    pub return_consumed_capacity: Option<String>,
}

// ---------------------------------------------------------------- streams

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListStreamsInput {
    pub table_name: Option<String>,
    pub limit: Option<i64>,
    pub exclusive_start_stream_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeStreamInput {
    pub stream_arn: Option<String>,
    pub limit: Option<i64>,
    pub exclusive_start_shard_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetShardIteratorInput {
    pub stream_arn: Option<String>,
    pub shard_id: Option<String>,
    pub shard_iterator_type: Option<String>,
    pub sequence_number: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetRecordsInput {
    pub shard_iterator: Option<String>,
    pub limit: Option<i64>,
}

// ---------------------------------------------------------------- backups and point-in-time recovery

/// How a restored table came to be (DescribeTable's `RestoreSummary`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_backup_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_table_arn: Option<String>,
    pub restore_date_time: f64,
    pub restore_in_progress: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBackupInput {
    pub table_name: Option<String>,
    pub backup_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BackupArnInput {
    pub backup_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListBackupsInput {
    pub table_name: Option<String>,
    pub limit: Option<i64>,
    pub time_range_lower_bound: Option<f64>,
    pub time_range_upper_bound: Option<f64>,
    pub exclusive_start_backup_arn: Option<String>,
    pub backup_type: Option<String>,
}

/// The overrides RestoreTableFromBackup and RestoreTableToPointInTime share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestoreInput {
    pub target_table_name: Option<String>,
    pub backup_arn: Option<String>,
    pub source_table_arn: Option<String>,
    pub source_table_name: Option<String>,
    pub use_latest_restorable_time: Option<bool>,
    pub restore_date_time: Option<f64>,
    pub billing_mode_override: Option<String>,
    pub global_secondary_index_override: Option<Vec<SecondaryIndex>>,
    pub local_secondary_index_override: Option<Vec<SecondaryIndex>>,
    pub provisioned_throughput_override: Option<ProvisionedThroughput>,
    #[serde(rename = "SSESpecificationOverride")]
    pub sse_specification_override: Option<SseSpecification>,
}

impl RestoreInput {
    /// The table RestoreTableToPointInTime restores from: `SourceTableName`, or else the name
    /// in `SourceTableArn`. One function, so that authorisation checks the table the engine
    /// reads.
    pub fn source_table_name(&self) -> Option<String> {
        match (&self.source_table_name, &self.source_table_arn) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(arn)) => Some(arn.rsplit_once(":table/").map(|(_, n)| n.to_string()).unwrap_or_default()),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PointInTimeRecoverySpecification {
    pub point_in_time_recovery_enabled: Option<bool>,
    pub recovery_period_in_days: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateContinuousBackupsInput {
    pub table_name: Option<String>,
    pub point_in_time_recovery_specification: Option<PointInTimeRecoverySpecification>,
}
