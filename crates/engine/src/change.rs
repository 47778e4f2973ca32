//! One item change, staged into a write batch with everything that must change with it.
//!
//! Whatever writes items — PutItem, UpdateItem, DeleteItem, batches, transactions, the TTL
//! sweeper — stages each change here, under the writers of the partitions it touches. A change
//! brings along, in the same atomic batch: the item itself, its entry in every secondary index
//! and in the table's expiry index (while TTL is enabled), one stream record (if the table has a
//! stream and the item really changed), the item's previous version in the point-in-time
//! recovery log (if enabled), and the new statistics of the partition and its indexes. Nothing else in the engine writes item data, so
//! the table, its indexes and its stream cannot disagree. It is also where every key is bounded:
//! nothing staged here is longer than `STORED_KEY_BYTES_MAX`, whichever path (put, update,
//! transaction, batch, TTL, restore, import) staged it.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use flywheel_protocol::ApiError;
use flywheel_storage::{TreeHandle, WriteBatch};
use flywheel_types::codec::encode_item;
use flywheel_types::limits::STORED_KEY_BYTES_MAX;
use flywheel_types::{item_size_bytes, Item};

use crate::catalog::{encode_stats, index_stats_key, stats_key, Table, TableRef};
use crate::indexes::Index;
use crate::streams::{self, Origin};

// Every key staged here is within the engine's bound, and the bound within what storage takes.
const _: () = assert!(STORED_KEY_BYTES_MAX <= flywheel_storage::KEY_BYTES_MAX);

/// Refuses a key over [`STORED_KEY_BYTES_MAX`]. Validation and `Index::entry` keep every key
/// within it, so this firing is a bug: the write fails cleanly instead of reaching storage.
fn check_key_bound(tree: &TreeHandle, key: &[u8]) -> Result<(), ApiError> {
    if key.len() > STORED_KEY_BYTES_MAX {
        tracing::error!(tree = tree.name(), bytes = key.len(), "refusing to stage a key over the engine's bound");
        return Err(ApiError::internal());
    }
    Ok(())
}

/// Statistics changes of one partition of one table.
struct Delta {
    table: TableRef,
    count: i64,
    size: i64,
    /// Per index (by position in the table's index list at staging time): count and size.
    indexes: Vec<(Arc<Index>, i64, i64)>,
}

/// A write batch being assembled from item changes.
#[derive(Default)]
pub(crate) struct Staging {
    batch: WriteBatch,
    deltas: BTreeMap<(String, usize), Delta>,
    /// Copying items that were already stored (a restore): an item whose index key is unusable
    /// gets no entry, as in a backfill, instead of failing the copy.
    copying: bool,
}

/// Statistics to publish once the batch has committed.
pub(crate) struct Published(Vec<PartitionStats>);

/// A partition's new statistics: table, partition, item count and size, and per index the same.
type PartitionStats = (TableRef, usize, i64, i64, Vec<(Arc<Index>, i64, i64)>);

impl Published {
    /// Makes the committed statistics visible (call only after a successful commit).
    pub fn apply(self) {
        for (table, partition, count, size, indexes) in self.0 {
            table.partitions[partition].item_count.store(count, Ordering::Relaxed);
            table.partitions[partition].size_bytes.store(size, Ordering::Relaxed);
            for (index, c, s) in indexes {
                index.stats[partition].0.store(c, Ordering::Relaxed);
                index.stats[partition].1.store(s, Ordering::Relaxed);
            }
        }
    }
}

impl Staging {
    pub fn new() -> Staging {
        Staging::default()
    }

    /// Staging for copies of stored items (restores), which skip index key violations.
    pub fn for_copy() -> Staging {
        Staging { copying: true, ..Staging::default() }
    }

    /// Validates an item about to be written against the table's secondary index keys.
    pub fn validate_index_keys(table: &Table, item: &Item) -> Result<(), ApiError> {
        for index in table.indexes.read().iter() {
            index.validate(item)?;
        }
        Ok(())
    }

    /// Stages one item change: `old` is the stored item (if any), `new` what replaces it
    /// (`None` deletes). Call with the writer of the item's partition held. An unchanged item
    /// stages nothing.
    pub fn stage(
        &mut self,
        table: &TableRef,
        storage_key: &[u8],
        old: Option<&Item>,
        new: Option<&Item>,
        origin: Origin,
    ) -> Result<(), ApiError> {
        if old == new {
            return Ok(());
        }
        if let Some(item) = new.filter(|_| !self.copying) {
            Staging::validate_index_keys(table, item)?;
        }
        check_key_bound(&table.items, storage_key)?;
        // Tests make a request panic here, under its partition's writer.
        #[cfg(test)]
        if new.is_some_and(|item| item.contains_key(crate::robustness_tests::PANIC_ATTRIBUTE)) {
            panic!("test hook: panicking under the partition writer");
        }
        let partition = Table::partition_index(storage_key);
        let indexes = table.indexes.read().clone();
        let table_id = table.meta.read().id.clone();
        let delta = self.deltas.entry((table_id, partition)).or_insert_with(|| Delta {
            table: table.clone(),
            count: 0,
            size: 0,
            indexes: Vec::new(),
        });
        let old_size = old.map_or(0, item_size_bytes) as i64;
        match new {
            Some(item) => {
                self.batch.put(&table.items, storage_key.to_vec(), encode_item(item));
                delta.count += i64::from(old.is_none());
                delta.size += item_size_bytes(item) as i64 - old_size;
            }
            None => {
                self.batch.delete(&table.items, storage_key.to_vec());
                delta.count -= 1;
                delta.size -= old_size;
            }
        }
        for index in indexes.iter() {
            let mut before = old.and_then(|o| index.entry(&table.key, storage_key, o));
            if !index.is_active() {
                // Being backfilled: the old item may not have its entry yet.
                if let Some((k, _)) = &before {
                    if index.tree.get(k).map_err(crate::storage_error)?.is_none() {
                        before = None;
                    }
                }
            }
            let after = new.and_then(|n| index.entry(&table.key, storage_key, n));
            if let Some((key, _)) = &after {
                check_key_bound(&index.tree, key)?;
            }
            let (dc, ds) = stage_entry(&mut self.batch, &index.tree, before, after);
            if dc != 0 || ds != 0 {
                match delta.indexes.iter_mut().find(|(i, _, _)| Arc::ptr_eq(i, index)) {
                    Some(entry) => {
                        entry.1 += dc;
                        entry.2 += ds;
                    }
                    None => delta.indexes.push((index.clone(), dc, ds)),
                }
            }
        }
        if let Some(expiry) = table.expiry.read().clone() {
            // The expiry index follows the item, so the sweeper finds exactly the items due.
            let before = old.and_then(|o| expiry.entry(storage_key, o));
            let after = new.and_then(|n| expiry.entry(storage_key, n));
            if before != after {
                if let Some(key) = before {
                    self.batch.delete(&expiry.tree, key);
                }
                if let Some(key) = after {
                    check_key_bound(&expiry.tree, &key)?;
                    self.batch.put(&expiry.tree, key, Vec::new());
                }
            }
        }
        if let Some(log) = table.pitr.read().clone() {
            let (key, value) = log.entry(storage_key, old);
            self.batch.put(&log.tree, key, value);
        }
        if let Some(stream) = table.current_stream() {
            let region = table.meta.read().region.clone();
            let (key, value) = streams::record(&stream, &table.key, &region, partition, old, new, origin);
            self.batch.put(&stream.tree, key, value);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Adds the statistics records and returns the batch to commit, with what to publish once
    /// it has committed.
    pub fn finish(mut self, catalog: &TreeHandle) -> (WriteBatch, Published) {
        let mut published = Vec::new();
        for ((table_id, partition), delta) in self.deltas {
            let p = &delta.table.partitions[partition];
            let count = p.item_count.load(Ordering::Relaxed) + delta.count;
            let size = p.size_bytes.load(Ordering::Relaxed) + delta.size;
            self.batch.put(catalog, stats_key(&table_id, partition), encode_stats(count, size));
            let mut indexes = Vec::new();
            for (index, dc, ds) in delta.indexes {
                let c = index.stats[partition].0.load(Ordering::Relaxed) + dc;
                let s = index.stats[partition].1.load(Ordering::Relaxed) + ds;
                self.batch.put(catalog, index_stats_key(&table_id, &index.name, partition), encode_stats(c, s));
                indexes.push((index, c, s));
            }
            published.push((delta.table, partition, count, size, indexes));
        }
        (self.batch, Published(published))
    }
}

/// Stages the replacement of one index entry by another; returns the count and size deltas.
pub(crate) fn stage_entry(
    batch: &mut WriteBatch,
    tree: &TreeHandle,
    before: Option<(Vec<u8>, Item)>,
    after: Option<(Vec<u8>, Item)>,
) -> (i64, i64) {
    match (before, after) {
        (None, None) => (0, 0),
        (Some((key, item)), None) => {
            batch.delete(tree, key);
            (-1, -(item_size_bytes(&item) as i64))
        }
        (None, Some((key, item))) => {
            let size = item_size_bytes(&item) as i64;
            batch.put(tree, key, encode_item(&item));
            (1, size)
        }
        (Some((old_key, old_item)), Some((key, item))) => {
            let ds = item_size_bytes(&item) as i64 - item_size_bytes(&old_item) as i64;
            if old_key == key && old_item == item {
                return (0, 0);
            }
            if old_key != key {
                batch.delete(tree, old_key);
            }
            batch.put(tree, key, encode_item(&item));
            (0, ds)
        }
    }
}
