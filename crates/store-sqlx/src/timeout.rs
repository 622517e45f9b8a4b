//! A bound on how long any one database call may take.

use std::future::Future;
use std::io;
use std::time::Duration;

/// Gives a database call a deadline: a call that has not finished after
/// `limit` (a stalled server, a lost network) fails with an I/O
/// `TimedOut` error, which becomes a retryable `Unavailable`. The
/// connection of the abandoned call is not reused until it has caught up
/// (sqlx drains what the server still sends before the next statement).
pub(crate) trait Within<T>: Future<Output = Result<T, sqlx::Error>> + Sized {
    fn within(self, limit: Duration) -> impl Future<Output = Result<T, sqlx::Error>> {
        async move {
            match tokio::time::timeout(limit, self).await {
                Ok(result) => result,
                Err(_) => Err(sqlx::Error::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no answer from the database within {limit:?} (statement_timeout); a \
                         write may or may not have been applied"
                    ),
                ))),
            }
        }
    }
}

impl<T, F: Future<Output = Result<T, sqlx::Error>>> Within<T> for F {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_past_its_limit_is_a_timed_out_io_error() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<u8, sqlx::Error>(1)
        };
        match slow.within(Duration::from_millis(10)).await {
            Err(sqlx::Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("expected a timeout, got {other:?}"),
        }
        let quick = async { Ok::<u8, sqlx::Error>(7) };
        assert_eq!(quick.within(Duration::from_secs(1)).await.unwrap(), 7);
    }
}
