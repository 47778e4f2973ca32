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

/// A storage failure. Internal detail for logs; clients see an InternalServerError (one that
/// names a full disk when [`StorageError::is_disk_full`] says so).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The operating system refused an I/O. The kind is kept: `ErrorKind::StorageFull` is a full
    /// disk, which a client is told about and which recovers once space returns.
    #[error("storage I/O error: {0}")]
    Disk(#[source] std::io::Error),
    /// The store refuses writes since an earlier failure (a journal sync, a commit, a background
    /// flush or compaction) left it unable to make them durable. Only reopening it recovers.
    #[error("the store refuses writes until it is reopened: {0}")]
    Halted(Failure),
    /// Any other failure, described in words (corrupt data, a directory in use, …).
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

impl StorageError {
    /// True when the disk is full, now or when the store halted: the client may be told, and
    /// the store recovers once space returns.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StorageError::Disk(e) => e.kind() == std::io::ErrorKind::StorageFull,
            StorageError::Halted(failure) => failure.kind == Some(std::io::ErrorKind::StorageFull),
            _ => false,
        }
    }

    /// The I/O error kind underneath, if the failure came from the operating system.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            StorageError::Disk(e) => Some(e.kind()),
            StorageError::Halted(failure) => failure.kind,
            _ => None,
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Disk(e)
    }
}

/// Why a store halted: what failed, and the I/O error kind when the operating system said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: Option<std::io::ErrorKind>,
    pub detail: String,
}

impl Failure {
    /// The failure an error describes, keeping its I/O error kind.
    pub fn of(what: &str, e: &StorageError) -> Failure {
        match e {
            StorageError::Halted(failure) => failure.clone(),
            e => Failure { kind: e.io_kind(), detail: format!("{what}: {e}") },
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Some(std::io::ErrorKind::StorageFull) => write!(f, "{} (the disk is full)", self.detail),
            _ => f.write_str(&self.detail),
        }
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

/// How often an idle committer checks that background work has not halted the store.
const HEALTH_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

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
    /// Waits, boundedly, for the background work that opening started (the disk backend
    /// flushes the memtables it replayed from old journals), then fails if the store has halted.
    /// A store reopened after a failure is trusted with writes only once this passes.
    fn settle(&self) -> Result<()> {
        match self.durability().has_failed() {
            true => Err(self.durability().failure_error()),
            false => Ok(()),
        }
    }
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
    /// Why the store halted, once it has: the first failure, which caused the others.
    failure: Mutex<Option<Failure>>,
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

    /// The error that a halted store answers every write with, naming the first failure.
    pub fn failure_error(&self) -> StorageError {
        StorageError::Halted(
            self.failure.lock().clone().unwrap_or_else(|| Failure { kind: None, detail: "an earlier failure".into() }),
        )
    }

    /// True once the store has halted (a sync, a commit or background work failed): no later
    /// write can be acknowledged as durable until the store is reopened.
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

    /// Halts the store: every waiter and every later write gets [`Durability::failure_error`].
    pub(crate) fn mark_failed(&self, failure: Failure) {
        self.failure.lock().get_or_insert(failure);
        self.failed.store(true, Ordering::Release);
        let _guard = self.state.lock();
        self.changed.notify_all();
        self.watch.send_replace(self.durable());
    }

    /// Committer loop: waits for undurable tickets, syncs once for all of them, repeats until
    /// `stop` is set and nothing is pending. While idle it runs `check` every `HEALTH_CHECK_INTERVAL`:
    /// background work (an LSM flush or compaction) can halt a store that nobody writes to, and
    /// readiness must say so before a client finds out.
    fn run_committer(&self, stop: &AtomicBool, sync: impl Fn() -> Result<()>, check: impl Fn() -> Result<()>) {
        loop {
            {
                let mut guard = self.state.lock();
                while self.issued() <= self.durable() && !stop.load(Ordering::Acquire) {
                    if self.changed.wait_for(&mut guard, HEALTH_CHECK_INTERVAL).timed_out() {
                        // Unlocked: the check may take the backend's own locks, which writers
                        // hold before they issue a ticket.
                        if let Err(e) = parking_lot::MutexGuard::unlocked(&mut guard, &check) {
                            tracing::error!(error = %e, "the store halted in the background; refusing further writes");
                            drop(guard);
                            self.mark_failed(Failure::of("background work failed", &e));
                            return;
                        }
                    }
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
                    self.mark_failed(Failure::of("journal sync failed", &e));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_full() -> StorageError {
        StorageError::Disk(std::io::Error::from(std::io::ErrorKind::StorageFull))
    }

    #[test]
    fn a_full_disk_is_recognised_by_its_error_kind_through_a_halt() {
        assert!(disk_full().is_disk_full());
        assert!(!StorageError::Disk(std::io::Error::from(std::io::ErrorKind::PermissionDenied)).is_disk_full());
        assert!(!StorageError::Io("No space left on device".into()).is_disk_full(), "words are not a kind");
        let failure = Failure::of("journal sync failed", &disk_full());
        assert_eq!(failure.kind, Some(std::io::ErrorKind::StorageFull));
        assert!(StorageError::Halted(failure.clone()).is_disk_full());
        // A halt reported again keeps the first cause rather than wrapping it.
        assert_eq!(Failure::of("commit failed", &StorageError::Halted(failure.clone())), failure);
        assert!(failure.to_string().ends_with("(the disk is full)"), "{failure}");
    }

    #[test]
    fn a_failed_background_check_halts_an_idle_store() {
        // Nobody writes, so no sync fails; the check alone must halt the store, and the first
        // failure is the one every later write is told about.
        let durability = Arc::new(Durability::new());
        let stop = Arc::new(AtomicBool::new(false));
        let committer = {
            let (durability, stop) = (durability.clone(), stop.clone());
            std::thread::spawn(move || durability.run_committer(&stop, || Ok(()), || Err(disk_full())))
        };
        committer.join().unwrap();
        assert!(durability.has_failed());
        assert!(durability.failure_error().is_disk_full());
        durability.mark_failed(Failure { kind: None, detail: "later".into() });
        assert!(durability.failure_error().is_disk_full(), "the first failure is kept");
        let ticket = durability.barrier();
        assert!(durability.wait_blocking(ticket).unwrap_err().is_disk_full());
        stop.store(true, Ordering::Release);
    }

    #[test]
    fn a_healthy_idle_store_keeps_committing() {
        let durability = Arc::new(Durability::new());
        let stop = Arc::new(AtomicBool::new(false));
        let checks = Arc::new(AtomicU64::new(0));
        let committer = {
            let (durability, stop, checks) = (durability.clone(), stop.clone(), checks.clone());
            std::thread::spawn(move || {
                durability.run_committer(
                    &stop,
                    || Ok(()),
                    || {
                        checks.fetch_add(1, Ordering::AcqRel);
                        Ok(())
                    },
                )
            })
        };
        // Idle until the check has run twice, then a commit is still made durable.
        for _ in 0..1000 {
            if checks.load(Ordering::Acquire) >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(checks.load(Ordering::Acquire) >= 2, "an idle committer checks the store");
        let ticket = durability.barrier();
        durability.wait_blocking(ticket).unwrap();
        assert!(!durability.has_failed());
        stop.store(true, Ordering::Release);
        durability.wake();
        committer.join().unwrap();
    }
}
