//! Flywheel storage-engine comparison: fjall 3 (LSM) vs redb 4 (copy-on-write B-tree).
//!
//! Standalone benchmark, not part of the Flywheel workspace. See RESULTS.md.
//!
//! Usage:
//!   storage-compare [--quick] [--engines fjall,redb] [--dir /tmp/...]
//! Internal child-process modes (spawned by the driver):
//!   storage-compare child-reopen ENGINE DIR N_ITEMS N_READS
//!   storage-compare child-crash ENGINE DIR
//!   storage-compare child-crashwrite ENGINE DIR

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Condvar, Mutex,
    },
    time::{Duration, Instant},
};

const VALUE_LEN: usize = 1024;
/// Same block/page cache budget for both engines (the data set is ~1 GiB, so it does not fit).
const CACHE_BYTES: u64 = 256 * 1024 * 1024;
const WRITER_THREADS: usize = 16;
const READER_THREADS: usize = 2;
const SCAN_LEN: usize = 10;
/// Table / keyspace names: item, index entry, stream record.
const NAMES: [&str; 3] = ["items", "index", "stream"];

// ---------------------------------------------------------------------------------------------
// Keys and values shaped like Flywheel's: 4-byte hash prefix || 12-byte key; 1 KiB values.

fn fnv1a32(b: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &x in b {
        h ^= u32::from(x);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn key_of(i: u64) -> Vec<u8> {
    let s = format!("k{i:011}"); // 12 bytes
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&fnv1a32(s.as_bytes()).to_be_bytes());
    k.extend_from_slice(s.as_bytes());
    k
}

/// Incompressible 1 KiB value (worst case for fjall's LZ4; real items compress somewhat).
fn value_of(i: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xF1);
    let mut v = vec![0u8; VALUE_LEN];
    rng.fill(&mut v);
    v
}

fn index_key_of(i: u64) -> Vec<u8> {
    // GSI entry: hash(gsi pk) || gsi sk || base key
    let mut k = fnv1a32(&(i % 1000).to_be_bytes()).to_be_bytes().to_vec();
    k.extend_from_slice(b"gsi-sk-");
    k.extend_from_slice(&key_of(i));
    k
}

type Op = (usize, Vec<u8>, Vec<u8>);

/// item + index entry + stream record for logical write `i` with stream sequence `seq`.
fn triple_of(i: u64, seq: u64) -> Vec<Op> {
    let k = key_of(i);
    let v = value_of(i);
    vec![
        (0, k.clone(), v.clone()),
        (1, index_key_of(i), k.clone()),
        (2, seq.to_be_bytes().to_vec(), [k, v].concat()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Leader/follower group commit: the first waiter becomes leader, takes everything queued,
// makes it durable with ONE commit/fsync, and wakes all writers it covered.

struct GroupState<T> {
    pending: Vec<T>,
    next: u64,
    done: u64,
    leader: bool,
}

struct Group<T> {
    st: Mutex<GroupState<T>>,
    cv: Condvar,
    syncs: AtomicU64,
    ops: AtomicU64,
}

impl<T> Group<T> {
    fn new() -> Self {
        Self {
            st: Mutex::new(GroupState { pending: Vec::new(), next: 0, done: 0, leader: false }),
            cv: Condvar::new(),
            syncs: AtomicU64::new(0),
            ops: AtomicU64::new(0),
        }
    }

    /// Blocks until `op` (or, with `None`, everything this thread already wrote) is durable.
    fn submit(&self, op: Option<T>, apply: &dyn Fn(Vec<T>)) {
        let mut g = self.st.lock().unwrap();
        g.next += 1;
        let my = g.next;
        if let Some(op) = op {
            g.pending.push(op);
        }
        loop {
            if g.done >= my {
                return;
            }
            if g.leader {
                g = self.cv.wait(g).unwrap();
                continue;
            }
            g.leader = true;
            let batch = std::mem::take(&mut g.pending);
            let hi = g.next;
            let covered = hi - g.done;
            drop(g);
            apply(batch);
            self.syncs.fetch_add(1, Ordering::Relaxed);
            self.ops.fetch_add(covered, Ordering::Relaxed);
            g = self.st.lock().unwrap();
            g.done = hi;
            g.leader = false;
            self.cv.notify_all();
        }
    }

    fn avg_group(&self) -> f64 {
        let s = self.syncs.load(Ordering::Relaxed);
        if s == 0 {
            0.0
        } else {
            self.ops.load(Ordering::Relaxed) as f64 / s as f64
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Engine abstraction

trait Engine: Send + Sync {
    /// Single durable put, relying only on the engine's own per-commit fsync (no grouping).
    fn put_sync_each(&self, k: &[u8], v: &[u8]);
    /// Atomic multi-table write, durable (fsynced) on return, group-committed across threads:
    /// the group leader applies every queued write in ONE engine commit + ONE fsync.
    fn put_group(&self, ops: Vec<Op>);
    /// fjall only: each writer commits its own batch, then the leader issues one shared
    /// `persist(SyncAll)` for everybody waiting. `None` if the engine has no such mode.
    fn put_own_commit_shared_sync(&self, _ops: Vec<Op>) -> Option<()> {
        None
    }
    /// One atomic batch, then one fsync.
    fn load_batch(&self, items: &[(Vec<u8>, Vec<u8>)]);
    fn get(&self, k: &[u8]) -> Option<usize>;
    fn get_in(&self, table: usize, k: &[u8]) -> Option<Vec<u8>>;
    /// Reads `n` consecutive entries starting at `start` (forward) or ending at it (reverse).
    fn scan(&self, start: &[u8], n: usize, rev: bool) -> usize;
    fn count(&self, table: usize) -> usize;
    fn avg_group(&self) -> f64;
    /// Wait for background work (fjall flush/compaction) to finish; returns a description.
    fn settle(&self, _max: Duration) -> String {
        "no background work (B-tree)".into()
    }
    /// Non-durable (OS-buffered) atomic write, used by the crash-atomicity child.
    fn put_atomic_buffered(&self, ops: Vec<Op>);
}

// ----------------------------------------- fjall 3 -------------------------------------------

mod fj {
    use super::*;
    use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

    pub struct Fj {
        pub db: Database,
        pub ks: Vec<Keyspace>,
        group: Group<Vec<Op>>,
        shared_sync: Group<()>,
    }

    pub fn open(path: &Path) -> Fj {
        // manual_journal_persist(true): commits only append to the journal's userspace buffer;
        // nothing is flushed or fsynced until we call db.persist(..). fjall 3 has no background
        // fsync thread (fjall 2's fsync_ms is gone), so durability is entirely ours.
        let db = Database::builder(path)
            .cache_size(CACHE_BYTES)
            .manual_journal_persist(true)
            .open()
            .expect("fjall open");
        let ks = NAMES
            .iter()
            .map(|n| db.keyspace(n, KeyspaceCreateOptions::default).expect("keyspace"))
            .collect();
        Fj { db, ks, group: Group::new(), shared_sync: Group::new() }
    }

    impl Engine for Fj {
        fn put_sync_each(&self, k: &[u8], v: &[u8]) {
            // fsync happens inside commit while holding the journal lock: fully serialized.
            let mut b = self.db.batch().durability(Some(PersistMode::SyncAll));
            b.insert(&self.ks[0], k, v);
            b.commit().expect("commit");
        }

        fn put_group(&self, ops: Vec<Op>) {
            self.group.submit(Some(ops), &|batches: Vec<Vec<Op>>| {
                // one atomic batch for the whole group; SyncAll = fsync inside commit
                let mut b = self.db.batch().durability(Some(PersistMode::SyncAll));
                for (t, k, v) in batches.into_iter().flatten() {
                    b.insert(&self.ks[t], k, v);
                }
                b.commit().expect("commit");
            });
        }

        fn put_own_commit_shared_sync(&self, ops: Vec<Op>) -> Option<()> {
            let mut b = self.db.batch();
            for (t, k, v) in ops {
                b.insert(&self.ks[t], k, v);
            }
            b.commit().expect("commit"); // atomic + visible now, not yet durable
            self.shared_sync.submit(None, &|_| {
                // NB: persist holds fjall's journal mutex during the fsync, so other
                // writers' commits block until it returns.
                self.db.persist(PersistMode::SyncAll).expect("persist");
            });
            Some(())
        }

        fn load_batch(&self, items: &[(Vec<u8>, Vec<u8>)]) {
            let mut b = self.db.batch();
            for (k, v) in items {
                b.insert(&self.ks[0], k.as_slice(), v.as_slice());
            }
            b.commit().expect("commit");
            self.db.persist(PersistMode::SyncAll).expect("persist");
        }

        fn get(&self, k: &[u8]) -> Option<usize> {
            self.ks[0].get(k).expect("get").map(|v| v.len())
        }

        fn get_in(&self, t: usize, k: &[u8]) -> Option<Vec<u8>> {
            self.ks[t].get(k).expect("get").map(|v| v.to_vec())
        }

        fn settle(&self, max: Duration) -> String {
            let t0 = Instant::now();
            let before = (self.ks[0].l0_table_count(), self.ks[0].table_count());
            let mut quiet_since: Option<Instant> = None;
            while t0.elapsed() < max {
                let busy = self.db.outstanding_flushes() > 0 || self.db.active_compactions() > 0;
                match (busy, quiet_since) {
                    (true, _) => quiet_since = None,
                    (false, None) => quiet_since = Some(Instant::now()),
                    (false, Some(q)) if q.elapsed() > Duration::from_millis(1000) => break,
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            format!(
                "flush/compaction settled after {:.1}s (L0 tables {} -> {}, tables {} -> {}, {} compactions so far)",
                t0.elapsed().as_secs_f64(),
                before.0,
                self.ks[0].l0_table_count(),
                before.1,
                self.ks[0].table_count(),
                self.db.compactions_completed()
            )
        }

        fn scan(&self, start: &[u8], n: usize, rev: bool) -> usize {
            let mut bytes = 0;
            if rev {
                for g in self.ks[0].range(..=start).rev().take(n) {
                    let (k, v) = g.into_inner().expect("iter");
                    bytes += k.len() + v.len();
                }
            } else {
                for g in self.ks[0].range(start..).take(n) {
                    let (k, v) = g.into_inner().expect("iter");
                    bytes += k.len() + v.len();
                }
            }
            bytes
        }

        fn count(&self, t: usize) -> usize {
            self.ks[t].len().expect("len")
        }

        fn avg_group(&self) -> f64 {
            self.group.avg_group().max(self.shared_sync.avg_group())
        }

        fn put_atomic_buffered(&self, ops: Vec<Op>) {
            let mut b = self.db.batch().durability(Some(PersistMode::Buffer));
            for (t, k, v) in ops {
                b.insert(&self.ks[t], k, v);
            }
            b.commit().expect("commit");
        }
    }

    /// Exercises every API call reported in RESULTS.md; panics if any behaves unexpectedly.
    pub fn api_check(dir: &Path) -> String {
        use fjall::Readable; // trait providing get/range/prefix/iter on Snapshot
        let db = Database::builder(dir).manual_journal_persist(true).open().unwrap();
        let items = db.keyspace("items", KeyspaceCreateOptions::default).unwrap();
        let index = db.keyspace("index", KeyspaceCreateOptions::default).unwrap();
        // atomic cross-keyspace batch
        let mut b = db.batch();
        b.insert(&items, "a1", "v1");
        b.insert(&items, "a2", "v2");
        b.insert(&items, "a3", "v3");
        b.insert(&index, "i1", "a1");
        b.commit().unwrap();
        db.persist(PersistMode::SyncAll).unwrap();
        // snapshot across keyspaces
        let snap = db.snapshot();
        let mut b = db.batch();
        b.insert(&items, "a4", "v4");
        b.remove(&index, "i1");
        b.commit().unwrap();
        assert!(snap.get(&items, "a4").unwrap().is_none());
        assert!(snap.get(&index, "i1").unwrap().is_some());
        assert_eq!(snap.range(&items, "a1"..="a9").count(), 3);
        assert!(items.get("a4").unwrap().is_some() && index.get("i1").unwrap().is_none());
        drop(snap);
        // forward / reverse range
        let fwd: Vec<_> =
            items.range("a2"..).map(|g| g.key().unwrap().to_vec()).collect();
        assert_eq!(fwd, vec![b"a2".to_vec(), b"a3".to_vec(), b"a4".to_vec()]);
        let rev: Vec<_> =
            items.range(..="a3").rev().map(|g| g.key().unwrap().to_vec()).collect();
        assert_eq!(rev, vec![b"a3".to_vec(), b"a2".to_vec(), b"a1".to_vec()]);
        assert_eq!(items.prefix("a").rev().next().unwrap().key().unwrap().as_ref(), b"a4");
        // create / drop keyspace
        let tmp = db.keyspace("tmp_table", KeyspaceCreateOptions::default).unwrap();
        tmp.insert("x", "y").unwrap();
        assert!(db.keyspace_exists("tmp_table"));
        db.delete_keyspace(tmp).unwrap();
        assert!(!db.keyspace_exists("tmp_table"));
        db.persist(PersistMode::SyncAll).unwrap();
        drop((items, index));
        drop(db);
        // reopen: durable data present, dropped keyspace gone
        let db = Database::builder(dir).open().unwrap();
        assert!(!db.keyspace_exists("tmp_table"));
        let items = db.keyspace("items", KeyspaceCreateOptions::default).unwrap();
        assert_eq!(items.len().unwrap(), 4);
        "ok (batch across keyspaces, snapshot isolation, fwd/rev range, prefix, create/delete keyspace, reopen)".into()
    }
}

// ----------------------------------------- redb 4 --------------------------------------------

mod rd {
    use super::*;
    use redb::{
        Database, Durability, ReadableDatabase, ReadableTableMetadata,
        TableDefinition,
    };

    pub const TABLES: [TableDefinition<&[u8], &[u8]>; 3] = [
        TableDefinition::new(NAMES[0]),
        TableDefinition::new(NAMES[1]),
        TableDefinition::new(NAMES[2]),
    ];

    pub struct Rd {
        pub db: Database,
        group: Group<Vec<Op>>,
        quick_repair: bool,
    }

    /// `quick_repair`: every commit also saves the allocator state (and uses 2-phase commit),
    /// so reopening after a crash does not have to walk the whole file.
    pub fn open(dir: &Path, quick_repair: bool) -> Rd {
        std::fs::create_dir_all(dir).unwrap();
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES as usize)
            .create(dir.join("db.redb"))
            .expect("redb open");
        // make sure all tables exist so readers never hit TableDoesNotExist
        let mut tx = db.begin_write().unwrap();
        tx.set_quick_repair(quick_repair);
        for t in TABLES {
            tx.open_table(t).unwrap();
        }
        tx.commit().unwrap();
        Rd { db, group: Group::new(), quick_repair }
    }

    fn write_ops(rd: &Rd, ops: impl Iterator<Item = Op>, durability: Durability) {
        let mut tx = rd.db.begin_write().expect("begin_write");
        tx.set_durability(durability).unwrap();
        tx.set_quick_repair(rd.quick_repair);
        {
            let mut tables: [Option<redb::Table<&[u8], &[u8]>>; 3] = [None, None, None];
            for (t, k, v) in ops {
                if tables[t].is_none() {
                    tables[t] = Some(tx.open_table(TABLES[t]).unwrap());
                }
                tables[t].as_mut().unwrap().insert(k.as_slice(), v.as_slice()).unwrap();
            }
        }
        tx.commit().expect("commit");
    }

    impl Engine for Rd {
        fn put_sync_each(&self, k: &[u8], v: &[u8]) {
            // one write transaction per put; begin_write() blocks while another is open
            write_ops(self, std::iter::once((0, k.to_vec(), v.to_vec())), Durability::Immediate);
        }

        fn put_group(&self, ops: Vec<Op>) {
            self.group.submit(Some(ops), &|batches: Vec<Vec<Op>>| {
                write_ops(self, batches.into_iter().flatten(), Durability::Immediate);
            });
        }

        fn load_batch(&self, items: &[(Vec<u8>, Vec<u8>)]) {
            let mut tx = self.db.begin_write().unwrap();
            tx.set_quick_repair(self.quick_repair);
            {
                let mut t = tx.open_table(TABLES[0]).unwrap();
                for (k, v) in items {
                    t.insert(k.as_slice(), v.as_slice()).unwrap();
                }
            }
            tx.commit().unwrap(); // Durability::Immediate is the default
        }

        fn get(&self, k: &[u8]) -> Option<usize> {
            let r = self.db.begin_read().unwrap();
            let t = r.open_table(TABLES[0]).unwrap();
            t.get(k).unwrap().map(|g| g.value().len())
        }

        fn get_in(&self, tb: usize, k: &[u8]) -> Option<Vec<u8>> {
            let r = self.db.begin_read().unwrap();
            let t = r.open_table(TABLES[tb]).unwrap();
            t.get(k).unwrap().map(|g| g.value().to_vec())
        }

        fn scan(&self, start: &[u8], n: usize, rev: bool) -> usize {
            let r = self.db.begin_read().unwrap();
            let t = r.open_table(TABLES[0]).unwrap();
            let mut bytes = 0;
            if rev {
                for e in t.range(..=start).unwrap().rev().take(n) {
                    let (k, v) = e.unwrap();
                    bytes += k.value().len() + v.value().len();
                }
            } else {
                for e in t.range(start..).unwrap().take(n) {
                    let (k, v) = e.unwrap();
                    bytes += k.value().len() + v.value().len();
                }
            }
            bytes
        }

        fn count(&self, tb: usize) -> usize {
            let r = self.db.begin_read().unwrap();
            r.open_table(TABLES[tb]).unwrap().len().unwrap() as usize
        }

        fn avg_group(&self) -> f64 {
            self.group.avg_group()
        }

        fn put_atomic_buffered(&self, ops: Vec<Op>) {
            // redb has no "OS-buffered" level: Durability::None commits stay in process memory
            // and are lost on crash; use Immediate so the crash test checks real commits.
            write_ops(self, ops.into_iter(), Durability::Immediate);
        }
    }

    pub fn api_check(dir: &Path) -> String {
        std::fs::create_dir_all(dir).unwrap();
        let db = Database::create(dir.join("db.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut items = tx.open_table(TABLES[0]).unwrap();
            let mut index = tx.open_table(TABLES[1]).unwrap();
            items.insert(b"a1".as_slice(), b"v1".as_slice()).unwrap();
            items.insert(b"a2".as_slice(), b"v2".as_slice()).unwrap();
            items.insert(b"a3".as_slice(), b"v3".as_slice()).unwrap();
            index.insert(b"i1".as_slice(), b"a1".as_slice()).unwrap();
        }
        tx.commit().unwrap();
        let snap = db.begin_read().unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut items = tx.open_table(TABLES[0]).unwrap();
            items.insert(b"a4".as_slice(), b"v4".as_slice()).unwrap();
            let mut index = tx.open_table(TABLES[1]).unwrap();
            index.remove(b"i1".as_slice()).unwrap();
        }
        tx.commit().unwrap();
        assert!(snap.open_table(TABLES[0]).unwrap().get(b"a4".as_slice()).unwrap().is_none());
        assert!(snap.open_table(TABLES[1]).unwrap().get(b"i1".as_slice()).unwrap().is_some());
        drop(snap);
        let r = db.begin_read().unwrap();
        let t = r.open_table(TABLES[0]).unwrap();
        let rev: Vec<_> = t
            .range(..=b"a3".as_slice())
            .unwrap()
            .rev()
            .map(|e| e.unwrap().0.value().to_vec())
            .collect();
        assert_eq!(rev, vec![b"a3".to_vec(), b"a2".to_vec(), b"a1".to_vec()]);
        drop((t, r));
        let tx = db.begin_write().unwrap();
        tx.open_table(TABLES[2]).unwrap();
        assert!(tx.delete_table(TABLES[2]).unwrap());
        tx.commit().unwrap();
        "ok (multi-table write txn, read-txn snapshot, fwd/rev range, delete_table)".into()
    }
}

// ---------------------------------------------------------------------------------------------
// helpers

fn open_engine(name: &str, dir: &Path) -> Box<dyn Engine> {
    match name {
        "fjall" => Box::new(fj::open(dir)),
        "redb" => Box::new(rd::open(dir, false)),
        "redb-qr" => Box::new(rd::open(dir, true)),
        _ => panic!("unknown engine {name}"),
    }
}

fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut apparent, mut allocated) = (0, 0);
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let md = e.metadata().unwrap();
            if md.is_dir() {
                let (a, b) = disk_usage(&e.path());
                apparent += a;
                allocated += b;
            } else {
                apparent += md.len();
                allocated += md.blocks() * 512;
            }
        }
    }
    (apparent, allocated)
}

fn rss_kb() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let f = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|x| x.parse().ok())
            .unwrap_or(0)
    };
    (f("VmRSS:"), f("VmHWM:"))
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// (busy ticks of the whole machine, ticks used by this process + its waited-for children)
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0usize, 1, 2, 5, 6].iter().map(|&i| f.get(i).copied().unwrap_or(0)).sum();
    let me = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = me.rsplit(')').next().unwrap_or("");
    let g: Vec<u64> = after_comm
        .split_whitespace()
        .skip(1) // state letter
        .map(|x| x.parse::<i64>().unwrap_or(0).max(0) as u64) // tpgid may be -1
        .collect();
    // after ")" : state ppid pgrp ...; utime/stime/cutime/cstime are fields 14-17 of the full
    // line => indices 10..14 once the state (field 3) is skipped.
    let mine = g.get(10..14).map(|x| x.iter().sum()).unwrap_or(0);
    (busy, mine)
}

struct Report {
    lines: Vec<String>,
    mark: (Instant, (u64, u64)),
}

impl Report {
    /// Start of a measured section: CPU used by OTHER processes is reported per RESULT line,
    /// because this machine's 2 cores may be shared with other work.
    fn mark(&mut self) {
        self.mark = (Instant::now(), cpu_ticks());
    }

    fn add(&mut self, s: String) {
        let (t0, (b0, m0)) = self.mark;
        let (b1, m1) = cpu_ticks();
        let secs = t0.elapsed().as_secs_f64();
        let ncpu = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let foreign = (b1.saturating_sub(b0) as f64 - m1.saturating_sub(m0) as f64).max(0.0) / 100.0;
        let s = if secs > 0.5 && s.starts_with("RESULT") {
            format!("{s} | [other processes used {:.0}% of the {ncpu} CPUs]", 100.0 * foreign / (secs * ncpu))
        } else {
            s
        };
        self.mark();
        println!("{s}");
        let _ = std::io::stdout().flush();
        self.lines.push(s);
    }
}

#[derive(Clone, Copy)]
struct Cfg {
    write_secs: f64,
    max_writes: u64,
    naive_secs: f64,
    triple_secs: f64,
    items: u64,
    batch: u64,
    read_secs: f64,
    scan_secs: f64,
    reopen_reads: u64,
}

// ---------------------------------------------------------------------------------------------
// phases

#[derive(Clone, Copy, PartialEq)]
enum WriteMode {
    SyncEach,
    OwnCommitSharedSync,
    Group,
    GroupTriple,
}

fn phase_writes(eng: &str, base: &Path, mode: WriteMode, secs: f64, max: u64, rep: &mut Report) {
    let dir = base.join(format!("{eng}-writes"));
    let _ = std::fs::remove_dir_all(&dir);
    let e: Arc<dyn Engine> = Arc::from(open_engine(eng, &dir));
    rep.mark();
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..WRITER_THREADS)
        .map(|_| {
            let e = e.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity((max as usize) / WRITER_THREADS + 1024);
                loop {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if n >= max || Instant::now() >= deadline {
                        break;
                    }
                    let i = 10_000_000 + n;
                    let s = Instant::now();
                    match mode {
                        WriteMode::SyncEach => e.put_sync_each(&key_of(i), &value_of(i)),
                        WriteMode::OwnCommitSharedSync => {
                            e.put_own_commit_shared_sync(vec![(0, key_of(i), value_of(i))]).expect("fjall only");
                        }
                        WriteMode::Group => {
                            e.put_group(vec![(0, key_of(i), value_of(i))]);
                        }
                        WriteMode::GroupTriple => e.put_group(triple_of(i, n)),
                    }
                    lat.push(s.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<u32> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let el = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    let n = lat.len();
    // sanity: the last written key is readable
    if n > 0 {
        assert!(e.get(&key_of(10_000_000)).is_some());
    }
    let label = match mode {
        WriteMode::SyncEach => "1a durable put, fsync per commit (no grouping)",
        WriteMode::OwnCommitSharedSync => "1b' durable put, own batch commit + shared persist(SyncAll)",
        WriteMode::Group => "1b durable put, group commit (leader: 1 commit + 1 fsync per group)",
        WriteMode::GroupTriple => "1c durable item+index+stream (3 tables, atomic), group commit",
    };
    let grp = if mode == WriteMode::SyncEach { String::new() } else { format!(", avg {:.1} writes/fsync", e.avg_group()) };
    rep.add(format!(
        "RESULT {eng} | {label} | {n} writes in {el:.1}s = {:.0} writes/s | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms{grp}",
        n as f64 / el,
        pct(&lat, 0.50),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
    ));
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

fn timed_threads(
    threads: usize,
    secs: f64,
    f: impl Fn(&mut fastrand::Rng) + Send + Sync + 'static,
) -> (u64, f64) {
    let f = Arc::new(f);
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let f = f.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t as u64 + 42);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        f(&mut rng);
                    }
                    n += 64;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let n: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    (n, t0.elapsed().as_secs_f64())
}

fn phase_load_read_reopen(eng: &str, base: &Path, cfg: Cfg, rep: &mut Report) {
    let dir = base.join(format!("{eng}-load"));
    let _ = std::fs::remove_dir_all(&dir);
    let e: Arc<dyn Engine> = Arc::from(open_engine(eng, &dir));

    // 2. bulk load
    rep.mark();
    let t0 = Instant::now();
    let mut i = 0;
    while i < cfg.items {
        let end = (i + cfg.batch).min(cfg.items);
        let items: Vec<_> = (i..end).map(|j| (key_of(j), value_of(j))).collect();
        e.load_batch(&items);
        i = end;
    }
    let el = t0.elapsed().as_secs_f64();
    let (ap, al) = disk_usage(&dir);
    rep.add(format!(
        "RESULT {eng} | 2 bulk load {} items (batches of {}, 1 fsync/batch) | {el:.1}s = {:.0} items/s | disk right after load: {:.0} MiB allocated ({:.0} MiB apparent)",
        cfg.items, cfg.batch, cfg.items as f64 / el, mib(al), mib(ap)
    ));

    // 3 + 4: reads and scans, first immediately after the load (fjall: flush/compaction still
    // running on our 2 cores), then again once background work has settled.
    let items = cfg.items;
    for pass in ["immediately after load", "after background work settled"] {
        if pass.starts_with("after") {
            let s = e.settle(Duration::from_secs(120));
            let (ap, al) = disk_usage(&dir);
            rep.add(format!(
                "RESULT {eng} | 2a settle | {s} | disk now {:.0} MiB allocated ({:.0} MiB apparent)",
                mib(al),
                mib(ap)
            ));
        }
        rep.mark();
        let e2 = e.clone();
        let misses = Arc::new(AtomicU64::new(0));
        let m2 = misses.clone();
        let (n, el) = timed_threads(READER_THREADS, cfg.read_secs, move |rng| {
            if e2.get(&key_of(rng.u64(0..items))).is_none() {
                m2.fetch_add(1, Ordering::Relaxed);
            }
        });
        let (rss, hwm) = rss_kb();
        rep.add(format!(
            "RESULT {eng} | 3 random point reads, {READER_THREADS} threads, {pass} | {:.0} reads/s ({n} in {el:.1}s, misses {}) | bench process RSS {:.0} MiB (peak {:.0} MiB)",
            n as f64 / el,
            misses.load(Ordering::Relaxed),
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        ));
        assert_eq!(misses.load(Ordering::Relaxed), 0, "point reads must hit");

        for rev in [false, true] {
            rep.mark();
            let e2 = e.clone();
            let short = Arc::new(AtomicU64::new(0));
            let s2 = short.clone();
            let (n, el) = timed_threads(READER_THREADS, cfg.scan_secs, move |rng| {
                let b = e2.scan(&key_of(rng.u64(0..items)), SCAN_LEN, rev);
                if b < SCAN_LEN * (16 + VALUE_LEN) {
                    s2.fetch_add(1, Ordering::Relaxed); // ran into start/end of the key space
                }
            });
            rep.add(format!(
                "RESULT {eng} | 4{} {} range scans of {SCAN_LEN} consecutive keys, {READER_THREADS} threads, {pass} | {:.0} scans/s ({n} in {el:.1}s; {} hit the key-space edge)",
                if rev { "b" } else { "a" },
                if rev { "reverse" } else { "forward" },
                n as f64 / el,
                short.load(Ordering::Relaxed)
            ));
        }
    }
    drop(e); // clean close
    let (ap, al) = disk_usage(&dir);
    rep.add(format!(
        "RESULT {eng} | 2b disk after reads + clean close | {:.0} MiB allocated ({:.0} MiB apparent); raw data = {:.0} MiB",
        mib(al),
        mib(ap),
        mib(cfg.items * (16 + VALUE_LEN as u64))
    ));

    // 5. reopen in a fresh process: cold (page cache dropped) and warm
    for cold in [true, false] {
        let dropped = if cold { drop_caches() } else { false };
        rep.mark();
        let label = if cold {
            if dropped { "cold (page cache dropped)" } else { "cold requested, drop_caches FAILED => warm" }
        } else {
            "warm page cache"
        };
        reopen_child(eng, &dir, cfg, &format!("5 reopen {label}"), rep);
    }

    // 5c. crash, then reopen (redb must repair the file unless quick_repair was enabled)
    let st = Command::new(std::env::current_exe().unwrap())
        .args(["child-crash", eng, dir.to_str().unwrap()])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success(), "crash child should abort");
    rep.mark();
    reopen_child(eng, &dir, cfg, "5c reopen after crash (abort() right after a durable commit), warm cache", rep);

    let _ = std::fs::remove_dir_all(&dir);
}

fn reopen_child(eng: &str, dir: &Path, cfg: Cfg, label: &str, rep: &mut Report) {
    let t0 = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child-reopen",
            eng,
            dir.to_str().unwrap(),
            &cfg.items.to_string(),
            &cfg.reopen_reads.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let to_first = t0.elapsed().as_secs_f64() * 1000.0;
    let mut rest = String::new();
    out.read_line(&mut rest).unwrap();
    child.wait().unwrap();
    rep.add(format!(
        "RESULT {eng} | {label} | spawn->first read {to_first:.0} ms ({}) | {}",
        first.trim(),
        rest.trim()
    ));
}

fn child_reopen(eng: &str, dir: &Path, items: u64, reads: u64) {
    let t0 = Instant::now();
    let e = open_engine(eng, dir);
    let open_ms = t0.elapsed().as_secs_f64() * 1000.0;
    assert!(e.get(&key_of(items / 2)).is_some());
    println!("in-process open {open_ms:.0} ms, open+first get {:.0} ms", t0.elapsed().as_secs_f64() * 1000.0);
    let _ = std::io::stdout().flush();
    let mut rng = fastrand::Rng::with_seed(7);
    let t1 = Instant::now();
    for _ in 0..reads {
        assert!(e.get(&key_of(rng.u64(0..items))).is_some());
    }
    let el = t1.elapsed().as_secs_f64();
    let (rss, hwm) = rss_kb();
    println!(
        "then {reads} random gets on 1 thread at {:.0}/s; RSS after reads {:.0} MiB (peak {:.0} MiB)",
        reads as f64 / el,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

fn child_crash(eng: &str, dir: &Path) {
    let e = open_engine(eng, dir);
    e.put_group(vec![(0, key_of(99_000_000), value_of(1))]);
    std::process::abort(); // no destructors: simulates a crash after a durable commit
}

fn child_crashwrite(eng: &str, dir: &Path) {
    let e = open_engine(eng, dir);
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut seq = 0u64;
    loop {
        // 8 logical writes (24 puts across 3 tables) per atomic batch
        let ops: Vec<Op> = (0..8).flat_map(|_| {
            seq += 1;
            triple_of(seq, seq)
        }).collect();
        e.put_atomic_buffered(ops);
    }
}

fn phase_atomicity(eng: &str, base: &Path, rep: &mut Report) {
    let dir = base.join(format!("{eng}-atomic"));
    let _ = std::fs::remove_dir_all(&dir);
    // API check in a separate dir
    let api_dir = base.join(format!("{eng}-api"));
    let _ = std::fs::remove_dir_all(&api_dir);
    let api = match eng {
        "fjall" => fj::api_check(&api_dir),
        _ => rd::api_check(&api_dir),
    };
    let _ = std::fs::remove_dir_all(&api_dir);
    rep.add(format!("RESULT {eng} | 6a API check | {api}"));

    let mut verdicts = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child-crashwrite", eng, dir.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        std::thread::sleep(Duration::from_millis(1200 + 377 * round));
        child.kill().unwrap(); // SIGKILL mid-stream
        child.wait().unwrap();
        let e = open_engine(eng, &dir);
        let c = [e.count(0), e.count(1), e.count(2)];
        let mut ok = c[0] == c[1] && c[1] == c[2] && c[0] % 8 == 0;
        // every item has its index entry and stream record with identical payload
        let n = c[0] as u64;
        for s in 1..=n {
            let t = triple_of(s, s);
            for (tb, k, v) in t {
                if e.get_in(tb, &k).as_deref() != Some(v.as_slice()) {
                    ok = false;
                }
            }
        }
        verdicts.push(format!("round {round}: items/index/stream = {c:?} {}", if ok { "consistent" } else { "INCONSISTENT" }));
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }
    rep.add(format!(
        "RESULT {eng} | 6b SIGKILL during 3-table atomic batches (8 logical writes/batch), reopen + verify | {}",
        verdicts.join("; ")
    ));
}

fn raw_fsync_baseline(base: &Path, rep: &mut Report) {
    let p = base.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(&p).unwrap();
    let buf = vec![7u8; VALUE_LEN];
    let mut lat = Vec::new();
    rep.mark();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let s = Instant::now();
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
        lat.push(s.elapsed().as_micros() as u32);
    }
    let el = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    rep.add(format!(
        "RESULT disk | 0 raw append 1 KiB + fdatasync, 1 thread | {:.0} fsyncs/s | p50 {:.2} ms, p99 {:.2} ms",
        lat.len() as f64 / el,
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    ));
    drop(f);
    let _ = std::fs::remove_file(&p);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("child-reopen") => {
            return child_reopen(&args[2], Path::new(&args[3]), args[4].parse().unwrap(), args[5].parse().unwrap())
        }
        Some("child-crash") => return child_crash(&args[2], Path::new(&args[3])),
        Some("child-crashwrite") => return child_crashwrite(&args[2], Path::new(&args[3])),
        _ => {}
    }
    let quick = args.iter().any(|a| a == "--quick");
    let engines: Vec<String> = args
        .iter()
        .position(|a| a == "--engines")
        .map(|i| args[i + 1].split(',').map(String::from).collect())
        .unwrap_or_else(|| vec!["fjall".into(), "redb".into(), "redb-qr".into()]);
    let base: PathBuf = args
        .iter()
        .position(|a| a == "--dir")
        .map(|i| PathBuf::from(&args[i + 1]))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("flywheel-storage-compare-{}", std::process::id())));
    let cfg = if quick {
        Cfg { write_secs: 2.0, max_writes: 5_000, naive_secs: 1.0, triple_secs: 1.0, items: 20_000, batch: 1000, read_secs: 1.0, scan_secs: 1.0, reopen_reads: 10_000 }
    } else {
        Cfg { write_secs: 20.0, max_writes: 100_000, naive_secs: 10.0, triple_secs: 10.0, items: 1_000_000, batch: 1000, read_secs: 5.0, scan_secs: 4.0, reopen_reads: 200_000 }
    };
    std::fs::create_dir_all(&base).unwrap();
    let mut rep = Report { lines: Vec::new(), mark: (Instant::now(), cpu_ticks()) };
    rep.add(format!("# base dir {}", base.display()));
    let t_all = Instant::now();
    raw_fsync_baseline(&base, &mut rep);
    for eng in &engines {
        let t = Instant::now();
        if eng != "redb-qr" {
            phase_writes(eng, &base, WriteMode::SyncEach, cfg.naive_secs, cfg.max_writes, &mut rep);
        }
        if eng == "fjall" {
            phase_writes(eng, &base, WriteMode::OwnCommitSharedSync, cfg.naive_secs, cfg.max_writes, &mut rep);
        }
        phase_writes(eng, &base, WriteMode::Group, cfg.write_secs, cfg.max_writes, &mut rep);
        phase_writes(eng, &base, WriteMode::GroupTriple, cfg.triple_secs, cfg.max_writes, &mut rep);
        phase_load_read_reopen(eng, &base, cfg, &mut rep);
        phase_atomicity(eng, &base, &mut rep);
        rep.add(format!("# {eng} done in {:.0}s", t.elapsed().as_secs_f64()));
    }
    rep.add(format!("# total {:.0}s", t_all.elapsed().as_secs_f64()));
    let _ = std::fs::remove_dir_all(&base);
}
