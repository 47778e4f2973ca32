//! Single-item operations: PutItem, GetItem, DeleteItem — and the write path they share.
//!
//! Every write goes: validate → lock the partition's writer → read the current item → check the
//! condition → commit item and partition statistics in one batch → release the writer → wait
//! until the batch is durable → answer. Reads settle on durability before answering, so nothing
//! a client sees can be lost by a crash.

use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{DeleteItemInput, GetItemInput, ItemCollectionMetrics, ItemOutput, PutItemInput};
use flywheel_protocol::ApiError;
use flywheel_storage::Ticket;
use flywheel_types::codec::decode_item;
use flywheel_types::key::{item_key, partition_prefix, prefix_successor};
use flywheel_types::limits::{ITEM_SIZE_BYTES_MAX, PARTITION_KEY_BYTES_MAX, SORT_KEY_BYTES_MAX};
use flywheel_types::{item_size_bytes, validate_value, AttributeValue, Item, KeyValue, ValueType};

use crate::capacity::{consumed, read_units, write_units, ReturnCapacity};
use crate::catalog::{KeySchema, Table, TableRef};
use crate::change::Staging;
use crate::conditions::{self, Condition};
use crate::projection::Projection;
use crate::streams::Origin;
use crate::{storage_error, Engine, RequestContext};

/// The primary key of an item: storage key plus the key attributes themselves.
pub struct PrimaryKey {
    pub storage_key: Vec<u8>,
    pub attributes: Item,
}

fn key_size(v: &KeyValue) -> usize {
    match v {
        KeyValue::S(s) => s.len(),
        KeyValue::B(b) => b.len(),
        KeyValue::N(n) => n.size_bytes(),
    }
}

fn key_value_checked(
    name: &str,
    value: &AttributeValue,
    want: ValueType,
    mismatch: impl Fn() -> ApiError,
) -> Result<KeyValue, ApiError> {
    if value.value_type() != want {
        return Err(mismatch());
    }
    match value {
        AttributeValue::S(s) if s.is_empty() => Err(ApiError::validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {name}"
        ))),
        AttributeValue::B(b) if b.is_empty() => Err(ApiError::validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: {name}"
        ))),
        _ => KeyValue::from_attribute(value).ok_or_else(mismatch),
    }
}

fn check_key_sizes(pk: &KeyValue, sk: Option<&KeyValue>) -> Result<(), ApiError> {
    if key_size(pk) > PARTITION_KEY_BYTES_MAX {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if sk.is_some_and(|s| key_size(s) > SORT_KEY_BYTES_MAX) {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    Ok(())
}

fn build_key(schema: &KeySchema, pk: KeyValue, sk: Option<KeyValue>) -> PrimaryKey {
    let storage_key = item_key(&pk, sk.as_ref());
    let mut attributes = Item::new();
    attributes.insert(schema.pk.clone(), pk.to_attribute());
    if let (Some((name, _)), Some(sk)) = (&schema.sk, sk) {
        attributes.insert(name.clone(), sk.to_attribute());
    }
    PrimaryKey { storage_key, attributes }
}

/// Validates a `Key` parameter: exactly the table's key attributes, of the right types.
pub fn key_from_key_param(schema: &KeySchema, key: &Item) -> Result<PrimaryKey, ApiError> {
    let mismatch = || ApiError::validation("The provided key element does not match the schema");
    let expected = 1 + usize::from(schema.sk.is_some());
    if key.len() != expected {
        return Err(mismatch());
    }
    let pk_attr = key.get(&schema.pk).ok_or_else(mismatch)?;
    let pk = key_value_checked(&schema.pk, pk_attr, schema.pk_type, mismatch)?;
    let sk = match &schema.sk {
        Some((name, t)) => Some(key_value_checked(name, key.get(name).ok_or_else(mismatch)?, *t, mismatch)?),
        None => None,
    };
    check_key_sizes(&pk, sk.as_ref())?;
    Ok(build_key(schema, pk, sk))
}

/// Validates an item to be written whole: key attributes present and typed, values valid,
/// size within 400 KB.
pub fn key_from_item(schema: &KeySchema, item: &Item) -> Result<PrimaryKey, ApiError> {
    let key = key_of_item(schema, item)?;
    validate_item_values(item)?;
    Ok(key)
}

/// The key of an item to be written whole, its attributes present, typed and within the key
/// size limits; the rest of the item is not looked at.
pub fn key_of_item(schema: &KeySchema, item: &Item) -> Result<PrimaryKey, ApiError> {
    let get = |name: &str, want: ValueType| -> Result<KeyValue, ApiError> {
        let v = item.get(name).ok_or_else(|| {
            ApiError::validation(format!(
                "One or more parameter values were invalid: Missing the key {name} in the item"
            ))
        })?;
        key_value_checked(name, v, want, || {
            ApiError::validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {name} expected: {} actual: {}",
                want.as_str(),
                v.value_type().as_str()
            ))
        })
    };
    let pk = get(&schema.pk, schema.pk_type)?;
    let sk = match &schema.sk {
        Some((name, t)) => Some(get(name, *t)?),
        None => None,
    };
    check_key_sizes(&pk, sk.as_ref())?;
    Ok(build_key(schema, pk, sk))
}

/// Value rules and the item-size limit for an item about to be stored.
pub fn validate_item_values(item: &Item) -> Result<(), ApiError> {
    for v in item.values() {
        validate_value(v).map_err(|e| ApiError::validation(e.0))?;
    }
    if item_size_bytes(item) > ITEM_SIZE_BYTES_MAX {
        return Err(ApiError::validation("Item size has exceeded the maximum allowed size"));
    }
    Ok(())
}

/// The options every single-item write shares: ReturnConsumedCapacity,
/// ReturnItemCollectionMetrics and ReturnValuesOnConditionCheckFailure. Returns what capacity to
/// report and whether a failed condition returns the item.
pub(crate) fn write_options(
    c: &mut Constraints,
    return_consumed_capacity: &Option<String>,
    return_item_collection_metrics: &Option<String>,
    return_values_on_condition_check_failure: &Option<String>,
) -> (ReturnCapacity, bool) {
    let capacity = ReturnCapacity::parse(c, return_consumed_capacity);
    c.one_of("returnItemCollectionMetrics", return_item_collection_metrics, &["SIZE", "NONE"]);
    c.one_of("returnValuesOnConditionCheckFailure", return_values_on_condition_check_failure, &["ALL_OLD", "NONE"]);
    (capacity, return_values_on_condition_check_failure.as_deref() == Some("ALL_OLD"))
}

/// What ReturnValues asked for on a put or delete.
fn parse_return_values(c: &mut Constraints, value: &Option<String>) -> Result<bool, ApiError> {
    c.one_of("returnValues", value, &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]);
    Ok(value.as_deref() == Some("ALL_OLD"))
}

fn check_put_delete_return_values(value: &Option<String>) -> Result<(), ApiError> {
    match value.as_deref() {
        None | Some("NONE") | Some("ALL_OLD") => Ok(()),
        Some(_) => Err(ApiError::validation("1 validation error detected: ReturnValues can only be ALL_OLD or NONE")),
    }
}

/// A write decided under the partition's writer.
pub enum Mutation {
    Put(Item),
    Delete,
}

/// A batch committed under a partition's writer: its ticket, and the item before and after.
type Committed = (Ticket, Option<Item>, Option<Item>);

/// The outcome of a committed (or skipped) write.
pub struct WriteOutcome {
    pub old: Option<Item>,
    pub new: Option<Item>,
}

impl Engine {
    pub(crate) fn get_item_table(&self, ctx: &RequestContext, name: &Option<String>) -> Result<TableRef, ApiError> {
        let name = name.as_deref().unwrap_or_default();
        self.find_request_table(ctx, name).ok_or_else(ApiError::table_not_found)
    }

    /// Reads the current version of an item (under the partition's writer, or for a read).
    pub(crate) fn read_item(&self, table: &Table, key: &[u8]) -> Result<Option<Item>, ApiError> {
        match table.items.get(key).map_err(storage_error)? {
            None => Ok(None),
            Some(bytes) => decode_item(&bytes).map(Some).map_err(|e| {
                tracing::error!(error = %e, table = %table.meta.read().name, "corrupt item");
                ApiError::internal()
            }),
        }
    }

    /// The shared write path. `decide` sees the current item (under the partition's writer) and
    /// returns the mutation to apply, or an error (a failed condition) to abort with nothing
    /// written. Returns once the write is durable.
    pub(crate) async fn write_item<F>(
        &self,
        table: &TableRef,
        key: &PrimaryKey,
        decide: F,
    ) -> Result<WriteOutcome, ApiError>
    where
        F: FnOnce(Option<&Item>) -> Result<Option<Mutation>, ApiError>,
    {
        self.write_item_as(table, key, Origin::Client, decide).await
    }

    /// [`Engine::write_item`] on behalf of `origin` (a client, or the TTL sweeper).
    pub(crate) async fn write_item_as<F>(
        &self,
        table: &TableRef,
        key: &PrimaryKey,
        origin: Origin,
        decide: F,
    ) -> Result<WriteOutcome, ApiError>
    where
        F: FnOnce(Option<&Item>) -> Result<Option<Mutation>, ApiError>,
    {
        let index = Table::partition_index(&key.storage_key);
        let partition = &table.partitions[index];
        // What happened under the writer: a commit to wait for, or an answer given without
        // writing (which still depends on what the partition has committed so far).
        let locked: Result<Committed, Result<WriteOutcome, ApiError>> = async {
            let _writer = partition.writer.lock().await;
            if table.dropped.load(std::sync::atomic::Ordering::Acquire) {
                return Err(Err(ApiError::table_not_found()));
            }
            let old = self.read_item(table, &key.storage_key).map_err(Err)?;
            let new = match decide(old.as_ref()).map_err(Err)? {
                None => return Err(Ok(WriteOutcome { new: old.clone(), old })),
                Some(Mutation::Put(item)) => Some(item),
                Some(Mutation::Delete) => None,
            };
            let mut staging = Staging::new();
            staging.stage(table, &key.storage_key, old.as_ref(), new.as_ref(), origin).map_err(Err)?;
            if staging.is_empty() {
                // Nothing changes (a delete of nothing, a put of the same item): no write, no
                // stream record.
                return Err(Ok(WriteOutcome { old, new }));
            }
            let (batch, published) = staging.finish(&self.catalog_tree);
            partition.begin_commit();
            let ticket = match self.storage.commit(batch) {
                Ok(t) => t,
                Err(e) => {
                    partition.end_commit(self.storage.durability().issued());
                    return Err(Err(storage_error(e)));
                }
            };
            partition.end_commit(ticket);
            published.apply();
            Ok((ticket, old, new))
        }
        .await;
        match locked {
            Ok((ticket, old, new)) => {
                self.storage.durability().wait(ticket).await.map_err(storage_error)?;
                Ok(WriteOutcome { old, new })
            }
            Err(answer) => {
                // A failed condition or a no-op was decided on the partition's latest state,
                // which may include writes not yet durable: answer only once they are.
                partition.settle_read(self.storage.as_ref()).await.map_err(storage_error)?;
                answer
            }
        }
    }

    pub async fn put_item(&self, ctx: &RequestContext, input: PutItemInput) -> Result<ItemOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("item", &input.item);
        c.table_name("tableName", &input.table_name);
        let return_old = parse_return_values(&mut c, &input.return_values)?;
        let (capacity, return_old_on_failure) = write_options(
            &mut c,
            &input.return_consumed_capacity,
            &input.return_item_collection_metrics,
            &input.return_values_on_condition_check_failure,
        );
        c.finish()?;
        check_put_delete_return_values(&input.return_values)?;
        let condition = conditions::for_write(
            &input.condition_expression,
            &input.expected,
            &input.conditional_operator,
            &input.expression_attribute_names,
            &input.expression_attribute_values,
        )?;
        let table = self.get_item_table(ctx, &input.table_name)?;
        let item = input.item.unwrap_or_default();
        let key = key_from_item(&table.key, &item)?;
        // Like every value check, index keys are validated before the condition is looked at.
        Staging::validate_index_keys(&table, &item)?;
        let new_size = item_size_bytes(&item);
        let outcome = self
            .write_item(&table, &key, |old| {
                check(&condition, old, return_old_on_failure)?;
                Ok(Some(Mutation::Put(item)))
            })
            .await?;
        let old_size = outcome.old.as_ref().map_or(0, item_size_bytes);
        let table_name = table.meta.read().name.clone();
        Ok(ItemOutput {
            attributes: if return_old { outcome.old } else { None },
            item: None,
            consumed_capacity: consumed(&table_name, write_units(new_size.max(old_size)), capacity),
            item_collection_metrics: collection_metrics(&table, &key, &input.return_item_collection_metrics)?,
        })
    }

    pub async fn delete_item(&self, ctx: &RequestContext, input: DeleteItemInput) -> Result<ItemOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("key", &input.key);
        c.table_name("tableName", &input.table_name);
        let return_old = parse_return_values(&mut c, &input.return_values)?;
        let (capacity, return_old_on_failure) = write_options(
            &mut c,
            &input.return_consumed_capacity,
            &input.return_item_collection_metrics,
            &input.return_values_on_condition_check_failure,
        );
        c.finish()?;
        check_put_delete_return_values(&input.return_values)?;
        let condition = conditions::for_write(
            &input.condition_expression,
            &input.expected,
            &input.conditional_operator,
            &input.expression_attribute_names,
            &input.expression_attribute_values,
        )?;
        let table = self.get_item_table(ctx, &input.table_name)?;
        let key = key_from_key_param(&table.key, input.key.as_ref().unwrap_or(&Item::new()))?;
        let outcome = self
            .write_item(&table, &key, |old| {
                check(&condition, old, return_old_on_failure)?;
                Ok(Some(Mutation::Delete))
            })
            .await?;
        let old_size = outcome.old.as_ref().map_or(0, item_size_bytes);
        let table_name = table.meta.read().name.clone();
        Ok(ItemOutput {
            attributes: if return_old { outcome.old } else { None },
            item: None,
            consumed_capacity: consumed(&table_name, write_units(old_size), capacity),
            item_collection_metrics: collection_metrics(&table, &key, &input.return_item_collection_metrics)?,
        })
    }

    pub async fn get_item(&self, ctx: &RequestContext, input: GetItemInput) -> Result<ItemOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("key", &input.key);
        c.table_name("tableName", &input.table_name);
        let capacity = ReturnCapacity::parse(&mut c, &input.return_consumed_capacity);
        if let Some(a) = &input.attributes_to_get {
            c.length("attributesToGet", "null", a.len(), 1, usize::MAX);
        }
        c.finish()?;
        let projection = Projection::for_get(
            &input.projection_expression,
            &input.attributes_to_get,
            &input.expression_attribute_names,
        )?;
        let table = self.get_item_table(ctx, &input.table_name)?;
        let key = key_from_key_param(&table.key, input.key.as_ref().unwrap_or(&Item::new()))?;
        let item = self.read_item(&table, &key.storage_key)?;
        table.partitions[Table::partition_index(&key.storage_key)]
            .settle_read(self.storage.as_ref())
            .await
            .map_err(storage_error)?;
        let size = item.as_ref().map_or(0, item_size_bytes);
        let consistent = input.consistent_read.unwrap_or(false);
        let table_name = table.meta.read().name.clone();
        Ok(ItemOutput {
            attributes: None,
            item: item.map(|i| projection.apply(i)),
            consumed_capacity: consumed(&table_name, read_units(size, consistent), capacity),
            item_collection_metrics: None,
        })
    }
}

/// ItemCollectionMetrics for a write to a table with local secondary indexes, when asked for:
/// the size of the item collection (the items sharing the partition key, and their entries in
/// the local indexes).
pub(crate) fn collection_metrics(
    table: &Table,
    key: &PrimaryKey,
    asked: &Option<String>,
) -> Result<Option<ItemCollectionMetrics>, ApiError> {
    if asked.as_deref() != Some("SIZE") {
        return Ok(None);
    }
    let locals: Vec<_> = table.indexes.read().iter().filter(|i| !i.global).cloned().collect();
    if locals.is_empty() {
        return Ok(None);
    }
    let pk = key.attributes.get(&table.key.pk).and_then(KeyValue::from_attribute).ok_or_else(ApiError::internal)?;
    let prefix = partition_prefix(&pk);
    let end = prefix_successor(&prefix);
    let mut bytes = 0usize;
    let trees = std::iter::once(&table.items).chain(locals.iter().map(|i| &i.tree));
    for tree in trees {
        let upper = end.as_deref().map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        for entry in tree.range(std::ops::Bound::Included(&prefix), upper, false) {
            let (_, v) = entry.map_err(storage_error)?;
            bytes += decode_item(&v).map(|i| item_size_bytes(&i)).unwrap_or(v.len());
        }
    }
    let gb = (bytes as f64 / (1u64 << 30) as f64).floor();
    let mut collection_key = Item::new();
    collection_key.insert(table.key.pk.clone(), pk.to_attribute());
    Ok(Some(ItemCollectionMetrics { item_collection_key: collection_key, size_estimate_range_gb: [gb, gb + 1.0] }))
}

/// Evaluates a write's condition against the current item; a failure aborts the write with
/// ConditionalCheckFailedException (carrying the item if ALL_OLD was asked for).
pub(crate) fn check(condition: &Option<Condition>, old: Option<&Item>, return_old: bool) -> Result<(), ApiError> {
    let Some(condition) = condition else { return Ok(()) };
    if conditions::evaluate(condition, old)? {
        return Ok(());
    }
    let mut err = ApiError::conditional_check_failed();
    if let (true, Some(item)) = (return_old, old) {
        let json = serde_json::to_string(&flywheel_protocol::wire::WireItem(item)).unwrap_or_else(|_| "{}".into());
        err.extra_json = Some(format!("\"Item\":{json}"));
    }
    Err(err)
}
