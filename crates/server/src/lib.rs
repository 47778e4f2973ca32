//! The HTTP shell around the engine: connections (plain or TLS), request limits,
//! authentication (SigV4 verification against a credentials file, or the permissive default)
//! and per-key policies, `X-Amz-Target` dispatch, response headers (`x-amzn-RequestId`,
//! `x-amz-crc32`) and graceful shutdown. The binary `flywheel` is a thin CLI over [`bind`].
//!
//! What it does not know: what operations mean (the engine), how JSON maps to types or which
//! tables a request touches (protocol).

pub mod admin;
pub mod auth;
pub mod config;
pub mod credentials;
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
use http_body_util::{BodyExt, Full, Limited};
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

/// Largest request body accepted: DynamoDB's 16 MB plus room for JSON framing.
const REQUEST_BODY_BYTES_MAX: usize = flywheel_types::limits::REQUEST_BODY_BYTES_MAX + 64 * 1024;

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client may pause while sending its request body (bytes must keep coming).
const BODY_READ_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a request body up to the size limit, giving up if the client stops sending.
async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    let mut body = Limited::new(body, REQUEST_BODY_BYTES_MAX);
    // Most bodies arrive as one frame: keep it as is, and copy only when a second one comes.
    let mut first: Option<Bytes> = None;
    let mut buffer = bytes::BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(BODY_READ_STALL_TIMEOUT, body.frame()).await {
            Err(_) => {
                return Err(ApiError::serialization("The request body could not be read: the client stopped sending"))
            }
            Ok(None) if buffer.is_empty() => return Ok(first.unwrap_or_default()),
            Ok(None) => return Ok(buffer.freeze()),
            Ok(Some(Err(e))) => {
                return Err(if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    ApiError::validation("Request size exceeded the maximum allowed size of 16777216 bytes")
                } else {
                    ApiError::serialization("The request body could not be read")
                })
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            match first.take() {
                None if buffer.is_empty() => first = Some(data),
                earlier => {
                    if let Some(earlier) = earlier {
                        buffer.extend_from_slice(&earlier);
                    }
                    buffer.extend_from_slice(&data);
                }
            }
        }
    }
}

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
}

/// The request counter and latency histogram of one operation on one table.
type Handles = (metrics::Counter, metrics::Histogram);

/// Handles of the per-request metrics, by operation and table, registered once: looking a
/// metric up in the recorder (hashing its name and labels) costs more than recording it.
#[derive(Default)]
struct RequestMetrics {
    by_operation: parking_lot::RwLock<HashMap<String, HashMap<String, Arc<Handles>>>>,
    in_flight: std::sync::OnceLock<metrics::Gauge>,
}

impl RequestMetrics {
    fn in_flight(&self) -> &metrics::Gauge {
        self.in_flight.get_or_init(|| metrics::gauge!("flywheel_requests_in_flight"))
    }

    fn handles(&self, operation: &str, table: &str) -> Arc<Handles> {
        if let Some(h) = self.by_operation.read().get(operation).and_then(|t| t.get(table)) {
            return h.clone();
        }
        let labels = [("operation", operation.to_string()), ("table", table.to_string())];
        let h = Arc::new((
            metrics::counter!("flywheel_requests_total", &labels),
            metrics::histogram!("flywheel_request_duration_seconds", &labels),
        ));
        let mut map = self.by_operation.write();
        map.entry(operation.to_string()).or_default().entry(table.to_string()).or_insert(h).clone()
    }
}

fn request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let bytes: [u8; 52] = std::array::from_fn(|_| rand::random::<u8>());
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
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
        Server { engine, auth, account_id, requests: AtomicU64::new(0), metrics: RequestMetrics::default() }
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
        let (response, operation, table, error) = self.handle_api(req).await;
        in_flight.decrement(1.0);
        let handles = self.metrics.handles(operation, &table);
        handles.0.increment(1);
        handles.1.record(started.elapsed().as_secs_f64());
        if let Some(kind) = error {
            let labels = [("operation", operation.to_string()), ("table", table), ("error", kind.to_string())];
            metrics::counter!("flywheel_errors_total", &labels).increment(1);
        }
        response
    }

    /// The request itself; returns the response and its metric labels.
    async fn handle_api(
        &self,
        req: Request<Incoming>,
    ) -> (Response<Full<Bytes>>, &'static str, String, Option<&'static str>) {
        let failed = |e: ApiError, op: &'static str| (error_response(&e), op, String::new(), Some(e.kind.short_name()));
        if req.method() == Method::GET && req.uri().path() == "/" {
            // DynamoDB answers a plain GET with a health line; load balancers and humans use it.
            let mut r = Response::new(Full::new(Bytes::from_static(b"healthy: flywheel")));
            r.headers_mut().insert(CT, HeaderValue::from_static("text/plain"));
            return (r, "health", String::new(), None);
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
                    Some(key) => Caller::Key { parsed, key },
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
        let body = match read_body(body).await {
            Ok(b) => b,
            Err(e) => {
                let mut answer = failed(e, op.name());
                // Whatever the client still sends is not read: end the connection.
                answer.0.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
                return answer;
            }
        };
        let region = match caller {
            Caller::Anyone { region } => region,
            Caller::Key { parsed, key } => {
                if let Err(e) = parsed.verify(&signed(), &body, &key.secret_access_key) {
                    return failed(e, op.name());
                }
                let principal = Principal {
                    access_key_id: &parsed.access_key_id,
                    key,
                    region: &parsed.region,
                    account_id: &self.account_id,
                };
                if let Err(e) = principal.authorize(op, &body) {
                    tracing::debug!(operation = op.name(), access_key_id = %parsed.access_key_id, "access denied");
                    return failed(e, op.name());
                }
                parsed.region
            }
        };
        let ctx = RequestContext::new(region, host);
        let result = self.engine.dispatch(&ctx, op, &body).await;
        let table = ctx.table.get().cloned().unwrap_or_default();
        match result {
            Ok(out) => (response(200, out), op.name(), table, None),
            Err(e) => {
                tracing::debug!(operation = op.name(), error = %e, "request failed");
                (error_response(&e), op.name(), table, Some(e.kind.short_name()))
            }
        }
    }
}

/// Who sent a request, as far as the headers tell before the body is read.
enum Caller<'a> {
    /// Permissive mode: only the credential scope's region is known.
    Anyone { region: String },
    /// Verified mode: a known key whose signature is still to be checked against the body.
    Key { parsed: sigv4::Parsed, key: &'a credentials::Key },
}

/// A server bound to its address, ready to run.
pub struct Bound {
    listener: TcpListener,
    max_connections: usize,
    admin: Option<TcpListener>,
    server: Arc<Server>,
    tls: Option<TlsAcceptor>,
    auth_mode: String,
}

impl Bound {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, if it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
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
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<Stopped> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        let admin = self.admin.take().map(|listener| {
            let metrics = admin::install_recorder();
            tokio::spawn(admin::serve(listener, self.server.clone(), metrics))
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
                _ = shutdown => Stopped::Shutdown,
                _ = storage_failed => Stopped::StorageFailed,
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
                accepted = self.listener.accept() => {
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
        }
        maintenance.abort();
        let _ = maintenance.await;
        if let Some(admin) = admin {
            admin.abort();
        }
        if stopped == Stopped::StorageFailed {
            // Nothing more can be made durable; what was acknowledged already is on disk.
            let _ = self.server.engine.close();
            tracing::error!("storage failed: stopped serving so that the store can be reopened");
            return Ok(stopped);
        }
        self.server.engine.close().map_err(|e| std::io::Error::other(e.to_string()))?;
        tracing::info!(requests = self.server.requests.load(Ordering::Relaxed), "shut down cleanly");
        Ok(stopped)
    }
}

/// Why [`Bound::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The shutdown future resolved (SIGINT/SIGTERM).
    Shutdown,
    /// The store refused to make writes durable (for example, the disk is full): reopen it.
    StorageFailed,
}

/// Serves HTTP/1.1 on one connection until the client closes it or shutdown is signalled.
async fn serve_connection<I>(io: I, server: Arc<Server>, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(server.handle(req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(io), service);
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
/// the listener.
pub async fn bind(config: &Config) -> Result<Bound, Box<dyn std::error::Error + Send + Sync>> {
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
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    // The listeners before the store: a port in use is the commonest start-up mistake, and it
    // should fail without creating (or locking) a data directory.
    let listener =
        TcpListener::bind(&config.listen).await.map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let admin = match config.admin_listen.as_str() {
        "off" | "" => None,
        addr => {
            Some(TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr} (--admin-listen): {e}"))?)
        }
    };
    let storage: Arc<dyn flywheel_storage::Storage> = if config.in_memory {
        Arc::new(flywheel_storage::memory::MemoryStorage::new())
    } else {
        Arc::new(flywheel_storage::disk::DiskStorage::open(&config.data_dir, config.disk_options())?)
    };
    let engine_config = config.engine_config();
    let account_id = engine_config.account_id.clone();
    let engine = Engine::open(storage, engine_config)?;
    let max_connections = config.max_connections.max(1);
    Ok(Bound {
        listener,
        max_connections,
        admin,
        server: Arc::new(Server::new(engine, auth, account_id)),
        tls,
        auth_mode,
    })
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
