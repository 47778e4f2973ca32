//! Command-line and environment configuration.

use std::path::PathBuf;

use clap::Parser;

/// Flywheel: a DynamoDB-compatible database server.
#[derive(Parser, Debug, Clone)]
#[command(name = "flywheel", version, about)]
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
}
