//! Command-line and environment configuration.

use std::path::PathBuf;

use clap::Parser;

/// What `flywheel --version` prints: the crate's version and the git commit it was built from
/// (recorded by build.rs; "unknown" outside a git checkout).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("FLYWHEEL_GIT_COMMIT"), ")");

/// Flywheel: a DynamoDB-compatible database server.
///
/// Serves the DynamoDB API over HTTP so that applications written for Amazon DynamoDB (the AWS
/// CLI, boto3, the AWS SDKs) work unchanged: point their endpoint URL at the --listen address.
/// Data is stored durably under --data-dir, or only in memory with --in-memory. The web console
/// and Prometheus metrics are on the admin listener (--admin-listen).
#[derive(Parser, Debug, Clone)]
#[command(name = "flywheel", version = VERSION, after_help = crate::tools::TOOLS_HELP)]
pub struct Config {
    /// Address to serve the DynamoDB API on.
    #[arg(long, env = "FLYWHEEL_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,

    /// Directory for durable data.
    #[arg(long, env = "FLYWHEEL_DATA_DIR", default_value = "./flywheel-data")]
    pub data_dir: PathBuf,

    /// Keep everything in memory (nothing is written to disk; data is lost on exit).
    #[arg(long, env = "FLYWHEEL_IN_MEMORY")]
    pub in_memory: bool,

    /// Log filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, env = "FLYWHEEL_LOG", default_value = "info")]
    pub log_level: String,

    /// JSON file of access keys, their secrets and optional policies. With it every request's
    /// SigV4 signature is verified; without it any well-formed signature is accepted.
    #[arg(long, env = "FLYWHEEL_CREDENTIALS")]
    pub credentials: Option<PathBuf>,

    /// PEM certificate chain (leaf first) to serve HTTPS with; needs --tls-key.
    #[arg(long, env = "FLYWHEEL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "FLYWHEEL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Most client connections served at once; further ones wait in the listen backlog.
    #[arg(long, env = "FLYWHEEL_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Address of the admin listener (`/metrics`, `/healthz`, `/readyz`, `/console`), or `off`.
    #[arg(long, env = "FLYWHEEL_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    pub admin_listen: String,

    /// Seconds between the TTL sweeper's passes over tables with time to live enabled. A pass
    /// reads only the expiry index's entries due by now, so it is cheap when nothing expires:
    /// expired items go within about this long (DynamoDB: within a few days).
    #[arg(long, env = "FLYWHEEL_TTL_SCAN_INTERVAL", default_value_t = 1.0)]
    pub ttl_scan_interval: f64,

    /// Share one table namespace among all regions (like DynamoDB Local's -sharedDb): a table
    /// created with any region is seen with every region (ARNs name us-east-1). Without it,
    /// tables are per region, as in DynamoDB.
    #[arg(long, env = "FLYWHEEL_SINGLE_REGION")]
    pub single_region: bool,

    /// Most tables per region (DynamoDB's default quota is 2,500).
    #[arg(long, env = "FLYWHEEL_TABLES_PER_REGION_MAX", default_value_t = flywheel_types::limits::TABLES_PER_REGION_DEFAULT)]
    pub tables_per_region_max: usize,

    /// Seconds a stream record stays readable (DynamoDB Streams keeps records 24 hours).
    #[arg(long, env = "FLYWHEEL_STREAM_RETENTION", default_value_t = 86_400.0)]
    pub stream_retention: f64,

    /// MiB of the disk store's block cache (recently read data blocks, shared by all tables).
    #[arg(long, env = "FLYWHEEL_CACHE_MB", default_value_t = 32)]
    pub cache_mb: u64,

    /// MiB of writes one tree (a table, an index, a stream) buffers in memory before flushing
    /// them to disk. Larger means fewer flushes, each of which briefly holds up writes; the
    /// journal is kept at four times this, which bounds all buffered writes together.
    #[arg(long, env = "FLYWHEEL_MEMTABLE_MB", default_value_t = 64)]
    pub memtable_mb: u64,

    /// MiB of request bodies and answers the server holds in flight at once, across all
    /// connections; past it, requests get a 503 that SDKs retry. 0 (the default) is an eighth
    /// of physical memory, between 33 MiB and 1 GiB.
    #[arg(long, env = "FLYWHEEL_MEMORY_BUDGET_MB", default_value_t = 0)]
    pub memory_budget_mb: u64,

    /// Seconds a client may take no bytes of an answer before its connection is closed.
    #[arg(long, env = "FLYWHEEL_WRITE_TIMEOUT", default_value_t = 30.0)]
    pub write_timeout: f64,
}

impl Config {
    /// The disk store's settings this configuration asks for.
    pub fn disk_options(&self) -> flywheel_storage::disk::DiskOptions {
        let mib = 1024 * 1024;
        flywheel_storage::disk::DiskOptions::new(self.cache_mb * mib, self.memtable_mb * mib)
    }

    /// The memory budget for bodies and answers in flight, in bytes.
    pub fn memory_budget_bytes(&self) -> Result<usize, String> {
        if self.memory_budget_mb == 0 {
            return Ok(crate::budget::default_budget_bytes());
        }
        let bytes = usize::try_from(self.memory_budget_mb).ok().and_then(|mb| mb.checked_mul(1024 * 1024));
        match bytes {
            Some(b) if b >= crate::budget::BUDGET_BYTES_MIN => Ok(b),
            _ => Err(format!(
                "--memory-budget-mb must be at least {} (one largest request and its answer)",
                crate::budget::BUDGET_BYTES_MIN.div_ceil(1024 * 1024)
            )),
        }
    }

    /// How long a client may take no bytes of an answer.
    pub fn write_timeout(&self) -> std::time::Duration {
        let s = self.write_timeout;
        std::time::Duration::from_secs_f64(if s.is_finite() { s.clamp(0.001, 86_400.0) } else { 30.0 })
    }

    /// The engine settings this configuration asks for.
    pub fn engine_config(&self) -> flywheel_engine::EngineConfig {
        let seconds = |s: f64| std::time::Duration::from_secs_f64(if s.is_finite() { s.max(0.001) } else { 3600.0 });
        flywheel_engine::EngineConfig {
            ttl_scan_interval: seconds(self.ttl_scan_interval),
            stream_retention: seconds(self.stream_retention),
            tables_per_region_max: self.tables_per_region_max,
            single_region: self.single_region,
            ..flywheel_engine::EngineConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_budget_holds_at_least_one_largest_request_and_answer() {
        let parse = |args: &[&str]| Config::parse_from(std::iter::once("flywheel").chain(args.iter().copied()));
        assert_eq!(parse(&[]).memory_budget_bytes(), Ok(crate::budget::default_budget_bytes()));
        assert_eq!(parse(&["--memory-budget-mb", "96"]).memory_budget_bytes(), Ok(96 << 20));
        let e = parse(&["--memory-budget-mb", "8"]).memory_budget_bytes().unwrap_err();
        assert!(e.contains("at least 33"), "{e}");
        assert_eq!(parse(&["--write-timeout", "2"]).write_timeout(), std::time::Duration::from_secs(2));
    }
}
