//! BatchGetItem and BatchWriteItem: many single-item operations in one request, each atomic on
//! its own (as in DynamoDB, a batch is not a transaction). Writes run concurrently so they share
//! group commits.

use std::collections::{BTreeMap, HashSet};

use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{BatchGetItemInput, BatchWriteItemInput, ConsumedCapacity};
use flywheel_protocol::ApiError;
use flywheel_types::limits::{BATCH_GET_KEYS_MAX, BATCH_WRITE_ITEMS_MAX};
use flywheel_types::{item_size_bytes, Item};
use serde::Serialize;

use crate::capacity::{consumed, read_units, write_units, ReturnCapacity};
use crate::catalog::Table;
use crate::items::{key_from_item, key_from_key_param, Mutation};
use crate::projection::Projection;
use crate::{storage_error, Engine, RequestContext};

/// A BatchGetItem response stops growing at 16 MB; the rest goes back as UnprocessedKeys.
const BATCH_GET_RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetItemOutput {
    responses: BTreeMap<String, ItemList>,
    unprocessed_keys: BTreeMap<String, UnprocessedKeys>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

struct ItemList(Vec<Item>);

impl Serialize for ItemList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        flywheel_protocol::wire::ser_items(&self.0, s)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UnprocessedKeys {
    keys: ItemList,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchWriteItemOutput {
    unprocessed_items: BTreeMap<String, Vec<()>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

/// A map as DynamoDB's Java model prints it: `'{a=[…], b=[…]}'`.
fn show_map<'a>(names: impl Iterator<Item = &'a String>, list: impl Fn(&str) -> String) -> String {
    let parts: Vec<String> = names.map(|n| format!("{n}=[{}]", list(n))).collect();
    format!("'{{{}}}'", parts.join(", "))
}

fn duplicates() -> ApiError {
    ApiError::validation("Provided list of item keys contains duplicates")
}

impl Engine {
    pub async fn batch_get_item(
        &self,
        ctx: &RequestContext,
        input: BatchGetItemInput,
    ) -> Result<BatchGetItemOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("requestItems", &input.request_items);
        let capacity = ReturnCapacity::parse(&mut c, &input.return_consumed_capacity);
        if let Some(r) = &input.request_items {
            c.length("requestItems", &show_map(r.keys(), |_| String::new()), r.len(), 1, usize::MAX);
            for (name, k) in r {
                c.required(&format!("requestItems.{name}.member.keys"), &k.keys);
                if let Some(keys) = &k.keys {
                    let shown = format!("'[{}]'", keys.iter().map(|_| "{...}").collect::<Vec<_>>().join(", "));
                    c.length(&format!("requestItems.{name}.member.keys"), &shown, keys.len(), 1, BATCH_GET_KEYS_MAX);
                }
            }
        }
        c.finish()?;
        let request = input.request_items.unwrap_or_default();
        let total: usize = request.values().map(|k| k.keys.as_ref().map_or(0, Vec::len)).sum();
        if total > BATCH_GET_KEYS_MAX {
            return Err(ApiError::validation("Too many items requested for the BatchGetItem call"));
        }
        // Validate everything before reading anything.
        let mut plans = Vec::new();
        for (name, k) in &request {
            let projection =
                Projection::for_get(&k.projection_expression, &k.attributes_to_get, &k.expression_attribute_names)?;
            let table = self.find_request_table(ctx, name).ok_or_else(ApiError::table_not_found)?;
            let mut seen = HashSet::new();
            let mut keys = Vec::new();
            for key in k.keys.as_deref().unwrap_or_default() {
                let pk = key_from_key_param(&table.key, key)?;
                if !seen.insert(pk.storage_key.clone()) {
                    return Err(duplicates());
                }
                keys.push((pk, key.clone()));
            }
            plans.push((name.clone(), table, projection, keys, k.consistent_read.unwrap_or(false)));
        }
        let mut responses = BTreeMap::new();
        let mut unprocessed = BTreeMap::new();
        let mut capacities = Vec::new();
        let mut response_bytes = 0usize;
        for (name, table, projection, keys, consistent) in plans {
            let mut items = Vec::new();
            let mut left = Vec::new();
            let mut units = 0.0;
            for (key, raw) in keys {
                if response_bytes >= BATCH_GET_RESPONSE_BYTES_MAX {
                    left.push(raw);
                    continue;
                }
                let item = self.read_item(&table, &key.storage_key)?;
                table.partitions[Table::partition_index(&key.storage_key)]
                    .settle_read(self.storage.as_ref())
                    .await
                    .map_err(storage_error)?;
                let size = item.as_ref().map_or(0, item_size_bytes);
                units += read_units(size, consistent);
                if let Some(item) = item {
                    response_bytes += size;
                    items.push(projection.apply(item));
                }
            }
            if let Some(cc) = consumed(&name, units, capacity) {
                capacities.push(cc);
            }
            responses.insert(name.clone(), ItemList(items));
            if !left.is_empty() {
                unprocessed.insert(name, UnprocessedKeys { keys: ItemList(left) });
            }
        }
        Ok(BatchGetItemOutput {
            responses,
            unprocessed_keys: unprocessed,
            consumed_capacity: (capacity != ReturnCapacity::None).then_some(capacities),
        })
    }

    pub async fn batch_write_item(
        &self,
        ctx: &RequestContext,
        input: BatchWriteItemInput,
    ) -> Result<BatchWriteItemOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("requestItems", &input.request_items);
        let capacity = ReturnCapacity::parse(&mut c, &input.return_consumed_capacity);
        c.one_of("returnItemCollectionMetrics", &input.return_item_collection_metrics, &["SIZE", "NONE"]);
        if let Some(r) = &input.request_items {
            c.length("requestItems", "'{}'", r.len(), 1, usize::MAX);
        }
        c.finish()?;
        let request = input.request_items.unwrap_or_default();
        // DynamoDB checks each table's list as a map-value constraint and prints the map the way
        // its Java model prints it.
        if let Some((_, _)) = request.iter().find(|(_, w)| w.is_empty() || w.len() > BATCH_WRITE_ITEMS_MAX) {
            let shown = show_map(request.keys(), |name| {
                request[name]
                    .iter()
                    .map(|_| "com.amazonaws.dynamodb.v20120810.WriteRequest@0".to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value {shown} at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]"
            )));
        }
        let total: usize = request.values().map(Vec::len).sum();
        if total > BATCH_WRITE_ITEMS_MAX {
            return Err(ApiError::validation("Too many items requested for the BatchWriteItem call"));
        }
        let mut writes = Vec::new();
        for (name, list) in &request {
            let table = self.find_request_table(ctx, name).ok_or_else(ApiError::table_not_found)?;
            let mut seen = HashSet::new();
            for w in list {
                let (key, mutation, size) = match (&w.put_request, &w.delete_request) {
                    (Some(put), None) => {
                        let item = put.item.clone().ok_or_else(|| {
                            ApiError::validation("1 validation error detected: Value null at 'requestItems.1.member.putRequest.item' failed to satisfy constraint: Member must not be null")
                        })?;
                        // In a batch, a put whose key is missing or mistyped gets the Key message.
                        let key = key_from_item(&table.key, &item).map_err(|e| {
                            if e.message.contains("Missing the key") || e.message.contains("Type mismatch for key") {
                                ApiError::validation("The provided key element does not match the schema")
                            } else {
                                e
                            }
                        })?;
                        // Index keys too are checked for the whole batch before anything is written.
                        crate::change::Staging::validate_index_keys(&table, &item)?;
                        let size = item_size_bytes(&item);
                        (key, Mutation::Put(item), size)
                    }
                    (None, Some(delete)) => {
                        let key = key_from_key_param(&table.key, delete.key.as_ref().unwrap_or(&Item::new()))?;
                        (key, Mutation::Delete, 0)
                    }
                    _ => {
                        return Err(ApiError::validation(
                            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                        ))
                    }
                };
                if !seen.insert(key.storage_key.clone()) {
                    return Err(duplicates());
                }
                writes.push((name.clone(), table.clone(), key, mutation, size));
            }
        }
        let futures = writes.into_iter().map(|(name, table, key, mutation, size)| async move {
            let mut mutation = Some(mutation);
            let outcome = self.write_item(&table, &key, |_| Ok(mutation.take())).await?;
            let old = outcome.old.as_ref().map_or(0, item_size_bytes);
            Ok::<_, ApiError>((name, write_units(size.max(old))))
        });
        let results = futures_join_all(futures).await;
        let mut per_table: BTreeMap<String, f64> = BTreeMap::new();
        for r in results {
            let (name, units) = r?;
            *per_table.entry(name).or_default() += units;
        }
        let capacities: Vec<ConsumedCapacity> =
            per_table.iter().filter_map(|(name, units)| consumed(name, *units, capacity)).collect();
        Ok(BatchWriteItemOutput {
            unprocessed_items: BTreeMap::new(),
            consumed_capacity: (capacity != ReturnCapacity::None).then_some(capacities),
        })
    }
}

/// Runs futures concurrently on this task and collects their results in order.
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("every future completed")).collect()
}
