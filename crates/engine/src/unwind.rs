//! Containing panics: one request, one unit of background work, one catalog entry.
//!
//! A panic is a bug, but a database must not let one bug in one request take down the
//! connection's neighbours, the maintenance task or start-up. [`catch_unwind`] turns a panic
//! inside a future into an error its caller answers (an InternalServerError for a request, a
//! retry with backoff for maintenance). It is safe to resume after: the locks held across
//! awaits are tokio's (their guards drop while unwinding, releasing a partition's writer), and
//! the shared state behind `parking_lot` locks does not poison and is only ever replaced whole.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::Poll;

/// Runs `future`, turning a panic while polling it into `Err(the panic's message)`.
pub async fn catch_unwind<F: Future>(future: F) -> Result<F::Output, String> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
    })
    .await
}

/// The text a panic was raised with, if it has one.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_and_later_work_runs() {
        let caught = catch_unwind(async {
            tokio::task::yield_now().await;
            panic!("boom {}", 7);
        })
        .await;
        assert_eq!(caught.unwrap_err(), "boom 7");
        assert_eq!(catch_unwind(async { 5 }).await, Ok(5));
    }

    #[tokio::test]
    async fn a_writer_held_across_a_panic_is_released() {
        // The partition writer is a tokio mutex held across awaits: unwinding drops its guard.
        let writer = tokio::sync::Mutex::new(());
        let caught = catch_unwind(async {
            let _held = writer.lock().await;
            tokio::task::yield_now().await;
            panic!("under the writer");
        })
        .await;
        assert!(caught.is_err());
        assert!(writer.try_lock().is_ok(), "the writer is free again");
    }
}
