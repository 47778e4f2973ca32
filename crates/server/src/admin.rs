//! The admin listener (default 127.0.0.1:8001): `/metrics` in Prometheus text format,
//! `/healthz`, `/readyz`, and the web console under `/console` ([`console`]). It shares nothing
//! with the DynamoDB listener but the engine, so scraping never queues behind client traffic.
//!
//! The listener is trusted: it checks no signature, and the console reads and changes every
//! table. It binds to loopback by default; bind it only where every caller is an operator.
//!
//! Request metrics (the four golden signals per operation and table) are recorded by the API
//! listener through the `metrics` facade; the storage crate records fsync timings the same way.
//! Table, index and partition numbers are read from the engine at scrape time. Every family,
//! with its help text, is listed in [`crate::metric_families`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::metric_families as family;
use crate::Server;

#[path = "console/mod.rs"]
pub mod console;

/// Latency buckets in seconds: 50 µs to 10 s.
const LATENCY_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Writes per fsync.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the process-wide Prometheus recorder (once; later calls get the same handle).
pub fn install_recorder() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(family::FSYNC_COMMITS.name.into()), BATCH_BUCKETS))
                .map(|b| b.build_recorder());
            match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    match metrics::set_global_recorder(recorder) {
                        Ok(()) => {
                            crate::metric_families::describe_all();
                            Some(handle)
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "metrics recorder already installed");
                            None
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot build the metrics recorder");
                    None
                }
            }
        })
        .clone()
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Publishes the engine's current numbers as gauges and absolute counters.
fn publish_engine_state(server: &Server) {
    let engine = server.engine();
    metrics::gauge!(family::STORAGE_DISK.name).set(engine.storage().disk_bytes() as f64);
    let durability = engine.storage().durability();
    metrics::gauge!(family::COMMITS_AWAITING_FSYNC.name)
        .set(durability.issued().saturating_sub(durability.durable()) as f64);
    publish_contained_failures(engine);
    for t in engine.table_summaries() {
        let labels = [("region", t.region.clone()), ("table", t.name.clone())];
        metrics::gauge!(family::TABLE_ITEMS.name, &labels).set(t.item_count as f64);
        metrics::gauge!(family::TABLE_SIZE.name, &labels).set(t.size_bytes as f64);
        for i in &t.indexes {
            let labels = [("region", t.region.clone()), ("table", t.name.clone()), ("index", i.name.clone())];
            metrics::gauge!(family::INDEX_ITEMS.name, &labels).set(i.item_count as f64);
            metrics::gauge!(family::INDEX_SIZE.name, &labels).set(i.size_bytes as f64);
            metrics::gauge!(family::INDEX_KEY_VIOLATIONS.name, &labels).set(i.violations as f64);
        }
        for (p, (writes, reads)) in t.partitions.iter().enumerate() {
            let labels = [("region", t.region.clone()), ("table", t.name.clone()), ("partition", format!("{p:02}"))];
            metrics::counter!(family::PARTITION_WRITES.name, &labels).absolute(*writes);
            metrics::counter!(family::PARTITION_READS.name, &labels).absolute(*reads);
        }
    }
}

/// Failures the engine contained instead of letting them spread: panicked requests, failed
/// background work, catalog entries quarantined at start-up.
fn publish_contained_failures(engine: &flywheel_engine::Engine) {
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let health = engine.health();
    metrics::counter!(family::REQUEST_PANICS.name).absolute(health.request_panics.load(relaxed));
    for (task, failures) in flywheel_engine::maintenance::TASKS.iter().zip(&health.maintenance_failures) {
        metrics::counter!(family::MAINTENANCE_FAILURES.name, "task" => *task).absolute(failures.load(relaxed));
    }
    metrics::gauge!(family::QUARANTINED_TABLES.name).set(engine.quarantined().len() as f64);
}

/// `/readyz`'s body when ready: quarantined tables do not make the server unready (every other
/// table serves), but they are named so that an operator sees them.
fn ready_text(engine: &flywheel_engine::Engine) -> String {
    let mut text = String::from("ready\n");
    for q in engine.quarantined() {
        text.push_str(&format!("quarantined table {}/{}: {}\n", q.region, q.name, q.reason));
    }
    text
}

async fn handle(server: &Server, handle: &Option<PrometheusHandle>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if console::owns(req.uri().path()) {
        return console::handle(server, req).await;
    }
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
    }
    match req.uri().path() {
        // Someone who opens the admin address in a browser wants the console.
        "/" => {
            let mut r = text(StatusCode::FOUND, "text/plain", "see /console\n");
            r.headers_mut().insert(hyper::header::LOCATION, HeaderValue::from_static("/console"));
            r
        }
        "/metrics" => match handle {
            Some(h) => {
                publish_engine_state(server);
                h.run_upkeep();
                text(StatusCode::OK, "text/plain; version=0.0.4", h.render())
            }
            None => text(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "metrics recorder unavailable\n"),
        },
        // Alive: the process answers. Ready: the store still accepts durable writes.
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" => {
            if server.engine().storage().durability().has_failed() {
                text(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "storage failed: writes cannot be made durable\n")
            } else {
                text(StatusCode::OK, "text/plain", ready_text(server.engine()))
            }
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found: try /metrics, /healthz, /readyz or /console\n"),
    }
}

/// The answer while the store is being reopened after a failure: alive, not ready.
pub fn while_reopening(path: &str) -> Response<Full<Bytes>> {
    match path {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n"),
        _ => text(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "storage failed: reopening the store\n"),
    }
}

/// Serves the admin endpoints until `stop` turns true, then answers the requests in flight and
/// returns once every connection has closed (they hold the engine, whose store must close
/// before it can be reopened; the listener is kept for whoever serves next).
pub async fn serve(
    listener: Arc<TcpListener>,
    server: Arc<Server>,
    metrics: Option<PrometheusHandle>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // Histogram samples collect between scrapes; upkeep folds them in so that memory stays
    // bounded even when nobody scrapes.
    let upkeep = metrics.clone().map(|handle| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        })
    });
    let _upkeep = AbortOnDrop(upkeep);
    let metrics = Arc::new(metrics);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = crate::stopped(&mut stop) => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (server, metrics) = (server.clone(), metrics.clone());
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (server, metrics) = (server.clone(), metrics.clone());
                async move { Ok::<_, Infallible>(handle(&server, &metrics, req).await) }
            });
            // One request per connection: then a connection accepted just before `stop` is
            // still answered, and none lingers holding the engine (probes and scrapes are rare
            // enough that reconnecting costs nothing).
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    while connections.join_next().await.is_some() {}
}

/// Aborts a background task when the admin listener stops.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}
