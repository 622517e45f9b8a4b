//! The one time bound every backend puts on a store call.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Operation, Result};

/// Runs one store call, failing it with a retryable `Unavailable` when it
/// has not finished within `limit` (a stalled server, a lost network, a
/// driver waiting for a reconnection).
///
/// The call is dropped at that point: a write may or may not have been
/// applied, which the error says. Backends wrap each [`Store`](crate::Store)
/// method in this with their config's `operation_timeout`, so the bound and
/// its error are the same everywhere.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use store_core::{ErrorKind, Operation, within};
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok(1)
/// };
/// let err = within(Duration::from_millis(10), "toy", Operation::Get, slow)
///     .await
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Unavailable);
/// assert!(err.is_retryable());
/// let quick = async { Ok(7) };
/// assert_eq!(within(Duration::from_secs(1), "toy", Operation::Get, quick).await?, 7);
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// The call's own error, or `Unavailable` past `limit`.
pub async fn within<T>(
    limit: Duration,
    backend: &'static str,
    operation: Operation,
    call: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(past_limit(limit).in_context(backend, operation)),
    }
}

fn past_limit(limit: Duration) -> Error {
    let message = format!(
        "no answer from the server within {limit:?} (operation_timeout); a write may or may \
         not have been applied"
    );
    Error::new(ErrorKind::Unavailable, message)
}
