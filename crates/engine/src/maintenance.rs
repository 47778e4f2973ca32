//! Background work: index backfills (woken at once when UpdateTable adds an index or
//! UpdateTimeToLive enables TTL, and resumed after a restart), the TTL sweeper, stream trimming
//! and recovery-log trimming. The server runs [`Engine::run_maintenance`] on its runtime for as
//! long as it serves.
//!
//! Each unit of work — one index's backfill, one table's expiry-index backfill, TTL sweep or
//! trimming — runs isolated: an error or a panic in it is logged, counted in [`crate::Health`] (the admin
//! listener's `/metrics`), and the unit is retried after an exponential backoff, while every
//! other unit carries on. One bad item can therefore stall at most its own unit, never the loop.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flywheel_protocol::ApiError;

use crate::catalog::TableRef;
use crate::indexes::Index;
use crate::Engine;

/// The kinds of background work, as `/metrics` labels them (`task`).
pub const TASKS: [&str; 5] = ["backfill", "ttl", "stream_trim", "recovery_log_trim", "ttl_backfill"];

/// First wait before retrying a failed unit; doubled after each further failure.
const RETRY_BACKOFF_MIN: Duration = Duration::from_secs(1);

/// Longest wait between retries of a unit that keeps failing.
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// One unit of background work: what is retried, and backed off, on its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Unit {
    /// Building one index: table id and index name.
    Backfill(String, String),
    /// Sweeping one table's expired items: table id.
    Sweep(String),
    /// Trimming one table's stream records: table id.
    StreamTrim(String),
    /// Trimming one table's recovery log: table id.
    RecoveryLogTrim(String),
    /// Building one table's expiry index after TTL was enabled: table id.
    ExpiryBackfill(String),
}

impl Unit {
    /// Index into [`TASKS`].
    fn task(&self) -> usize {
        match self {
            Unit::Backfill(..) => 0,
            Unit::Sweep(_) => 1,
            Unit::StreamTrim(_) => 2,
            Unit::RecoveryLogTrim(_) => 3,
            Unit::ExpiryBackfill(_) => 4,
        }
    }
}

/// Failing units and when each may run again.
#[derive(Default)]
struct Backoff {
    failing: HashMap<Unit, (u32, Instant)>,
}

impl Backoff {
    fn ready(&self, unit: &Unit, now: Instant) -> bool {
        self.failing.get(unit).is_none_or(|(_, next)| *next <= now)
    }

    /// Records a failure; returns how long the unit now waits.
    fn failed(&mut self, unit: &Unit, now: Instant) -> Duration {
        let failures = self.failing.get(unit).map_or(0, |(n, _)| *n) + 1;
        let wait = RETRY_BACKOFF_MIN.saturating_mul(1 << (failures - 1).min(16)).min(RETRY_BACKOFF_MAX);
        self.failing.insert(unit.clone(), (failures, now + wait));
        wait
    }

    fn succeeded(&mut self, unit: &Unit) {
        self.failing.remove(unit);
    }

    /// The earliest moment a failing unit may run again.
    fn next_retry(&self) -> Option<Instant> {
        self.failing.values().map(|(_, next)| *next).min()
    }
}

impl Engine {
    /// Runs forever: backfills waiting indexes, sweeps expired items every `ttl_scan_interval`
    /// and trims stream records older than `stream_retention` (checked at a tenth of the
    /// retention, at most every minute), each unit isolated from the others.
    pub async fn run_maintenance(&self) {
        let ttl_every = self.config.ttl_scan_interval.max(Duration::from_millis(100));
        let trim_every = (self.config.stream_retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let tick = ttl_every.min(trim_every);
        let mut backoff = Backoff::default();
        let mut last_sweep = Instant::now();
        let mut last_trim = Instant::now();
        loop {
            self.run_backfills(&mut backoff).await;
            if last_sweep.elapsed() >= ttl_every {
                let tables: Vec<TableRef> = self.tables.read().values().cloned().collect();
                for table in tables.iter().filter(|t| t.expiry.read().is_some()) {
                    let unit = Unit::Sweep(table.meta.read().id.clone());
                    self.attempt(&mut backoff, unit, async {
                        match self.sweep_table(table).await? {
                            0 => {}
                            n => tracing::info!(table = %table.meta.read().name, deleted = n, "ttl sweep"),
                        }
                        Ok(())
                    })
                    .await;
                }
                last_sweep = Instant::now();
            }
            if last_trim.elapsed() >= trim_every {
                for table in self.stream_tables() {
                    let unit = Unit::StreamTrim(table.meta.read().id.clone());
                    self.attempt(&mut backoff, unit, self.trim_table_streams(&table, self.config.stream_retention))
                        .await;
                }
                let tables: Vec<TableRef> = self.tables.read().values().cloned().collect();
                for table in tables.iter().filter(|t| t.pitr.read().is_some()) {
                    let unit = Unit::RecoveryLogTrim(table.meta.read().id.clone());
                    self.attempt(&mut backoff, unit, self.trim_recovery_log(table)).await;
                }
                last_trim = Instant::now();
            }
            let mut sleep = tick;
            if let Some(at) = backoff.next_retry() {
                sleep = sleep.min(at.saturating_duration_since(Instant::now())).max(Duration::from_millis(10));
            }
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Builds every index still marked inactive, and every expiry index not yet built, one after
    /// another; one whose backfill failed waits out its backoff while the others proceed.
    async fn run_backfills(&self, backoff: &mut Backoff) {
        let tables: Vec<TableRef> = self.tables.read().values().cloned().collect();
        for table in tables {
            let pending: Vec<Arc<Index>> = table.indexes.read().iter().filter(|i| !i.is_active()).cloned().collect();
            for index in pending {
                let unit = Unit::Backfill(table.meta.read().id.clone(), index.name.clone());
                self.attempt(backoff, unit, async {
                    match self.backfill(&table, &index).await? {
                        true => tracing::info!(
                            index = %index.name,
                            items = index.item_count(),
                            violations = index.violations.load(Ordering::Relaxed),
                            "index backfilled"
                        ),
                        false => tracing::info!(index = %index.name, "backfill abandoned: index or table deleted"),
                    }
                    Ok(())
                })
                .await;
            }
            let expiry = table.expiry.read().clone().filter(|e| !e.built.load(Ordering::Acquire));
            if let Some(expiry) = expiry {
                let unit = Unit::ExpiryBackfill(table.meta.read().id.clone());
                self.attempt(backoff, unit, async {
                    if self.backfill_expiry(&table, &expiry).await? {
                        tracing::info!(table = %table.meta.read().name, "expiry index built");
                    }
                    Ok(())
                })
                .await;
            }
        }
    }

    /// Runs one unit unless it is backing off; contains its errors and panics.
    async fn attempt(&self, backoff: &mut Backoff, unit: Unit, work: impl Future<Output = Result<(), ApiError>>) {
        if !backoff.ready(&unit, Instant::now()) {
            return;
        }
        let error = match crate::unwind::catch_unwind(work).await {
            Ok(Ok(())) => return backoff.succeeded(&unit),
            Ok(Err(e)) => e.to_string(),
            Err(panic) => format!("panicked: {panic}"),
        };
        self.health.maintenance_failures[unit.task()].fetch_add(1, Ordering::Relaxed);
        let retry_in = backoff.failed(&unit, Instant::now());
        tracing::error!(task = TASKS[unit.task()], ?unit, %error, ?retry_in, "background work failed; will retry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_units_back_off_exponentially_and_alone() {
        let mut backoff = Backoff::default();
        let now = Instant::now();
        let bad = Unit::Sweep("t1".into());
        let good = Unit::Sweep("t2".into());
        assert!(backoff.ready(&bad, now));
        assert_eq!(backoff.failed(&bad, now), Duration::from_secs(1));
        assert_eq!(backoff.failed(&bad, now), Duration::from_secs(2));
        assert_eq!(backoff.failed(&bad, now), Duration::from_secs(4));
        assert!(!backoff.ready(&bad, now + Duration::from_secs(3)));
        assert!(backoff.ready(&bad, now + Duration::from_secs(4)));
        assert!(backoff.ready(&good, now), "another unit is not held back");
        assert_eq!(backoff.next_retry(), Some(now + Duration::from_secs(4)));
        for _ in 0..40 {
            backoff.failed(&bad, now);
        }
        assert_eq!(backoff.failing[&bad].1, now + RETRY_BACKOFF_MAX);
        backoff.succeeded(&bad);
        assert!(backoff.ready(&bad, now) && backoff.next_retry().is_none());
    }

    #[tokio::test]
    async fn a_panicking_unit_is_counted_backed_off_and_others_still_run() {
        let storage = std::sync::Arc::new(flywheel_storage::memory::MemoryStorage::new());
        let engine = Engine::open(storage, crate::EngineConfig::default()).unwrap();
        let mut backoff = Backoff::default();
        engine.attempt(&mut backoff, Unit::StreamTrim("t".into()), async { panic!("corrupt record") }).await;
        engine.attempt(&mut backoff, Unit::Sweep("t".into()), async { Err(ApiError::internal()) }).await;
        let failures = |task: usize| engine.health.maintenance_failures[task].load(Ordering::Relaxed);
        assert_eq!((failures(1), failures(2)), (1, 1));
        // Backing off: not run again at once.
        let mut ran = false;
        engine
            .attempt(&mut backoff, Unit::StreamTrim("t".into()), async {
                ran = true;
                Ok(())
            })
            .await;
        assert!(!ran);
        // The same kind of work on another table is unaffected.
        engine
            .attempt(&mut backoff, Unit::StreamTrim("u".into()), async {
                ran = true;
                Ok(())
            })
            .await;
        assert!(ran);
    }
}
