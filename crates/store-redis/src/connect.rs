//! One connection type over a single server and a cluster.

use std::time::Duration;

use futures::FutureExt;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

/// A cheap-to-clone multiplexed connection; clones share one socket (per
/// node) and reconnect by themselves.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(Single),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

/// A single server through a [`ConnectionManager`], each call bounded.
///
/// After a lost connection the manager reconnects in the background, on a
/// schedule of retries with exponential backoff, and every call waits for
/// that schedule to end: with the default 6 retries from 100 ms, about
/// 9.5 s while the server is down. The bound cuts that wait. The
/// reconnection goes on (the manager spawned it), so a later call finds the
/// new connection, or starts the next schedule when this one failed.
#[derive(Clone)]
pub(crate) struct Single {
    manager: ConnectionManager,
    /// The longest one call may take, waiting for a reconnection included;
    /// `None` leaves the manager's own bounds alone (a connection given by
    /// the caller).
    bound: Option<Duration>,
}

impl Conn {
    pub(crate) fn single(manager: ConnectionManager, bound: Option<Duration>) -> Self {
        Conn::Single(Single { manager, bound })
    }
}

/// Runs `call` within `bound`. A call cut short fails with an I/O timeout,
/// which the store reports as a retryable `Unavailable`; as with a reply
/// that comes too late, a write may or may not have been applied.
fn bounded<'a, T: Send + 'a>(
    bound: Option<Duration>,
    call: RedisFuture<'a, T>,
) -> RedisFuture<'a, T> {
    let Some(bound) = bound else {
        return call;
    };
    tokio::time::timeout(bound, call)
        .map(move |outcome| outcome.unwrap_or_else(|_| Err(past_bound(bound))))
        .boxed()
}

fn past_bound(bound: Duration) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "no connection to the Redis server or no reply within {bound:?} \
             (reconnecting in the background)"
        ),
    ))
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => bounded(c.bound, c.manager.req_packed_command(cmd)),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => bounded(c.bound, c.manager.req_packed_commands(cmd, offset, count)),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.manager.get_db(),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
