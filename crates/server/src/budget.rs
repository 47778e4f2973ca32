//! Bounded memory for what the server holds on behalf of clients: one budget of bytes shared by
//! every request body being read or served and every answer not yet written, and a deadline on
//! writing answers.
//!
//! A request body is admitted before it is read (by its `Content-Length`, or frame by frame
//! while a chunked body streams in) and keeps its share until the request is answered. An answer
//! is admitted once built and keeps its share until the client has taken its last byte (or the
//! connection is gone). When the budget cannot take a body or an answer, the client gets a 503
//! `ServiceUnavailableException`, which every AWS SDK retries with back-off. A connection whose
//! client takes no bytes of an answer for the write timeout is closed, so clients that never
//! read cannot hold memory for longer than that.
//!
//! What is not counted: the transient memory an operation uses while it builds an answer (the
//! largest, BatchGetItem, is capped at 16 MB by DynamoDB's own limit), and headers (capped by
//! hyper's header limits and the connection cap).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use flywheel_protocol::{ApiError, ErrorKind, Operation};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::CONTENT_LENGTH;
use hyper::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest request body accepted: DynamoDB's 16 MB plus room for JSON framing.
pub const REQUEST_BODY_BYTES_MAX: usize = flywheel_types::limits::REQUEST_BODY_BYTES_MAX + 64 * 1024;

/// How long a client may pause while sending its request body (bytes must keep coming).
pub const BODY_READ_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The message of the 503 answered when the budget is full.
pub const OVERLOADED: &str =
    "The server is holding as much request and response data as its memory budget allows. Retry the request.";

/// The smallest budget: one largest request body and its answer must fit.
pub const BUDGET_BYTES_MIN: usize = 2 * REQUEST_BODY_BYTES_MAX;

/// The default budget: an eighth of physical memory, at least [`BUDGET_BYTES_MIN`] and at most
/// 1 GiB (64 largest bodies at once is more than a server this size can use well).
pub fn default_budget_bytes() -> usize {
    let physical = physical_memory_bytes().unwrap_or(8 << 30);
    (physical / 8).clamp(BUDGET_BYTES_MIN, 1 << 30)
}

/// `MemTotal` of `/proc/meminfo`, where there is one.
fn physical_memory_bytes() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The shared budget. Cloning shares it.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    capacity_bytes: usize,
    used_bytes: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(capacity_bytes: usize) -> MemoryBudget {
        MemoryBudget { inner: Arc::new(Inner { capacity_bytes, used_bytes: AtomicUsize::new(0) }) }
    }

    pub fn capacity_bytes(&self) -> usize {
        self.inner.capacity_bytes
    }

    /// Bytes currently held.
    pub fn used_bytes(&self) -> usize {
        self.inner.used_bytes.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the budget if they fit, for as long as the reservation lives.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let mut reservation = Reservation { inner: self.inner.clone(), bytes: 0 };
        reservation.try_grow(bytes).then_some(reservation)
    }
}

/// A share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    inner: Arc<Inner>,
    bytes: usize,
}

impl Reservation {
    /// Adds `bytes` to this reservation if they fit.
    fn try_grow(&mut self, bytes: usize) -> bool {
        let grown = self.inner.used_bytes.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(bytes).filter(|total| *total <= self.inner.capacity_bytes)
        });
        if grown.is_ok() {
            self.bytes += bytes;
        }
        grown.is_ok()
    }
}

impl Reservation {
    /// Gives back all but `bytes` of this reservation.
    fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.inner.used_bytes.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.inner.used_bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

fn overloaded() -> ApiError {
    ApiError::new(ErrorKind::ServiceUnavailable, OVERLOADED)
}

fn too_large() -> ApiError {
    ApiError::validation("Request size exceeded the maximum allowed size of 16777216 bytes")
}

/// Reads a request body within the size limit and the budget, giving up if the client stops
/// sending. The reservation covers the body's bytes; keep it as long as the body.
pub async fn read_body(
    budget: &MemoryBudget,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<(Bytes, Reservation), ApiError> {
    // Admitted by its declared length before a byte is read; hyper holds the client to it.
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > REQUEST_BODY_BYTES_MAX) {
        return Err(too_large());
    }
    let mut reservation = budget.try_reserve(declared.unwrap_or(0)).ok_or_else(overloaded)?;
    let mut body = Limited::new(body, REQUEST_BODY_BYTES_MAX);
    // Most bodies arrive as one frame: keep it as is, and copy only when a second one comes.
    let mut first: Option<Bytes> = None;
    let mut buffer = bytes::BytesMut::new();
    let mut received = 0usize;
    loop {
        let frame = match tokio::time::timeout(BODY_READ_STALL_TIMEOUT, body.frame()).await {
            Err(_) => {
                return Err(ApiError::serialization("The request body could not be read: the client stopped sending"))
            }
            Ok(None) if buffer.is_empty() => return Ok((first.unwrap_or_default(), reservation)),
            Ok(None) => return Ok((buffer.freeze(), reservation)),
            Ok(Some(Err(e))) => {
                return Err(if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    too_large()
                } else {
                    ApiError::serialization("The request body could not be read")
                })
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            received += data.len();
            // A body without a declared length is admitted as it arrives (a copy into one
            // buffer may briefly need twice the bytes; it is counted once, like the rest).
            if received > declared.unwrap_or(0) && !reservation.try_grow(received - reservation.bytes) {
                return Err(overloaded());
            }
            match first.take() {
                None if buffer.is_empty() => first = Some(data),
                earlier => {
                    if let Some(earlier) = earlier {
                        // One allocation of the declared size, rather than doublings that
                        // briefly hold the old copy too.
                        buffer.reserve(declared.unwrap_or(0).max(earlier.len() + data.len()));
                        buffer.extend_from_slice(&earlier);
                    }
                    buffer.extend_from_slice(&data);
                }
            }
        }
    }
}

/// An answer's body that holds its share of the budget until its last byte has been handed to
/// the connection (or the connection drops it). It is handed over in slices, so that the share
/// is given back about when the memory is: hyper asks for the next slice once it has room.
pub struct BudgetedBody {
    data: Bytes,
    _reservation: Option<Reservation>,
}

/// How much of an answer is handed to the connection at a time.
const SLICE_BYTES: usize = 256 * 1024;

impl Body for BudgetedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.data.is_empty() {
            self._reservation = None;
            return Poll::Ready(None);
        }
        let n = self.data.len().min(SLICE_BYTES);
        let slice = self.data.split_to(n);
        Poll::Ready(Some(Ok(Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

/// What an answer may grow to before it is built, for the operations whose answers can be far
/// larger than their requests: BatchGetItem stops at 16 MB of items (DynamoDB's limit), and
/// TransactGetItems at 4 MB; their JSON adds type wrappers and quotes, a quarter more at most
/// for items of any size worth counting. Every other answer is admitted once built (a page of
/// Query, Scan or GetRecords is 1 MB of items).
fn answer_bytes_max(op: Operation) -> usize {
    match op {
        Operation::BatchGetItem => flywheel_types::limits::REQUEST_BODY_BYTES_MAX / 4 * 5,
        Operation::TransactGetItems => 5 * 1024 * 1024,
        _ => 0,
    }
}

/// Before a request is served: reserves the room its answer may need, so that a flood of large
/// reads is refused up front instead of building answers that cannot be held. `Err` is the
/// 503 to send instead (the request body is not read, so the connection is closed).
pub fn reserve_answer(
    budget: &MemoryBudget,
    headers: &HeaderMap,
    error_answer: impl FnOnce(&ApiError) -> hyper::Response<Full<Bytes>>,
) -> Result<Option<Reservation>, Box<hyper::Response<Full<Bytes>>>> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Ok(op) = flywheel_protocol::parse_target(target) else { return Ok(None) };
    let bytes = answer_bytes_max(op);
    if bytes == 0 {
        return Ok(None);
    }
    budget.try_reserve(bytes).map(Some).ok_or_else(|| {
        let mut answer = error_answer(&overloaded());
        answer.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
        Box::new(answer)
    })
}

/// Admits an answer against the budget, within what [`reserve_answer`] set aside for it if
/// anything: the answer itself if it fits, else the 503 built by `error_answer`.
pub async fn admit_answer(
    budget: &MemoryBudget,
    set_aside: Option<Reservation>,
    response: hyper::Response<Full<Bytes>>,
    error_answer: impl FnOnce(&ApiError) -> hyper::Response<Full<Bytes>>,
) -> hyper::Response<BudgetedBody> {
    let (parts, body) = response.into_parts();
    // A `Full` body is ready at once; collecting it takes its bytes without copying.
    let data = bytes_of(body).await;
    let reservation = match set_aside {
        None => budget.try_reserve(data.len()),
        Some(mut r) if r.bytes >= data.len() => {
            r.shrink_to(data.len());
            Some(r)
        }
        Some(mut r) => {
            let more = data.len() - r.bytes;
            r.try_grow(more).then_some(r)
        }
    };
    match reservation {
        Some(reservation) => hyper::Response::from_parts(parts, BudgetedBody { data, _reservation: Some(reservation) }),
        None => {
            drop(data);
            let (parts, body) = error_answer(&overloaded()).into_parts();
            let data = bytes_of(body).await;
            hyper::Response::from_parts(parts, BudgetedBody { data, _reservation: None })
        }
    }
}

/// An answer sent without a share of the budget (a small refusal).
pub async fn unbudgeted(response: hyper::Response<Full<Bytes>>) -> hyper::Response<BudgetedBody> {
    let (parts, body) = response.into_parts();
    hyper::Response::from_parts(parts, BudgetedBody { data: bytes_of(body).await, _reservation: None })
}

async fn bytes_of(body: Full<Bytes>) -> Bytes {
    body.collect().await.map(|c| c.to_bytes()).unwrap_or_default()
}

/// A connection whose writes fail once the peer has taken no bytes for `timeout`: a client that
/// stops reading its answers is disconnected, and the answers' memory freed.
pub struct WriteTimeout<I> {
    io: I,
    timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> WriteTimeout<I> {
    pub fn new(io: I, timeout: Duration) -> WriteTimeout<I> {
        WriteTimeout { io, timeout, stalled: None }
    }

    /// Called when the underlying write is pending: arms the deadline on the first stall and
    /// reports whether it has passed.
    fn deadline_passed(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.timeout;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        sleep.as_mut().poll(cx).is_ready()
    }

    fn progress<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Pending if self.deadline_passed(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took no bytes of its answer within the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteTimeout<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progress(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.progress(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_shutdown(cx);
        self.progress(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_one_budget_and_give_it_back() {
        let budget = MemoryBudget::new(100);
        let a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(41).is_none(), "over the budget");
        let mut b = budget.try_reserve(40).unwrap();
        assert_eq!(budget.used_bytes(), 100);
        assert!(!b.try_grow(1));
        drop(a);
        assert!(b.try_grow(60));
        assert_eq!(budget.used_bytes(), 100);
        drop(b);
        assert_eq!(budget.used_bytes(), 0);
    }

    #[test]
    fn the_default_is_an_eighth_of_memory_within_bounds() {
        let d = default_budget_bytes();
        assert!((BUDGET_BYTES_MIN..=1 << 30).contains(&d), "{d}");
    }
}
