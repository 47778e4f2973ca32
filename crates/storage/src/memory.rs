//! The in-memory backend: one `BTreeMap` per tree behind a single lock, so a batch applies
//! atomically across trees. Nothing reaches disk; every commit is durable at once.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::{Durability, Entry, RangeIter, Result, Storage, StorageError, Tree, TreeHandle, WriteBatch};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Range scans copy this many entries per lock acquisition, so a long scan never holds the lock.
const SCAN_CHUNK: usize = 256;

pub struct MemoryStorage {
    trees: RwLock<HashMap<String, Arc<MemoryTree>>>,
    /// Taken for writing by commits and for reading by readers, so that a reader sees all of a
    /// batch or none of it, across trees.
    commit_lock: Arc<RwLock<()>>,
    durability: Durability,
}

pub struct MemoryTree {
    name: String,
    map: RwLock<Map>,
    commit_lock: Arc<RwLock<()>>,
}

impl MemoryStorage {
    pub fn new() -> MemoryStorage {
        MemoryStorage {
            trees: RwLock::new(HashMap::new()),
            commit_lock: Arc::new(RwLock::new(())),
            durability: Durability::immediate(),
        }
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        MemoryStorage::new()
    }
}

impl Storage for MemoryStorage {
    fn open_tree(&self, name: &str) -> Result<TreeHandle> {
        crate::check_tree_name(name)?;
        if let Some(t) = self.trees.read().get(name) {
            return Ok(t.clone());
        }
        let mut trees = self.trees.write();
        let tree = trees.entry(name.to_string()).or_insert_with(|| {
            Arc::new(MemoryTree {
                name: name.to_string(),
                map: RwLock::new(Map::new()),
                commit_lock: self.commit_lock.clone(),
            })
        });
        Ok(tree.clone())
    }

    fn drop_tree(&self, name: &str) -> Result<()> {
        if let Some(tree) = self.trees.write().remove(name) {
            tree.map.write().clear();
        }
        Ok(())
    }

    fn tree_names(&self) -> Result<Vec<String>> {
        Ok(self.trees.read().keys().cloned().collect())
    }

    fn commit(&self, batch: WriteBatch) -> Result<u64> {
        batch.check_keys()?;
        {
            let _atomic = self.commit_lock.write();
            for op in batch.ops {
                let tree = op
                    .tree
                    .as_any()
                    .downcast_ref::<MemoryTree>()
                    .ok_or_else(|| StorageError::UnknownTree(op.tree.name().to_string()))?;
                let mut map = tree.map.write();
                match op.value {
                    Some(v) => {
                        map.insert(op.key, v);
                    }
                    None => {
                        map.remove(&op.key);
                    }
                }
            }
        }
        let ticket = self.durability.issue();
        self.durability.mark_durable(ticket);
        Ok(ticket)
    }

    fn durability(&self) -> &Durability {
        &self.durability
    }

    fn disk_bytes(&self) -> u64 {
        0
    }

    fn close(&self) -> Result<()> {
        Ok(())
    }
}

impl Tree for MemoryTree {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let _atomic = self.commit_lock.read();
        Ok(self.map.read().get(key).cloned())
    }

    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, reverse: bool) -> RangeIter<'_> {
        Box::new(ChunkedRange {
            tree: self,
            done: is_empty_range(&start, &end),
            start: start.map(<[u8]>::to_vec),
            end: end.map(<[u8]>::to_vec),
            reverse,
            buffer: Vec::new(),
        })
    }

    fn disk_bytes(&self) -> u64 {
        0
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// True when no key can lie between the bounds (BTreeMap::range panics on inverted bounds; the
/// trait promises an empty iterator instead).
fn is_empty_range(start: &Bound<&[u8]>, end: &Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e))
        | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        _ => false,
    }
}

/// Walks a range a chunk at a time; each chunk is read under the lock, then served from a buffer.
struct ChunkedRange<'a> {
    tree: &'a MemoryTree,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    reverse: bool,
    /// Entries fetched and not yet returned, in reverse order of return.
    buffer: Vec<Entry>,
    done: bool,
}

impl ChunkedRange<'_> {
    fn refill(&mut self) {
        let _atomic = self.tree.commit_lock.read();
        let map = self.tree.map.read();
        let range =
            map.range::<[u8], _>((self.start.as_ref().map(Vec::as_slice), self.end.as_ref().map(Vec::as_slice)));
        let chunk: Vec<Entry> = if self.reverse {
            range.rev().take(SCAN_CHUNK).map(|(k, v)| (k.clone(), v.clone())).collect()
        } else {
            range.take(SCAN_CHUNK).map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        drop(map);
        if chunk.len() < SCAN_CHUNK {
            self.done = true;
        }
        if let Some((last, _)) = chunk.last() {
            if self.reverse {
                self.end = Bound::Excluded(last.clone());
            } else {
                self.start = Bound::Excluded(last.clone());
            }
        }
        self.buffer = chunk;
        self.buffer.reverse();
    }
}

impl Iterator for ChunkedRange<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && !self.done {
            self.refill();
        }
        self.buffer.pop().map(Ok)
    }
}
