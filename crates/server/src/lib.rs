//! The HTTP shell around the engine: connections (plain or TLS), request limits,
//! authentication (SigV4 verification against a credentials file, or the permissive default)
//! and per-key policies, `X-Amz-Target` dispatch, response headers (`x-amzn-RequestId`,
//! `x-amz-crc32`) and graceful shutdown. The binary `flywheel` is a thin CLI over [`bind`].
//!
//! What it does not know: what operations mean (the engine), how JSON maps to types or which
//! tables a request touches (protocol).

pub mod admin;
pub mod allocator;
pub mod auth;
pub mod budget;
pub mod config;
pub mod credentials;
pub mod metric_families;
pub mod sigv4;
pub mod tls;
pub mod tools;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flywheel_engine::{Engine, RequestContext};
use flywheel_protocol::{ApiError, ErrorKind, CONTENT_TYPE};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE as CT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use config::Config;
use credentials::{Credentials, Principal};

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client may take no bytes of an answer before its connection is closed.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long shutdown waits for in-flight requests before closing anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How requests are authenticated.
pub enum Auth {
    /// Any well-formed SigV4 `Authorization` header or presigned query is accepted unchecked;
    /// only its credential scope's region is read. The default.
    Permissive,
    /// Signatures are verified against these keys and their policies enforced.
    Verified(Credentials),
}

/// Shared state of a running server.
pub struct Server {
    engine: Engine,
    auth: Auth,
    /// The account id in ARNs (policies' resources, AccessDeniedException's principal).
    account_id: String,
    requests: AtomicU64,
    metrics: RequestMetrics,
    /// Memory for request bodies and answers in flight (`budget.rs`).
    budget: budget::MemoryBudget,
    /// How long a client may take no bytes of an answer before its connection is closed.
    write_timeout: Duration,
}

/// The request counter and latency histogram of one operation on one table.
type Handles = (metrics::Counter, metrics::Histogram);

/// Handles of one region: by operation, then table.
type RegionHandles = HashMap<&'static str, HashMap<String, Arc<Handles>>>;

/// The `region` label of requests from a region that has no table a request addressed yet, or
/// whose region was not known (rejected before the signature's scope was read).
const REGION_LABEL_OTHER: &str = "other";

/// Handles of the per-request metrics, by region, operation and table, registered once: looking
/// a metric up in the recorder (hashing its name and labels) costs more than recording it.
#[derive(Default)]
struct RequestMetrics {
    by_region: parking_lot::RwLock<HashMap<String, RegionHandles>>,
    /// Regions named as labels: those where a request addressed an existing table. The
    /// credential scope's region is any string a client picks, so it becomes a label only once
    /// it holds a table, as a table name does; the label set stays bounded by the tables.
    labelled_regions: parking_lot::RwLock<std::collections::HashSet<String>>,
    in_flight: std::sync::OnceLock<metrics::Gauge>,
}

impl RequestMetrics {
    fn in_flight(&self) -> &metrics::Gauge {
        self.in_flight.get_or_init(|| metrics::gauge!(metric_families::REQUESTS_IN_FLIGHT.name))
    }

    /// The `region` label of a request: its region if it addressed an existing `table` there
    /// (from then on for every request in that region), else [`REGION_LABEL_OTHER`].
    fn region_label<'a>(&self, region: &'a str, table: &str) -> &'a str {
        if region.is_empty() {
            return REGION_LABEL_OTHER;
        }
        if self.labelled_regions.read().contains(region) {
            return region;
        }
        if table.is_empty() {
            return REGION_LABEL_OTHER;
        }
        self.labelled_regions.write().insert(region.to_string());
        region
    }

    fn handles(&self, region: &str, operation: &'static str, table: &str) -> Arc<Handles> {
        if let Some(h) = self.by_region.read().get(region).and_then(|o| o.get(operation)).and_then(|t| t.get(table)) {
            return h.clone();
        }
        let labels =
            [("region", region.to_string()), ("operation", operation.to_string()), ("table", table.to_string())];
        let h = Arc::new((
            metrics::counter!(metric_families::REQUESTS.name, &labels),
            metrics::histogram!(metric_families::REQUEST_DURATION.name, &labels),
        ));
        let mut map = self.by_region.write();
        map.entry(region.to_string())
            .or_default()
            .entry(operation)
            .or_default()
            .entry(table.to_string())
            .or_insert(h)
            .clone()
    }
}

/// What a request's metrics are labelled with, as far as the request got.
struct RequestLabels {
    /// The credential scope's region; empty if the request failed before it was read.
    region: String,
    operation: &'static str,
    /// The existing table the request addressed, or empty.
    table: String,
    /// The error's `__type`, if it failed.
    error: Option<&'static str>,
}

fn request_id() -> String {
    flywheel_engine::new_request_id()
}

fn response(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let crc = flywheel_protocol::crc32(&body);
    let len = body.len();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CT, HeaderValue::from_static(CONTENT_TYPE));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert("x-amz-crc32", HeaderValue::from(crc));
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn error_response(e: &ApiError) -> Response<Full<Bytes>> {
    response(e.kind.status(), e.to_json())
}

impl Server {
    pub fn new(engine: Engine, auth: Auth, account_id: String) -> Server {
        Server {
            engine,
            auth,
            account_id,
            requests: AtomicU64::new(0),
            metrics: RequestMetrics::default(),
            budget: budget::MemoryBudget::new(budget::default_budget_bytes()),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }

    /// The same server with this memory budget for bodies and answers in flight and this
    /// write timeout.
    pub fn with_limits(mut self, budget_bytes: usize, write_timeout: Duration) -> Server {
        self.budget = budget::MemoryBudget::new(budget_bytes);
        self.write_timeout = write_timeout;
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// One API request, with its golden signals: rate and errors by operation, table and
    /// `__type`, latency, and requests in flight.
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let in_flight = self.metrics.in_flight();
        in_flight.increment(1.0);
        let (response, labels) = self.handle_api(req).await;
        in_flight.decrement(1.0);
        let region = self.metrics.region_label(&labels.region, &labels.table);
        let handles = self.metrics.handles(region, labels.operation, &labels.table);
        handles.0.increment(1);
        handles.1.record(started.elapsed().as_secs_f64());
        if let Some(kind) = labels.error {
            let labels = [
                ("region", region.to_string()),
                ("operation", labels.operation.to_string()),
                ("table", labels.table),
                ("error", kind.to_string()),
            ];
            metrics::counter!(metric_families::ERRORS.name, &labels).increment(1);
        }
        response
    }

    /// The request itself; returns the response and its metric labels.
    async fn handle_api(&self, req: Request<Incoming>) -> (Response<Full<Bytes>>, RequestLabels) {
        // Failures before dispatch label no region: in verified mode the scope's region is not
        // yet proven, and such requests name no table either.
        let failed = |e: ApiError, operation: &'static str| {
            let error = Some(e.kind.short_name());
            (error_response(&e), RequestLabels { region: String::new(), operation, table: String::new(), error })
        };
        if req.method() == Method::GET && req.uri().path() == "/" {
            // DynamoDB answers a plain GET with a health line; load balancers and humans use it.
            let mut r = Response::new(Full::new(Bytes::from_static(b"healthy: flywheel")));
            r.headers_mut().insert(CT, HeaderValue::from_static("text/plain"));
            return (
                r,
                RequestLabels { region: String::new(), operation: "health", table: String::new(), error: None },
            );
        }
        let (parts, body) = req.into_parts();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let target = header("x-amz-target").unwrap_or_default().to_string();
        let host = header("host").unwrap_or("localhost").to_string();
        let signed = || sigv4::Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
        };
        // Everything about the signature that needs neither the body nor the secret is checked
        // before the body is read, so an unknown client cannot make the server read 16 MB.
        let caller = match &self.auth {
            Auth::Permissive => match auth::region(header("authorization"), parts.uri.query()) {
                Ok(region) => Caller::Anyone { region },
                Err(e) => return failed(e, "unknown"),
            },
            Auth::Verified(credentials) => {
                let parsed = match sigv4::parse(&signed(), sigv4::now_unix_seconds()) {
                    Ok(p) => p,
                    Err(e) => return failed(e, "unknown"),
                };
                match credentials.find_key(&parsed.access_key_id) {
                    Some(key) => Caller::Key { parsed, key: key.clone() },
                    None => {
                        return failed(
                            ApiError::new(ErrorKind::UnrecognizedClient, sigv4::UNKNOWN_ACCESS_KEY),
                            "unknown",
                        )
                    }
                }
            }
        };
        if parts.method != Method::POST {
            return failed(ApiError::new(ErrorKind::UnknownOperation, ""), "unknown");
        }
        let op = match flywheel_protocol::parse_target(&target) {
            Ok(op) => op,
            Err(e) => return failed(e, "unknown"),
        };
        let (body, _held) = match budget::read_body(&self.budget, &parts.headers, body).await {
            Ok(b) => b,
            Err(e) => {
                let mut answer = failed(e, op.name());
                // Whatever the client still sends is not read: end the connection.
                answer.0.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
                return answer;
            }
        };
        let mut listing_filter = None;
        let region = match caller {
            Caller::Anyone { region } => region,
            Caller::Key { parsed, key } => {
                let unsigned_payload_allowed = !flywheel_protocol::access::changes_data(op);
                if let Err(e) = parsed.verify(&signed(), &body, &key.secret_access_key, unsigned_payload_allowed) {
                    return failed(e, op.name());
                }
                let principal = Principal {
                    access_key_id: &parsed.access_key_id,
                    key: &key,
                    region: &parsed.region,
                    account_id: &self.account_id,
                };
                if let Err(e) = principal.authorize(op, &body, flywheel_engine::streams::shard_iterator_stream_arn) {
                    tracing::debug!(operation = op.name(), access_key_id = %parsed.access_key_id, "access denied");
                    return failed(e, op.name());
                }
                listing_filter = principal.listing_filter(op);
                parsed.region
            }
        };
        let mut ctx = RequestContext::new(region, host);
        ctx.listing_filter = listing_filter;
        // The engine contains a panic in the request (answering InternalServerError and logging
        // the request id), so the id it logged is the one the client gets.
        let result = self.engine.dispatch(&ctx, op, &body).await;
        let table = ctx.table.get().cloned().unwrap_or_default();
        let (mut answer, error) = match result {
            Ok(out) => (response(200, out), None),
            Err(e) => {
                tracing::debug!(operation = op.name(), error = %e, "request failed");
                (error_response(&e), Some(e.kind.short_name()))
            }
        };
        if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
            answer.headers_mut().insert("x-amzn-requestid", id);
        }
        (answer, RequestLabels { region: ctx.region, operation: op.name(), table, error })
    }
}

/// Who sent a request, as far as the headers tell before the body is read.
enum Caller {
    /// Permissive mode: only the credential scope's region is known.
    Anyone { region: String },
    /// Verified mode: a known key whose signature is still to be checked against the body.
    Key { parsed: sigv4::Parsed, key: Arc<credentials::Key> },
}

/// The API and admin listening sockets. They outlive a store that fails: [`reopen`] answers on
/// them while it reopens the store, so clients get an answer and `/readyz` says not-ready.
#[derive(Debug)]
pub struct Listeners {
    api: TcpListener,
    admin: Option<Arc<TcpListener>>,
}

impl Listeners {
    async fn bind(config: &Config) -> Result<Listeners, Box<dyn std::error::Error + Send + Sync>> {
        let api =
            TcpListener::bind(&config.listen).await.map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let admin = match config.admin_listen.as_str() {
            "off" | "" => None,
            addr => Some(Arc::new(
                TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr} (--admin-listen): {e}"))?,
            )),
        };
        Ok(Listeners { api, admin })
    }
}

/// Everything a server needs besides its listeners: opened again after a storage failure.
struct Opened {
    engine: Engine,
    auth: Auth,
    auth_mode: String,
    account_id: String,
    tls: Option<TlsAcceptor>,
    /// The memory budget for bodies and answers in flight (`--memory-budget-mb`).
    budget_bytes: usize,
}

/// A server bound to its address, ready to run.
pub struct Bound {
    listeners: Listeners,
    max_connections: usize,
    server: Arc<Server>,
    tls: Option<TlsAcceptor>,
    auth_mode: String,
}

impl Bound {
    fn new(config: &Config, opened: Opened, listeners: Listeners) -> Bound {
        Bound {
            listeners,
            max_connections: config.max_connections.max(1),
            server: Arc::new(
                Server::new(opened.engine, opened.auth, opened.account_id)
                    .with_limits(opened.budget_bytes, config.write_timeout()),
            ),
            tls: opened.tls,
            auth_mode: opened.auth_mode,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listeners.api.local_addr()
    }

    /// The admin listener's address, if it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.listeners.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Which authentication mode is active, for the start-up log line.
    pub fn auth_mode(&self) -> &str {
        &self.auth_mode
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests and makes every
    /// acknowledged write durable.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<Stopped> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        // The admin listener stops after the API connections have drained, so that /readyz
        // answers (503 once storage failed) until then.
        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
        let admin = self.listeners.admin.clone().map(|listener| {
            let metrics = admin::install_recorder();
            tokio::spawn(admin::serve(listener, self.server.clone(), metrics, admin_stop_rx))
        });
        // TTL sweeps, stream trimming and index backfills, for as long as the server runs.
        let maintenance = {
            let server = self.server.clone();
            tokio::spawn(async move { server.engine.run_maintenance().await })
        };
        // A store that can no longer make writes durable (a failed fsync, a full disk) stops the
        // server like a shutdown does; the binary then reopens the store and serves again.
        let storage_failed = {
            let server = self.server.clone();
            async move {
                while !server.engine.storage().durability().has_failed() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        let shutdown = async {
            tokio::select! {
                _ = shutdown => Why::Shutdown,
                _ = storage_failed => Why::StorageFailed,
            }
        };
        tokio::pin!(shutdown);
        let stopped;
        // At most `max_connections` connections at once: past that, accepting waits until one
        // closes (the kernel's backlog holds the rest), so a flood cannot exhaust descriptors
        // the store needs.
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        loop {
            let slot = tokio::select! {
                why = &mut shutdown => { stopped = why; break }
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            };
            tokio::select! {
                why = &mut shutdown => { stopped = why; break }
                accepted = self.listeners.api.accept() => {
                    let (stream, _) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors or similar: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let server = self.server.clone();
                    let stop = stop_rx.clone();
                    let tls = self.tls.clone();
                    connections.spawn(async move {
                        let _slot = slot;
                        match tls {
                            None => serve_connection(stream, server, stop).await,
                            Some(acceptor) => {
                                // The handshake gets the same deadline as reading request headers.
                                match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => serve_connection(stream, server, stop).await,
                                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::debug!("TLS handshake timed out"),
                                }
                            }
                        }
                    });
                    // Reap finished connection tasks so the set does not grow without bound.
                    while connections.try_join_next().is_some() {}
                }
            }
        }
        tracing::info!("shutting down: draining connections");
        let _ = stop_tx.send(true);
        let drained =
            tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("shutdown grace period over; closing remaining connections");
            connections.abort_all();
            // Aborted tasks end at their next await; one blocked inside the store (fjall stalls
            // writers while flushes are overdue) may never, so this wait is bounded too.
            let ended =
                tokio::time::timeout(HANDOVER_GRACE, async { while connections.join_next().await.is_some() {} }).await;
            if ended.is_err() {
                tracing::warn!("a connection task is blocked inside the store");
            }
        }
        maintenance.abort();
        let _ = maintenance.await;
        let _ = admin_stop_tx.send(true);
        if let Some(mut admin) = admin {
            if tokio::time::timeout(HANDOVER_GRACE, &mut admin).await.is_err() {
                admin.abort();
                let _ = admin.await;
            }
        }
        if stopped == Why::StorageFailed {
            // Nothing more can be made durable; what was acknowledged already is on disk.
            let failure = self.server.engine.storage().durability().failure_error();
            let _ = self.server.engine.close();
            tracing::error!(error = %failure, "storage failed: stopped serving so that the store can be reopened");
            // The store's directory lock is released only when the last handle on the engine
            // goes; every task that held one has ended above.
            if Arc::strong_count(&self.server) > 1 {
                tracing::warn!("a task still holds the failed store; reopening waits for it");
            }
            return Ok(Stopped::StorageFailed { listeners: self.listeners, failure });
        }
        self.server.engine.close().map_err(|e| std::io::Error::other(e.to_string()))?;
        tracing::info!(requests = self.server.requests.load(Ordering::Relaxed), "shut down cleanly");
        Ok(Stopped::Shutdown)
    }
}

/// Why [`Bound::run`] returned.
#[derive(Debug)]
pub enum Stopped {
    /// The shutdown future resolved (SIGINT/SIGTERM).
    Shutdown,
    /// The store halted (for example, the disk is full): [`reopen`] it, on the same listeners.
    StorageFailed { listeners: Listeners, failure: flywheel_storage::StorageError },
}

/// Why the accept loop of [`Bound::run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Shutdown,
    StorageFailed,
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// How long a listener's requests in flight may take to finish when the listener passes from
/// the failed server to [`reopen`]'s answers, or back.
const HANDOVER_GRACE: Duration = Duration::from_secs(2);

/// How often [`reopen`] tries to open a failed store again.
const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// After [`Stopped::StorageFailed`]: tries to reopen the store every [`REOPEN_INTERVAL`] until it
/// opens (replaying its journal), settles, and makes a probe write durable, which on a full disk
/// happens only once space returns. Meanwhile both listeners answer: every API request with the
/// InternalServerError the failure gave (SDKs retry those), `/readyz` with 503. `None` if
/// `shutdown` resolves first.
pub async fn reopen(
    config: &Config,
    listeners: Listeners,
    failure: flywheel_storage::StorageError,
    shutdown: impl std::future::Future<Output = ()>,
) -> Option<Bound> {
    let answer = flywheel_engine::storage_error(failure);
    let reopened = async {
        loop {
            match open_writable(config).await {
                Ok(opened) => return opened,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reopen the store yet; retrying in a second");
                    tokio::time::sleep(REOPEN_INTERVAL).await;
                }
            }
        }
    };
    let (reopened_tx, reopened_rx) = watch::channel(false);
    let reopened = async {
        let opened = reopened.await;
        let _ = reopened_tx.send(true);
        opened
    };
    let opened = tokio::select! {
        _ = shutdown => return None,
        (_, opened) = async { tokio::join!(serve_unavailable(config, &listeners, &answer, reopened_rx), reopened) } => opened,
    };
    tracing::info!("store reopened after the failure");
    Some(Bound::new(config, opened, listeners))
}

/// Opens the store and proves it takes durable writes.
async fn open_writable(config: &Config) -> Result<Opened, Box<dyn std::error::Error + Send + Sync>> {
    let opened = open(config)?;
    // Settling waits on the store's background work with blocking sleeps.
    let storage = opened.engine.storage().clone();
    tokio::task::spawn_blocking(move || storage.settle()).await??;
    opened.engine.check_writable().await?;
    Ok(opened)
}

/// Answers every connection until `stop` turns true: API requests with `answer`, the admin
/// listener as not ready. Each connection is closed after one answer, so clients reconnect to
/// the reopened server; those in flight at `stop` are answered first.
async fn serve_unavailable(config: &Config, listeners: &Listeners, answer: &ApiError, mut stop: watch::Receiver<bool>) {
    let (status, body) = (answer.kind.status(), Bytes::from(answer.to_json()));
    // The certificate was loaded before; a failure to load it again leaves TLS clients unanswered.
    let tls = tls_acceptor(config).ok().flatten();
    let mut connections = tokio::task::JoinSet::new();
    let admin_accept = || async {
        match &listeners.admin {
            Some(admin) => admin.accept().await,
            None => std::future::pending().await,
        }
    };
    loop {
        let (accepted, admin) = tokio::select! {
            a = listeners.api.accept() => (a, false),
            a = admin_accept() => (a, true),
            _ = crate::stopped(&mut stop) => break,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (body, tls) = (body.clone(), tls.clone());
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let r = if admin { admin::while_reopening(req.uri().path()) } else { response(status, body.to_vec()) };
                async move { Ok::<_, Infallible>(r) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.keep_alive(false).timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
            match (tls, admin) {
                (Some(acceptor), false) => {
                    if let Ok(Ok(stream)) = tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
                _ => {
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(HANDOVER_GRACE, async { while connections.join_next().await.is_some() {} }).await;
}

/// Serves HTTP/1.1 on one connection until the client closes it or shutdown is signalled.
async fn serve_connection<I>(io: I, server: Arc<Server>, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let write_timeout = server.write_timeout;
    let service = hyper::service::service_fn(move |req| {
        let server = server.clone();
        async move {
            let set_aside = match budget::reserve_answer(&server.budget, req.headers(), error_response) {
                Ok(set_aside) => set_aside,
                Err(refused) => return Ok::<_, Infallible>(budget::unbudgeted(*refused).await),
            };
            let answer = server.handle(req).await;
            Ok(budget::admit_answer(&server.budget, set_aside, answer, error_response).await)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(budget::WriteTimeout::new(io, write_timeout)), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { while !*stop.borrow_and_update() { if stop.changed().await.is_err() { break; } } } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Opens storage and the engine per `config`, loads credentials and TLS material, and binds
/// the listeners.
pub async fn bind(config: &Config) -> Result<Bound, Box<dyn std::error::Error + Send + Sync>> {
    // The listeners before the store: a port in use is the commonest start-up mistake, and it
    // should fail without creating (or locking) a data directory.
    let listeners = Listeners::bind(config).await?;
    let opened = open(config)?;
    Ok(Bound::new(config, opened, listeners))
}

/// The TLS acceptor `config` asks for, if any.
fn tls_acceptor(config: &Config) -> Result<Option<TlsAcceptor>, Box<dyn std::error::Error + Send + Sync>> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(tls::acceptor(cert, key)?)),
        (None, None) => Ok(None),
        _ => Err("--tls-cert and --tls-key go together".into()),
    }
}

/// Loads credentials and TLS material, then opens storage and the engine.
fn open(config: &Config) -> Result<Opened, Box<dyn std::error::Error + Send + Sync>> {
    // Credentials and certificates first: a typo there should fail before storage is opened.
    let (auth, auth_mode) = match &config.credentials {
        None => (Auth::Permissive, "permissive (any well-formed SigV4 accepted)".to_string()),
        Some(path) => {
            let credentials = Credentials::load(path)?;
            let keys = credentials.len();
            let mode = format!(
                "SigV4 verified against {} ({keys} access key{})",
                path.display(),
                if keys == 1 { "" } else { "s" }
            );
            (Auth::Verified(credentials), mode)
        }
    };
    let tls = tls_acceptor(config)?;
    let storage: Arc<dyn flywheel_storage::Storage> = if config.in_memory {
        Arc::new(flywheel_storage::memory::MemoryStorage::new())
    } else {
        Arc::new(flywheel_storage::disk::DiskStorage::open(&config.data_dir, config.disk_options())?)
    };
    let engine_config = config.engine_config();
    let account_id = engine_config.account_id.clone();
    let engine = Engine::open(storage, engine_config)?;
    // Checked here, with the other flags, so a budget too small for one request fails start-up.
    let budget_bytes = config.memory_budget_bytes()?;
    Ok(Opened { engine, auth, auth_mode, account_id, tls, budget_bytes })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_dynamodbs() {
        let id = request_id();
        assert_eq!(id.len(), 52);
        assert!(id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    }
}
