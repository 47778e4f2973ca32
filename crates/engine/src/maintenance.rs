//! Background work: the TTL sweeper, stream trimming and index backfills left unfinished by a
//! restart. The server runs [`Engine::run_maintenance`] on its runtime for as long as it serves.

use std::time::{Duration, Instant};

use crate::Engine;

impl Engine {
    /// Runs forever: sweeps expired items every `ttl_scan_interval` and trims stream records
    /// older than `stream_retention` (checked at a tenth of the retention, at most every minute).
    pub async fn run_maintenance(&self) {
        self.run_backfills().await;
        let ttl_every = self.config.ttl_scan_interval.max(Duration::from_millis(100));
        let trim_every = (self.config.stream_retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let tick = ttl_every.min(trim_every);
        let mut last_sweep = Instant::now();
        let mut last_trim = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = self.wake.notified() => self.run_backfills().await,
            }
            if last_sweep.elapsed() >= ttl_every {
                match self.sweep_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "ttl sweep"),
                    Err(e) => tracing::warn!(error = %e, "ttl sweep failed"),
                }
                last_sweep = Instant::now();
            }
            if last_trim.elapsed() >= trim_every {
                if let Err(e) = self.trim_streams(self.config.stream_retention).await {
                    tracing::warn!(error = %e, "stream trim failed");
                }
                if let Err(e) = self.trim_recovery_logs().await {
                    tracing::warn!(error = %e, "recovery log trim failed");
                }
                last_trim = Instant::now();
            }
        }
    }
}
