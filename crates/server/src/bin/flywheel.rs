//! `flywheel`: serve the DynamoDB API.

use clap::Parser;
use flywheel_server::{bind, reopen, shutdown_signal, Config, Stopped};

/// mimalloc instead of glibc's malloc: requests allocate and free many short-lived buffers of
/// about an item's size, which glibc serves from its slower bins (`_int_malloc` and
/// `malloc_consolidate` and their kin were about 13% of a durable PutItem profile). See docs/benchmarks.md.
/// Blocks of 128 KiB and more are mapped directly, so memory goes back to the system when a
/// burst of large requests ends (`allocator.rs`).
#[global_allocator]
static GLOBAL: flywheel_server::allocator::Allocator = flywheel_server::allocator::Allocator;

fn main() -> std::process::ExitCode {
    // `flywheel backup|restore|export|import …`: offline tools with their own command line.
    if let Some(code) = flywheel_server::tools::run_if_requested() {
        return code;
    }
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; plain text in a log file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("flywheel-worker").build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flywheel: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        // After a storage failure, the next server comes from `reopen`, on the same listeners.
        let mut reopened = None;
        loop {
            let bound = match reopened.take() {
                Some(b) => b,
                None => match bind(&config).await {
                    Ok(b) => b,
                    // One plain line on stderr, whatever the log filter: the reason it did not start.
                    Err(e) => {
                        eprintln!("flywheel: cannot start: {e}");
                        return std::process::ExitCode::FAILURE;
                    }
                },
            };
            let addr = bound.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let api = format!("{}://{addr}", bound.scheme());
            // The console is served over plain HTTP on the admin listener.
            let console = bound.admin_addr().map_or_else(|| "off".to_string(), |a| format!("http://{a}/console"));
            let storage =
                if config.in_memory { "in-memory".to_string() } else { config.data_dir.display().to_string() };
            tracing::info!(
                api = %api,
                console = %console,
                storage = %storage,
                auth = bound.auth_mode(),
                "flywheel ready"
            );
            match bound.run(&mut shutdown).await {
                Ok(Stopped::Shutdown) => return std::process::ExitCode::SUCCESS,
                Ok(Stopped::StorageFailed { listeners, failure }) => {
                    match reopen(&config, listeners, failure, &mut shutdown).await {
                        Some(b) => reopened = Some(b),
                        None => return std::process::ExitCode::FAILURE,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "shutdown failed");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
    })
}
