//! [`RedisInvalidation`]: caches in several processes drop a key as soon
//! as any of them writes it, through Redis pub/sub.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use store_core::{Error, ErrorKind, Key, Operation, Result, redact_url};
use store_redis::redis;
use store_redis::redis::AsyncCommands;
use store_redis::redis::aio::MultiplexedConnection;

use crate::cache::{Cache, Invalidator};

/// Publishes every key a [`CachedStore`](crate::CachedStore) writes on a
/// Redis channel, and drops the keys other processes publish from this
/// process's [`Cache`].
///
/// - Invalidation is fast but best effort: a message lost while a
///   connection is down is made up for by emptying the cache when the
///   subscription is back, and in any case by the cache's `max_age`, which
///   still bounds how long another process's write can stay unseen.
/// - Use one channel per namespace (a message is a key of that namespace),
///   and the Redis server of the store or any other one all processes
///   reach. Keys travel in clear on the channel, as they do to the store.
///
/// ```no_run
/// use store_layers::{Cache, CacheConfig, CachedStore, RedisInvalidation};
/// # async fn f(redis_store: store_redis::RedisStore) -> store_core::Result<()> {
/// let cache = Cache::new(CacheConfig::default());
/// RedisInvalidation::start("redis://127.0.0.1:6379/", "sessions-cache", &cache).await?;
/// let store = CachedStore::new(redis_store, cache);
/// # let _ = store;
/// # Ok(()) }
/// ```
pub struct RedisInvalidation {
    channel: String,
    /// Marks this process's messages, so that its own writes do not empty
    /// its own cache.
    sender: String,
    publisher: MultiplexedConnection,
}

impl fmt::Debug for RedisInvalidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInvalidation")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

fn unavailable(url: &str, e: redis::RedisError) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "cannot reach {} for cache invalidation: {e}",
            redact_url(url)
        ),
    )
    .with_operation(Operation::Connect)
}

impl RedisInvalidation {
    /// Connects to `url`, subscribes to `channel` in a background task that
    /// lives as long as `cache`, and makes `cache` publish its writes there.
    ///
    /// # Errors
    /// `Config` for a bad URL, `Unavailable` when the server cannot be
    /// reached.
    pub async fn start(url: &str, channel: &str, cache: &Arc<Cache>) -> Result<()> {
        let client = redis::Client::open(url).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("bad Redis URL {}: {e}", redact_url(url)),
            )
            .with_operation(Operation::Connect)
        })?;
        let publisher = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| unavailable(url, e))?;
        let mut sender = [0u8; 12];
        getrandom::fill(&mut sender).map_err(|e| {
            Error::new(ErrorKind::Backend, format!("the random source failed: {e}"))
        })?;
        let sender: String = sender.iter().map(|b| format!("{b:02x}")).collect();
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .map_err(|e| unavailable(url, e))?;
        pubsub
            .subscribe(channel)
            .await
            .map_err(|e| unavailable(url, e))?;
        let invalidation = Arc::new(Self {
            channel: channel.to_owned(),
            sender: sender.clone(),
            publisher,
        });
        cache.set_invalidator(invalidation);
        let weak = Arc::downgrade(cache);
        let channel = channel.to_owned();
        tokio::spawn(async move {
            let mut stream = pubsub.into_on_message();
            loop {
                while let Some(message) = stream.next().await {
                    let Some(cache) = weak.upgrade() else { return };
                    let payload = message.get_payload_bytes();
                    let Some((from, key)) = std::str::from_utf8(payload)
                        .ok()
                        .and_then(|p| p.split_once('\n'))
                    else {
                        continue;
                    };
                    if from != sender {
                        if let Ok(key) = Key::new(key) {
                            cache.forget(&key);
                        }
                    }
                }
                // The subscription ended (connection lost): subscribe again,
                // and forget everything that may have been missed meanwhile.
                loop {
                    let Some(cache) = weak.upgrade() else { return };
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if let Ok(mut pubsub) = client.get_async_pubsub().await {
                        if pubsub.subscribe(&channel).await.is_ok() {
                            cache.forget_all();
                            stream = pubsub.into_on_message();
                            break;
                        }
                    }
                }
            }
        });
        Ok(())
    }
}

impl Invalidator for RedisInvalidation {
    fn publish<'a>(&'a self, key: &'a Key) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            let message = format!("{}\n{}", self.sender, key.as_str());
            let mut connection = self.publisher.clone();
            // Best effort: max_age bounds what a lost message leaves stale.
            let _: redis::RedisResult<i64> = connection.publish(&self.channel, message).await;
        })
    }
}
