//! Online index creation and deletion (UpdateTable's GlobalSecondaryIndexUpdates).
//!
//! Creating a global secondary index on a populated table: the index is added to the table's
//! metadata inactive (`IndexStatus` CREATING, `Backfilling` true) and from then on every write
//! maintains it. The backfill then walks each partition in chunks, holding that partition's
//! writer for one chunk at a time, and adds the entry of every item that does not have one yet,
//! with the partition's index statistics, in one batch per chunk. Because a chunk is read and
//! written under the writer, and every later write maintains the index itself, the finished
//! index holds exactly the table's items, while writers only ever wait for one chunk. Until the
//! backfill finishes, writes check the index tree for an existing entry before counting one as
//! replaced. A restart resumes unfinished backfills from the start (adding entries is idempotent).

use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use flywheel_protocol::model::{AttributeDefinition, GlobalSecondaryIndexUpdate, SecondaryIndex};
use flywheel_protocol::{ApiError, ErrorKind};
use flywheel_storage::WriteBatch;
use flywheel_types::codec::{decode_item, encode_item};
use flywheel_types::item_size_bytes;

use crate::catalog::{encode_stats, index_stats_key, Table, TableMeta, TableRef, TreeKind, PARTITIONS_PER_TABLE};
use crate::indexes::{check_key_schema, check_projection, Index, IndexMeta};
use crate::{storage_error, Engine};

/// Items indexed per chunk (per hold of a partition's writer).
const BACKFILL_CHUNK_ITEMS: usize = 256;

/// Most global secondary indexes per table.
pub const GLOBAL_SECONDARY_INDEXES_MAX: usize = 20;

/// What UpdateTable asked of the table's global secondary indexes, once validated.
pub(crate) enum IndexChange {
    Create(IndexMeta),
    Delete(String),
    Throughput(String, i64, i64),
}

fn invalid(msg: impl AsRef<str>) -> ApiError {
    ApiError::validation(format!("One or more parameter values were invalid: {}", msg.as_ref()))
}

/// Validates GlobalSecondaryIndexUpdates against the table; merges new attribute definitions
/// into `meta`.
pub(crate) fn plan_index_updates(
    meta: &mut TableMeta,
    updates: &[GlobalSecondaryIndexUpdate],
    definitions: &Option<Vec<AttributeDefinition>>,
) -> Result<Vec<IndexChange>, ApiError> {
    let structural = updates.iter().filter(|u| u.create.is_some() || u.delete.is_some()).count();
    let building = meta.indexes.iter().any(|i| !i.active);
    if structural > 1 || (structural == 1 && building) {
        return Err(ApiError::new(
            ErrorKind::LimitExceeded,
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
        ));
    }
    let mut changes = Vec::new();
    for u in updates {
        let set = [u.create.is_some(), u.update.is_some(), u.delete.is_some()].iter().filter(|b| **b).count();
        if set != 1 {
            return Err(invalid(
                "One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update or GlobalSecondaryIndexUpdate.Delete must be specified",
            ));
        }
        if let Some(create) = &u.create {
            changes.push(IndexChange::Create(plan_create(meta, create, definitions)?));
        } else if let Some(delete) = &u.delete {
            let name = delete.index_name.clone().unwrap_or_default();
            if !meta.indexes.iter().any(|i| i.global && i.name == name) {
                return Err(ApiError::not_found(format!("Requested resource not found: Index: {name} not found")));
            }
            changes.push(IndexChange::Delete(name));
        } else if let Some(update) = &u.update {
            let name = update.index_name.clone().unwrap_or_default();
            if !meta.indexes.iter().any(|i| i.global && i.name == name) {
                return Err(ApiError::not_found(format!("Requested resource not found: Index: {name} not found")));
            }
            let pt = update.provisioned_throughput.clone().unwrap_or_default();
            if meta.billing_mode == "PAY_PER_REQUEST" {
                return Err(invalid(format!(
                    "ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                )));
            }
            changes.push(IndexChange::Throughput(
                name,
                pt.read_capacity_units.unwrap_or(0),
                pt.write_capacity_units.unwrap_or(0),
            ));
        }
    }
    Ok(changes)
}

fn plan_create(
    meta: &mut TableMeta,
    create: &SecondaryIndex,
    definitions: &Option<Vec<AttributeDefinition>>,
) -> Result<IndexMeta, ApiError> {
    let mut c = flywheel_protocol::constraints::Constraints::new();
    // The same shape rules as CreateTable's indexes: name, key schema (key attribute names of at
    // most 255 bytes), projection (projected names of at most 255 bytes), throughput.
    crate::tables::check_index_shape(&mut c, "globalSecondaryIndexUpdates.1.member.create", create);
    c.finish()?;
    let name = create.index_name.clone().unwrap_or_default();
    if meta.indexes.iter().any(|i| i.name == name) {
        return Err(invalid(format!("Index with name: {name} already exists")));
    }
    if meta.indexes.iter().filter(|i| i.global).count() >= GLOBAL_SECONDARY_INDEXES_MAX {
        return Err(ApiError::new(
            ErrorKind::LimitExceeded,
            format!("Subscriber limit exceeded: The number of global secondary indexes exceeds the per-table limit of {GLOBAL_SECONDARY_INDEXES_MAX}"),
        ));
    }
    let key_schema = create.key_schema.clone().unwrap_or_default();
    check_key_schema(&key_schema)?;
    let projection = create.projection.clone().unwrap_or_default();
    check_projection(&projection)?;
    // New key attributes must be defined, in this request or already on the table.
    let mut defs = meta.attribute_definitions.clone();
    for d in definitions.iter().flatten() {
        match defs.iter().find(|e| e.attribute_name == d.attribute_name) {
            Some(existing) if existing.attribute_type != d.attribute_type => {
                return Err(invalid(format!(
                    "Cannot change the type of attribute {} from {} to {}",
                    d.attribute_name.as_deref().unwrap_or_default(),
                    existing.attribute_type.as_deref().unwrap_or_default(),
                    d.attribute_type.as_deref().unwrap_or_default()
                )));
            }
            Some(_) => {}
            None => defs.push(d.clone()),
        }
    }
    let names: Vec<&str> = key_schema.iter().filter_map(|k| k.attribute_name.as_deref()).collect();
    let missing: Vec<&str> =
        names.iter().copied().filter(|n| !defs.iter().any(|d| d.attribute_name.as_deref() == Some(n))).collect();
    if !missing.is_empty() {
        let all: Vec<&str> = defs.iter().filter_map(|d| d.attribute_name.as_deref()).collect();
        return Err(invalid(format!(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            missing.join(", "),
            all.join(", ")
        )));
    }
    let pt = create.provisioned_throughput.clone();
    match (meta.billing_mode.as_str(), &pt) {
        ("PAY_PER_REQUEST", Some(_)) => {
            return Err(invalid(format!(
                "ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
            )))
        }
        ("PROVISIONED", None) => {
            return Err(invalid(format!("ProvisionedThroughput is not specified for index: {name}")));
        }
        _ => {}
    }
    meta.attribute_definitions = defs;
    let pt = pt.unwrap_or_default();
    Ok(IndexMeta {
        // A fresh serial: a re-created index never meets the entries of a dropped one.
        tree: meta.allocate_tree(TreeKind::Index),
        name,
        global: true,
        key_schema,
        projection,
        active: false,
        read_capacity_units: pt.read_capacity_units.unwrap_or(0),
        write_capacity_units: pt.write_capacity_units.unwrap_or(0),
    })
}

/// The storage keys of one partition: its first key (inclusive) and where it ends.
pub(crate) fn partition_bounds(partition: usize) -> (Vec<u8>, Bound<Vec<u8>>) {
    let bound = |p: usize| -> Option<Vec<u8>> {
        (p < PARTITIONS_PER_TABLE)
            .then(|| (((p as u64) << 32) / PARTITIONS_PER_TABLE as u64) as u32)
            .map(|h| h.to_be_bytes().to_vec())
    };
    let end = match bound(partition + 1) {
        Some(b) => Bound::Excluded(b),
        None => Bound::Unbounded,
    };
    (bound(partition).unwrap_or_default(), end)
}

impl Engine {
    /// Fills one index from its table; returns false if the index or table went away meanwhile.
    pub(crate) async fn backfill(&self, table: &TableRef, index: &Arc<Index>) -> Result<bool, ApiError> {
        let still_there =
            |t: &Table| !t.dropped.load(Ordering::Acquire) && t.indexes.read().iter().any(|i| Arc::ptr_eq(i, index));
        // A backfill starts over after a failure or a restart; so does its count of violations.
        index.violations.store(0, Ordering::Relaxed);
        for partition in 0..PARTITIONS_PER_TABLE {
            let (first, end) = partition_bounds(partition);
            let mut start = Bound::Included(first);
            loop {
                let _writer = table.partitions[partition].writer.lock().await;
                if !still_there(table) {
                    return Ok(false);
                }
                let mut batch = WriteBatch::new();
                let (mut added, mut bytes) = (0i64, 0i64);
                let mut last = None;
                let mut read = 0;
                for entry in
                    table.items.range(start.as_ref().map(Vec::as_slice), end.as_ref().map(Vec::as_slice), false)
                {
                    let (k, v) = entry.map_err(storage_error)?;
                    let item = decode_item(&v).map_err(|_| ApiError::internal())?;
                    let entry = index.entry(&table.key, &k, &item);
                    // As in DynamoDB, an item whose index key is unusable (wrong type, empty,
                    // over 2048/1024 bytes) stays in the table, is left out of the index, and is
                    // counted; the backfill goes on.
                    if entry.is_none() && index.is_violation(&item) {
                        index.violations.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some((ik, projected)) = entry {
                        if index.tree.get(&ik).map_err(storage_error)?.is_none() {
                            added += 1;
                            bytes += item_size_bytes(&projected) as i64;
                            batch.put(&index.tree, ik, encode_item(&projected));
                        }
                    }
                    last = Some(k);
                    read += 1;
                    if read >= BACKFILL_CHUNK_ITEMS {
                        break;
                    }
                }
                if !batch.is_empty() {
                    let stats = &index.stats[partition];
                    let count = stats.0.load(Ordering::Relaxed) + added;
                    let size = stats.1.load(Ordering::Relaxed) + bytes;
                    let table_id = table.meta.read().id.clone();
                    batch.put(
                        &self.catalog_tree,
                        index_stats_key(&table_id, &index.name, partition),
                        encode_stats(count, size),
                    );
                    let p = &table.partitions[partition];
                    p.begin_commit();
                    let result = self.storage.commit(batch);
                    let ticket = match &result {
                        Ok(t) => *t,
                        Err(_) => self.storage.durability().issued(),
                    };
                    p.end_commit(ticket);
                    result.map_err(storage_error)?;
                    stats.0.store(count, Ordering::Relaxed);
                    stats.1.store(size, Ordering::Relaxed);
                }
                drop(_writer);
                match last {
                    Some(k) if read >= BACKFILL_CHUNK_ITEMS => start = Bound::Excluded(k),
                    _ => break,
                }
                tokio::task::yield_now().await;
            }
        }
        // Every partition is covered: mark the index active, durably.
        let _ddl = self.ddl.lock().await;
        if !still_there(table) {
            return Ok(false);
        }
        let mut meta = table.meta.read().clone();
        if let Some(m) = meta.indexes.iter_mut().find(|m| m.name == index.name) {
            m.active = true;
        }
        self.replace_meta(table, meta).await?;
        self.storage.durability().wait(self.storage.durability().issued()).await.map_err(storage_error)?;
        index.active.store(true, Ordering::Release);
        Ok(true)
    }
}
