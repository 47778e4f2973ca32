//! Time to live: UpdateTimeToLive, DescribeTimeToLive, the expiry index, and the sweeper that
//! deletes expired items.
//!
//! An item expires when its TTL attribute is a number of epoch seconds at or before now. Items
//! whose attribute is absent or not a number never expire, and — as DynamoDB documents — neither
//! do items whose expiry lies more than five years in the past (the value is then taken to be a
//! mistake, such as milliseconds or a date meant for another field). Expired items stay readable
//! until the sweeper deletes them.
//!
//! While TTL is enabled, a table has an expiry index: one tree keyed `expiry ‖ storage key`
//! (expiry in whole seconds rounded up, 8 bytes big-endian; empty values), maintained by
//! `Staging::stage` in the same batch as the item, so it always lists exactly the items with a
//! usable expiry. Enabling TTL creates the tree empty and the maintenance task backfills it from
//! the table (like a GSI backfill: chunks under each partition's writer); disabling drops it.
//! The sweeper, every `ttl_scan_interval` (one second by default), reads only the entries due
//! between five years ago and now, re-checks each item under its partition's writer, and deletes
//! the expired ones through the ordinary staging (`Staging::stage`), one batch per partition and
//! chunk, so indexes follow and the stream gets a REMOVE record whose `userIdentity` names the
//! DynamoDB service. A sweep therefore costs one range read plus the items that expire, whatever
//! the table's size.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{TableNameInput, UpdateTimeToLiveInput};
use flywheel_protocol::ApiError;
use flywheel_storage::{TreeHandle, WriteBatch};
use flywheel_types::codec::decode_item;
use flywheel_types::{AttributeValue, Item};
use serde::{Deserialize, Serialize};

use crate::catalog::{Table, TableRef, TreeKind, PARTITIONS_PER_TABLE};
use crate::change::Staging;
use crate::streams::Origin;
use crate::{storage_error, Engine, RequestContext};

/// Expiry times further in the past than this are ignored (DynamoDB: five years).
const EXPIRY_PAST_MAX_SECONDS: f64 = 5.0 * 365.0 * 86_400.0;

/// Expiry-index entries the sweeper reads before deleting their items.
const SWEEP_CHUNK_ITEMS: usize = 1_000;

/// Items indexed per chunk of the expiry backfill (per hold of a partition's writer).
const EXPIRY_BACKFILL_CHUNK_ITEMS: usize = 256;

/// Bytes of the expiry in an expiry-index key. On disk.
const EXPIRY_BYTES: usize = 8;

/// On disk, in the table's metadata: the expiry index of a table with TTL enabled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExpiryMeta {
    /// Storage tree: `expiry.TABLEID.SERIAL`.
    pub tree: String,
    /// True once the backfill has indexed every item written before TTL was enabled.
    #[serde(default)]
    pub built: bool,
}

/// A live expiry index: which attribute it follows and its tree.
pub struct ExpiryIndex {
    pub attribute: String,
    pub tree: TreeHandle,
    /// Whether the backfill has finished (until then the sweeper finds only indexed items).
    pub built: AtomicBool,
    /// Entries the sweeper has read since start-up: the cost of sweeping.
    pub entries_read: AtomicU64,
}

impl ExpiryIndex {
    pub fn new(attribute: String, tree: TreeHandle, built: bool) -> ExpiryIndex {
        ExpiryIndex { attribute, tree, built: AtomicBool::new(built), entries_read: AtomicU64::new(0) }
    }

    /// The entry of an item stored at `storage_key`, if it has a usable expiry. It depends on
    /// the item alone (not on the clock), so the entry staged for an old item is always the one
    /// that was written for it.
    pub fn entry(&self, storage_key: &[u8], item: &Item) -> Option<Vec<u8>> {
        let second = expiry_second(item, &self.attribute)?;
        let mut key = Vec::with_capacity(EXPIRY_BYTES + storage_key.len());
        key.extend_from_slice(&second.to_be_bytes());
        key.extend_from_slice(storage_key);
        Some(key)
    }
}

/// The second an item becomes due for deletion: its expiry rounded up, so an entry at or before
/// the current whole second is expired. Negative expiries (always more than five years ago) and
/// ones past `u64` seconds (never reached) have none.
fn expiry_second(item: &Item, attribute: &str) -> Option<u64> {
    let AttributeValue::N(n) = item.get(attribute)? else { return None };
    let expiry = n.to_string().parse::<f64>().ok()?.ceil();
    (expiry.is_finite() && expiry >= 0.0 && expiry < u64::MAX as f64).then_some(expiry as u64)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveSpecificationOutput {
    enabled: bool,
    attribute_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTimeToLiveOutput {
    time_to_live_specification: TimeToLiveSpecificationOutput,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveDescription {
    time_to_live_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribute_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTimeToLiveOutput {
    time_to_live_description: TimeToLiveDescription,
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// Whether an item has expired at `now` under TTL attribute `attribute`.
pub fn is_expired(item: &Item, attribute: &str, now: f64) -> bool {
    match item.get(attribute) {
        Some(AttributeValue::N(n)) => {
            let Ok(expiry) = n.to_string().parse::<f64>() else { return false };
            expiry <= now && now - expiry <= EXPIRY_PAST_MAX_SECONDS
        }
        _ => false,
    }
}

impl Engine {
    pub async fn update_time_to_live(
        &self,
        ctx: &RequestContext,
        input: UpdateTimeToLiveInput,
    ) -> Result<UpdateTimeToLiveOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.required("timeToLiveSpecification", &input.time_to_live_specification);
        if let Some(spec) = &input.time_to_live_specification {
            c.required("timeToLiveSpecification.attributeName", &spec.attribute_name);
            c.required("timeToLiveSpecification.enabled", &spec.enabled);
            if let Some(name) = &spec.attribute_name {
                c.length("timeToLiveSpecification.attributeName", &format!("'{name}'"), name.len(), 1, 255);
            }
        }
        c.finish()?;
        let spec = input.time_to_live_specification.unwrap_or_default();
        let (enabled, attribute) = (spec.enabled.unwrap_or(false), spec.attribute_name.unwrap_or_default());
        let _ddl = self.ddl.lock().await;
        let name = input.table_name.unwrap_or_default();
        let table = self
            .find_request_table(ctx, &name)
            .ok_or_else(|| ApiError::not_found(format!("Requested resource not found: Table: {name} not found")))?;
        let mut meta = table.meta.read().clone();
        // While TTL is on, a request naming another attribute — to enable or to disable — is
        // refused as such; only a repeat of the current attribute is "already enabled".
        match (&meta.ttl_attribute, enabled) {
            (Some(current), _) if *current != attribute => {
                return Err(ApiError::validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
                )))
            }
            (Some(_), true) => return Err(ApiError::validation("TimeToLive is already enabled")),
            (None, false) => return Err(ApiError::validation("TimeToLive is already disabled")),
            _ => {}
        }
        if enabled {
            // Open the tree before the catalog names it; the backfill fills it from the table.
            let expiry = ExpiryMeta { tree: meta.allocate_tree(TreeKind::Expiry), built: false };
            let tree = self.storage.open_tree(&expiry.tree).map_err(storage_error)?;
            meta.ttl_attribute = Some(attribute.clone());
            meta.expiry = Some(expiry);
            self.replace_meta(&table, meta).await?;
            // Writes from now on maintain the index; the backfill covers every item before.
            *table.expiry.write() = Some(Arc::new(ExpiryIndex::new(attribute.clone(), tree, false)));
            self.wake.notify_one();
        } else {
            // No write may be staging into the tree while it goes: hold every writer.
            let guards = crate::backups::lock_all(&table).await;
            meta.ttl_attribute = None;
            let old = meta.expiry.take();
            self.replace_meta(&table, meta).await?;
            *table.expiry.write() = None;
            drop(guards);
            if let Some(old) = old {
                self.storage.drop_tree(&old.tree).map_err(storage_error)?;
            }
        }
        Ok(UpdateTimeToLiveOutput {
            time_to_live_specification: TimeToLiveSpecificationOutput { enabled, attribute_name: attribute },
        })
    }

    pub fn describe_time_to_live(
        &self,
        ctx: &RequestContext,
        input: TableNameInput,
    ) -> Result<DescribeTimeToLiveOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.finish()?;
        let name = input.table_name.unwrap_or_default();
        let table = self
            .find_request_table(ctx, &name)
            .ok_or_else(|| ApiError::not_found(format!("Requested resource not found: Table: {name} not found")))?;
        let attribute = table.meta.read().ttl_attribute.clone();
        Ok(DescribeTimeToLiveOutput {
            time_to_live_description: TimeToLiveDescription {
                time_to_live_status: if attribute.is_some() { "ENABLED" } else { "DISABLED" },
                attribute_name: attribute,
            },
        })
    }

    /// One sweep over every TTL-enabled table; returns how many items it deleted.
    pub async fn sweep_expired(&self) -> Result<u64, ApiError> {
        let tables: Vec<TableRef> = self.tables.read().values().cloned().collect();
        let mut deleted = 0;
        for table in tables {
            deleted += self.sweep_table(&table).await?;
        }
        Ok(deleted)
    }

    /// Deletes the table's items due by now, reading only their expiry-index entries.
    pub(crate) async fn sweep_table(&self, table: &TableRef) -> Result<u64, ApiError> {
        let Some(expiry) = table.expiry.read().clone() else { return Ok(0) };
        let now = now_seconds();
        // Entries before five years ago never expire; entries after this second are not due.
        let from = ((now - EXPIRY_PAST_MAX_SECONDS).ceil().max(0.0) as u64).to_be_bytes();
        let until = (now.floor() as u64 + 1).to_be_bytes();
        let mut start: Bound<Vec<u8>> = Bound::Included(from.to_vec());
        let mut deleted = 0;
        loop {
            let current = table.expiry.read().as_ref().is_some_and(|e| Arc::ptr_eq(e, &expiry));
            if !current || table.dropped.load(Ordering::Acquire) {
                return Ok(deleted);
            }
            let mut due = Vec::new();
            for entry in expiry.tree.range(start.as_ref().map(Vec::as_slice), Bound::Excluded(until.as_slice()), false)
            {
                let (key, _) = entry.map_err(storage_error)?;
                expiry.entries_read.fetch_add(1, Ordering::Relaxed);
                due.push(key);
                if due.len() >= SWEEP_CHUNK_ITEMS {
                    break;
                }
            }
            let Some(last) = due.last().cloned() else { return Ok(deleted) };
            // One batch per partition: its expired items go under one hold of its writer, with
            // one commit and one wait for durability, however many there are.
            let mut by_partition: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
            for key in &due {
                let partition = key.get(EXPIRY_BYTES..).filter(|k| k.len() >= 4).map_or(0, Table::partition_index);
                by_partition.entry(partition).or_default().push(key.clone());
            }
            for (partition, entries) in by_partition {
                deleted += self.expire_in_partition(table, &expiry, partition, &entries).await?;
            }
            if due.len() < SWEEP_CHUNK_ITEMS {
                return Ok(deleted);
            }
            start = Bound::Excluded(last);
        }
    }

    /// Deletes, in one batch under the partition's writer, the items of these due entries
    /// that are still expired (an item may have been renewed meanwhile), through the ordinary
    /// staging, so indexes follow and the stream gets REMOVE records from the service. An entry
    /// that names no such item — which the atomic batches should make impossible — is removed
    /// rather than read on every sweep. Returns how many items it deleted.
    async fn expire_in_partition(
        &self,
        table: &TableRef,
        expiry: &Arc<ExpiryIndex>,
        partition: usize,
        entries: &[Vec<u8>],
    ) -> Result<u64, ApiError> {
        let p = &table.partitions[partition];
        let (ticket, deleted) = {
            let _writer = p.writer.lock().await;
            // Under the writer: the table may have gone, or TTL been disabled, meanwhile.
            let enabled = table.expiry.read().as_ref().is_some_and(|e| Arc::ptr_eq(e, expiry));
            if !enabled || table.dropped.load(Ordering::Acquire) {
                return Ok(0);
            }
            let now = now_seconds();
            let mut staging = Staging::new();
            let mut staged: BTreeSet<&[u8]> = BTreeSet::new();
            let mut stale = Vec::new();
            for entry in entries {
                let storage_key = entry.get(EXPIRY_BYTES..).filter(|k| k.len() >= 4);
                let item = match storage_key {
                    Some(k) if !staged.contains(k) => self.read_item(table, k)?,
                    _ => None,
                };
                match (storage_key, item) {
                    (Some(key), Some(item)) if is_expired(&item, &expiry.attribute, now) => {
                        staging.stage(table, key, Some(&item), None, Origin::TimeToLive)?;
                        staged.insert(key);
                    }
                    // Due, but more than five years ago by a fraction of a second: it never
                    // expires, and the sweeper will not read it again.
                    (Some(key), Some(item)) if expiry.entry(key, &item).as_ref() == Some(entry) => {}
                    _ => {
                        if expiry.tree.get(entry).map_err(storage_error)?.is_some() {
                            stale.push(entry.clone());
                        }
                    }
                }
            }
            if staging.is_empty() && stale.is_empty() {
                return Ok(0);
            }
            let deleted = staged.len() as u64;
            let (mut batch, published) = staging.finish(&self.catalog_tree);
            for entry in stale {
                tracing::warn!(table = %table.meta.read().name, "removing an expiry-index entry that names no such item");
                batch.delete(&expiry.tree, entry);
            }
            let ticket = self.commit_under_writer(p, batch)?;
            published.apply();
            (ticket, deleted)
        };
        self.storage.durability().wait(ticket).await.map_err(storage_error)?;
        Ok(deleted)
    }

    /// Commits a batch that is not an item change under `partition`'s writer (held by the
    /// caller), keeping the partition's ticket so later reads settle on it.
    fn commit_under_writer(
        &self,
        partition: &crate::catalog::Partition,
        batch: WriteBatch,
    ) -> Result<flywheel_storage::Ticket, ApiError> {
        partition.begin_commit();
        let result = self.storage.commit(batch);
        let ticket = match &result {
            Ok(t) => *t,
            Err(_) => self.storage.durability().issued(),
        };
        partition.end_commit(ticket);
        result.map_err(storage_error)
    }

    /// Fills a new expiry index from its table, partition by partition in chunks under each
    /// partition's writer, then marks it built, durably. Adding an entry is idempotent, so a
    /// failed or interrupted backfill simply starts over. Returns false if TTL was disabled or
    /// the table deleted meanwhile.
    pub(crate) async fn backfill_expiry(&self, table: &TableRef, expiry: &Arc<ExpiryIndex>) -> Result<bool, ApiError> {
        let still_there = |t: &Table| {
            !t.dropped.load(Ordering::Acquire) && t.expiry.read().as_ref().is_some_and(|e| Arc::ptr_eq(e, expiry))
        };
        for partition in 0..PARTITIONS_PER_TABLE {
            let (first, end) = crate::backfill::partition_bounds(partition);
            let mut start = Bound::Included(first);
            loop {
                let writer = table.partitions[partition].writer.lock().await;
                if !still_there(table) {
                    return Ok(false);
                }
                let mut batch = WriteBatch::new();
                let mut last = None;
                let mut read = 0;
                for entry in
                    table.items.range(start.as_ref().map(Vec::as_slice), end.as_ref().map(Vec::as_slice), false)
                {
                    let (key, value) = entry.map_err(storage_error)?;
                    let item = decode_item(&value).map_err(|_| ApiError::internal())?;
                    if let Some(entry) = expiry.entry(&key, &item) {
                        batch.put(&expiry.tree, entry, Vec::new());
                    }
                    last = Some(key);
                    read += 1;
                    if read >= EXPIRY_BACKFILL_CHUNK_ITEMS {
                        break;
                    }
                }
                if !batch.is_empty() {
                    self.commit_under_writer(&table.partitions[partition], batch)?;
                }
                drop(writer);
                // Let writers (and the rest of the maintenance task's runtime) in between chunks.
                tokio::task::yield_now().await;
                match last {
                    Some(key) if read >= EXPIRY_BACKFILL_CHUNK_ITEMS => start = Bound::Excluded(key),
                    _ => break,
                }
            }
        }
        let _ddl = self.ddl.lock().await;
        if !still_there(table) {
            return Ok(false);
        }
        let mut meta = table.meta.read().clone();
        if let Some(m) = meta.expiry.as_mut() {
            m.built = true;
        }
        self.replace_meta(table, meta).await?;
        // The entries were committed before; marking built needs them durable as well.
        self.storage.durability().wait(self.storage.durability().issued()).await.map_err(storage_error)?;
        expiry.built.store(true, Ordering::Release);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_protocol::Operation;
    use serde_json::{json, Value};

    fn in_memory_engine() -> Engine {
        Engine::open(Arc::new(flywheel_storage::memory::MemoryStorage::new()), crate::EngineConfig::default()).unwrap()
    }

    /// A table keyed by a string `pk`, TTL not yet enabled.
    async fn create_table(engine: &Engine, name: &str) {
        call(
            engine,
            Operation::CreateTable,
            json!({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                   "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
        )
        .await;
    }

    /// An in-memory engine with one table from `create_table`.
    async fn engine_with_table(name: &str) -> Engine {
        let engine = in_memory_engine();
        create_table(&engine, name).await;
        engine
    }

    async fn call(engine: &Engine, op: Operation, body: Value) -> Value {
        let ctx = RequestContext::new("us-east-1", "localhost");
        let out = engine.dispatch(&ctx, op, body.to_string().as_bytes()).await.unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    async fn table_with_ttl(engine: &Engine, name: &str) -> TableRef {
        create_table(engine, name).await;
        enable_ttl(engine, name).await
    }

    /// Enables TTL on attribute `exp` of an existing table, and returns the table.
    async fn enable_ttl(engine: &Engine, name: &str) -> TableRef {
        call(
            engine,
            Operation::UpdateTimeToLive,
            json!({"TableName": name, "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}}),
        )
        .await;
        engine.find_table("us-east-1", name).unwrap()
    }

    async fn put(engine: &Engine, table: &str, pk: &str, exp: Option<f64>) {
        let mut item = json!({"pk": {"S": pk}});
        if let Some(exp) = exp {
            item["exp"] = json!({"N": format!("{}", exp as i64)});
        }
        call(engine, Operation::PutItem, json!({"TableName": table, "Item": item})).await;
    }

    fn entries(table: &Table) -> usize {
        let expiry = table.expiry.read().clone().unwrap();
        expiry.tree.range(Bound::Unbounded, Bound::Unbounded, false).count()
    }

    #[tokio::test]
    async fn the_sweeper_reads_only_the_entries_due() {
        // A sweep's cost follows the items that expire, not the table: among 2,000 items that
        // do not expire (in the future, ancient, or without the attribute), the sweeper reads the
        // expiry-index entries of the 3 that are due and no others.
        let engine = in_memory_engine();
        let table = table_with_ttl(&engine, "ttl_t").await;
        let now = now_seconds();
        for i in 0..2_000 {
            let exp = match i % 3 {
                0 => Some(now + 3600.0 + i as f64),
                1 => Some(1_000.0), // more than five years ago: ignored, as DynamoDB does
                _ => None,
            };
            put(&engine, "ttl_t", &format!("keep{i}"), exp).await;
        }
        for i in 0..3 {
            put(&engine, "ttl_t", &format!("due{i}"), Some(now - 10.0 - i as f64)).await;
        }
        let expiry = table.expiry.read().clone().unwrap();
        assert_eq!(engine.sweep_table(&table).await.unwrap(), 3);
        assert_eq!(expiry.entries_read.load(Ordering::Relaxed), 3);
        assert_eq!(table.item_count(), 2_000);
        // Nothing more is due: the next sweep reads nothing at all.
        assert_eq!(engine.sweep_table(&table).await.unwrap(), 0);
        assert_eq!(expiry.entries_read.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn an_entry_naming_no_item_is_removed_not_read_again() {
        // The atomic batches keep the index exact; should an entry ever name no item (a bug, a
        // damaged store), the sweeper removes it instead of reading it on every pass.
        let engine = in_memory_engine();
        let table = table_with_ttl(&engine, "ttl_t").await;
        let expiry = table.expiry.read().clone().unwrap();
        let mut batch = WriteBatch::new();
        let due = (now_seconds() as u64 - 10).to_be_bytes();
        batch.put(&expiry.tree, [due.as_slice(), b"\0\0\0\0nothing"].concat(), Vec::new());
        batch.put(&expiry.tree, due.to_vec(), Vec::new()); // too short to name an item
        engine.storage().commit(batch).unwrap();
        assert_eq!(engine.sweep_table(&table).await.unwrap(), 0);
        assert_eq!(expiry.entries_read.load(Ordering::Relaxed), 2);
        assert_eq!(entries(&table), 0);
        assert_eq!(engine.sweep_table(&table).await.unwrap(), 0);
        assert_eq!(expiry.entries_read.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn the_expiry_index_follows_every_item_change_and_the_backfill() {
        let engine = engine_with_table("ttl_t").await;
        let now = now_seconds();
        // Written before TTL is enabled: only the backfill can index these.
        for i in 0..600 {
            put(&engine, "ttl_t", &format!("old{i}"), Some(now - 5.0)).await;
        }
        put(&engine, "ttl_t", "plain", None).await;
        let table = enable_ttl(&engine, "ttl_t").await;
        assert_eq!(entries(&table), 0);
        let expiry = table.expiry.read().clone().unwrap();
        assert!(engine.backfill_expiry(&table, &expiry).await.unwrap());
        assert!(expiry.built.load(Ordering::Acquire) && table.meta.read().expiry.as_ref().unwrap().built);
        assert_eq!(entries(&table), 600);
        // A put adds an entry, a renewal moves it, removing the attribute or the item drops it.
        put(&engine, "ttl_t", "new", Some(now - 5.0)).await;
        assert_eq!(entries(&table), 601);
        call(
            &engine,
            Operation::UpdateItem,
            json!({"TableName": "ttl_t", "Key": {"pk": {"S": "new"}}, "UpdateExpression": "SET exp = :e",
                   "ExpressionAttributeValues": {":e": {"N": format!("{}", now as i64 + 3600)}}}),
        )
        .await;
        assert_eq!(entries(&table), 601);
        call(
            &engine,
            Operation::UpdateItem,
            json!({"TableName": "ttl_t", "Key": {"pk": {"S": "new"}}, "UpdateExpression": "REMOVE exp"}),
        )
        .await;
        assert_eq!(entries(&table), 600);
        call(&engine, Operation::DeleteItem, json!({"TableName": "ttl_t", "Key": {"pk": {"S": "old0"}}})).await;
        assert_eq!(entries(&table), 599);
        assert_eq!(engine.sweep_table(&table).await.unwrap(), 599);
        assert_eq!(entries(&table), 0);
        assert_eq!(table.item_count(), 2);
        // Disabling drops the index with its tree.
        let tree = table.meta.read().expiry.as_ref().unwrap().tree.clone();
        call(
            &engine,
            Operation::UpdateTimeToLive,
            json!({"TableName": "ttl_t", "TimeToLiveSpecification": {"Enabled": false, "AttributeName": "exp"}}),
        )
        .await;
        assert!(table.expiry.read().is_none() && table.meta.read().expiry.is_none());
        assert!(!engine.storage().tree_names().unwrap().contains(&tree));
    }

    /// The entries the expiry index must hold: one per stored item with a usable expiry.
    fn expected_entries(table: &Table) -> Vec<Vec<u8>> {
        let expiry = table.expiry.read().clone().unwrap();
        let mut want: Vec<Vec<u8>> = table
            .items
            .range(Bound::Unbounded, Bound::Unbounded, false)
            .filter_map(|e| {
                let (k, v) = e.unwrap();
                expiry.entry(&k, &decode_item(&v).unwrap())
            })
            .collect();
        want.sort();
        want
    }

    #[tokio::test]
    async fn writes_during_the_backfill_leave_the_index_exact() {
        // Writes race the backfill (which yields between chunks of 256 items): they renew,
        // remove and add expiries and delete items. The finished index equals the table.
        let engine = engine_with_table("ttl_t").await;
        let now = now_seconds();
        for i in 0..1_500 {
            put(&engine, "ttl_t", &format!("k{i}"), Some(now + 100.0 + i as f64)).await;
        }
        let table = enable_ttl(&engine, "ttl_t").await;
        let expiry = table.expiry.read().clone().unwrap();
        let written = std::sync::atomic::AtomicUsize::new(0);
        let writes = async {
            for i in (0..1_500).step_by(3) {
                match i % 4 {
                    0 => put(&engine, "ttl_t", &format!("k{i}"), Some(now + 9_000.0)).await,
                    1 => put(&engine, "ttl_t", &format!("k{i}"), None).await,
                    2 => {
                        call(
                            &engine,
                            Operation::DeleteItem,
                            json!({"TableName": "ttl_t", "Key": {"pk": {"S": format!("k{i}")}}}),
                        )
                        .await;
                    }
                    _ => put(&engine, "ttl_t", &format!("new{i}"), Some(now + 50.0)).await,
                }
                written.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        };
        let backfill = async {
            let built = engine.backfill_expiry(&table, &expiry).await.unwrap();
            (built, written.load(Ordering::Relaxed))
        };
        let ((built, written_meanwhile), ()) = tokio::join!(backfill, writes);
        assert!(built);
        // The writes did interleave with the backfill's chunks, landing in partitions both
        // before and after the backfill passed them.
        assert!(written_meanwhile > 0 && written_meanwhile < 500, "{written_meanwhile}");
        let mut got: Vec<Vec<u8>> =
            expiry.tree.range(Bound::Unbounded, Bound::Unbounded, false).map(|e| e.unwrap().0).collect();
        got.sort();
        assert_eq!(got, expected_entries(&table));
        assert!(got.len() > 1_000);
    }

    #[tokio::test]
    async fn a_table_from_before_expiry_indexes_gets_one_at_load() {
        // A data directory written before expiry indexes existed has TTL enabled and no index:
        // loading gives it an empty one (saved), which the backfill then fills.
        let storage: Arc<dyn flywheel_storage::Storage> = Arc::new(flywheel_storage::memory::MemoryStorage::new());
        let engine = Engine::open(storage.clone(), crate::EngineConfig::default()).unwrap();
        let table = table_with_ttl(&engine, "ttl_t").await;
        put(&engine, "ttl_t", "due", Some(now_seconds() - 5.0)).await;
        let mut meta = table.meta.read().clone();
        let tree = meta.expiry.take().unwrap().tree;
        let mut batch = WriteBatch::new();
        batch.put(
            &engine.catalog_tree,
            crate::catalog::table_key(&meta.region, &meta.name),
            serde_json::to_vec(&meta).unwrap(),
        );
        storage.commit(batch).unwrap();
        storage.drop_tree(&tree).unwrap();
        drop((table, engine));
        let engine = Engine::open(storage.clone(), crate::EngineConfig::default()).unwrap();
        let table = engine.find_table("us-east-1", "ttl_t").unwrap();
        let expiry = table.expiry.read().clone().unwrap();
        assert!(!expiry.built.load(Ordering::Acquire));
        assert!(engine.backfill_expiry(&table, &expiry).await.unwrap());
        assert_eq!(engine.sweep_table(&table).await.unwrap(), 1);
        // The repair was saved: the next start finds the index built.
        drop((expiry, table, engine));
        let engine = Engine::open(storage, crate::EngineConfig::default()).unwrap();
        let table = engine.find_table("us-east-1", "ttl_t").unwrap();
        assert!(table.expiry.read().as_ref().unwrap().built.load(Ordering::Acquire));
    }

    fn with(value: AttributeValue) -> Item {
        [("exp".to_string(), value)].into_iter().collect()
    }

    #[test]
    fn expiry_rules() {
        let now = 1_800_000_000.0;
        let n = |s: &str| AttributeValue::N(s.parse().unwrap());
        assert!(is_expired(&with(n("1799999999")), "exp", now));
        assert!(is_expired(&with(n("1800000000")), "exp", now));
        assert!(!is_expired(&with(n("1800000001")), "exp", now));
        assert!(is_expired(&with(n("1799999999.5")), "exp", now));
        // More than five years in the past: ignored, as DynamoDB does.
        assert!(!is_expired(&with(n("1000")), "exp", now));
        // Not a number, or absent: never expires.
        assert!(!is_expired(&with(AttributeValue::S("1".into())), "exp", now));
        assert!(!is_expired(&with(AttributeValue::Ns(vec!["1".parse().unwrap()])), "exp", now));
        assert!(!is_expired(&Item::new(), "exp", now));
    }

    #[test]
    fn expiry_index_entries() {
        let index = |value: AttributeValue| {
            let tree = flywheel_storage::memory::MemoryStorage::new();
            let tree = flywheel_storage::Storage::open_tree(&tree, "x").unwrap();
            ExpiryIndex::new("exp".into(), tree, true).entry(b"KEY!", &with(value))
        };
        let n = |s: &str| AttributeValue::N(s.parse().unwrap());
        let at = |second: u64| Some([second.to_be_bytes().as_slice(), b"KEY!"].concat());
        assert_eq!(index(n("1800000000")), at(1_800_000_000));
        // Rounded up: due only once the whole expiry has passed.
        assert_eq!(index(n("1799999999.5")), at(1_800_000_000));
        // Ancient entries are kept (the sweeper never reads them); unusable ones have none.
        assert_eq!(index(n("1000")), at(1000));
        assert_eq!(index(n("-1")), None);
        assert_eq!(index(n("1E+30")), None);
        assert_eq!(index(AttributeValue::S("1".into())), None);
    }
}
