//! Flywheel's storage boundary: ordered byte-keyed trees, atomic multi-tree write batches, and
//! group-committed durability.
//!
//! What it is: a small trait ([`Storage`]) with two backends — [`memory::MemoryStorage`] for
//! `--in-memory` and tests, and [`disk::DiskStorage`] on the fjall LSM engine — plus one
//! conformance suite both must pass.
//!
//! What it is not: it knows nothing of tables, items or DynamoDB. Keys and values are bytes; the
//! engine owns their meaning.
//!
//! Durability model: [`Storage::commit`] applies a batch atomically and makes it visible at once,
//! returning a [`Ticket`]. The batch is durable once [`Durability::wait`] for that ticket returns:
//! a single committer thread fsyncs the journal for every batch committed so far (group commit),
//! so concurrent writers share one fsync. A ticket is durable only once every earlier ticket is.
//! The shape fits a replicated backend later: "durable" would become "acknowledged by a quorum".

pub mod disk;
pub mod memory;

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// A storage failure. Internal detail for logs; clients see an InternalServerError.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O error: {0}")]
    Io(String),
    #[error("storage is shut down")]
    Closed,
    #[error("unknown tree {0}")]
    UnknownTree(String),
    /// A tree name no backend may hold (see [`TREE_NAME_BYTES_MAX`]).
    #[error("invalid tree name ({0} bytes): names are 1 to 255 bytes")]
    InvalidTreeName(usize),
    /// A key longer than [`KEY_BYTES_MAX`], refused before anything of its batch is applied.
    #[error("key of {len} bytes for tree {tree} exceeds the storage limit of 65535 bytes")]
    KeyTooLong { tree: String, len: usize },
}

/// Longest tree name: fjall keyspace names are 1 to 255 bytes, and fjall *panics* on any other
/// (`Database::keyspace` asserts it). Every backend checks this first and answers
/// [`StorageError::InvalidTreeName`] instead, so a bad name can never take the process down. The
/// engine names trees only from ids it allocated, far below this.
pub const TREE_NAME_BYTES_MAX: usize = 255;

/// Longest key: lsm-tree stores key lengths as `u16` and *panics* on a longer key, possibly
/// while holding the journal lock. [`Storage::commit`] checks every key of a batch against this
/// before applying any of it and answers [`StorageError::KeyTooLong`] instead. The engine's own
/// bound (`flywheel_types::limits::STORED_KEY_BYTES_MAX`) is far below this.
pub const KEY_BYTES_MAX: usize = u16::MAX as usize;

/// Refuses a tree name no backend can hold.
pub fn check_tree_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > TREE_NAME_BYTES_MAX {
        return Err(StorageError::InvalidTreeName(name.len()));
    }
    Ok(())
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Io(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// A key-value pair read from a tree.
pub type Entry = (Vec<u8>, Vec<u8>);

/// An iterator over a key range, in key order or its reverse.
pub type RangeIter<'a> = Box<dyn Iterator<Item = Result<Entry>> + Send + 'a>;

/// One ordered keyspace (a table's items, one index, one stream, the catalog).
pub trait Tree: Send + Sync {
    /// The tree's name.
    fn name(&self) -> &str;
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Entries with keys in the range, ascending, or descending if `reverse`.
    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, reverse: bool) -> RangeIter<'_>;
    /// Bytes the tree occupies on disk (0 in memory), approximately.
    fn disk_bytes(&self) -> u64;
    /// Downcasting for the backend that created the handle.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A handle to a tree, cheap to clone.
pub type TreeHandle = Arc<dyn Tree>;

/// One write in a batch: a put (`Some(value)`) or a delete (`None`).
pub struct WriteOp {
    pub tree: TreeHandle,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Writes applied atomically, all or none, across any number of trees.
#[derive(Default)]
pub struct WriteBatch {
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    pub fn new() -> WriteBatch {
        WriteBatch { ops: Vec::new() }
    }

    pub fn put(&mut self, tree: &TreeHandle, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(WriteOp { tree: tree.clone(), key, value: Some(value) });
    }

    pub fn delete(&mut self, tree: &TreeHandle, key: Vec<u8>) {
        self.ops.push(WriteOp { tree: tree.clone(), key, value: None });
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Refuses the batch if any key is longer than [`KEY_BYTES_MAX`]; backends call this before
    /// applying anything, so the batch stays all-or-nothing.
    pub fn check_keys(&self) -> Result<()> {
        match self.ops.iter().find(|op| op.key.len() > KEY_BYTES_MAX) {
            Some(op) => Err(StorageError::KeyTooLong { tree: op.tree.name().to_string(), len: op.key.len() }),
            None => Ok(()),
        }
    }
}

/// Position of a committed batch in the commit order; durable once [`Durability::wait`] says so.
pub type Ticket = u64;

/// The storage engine.
pub trait Storage: Send + Sync {
    /// Opens the tree of that name, creating it empty if absent. A name outside
    /// [`TREE_NAME_BYTES_MAX`] is an error, never a panic.
    fn open_tree(&self, name: &str) -> Result<TreeHandle>;
    /// Removes a tree and all its data.
    fn drop_tree(&self, name: &str) -> Result<()>;
    /// Names of all trees.
    fn tree_names(&self) -> Result<Vec<String>>;
    /// Applies the batch atomically; visible on return, durable once its ticket is. A key over
    /// [`KEY_BYTES_MAX`] fails the whole batch with an error, never a panic.
    fn commit(&self, batch: WriteBatch) -> Result<Ticket>;
    /// The group-commit state shared by writers and readers.
    fn durability(&self) -> &Durability;
    /// Bytes the store's files occupy on disk (allocated blocks, as `du` counts them; 0 in
    /// memory). Walks the data directory: for scrapes, not hot paths.
    fn disk_bytes(&self) -> u64;
    /// Makes everything committed durable and stops background work.
    fn close(&self) -> Result<()>;
}

/// Group commit bookkeeping: tickets issued by commits, the durable watermark, and a way to
/// wait for it.
pub struct Durability {
    /// True for stores where a commit is durable when it returns (the memory backend): no
    /// committer thread runs, so barriers must be durable as soon as they are issued.
    immediate: bool,
    issued: AtomicU64,
    durable: AtomicU64,
    failed: AtomicBool,
    /// Why the sync failed, once it has.
    failure: Mutex<Option<String>>,
    state: Mutex<()>,
    changed: Condvar,
    watch: tokio::sync::watch::Sender<u64>,
}

impl Durability {
    fn new() -> Durability {
        Durability::with_committer(false)
    }

    /// Durability for stores whose commits are durable on return.
    fn immediate() -> Durability {
        Durability::with_committer(true)
    }

    fn with_committer(immediate: bool) -> Durability {
        Durability {
            immediate,
            issued: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            state: Mutex::new(()),
            changed: Condvar::new(),
            watch: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Issues the next ticket. Call only after the batch's data is in the journal, so that a
    /// sync started after this call covers it.
    fn issue(&self) -> Ticket {
        let t = self.issued.fetch_add(1, Ordering::AcqRel) + 1;
        let _guard = self.state.lock();
        self.changed.notify_all();
        t
    }

    /// A ticket that is durable once everything visible now is durable (a read barrier).
    pub fn barrier(&self) -> Ticket {
        let t = self.issue();
        if self.immediate {
            self.mark_durable(t);
        }
        t
    }

    /// The highest ticket known durable.
    pub fn durable(&self) -> Ticket {
        self.durable.load(Ordering::Acquire)
    }

    /// The highest ticket issued.
    pub fn issued(&self) -> Ticket {
        self.issued.load(Ordering::Acquire)
    }

    /// The error that a failed sync leaves behind, naming its cause.
    pub fn failure_error(&self) -> StorageError {
        match &*self.failure.lock() {
            Some(reason) => StorageError::Io(format!("journal sync failed: {reason}")),
            None => StorageError::Io("journal sync failed".into()),
        }
    }

    /// True once a sync has failed: no later write can be acknowledged as durable.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Waits until `ticket` is durable.
    pub async fn wait(&self, ticket: Ticket) -> Result<()> {
        if self.durable() >= ticket {
            return Ok(());
        }
        let mut rx = self.watch.subscribe();
        loop {
            if self.has_failed() {
                return Err(self.failure_error());
            }
            if *rx.borrow_and_update() >= ticket {
                return Ok(());
            }
            if rx.changed().await.is_err() {
                return Err(StorageError::Closed);
            }
        }
    }

    /// Blocking form of [`Durability::wait`], for threads outside the async runtime.
    pub fn wait_blocking(&self, ticket: Ticket) -> Result<()> {
        let mut guard = self.state.lock();
        loop {
            if self.has_failed() {
                return Err(self.failure_error());
            }
            if self.durable() >= ticket {
                return Ok(());
            }
            self.changed.wait(&mut guard);
        }
    }

    fn mark_durable(&self, ticket: Ticket) {
        self.durable.fetch_max(ticket, Ordering::AcqRel);
        let _guard = self.state.lock();
        self.changed.notify_all();
        self.watch.send_replace(self.durable());
    }

    fn mark_failed(&self, reason: String) {
        *self.failure.lock() = Some(reason);
        self.failed.store(true, Ordering::Release);
        let _guard = self.state.lock();
        self.changed.notify_all();
        self.watch.send_replace(self.durable());
    }

    /// Committer loop: waits for undurable tickets, syncs once for all of them, repeats until
    /// `stop` is set and nothing is pending.
    fn run_committer(&self, stop: &AtomicBool, sync: impl Fn() -> Result<()>) {
        loop {
            {
                let mut guard = self.state.lock();
                while self.issued() <= self.durable() && !stop.load(Ordering::Acquire) {
                    self.changed.wait(&mut guard);
                }
            }
            let target = self.issued();
            let covered = target.saturating_sub(self.durable());
            if covered == 0 {
                return; // stopping, nothing pending
            }
            let started = std::time::Instant::now();
            let synced = sync();
            metrics::histogram!("flywheel_fsync_duration_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("flywheel_fsync_commits").record(covered as f64);
            match synced {
                Ok(()) => self.mark_durable(target),
                Err(e) => {
                    tracing::error!(error = %e, "journal sync failed; refusing further durable acknowledgements");
                    self.mark_failed(e.to_string());
                    return;
                }
            }
        }
    }

    fn wake(&self) {
        let _guard = self.state.lock();
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod conformance;
