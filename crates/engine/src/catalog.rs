//! Tables and their partitions: the durable catalog and the in-memory handles.
//!
//! A table's items live in one storage tree, keyed `hash(pk) ‖ enc(pk) ‖ enc(sk)`. The 32-bit
//! hash space is cut into [`PARTITIONS_PER_TABLE`] equal ranges; each range is a [`Partition`]
//! with a single writer (an async mutex) that serialises every read-check-write on its items and
//! writes the item and the partition's statistics in one atomic batch.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use flywheel_protocol::model::{AttributeDefinition, KeySchemaElement, StreamSpecification, Tag};
use flywheel_storage::{Storage, Ticket, TreeHandle};
use flywheel_types::ValueType;
use serde::{Deserialize, Serialize};

use crate::backups::{PitrLog, PitrMeta};
use crate::indexes::{Index, IndexMeta};
use crate::streams::{Stream, StreamMeta};
use crate::ttl::ExpiryIndex;

/// Hash ranges per table. On disk: the statistics keys name partitions by index, so changing
/// this needs a migration.
pub const PARTITIONS_PER_TABLE: usize = 16;

/// `last_ticket` while a write is being committed and has no ticket yet.
const TICKET_PENDING: u64 = u64::MAX;

/// The durable description of a table. On disk as JSON in the catalog tree; fields may be added
/// with `#[serde(default)]`, never renamed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableMeta {
    pub region: String,
    pub name: String,
    pub id: String,
    pub arn: String,
    /// Storage tree holding the items.
    pub items_tree: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub billing_mode: String,
    pub read_capacity_units: i64,
    pub write_capacity_units: i64,
    /// Seconds since the epoch.
    pub creation_time: f64,
    #[serde(default)]
    pub pay_per_request_since: Option<f64>,
    #[serde(default)]
    pub last_increase_time: Option<f64>,
    #[serde(default)]
    pub last_decrease_time: Option<f64>,
    #[serde(default)]
    pub stream_specification: Option<StreamSpecification>,
    #[serde(default)]
    pub stream_label: Option<String>,
    #[serde(default)]
    pub sse_enabled: bool,
    #[serde(default)]
    pub sse_kms_key_arn: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub deletion_protection: bool,
    #[serde(default)]
    pub table_class: Option<String>,
    /// Secondary indexes, local and global, in creation order.
    #[serde(default)]
    pub indexes: Vec<IndexMeta>,
    /// Every stream the table has had that is still readable; the current one is last.
    #[serde(default)]
    pub streams: Vec<StreamMeta>,
    /// Time to live: the attribute holding each item's expiry, when enabled.
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// Time to live's expiry index, while TTL is enabled. Absent in records written before the
    /// index existed: such a table gets one at load (`repair_expiry_index`).
    #[serde(default)]
    pub expiry: Option<crate::ttl::ExpiryMeta>,
    /// Point-in-time recovery, when enabled: its change log.
    #[serde(default)]
    pub pitr: Option<PitrMeta>,
    /// Set on a table restored from a backup or a point in time.
    #[serde(default)]
    pub restore_summary: Option<flywheel_protocol::model::RestoreSummary>,
    /// True while a restore fills the table; a table found so at start-up is an interrupted
    /// restore and is removed.
    #[serde(default)]
    pub restoring: bool,
    /// The serial of the next storage tree this table creates (an index, a stream, a recovery
    /// log, an expiry index). Saved in the same record as the tree's name, so no serial is handed out twice.
    #[serde(default)]
    pub next_tree_serial: u64,
}

/// What a storage tree of a table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeKind {
    Index,
    Stream,
    RecoveryLog,
    Backup,
    Expiry,
}

/// The name of a table's items tree. On disk: `items/TABLEID`.
pub fn items_tree_name(table_id: &str) -> String {
    format!("items/{table_id}")
}

/// The name of a table's other storage trees. On disk: `KIND.TABLEID.SERIAL` (`index`, `stream`,
/// `pitr`, `backup` or `expiry`; the serial in hex). Built only from ids the server chose — the table's
/// UUID and a serial — never from a user's index name or label, so every name is at most 60
/// bytes whatever a client sends, well within what storage accepts (255). Names written before
/// this scheme (`index/TABLEID/INDEXNAME/SALT`, `stream/TABLEID/LABEL`, `pitr/TABLEID/SALT`,
/// `backup/TABLEID/SALT`) are slash-separated, so the two schemes never meet; they are kept as
/// the catalog records them.
pub fn tree_name(kind: TreeKind, table_id: &str, serial: u64) -> String {
    let kind = match kind {
        TreeKind::Index => "index",
        TreeKind::Stream => "stream",
        TreeKind::RecoveryLog => "pitr",
        TreeKind::Backup => "backup",
        TreeKind::Expiry => "expiry",
    };
    format!("{kind}.{table_id}.{serial:x}")
}

/// The key schema in the form the item path needs.
#[derive(Clone, Debug)]
pub struct KeySchema {
    pub pk: String,
    pub pk_type: ValueType,
    pub sk: Option<(String, ValueType)>,
}

impl KeySchema {
    /// The key attribute names: partition key, then sort key if any.
    pub fn names(&self) -> Vec<&str> {
        std::iter::once(self.pk.as_str()).chain(self.sk.iter().map(|(n, _)| n.as_str())).collect()
    }
}

impl TableMeta {
    /// Names a new storage tree of this table, from its id and the next serial (saved with this
    /// metadata, which must be committed before the tree is used).
    pub fn allocate_tree(&mut self, kind: TreeKind) -> String {
        let serial = self.next_tree_serial;
        self.next_tree_serial += 1;
        tree_name(kind, &self.id, serial)
    }

    /// The declared type of an attribute (key attributes of the table and its indexes).
    pub fn attribute_type(&self, name: &str) -> ValueType {
        self.attribute_definitions
            .iter()
            .find(|d| d.attribute_name.as_deref() == Some(name))
            .and_then(|d| d.attribute_type.as_deref())
            .and_then(ValueType::from_wire)
            .unwrap_or(ValueType::S)
    }

    /// Derives the key schema; the catalog only ever stores validated schemas.
    pub fn key(&self) -> KeySchema {
        let type_of = |name: &str| self.attribute_type(name);
        let mut pk = String::new();
        let mut sk = None;
        for k in &self.key_schema {
            let name = k.attribute_name.clone().unwrap_or_default();
            if k.key_type.as_deref() == Some("HASH") {
                pk = name;
            } else {
                let t = type_of(&name);
                sk = Some((name, t));
            }
        }
        let pk_type = type_of(&pk);
        KeySchema { pk, pk_type, sk }
    }
}

/// One hash range of a table, with its single writer.
pub struct Partition {
    /// Held across read → check → commit of every write in this partition.
    pub writer: tokio::sync::Mutex<()>,
    /// Ticket of the last write committed here, or [`TICKET_PENDING`] during a commit.
    last_ticket: AtomicU64,
    pub item_count: AtomicI64,
    pub size_bytes: AtomicI64,
    /// Commits and reads since start: how hot this hash range is (metrics, the console).
    pub writes: AtomicU64,
    pub reads: AtomicU64,
}

impl Partition {
    fn new(item_count: i64, size_bytes: i64) -> Partition {
        Partition {
            writer: tokio::sync::Mutex::new(()),
            last_ticket: AtomicU64::new(0),
            item_count: AtomicI64::new(item_count),
            size_bytes: AtomicI64::new(size_bytes),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
        }
    }

    /// Marks a commit as under way; call with the writer held, right before committing.
    pub fn begin_commit(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.last_ticket.store(TICKET_PENDING, Ordering::Release);
    }

    /// Records the ticket of the commit just made.
    pub fn end_commit(&self, ticket: Ticket) {
        self.last_ticket.store(ticket, Ordering::Release);
    }

    /// After a read of this partition: waits until whatever the read could have seen is
    /// durable, so no reader ever observes a write that a crash could still take back.
    pub async fn settle_read(&self, storage: &dyn Storage) -> Result<(), flywheel_storage::StorageError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let durability = storage.durability();
        let last = self.last_ticket.load(Ordering::Acquire);
        if last == TICKET_PENDING {
            // A commit under way holds the writer. If the writer is free, the commit that marked
            // the partition was abandoned (it panicked between begin and end): whatever it
            // committed has a ticket issued by now, so record that rather than have every later
            // read pay for a barrier until the next write.
            if let Ok(_writer) = self.writer.try_lock() {
                let _ = self.last_ticket.compare_exchange(
                    TICKET_PENDING,
                    durability.issued(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
            durability.wait(durability.barrier()).await
        } else if last > durability.durable() {
            durability.wait(last).await
        } else {
            Ok(())
        }
    }
}

/// A live table: its metadata, its items tree and its partitions.
pub struct Table {
    /// Set by DeleteTable while it holds every partition writer; a writer that acquires its
    /// partition afterwards must not write.
    pub dropped: std::sync::atomic::AtomicBool,
    pub meta: parking_lot::RwLock<TableMeta>,
    pub key: KeySchema,
    pub items: TreeHandle,
    pub partitions: Vec<Partition>,
    /// The live secondary indexes (a snapshot is taken under a partition's writer).
    pub indexes: parking_lot::RwLock<Arc<Vec<Arc<Index>>>>,
    /// Every readable stream; the enabled one, if any, is last.
    pub streams: parking_lot::RwLock<Vec<Arc<Stream>>>,
    /// The point-in-time recovery log, when enabled.
    pub pitr: parking_lot::RwLock<Option<Arc<PitrLog>>>,
    /// The expiry index, while time to live is enabled (a snapshot is taken under a writer).
    pub expiry: parking_lot::RwLock<Option<Arc<ExpiryIndex>>>,
}

impl Table {
    pub fn new(
        meta: TableMeta,
        items: TreeHandle,
        stats: &[(i64, i64)],
        indexes: Vec<Arc<Index>>,
        streams: Vec<Arc<Stream>>,
    ) -> Table {
        let key = meta.key();
        let partitions = (0..PARTITIONS_PER_TABLE)
            .map(|i| {
                let (count, size) = stats.get(i).copied().unwrap_or((0, 0));
                Partition::new(count, size)
            })
            .collect();
        Table {
            dropped: std::sync::atomic::AtomicBool::new(false),
            meta: parking_lot::RwLock::new(meta),
            key,
            items,
            partitions,
            indexes: parking_lot::RwLock::new(Arc::new(indexes)),
            streams: parking_lot::RwLock::new(streams),
            pitr: parking_lot::RwLock::new(None),
            expiry: parking_lot::RwLock::new(None),
        }
    }

    /// The enabled stream, if any.
    pub fn current_stream(&self) -> Option<Arc<Stream>> {
        self.streams.read().last().filter(|s| s.is_enabled()).cloned()
    }

    /// A live index by name.
    pub fn find_index(&self, name: &str) -> Option<Arc<Index>> {
        self.indexes.read().iter().find(|i| i.name == name).cloned()
    }

    /// The partition owning a storage key (by its hash prefix).
    pub fn partition_index(storage_key: &[u8]) -> usize {
        let hash = u32::from_be_bytes([storage_key[0], storage_key[1], storage_key[2], storage_key[3]]);
        ((hash as u64 * PARTITIONS_PER_TABLE as u64) >> 32) as usize
    }

    pub fn item_count(&self) -> u64 {
        self.partitions.iter().map(|p| p.item_count.load(Ordering::Relaxed)).sum::<i64>().max(0) as u64
    }

    pub fn size_bytes(&self) -> u64 {
        self.partitions.iter().map(|p| p.size_bytes.load(Ordering::Relaxed)).sum::<i64>().max(0) as u64
    }
}

/// Catalog keys. On disk: `table\0REGION\0NAME` → TableMeta JSON; `stats\0TABLEID\0NN` →
/// 16 bytes (item count, size bytes; big-endian i64).
pub fn table_key(region: &str, name: &str) -> Vec<u8> {
    format!("table\0{region}\0{name}").into_bytes()
}

pub fn stats_key(table_id: &str, partition: usize) -> Vec<u8> {
    format!("stats\0{table_id}\0{partition:02}").into_bytes()
}

/// `retired\0REGION\0TABLEID` → TableMeta JSON of a deleted table whose streams are still
/// readable (until their records age out).
pub fn retired_key(region: &str, table_id: &str) -> Vec<u8> {
    format!("retired\0{region}\0{table_id}").into_bytes()
}

pub fn stats_prefix(table_id: &str) -> Vec<u8> {
    format!("stats\0{table_id}\0").into_bytes()
}

/// `istats\0TABLEID\0INDEX\0NN` → 16 bytes (entry count, size bytes) of one index's entries
/// written by base partition NN.
pub fn index_stats_key(table_id: &str, index: &str, partition: usize) -> Vec<u8> {
    format!("istats\0{table_id}\0{index}\0{partition:02}").into_bytes()
}

pub fn index_stats_prefix(table_id: &str, index: &str) -> Vec<u8> {
    format!("istats\0{table_id}\0{index}\0").into_bytes()
}

/// `strim\0TABLEID\0LABEL\0NN` → u64 big-endian: the first sequence number shard NN of the
/// stream still holds after trimming.
pub fn stream_trim_key(table_id: &str, label: &str, shard: usize) -> Vec<u8> {
    format!("strim\0{table_id}\0{label}\0{shard:02}").into_bytes()
}

pub fn encode_stats(count: i64, size: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&count.to_be_bytes());
    v.extend_from_slice(&size.to_be_bytes());
    v
}

pub fn decode_stats(v: &[u8]) -> (i64, i64) {
    if v.len() != 16 {
        return (0, 0);
    }
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&v[..8]);
    b.copy_from_slice(&v[8..]);
    (i64::from_be_bytes(a), i64::from_be_bytes(b))
}

/// Handle type used throughout the engine.
pub type TableRef = Arc<Table>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_abandoned_by_a_panic_does_not_leave_its_partition_pending() {
        let storage = flywheel_storage::memory::MemoryStorage::new();
        let partition = Partition::new(0, 0);
        let caught = crate::unwind::catch_unwind(async {
            let _writer = partition.writer.lock().await;
            partition.begin_commit();
            panic!("between begin_commit and end_commit");
        })
        .await;
        assert!(caught.is_err());
        partition.settle_read(&storage).await.unwrap();
        assert_ne!(partition.last_ticket.load(Ordering::Acquire), TICKET_PENDING);
    }

    #[test]
    fn tree_names_come_from_ids_alone() {
        let id = "0f8b3c52-7e1d-4a8b-9c0d-1e2f3a4b5c6d";
        assert_eq!(tree_name(TreeKind::Index, id, 0), format!("index.{id}.0"));
        assert_eq!(tree_name(TreeKind::RecoveryLog, id, 255), format!("pitr.{id}.ff"));
        // The longest possible name is far inside what storage accepts.
        assert!(tree_name(TreeKind::Backup, id, u64::MAX).len() <= 60);
        assert!(tree_name(TreeKind::Expiry, id, u64::MAX).len() <= 60);
    }
}
