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

    /// Seconds between the TTL sweeper's passes over tables with time to live enabled.
    /// DynamoDB deletes expired items "within a few days"; an hour keeps the sweeper cheap while
    /// still expiring sooner. Tests use about a second.
    #[arg(long, env = "FLYWHEEL_TTL_SCAN_INTERVAL", default_value_t = 3600.0)]
    pub ttl_scan_interval: f64,

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
}

impl Config {
    /// The disk store's settings this configuration asks for.
    pub fn disk_options(&self) -> flywheel_storage::disk::DiskOptions {
        let mib = 1024 * 1024;
        flywheel_storage::disk::DiskOptions::new(self.cache_mb * mib, self.memtable_mb * mib)
    }

    /// The engine settings this configuration asks for.
    pub fn engine_config(&self) -> flywheel_engine::EngineConfig {
        let seconds = |s: f64| std::time::Duration::from_secs_f64(if s.is_finite() { s.max(0.001) } else { 3600.0 });
        flywheel_engine::EngineConfig {
            ttl_scan_interval: seconds(self.ttl_scan_interval),
            stream_retention: seconds(self.stream_retention),
            tables_per_region_max: self.tables_per_region_max,
            ..flywheel_engine::EngineConfig::default()
        }
    }
}
