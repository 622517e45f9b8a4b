//! [`RedisConfig`]: namespace, timeouts, limits and TLS roots of a
//! [`RedisStore`](crate::RedisStore), and the namespace check.

use std::fmt;
use std::time::Duration;

use store_core::{DEFAULT_MAX_VALUE_LEN, Error, ErrorKind, Result};

/// The namespace (key prefix) of a store whose config does not set one.
pub const DEFAULT_NAMESPACE: &str = "store";

/// The longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 128;

/// How long connecting, and one whole store call, may take by default;
/// hence also how long a call may take while the server is down.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a lost connection is retried by default after a first
/// failed attempt, backing off exponentially from 100 ms. Calls do not wait
/// for these retries longer than their own bound (see
/// [`RedisConfig::operation_timeout`]).
pub const DEFAULT_RECONNECT_RETRIES: usize = 6;

/// Buckets of a store on a single server: one.
pub const DEFAULT_BUCKETS_SINGLE: u16 = 1;

/// Buckets of a store on a Redis Cluster: 16 hash slots, spread over the
/// masters.
pub const DEFAULT_BUCKETS_CLUSTER: u16 = 16;

/// The largest bucket count accepted.
pub const MAX_BUCKETS: u16 = 1024;

/// Settings of a [`RedisStore`](crate::RedisStore).
///
/// ```
/// use std::time::Duration;
/// use store_redis::RedisConfig;
///
/// let config = RedisConfig::default()
///     .namespace("myapp:sessions")
///     .operation_timeout(Duration::from_secs(2));
/// assert!(format!("{config:?}").contains("myapp:sessions"));
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) namespace: String,
    pub(crate) buckets: Option<u16>,
    pub(crate) connection_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) reconnect_retries: usize,
    pub(crate) max_value_len: usize,
    #[cfg(feature = "tls")]
    pub(crate) tls_root_cert: Option<Vec<u8>>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            buckets: None,
            connection_timeout: DEFAULT_TIMEOUT,
            operation_timeout: DEFAULT_TIMEOUT,
            reconnect_retries: DEFAULT_RECONNECT_RETRIES,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            #[cfg(feature = "tls")]
            tls_root_cert: None,
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RedisConfig");
        d.field("namespace", &self.namespace)
            .field("buckets", &self.buckets)
            .field("connection_timeout", &self.connection_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("max_value_len", &self.max_value_len);
        #[cfg(feature = "tls")]
        d.field(
            "tls_root_cert",
            &self.tls_root_cert.as_ref().map(|_| "custom"),
        );
        d.finish()
    }
}

impl RedisConfig {
    /// The namespace: every Redis key of the store starts with
    /// `namespace:` (default [`DEFAULT_NAMESPACE`]). 1–128 bytes, no control
    /// characters, no `{` or `}` (the store uses hash tags of its own; see
    /// the crate docs).
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().namespace("app");
    /// assert!(format!("{config:?}").contains("\"app\""));
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How many hash-slot buckets the entries are spread over (1–1024).
    /// Default: 1 on a single server, 16 on a cluster. Part of the data
    /// layout: every store on the same namespace must use the same count.
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().buckets(64);
    /// # let _ = config;
    /// ```
    pub fn buckets(mut self, buckets: u16) -> Self {
        self.buckets = Some(buckets);
        self
    }

    /// The longest a new connection may take (default 5 s): connecting,
    /// and each attempt of a reconnection in the background.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = store_redis::RedisConfig::default().connection_timeout(Duration::from_secs(1));
    /// # let _ = config;
    /// ```
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The longest one store call may take (default 5 s), waiting for a
    /// reconnection included; then it fails with a retryable `Unavailable`
    /// (a write may or may not have been applied). It bounds every call, on
    /// a single server or a cluster, on a connection the store opened or
    /// one given to [`RedisStore::new`](crate::RedisStore::new). On the
    /// connections the store opens it is also the driver's wait for each
    /// reply.
    ///
    /// While the server is down each call therefore fails within this
    /// bound (the first one at once), although the reconnect schedule (see
    /// [`RedisConfig::reconnect_retries`]) runs longer. The reconnection
    /// goes on in the background, and the same store works again once the
    /// server is back.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = store_redis::RedisConfig::default().operation_timeout(Duration::from_millis(500));
    /// # let _ = config;
    /// ```
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How many times a lost connection is retried after a first failed
    /// attempt (default 6). The pauses between attempts start at 100 ms and
    /// double, each lengthened by up to as much again as jitter: with 6
    /// retries about 9.5 s in all (at most 12.6 s), each attempt bounded by
    /// [`RedisConfig::connection_timeout`]. When the retries are used up,
    /// the next call starts another round. Calls made meanwhile do not wait
    /// for the schedule: each fails with `Unavailable` within its bound
    /// (see [`RedisConfig::operation_timeout`]), and the store reconnects by
    /// itself.
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().reconnect_retries(3);
    /// # let _ = config;
    /// ```
    pub fn reconnect_retries(mut self, retries: usize) -> Self {
        self.reconnect_retries = retries;
        self
    }

    /// The largest value accepted, in bytes (default 4 MiB; at least 1 MiB,
    /// at most Redis' 512 MiB).
    ///
    /// ```
    /// let config = store_redis::RedisConfig::default().max_value_len(1 << 20);
    /// # let _ = config;
    /// ```
    pub fn max_value_len(mut self, max_value_len: usize) -> Self {
        self.max_value_len = max_value_len;
        self
    }

    /// Trust this PEM root certificate for `rediss://` instead of the
    /// system's roots (for a private CA or a self-signed server).
    ///
    /// ```
    /// let pem = std::fs::read("ca.pem").unwrap_or_default();
    /// let config = store_redis::RedisConfig::default().tls_root_cert(pem);
    /// # let _ = config;
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_cert = Some(pem.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        validate_namespace(&self.namespace)?;
        if let Some(b) = self.buckets {
            if b == 0 || b > MAX_BUCKETS {
                return Err(config_error(format!(
                    "buckets must be between 1 and {MAX_BUCKETS}, got {b}"
                )));
            }
        }
        const MIN_VALUE: usize = 1 << 20;
        const MAX_VALUE: usize = 512 << 20;
        if !(MIN_VALUE..=MAX_VALUE).contains(&self.max_value_len) {
            return Err(config_error(format!(
                "max_value_len must be between {MIN_VALUE} and {MAX_VALUE} bytes, got {}",
                self.max_value_len
            )));
        }
        if self.connection_timeout.is_zero() || self.operation_timeout.is_zero() {
            return Err(config_error("timeouts must be greater than zero"));
        }
        Ok(())
    }
}

pub(crate) fn validate_namespace(namespace: &str) -> Result<()> {
    if namespace.is_empty() || namespace.len() > MAX_NAMESPACE_LEN {
        return Err(config_error(format!(
            "the namespace must be 1 to {MAX_NAMESPACE_LEN} bytes long, got {} bytes",
            namespace.len()
        )));
    }
    if namespace
        .chars()
        .any(|c| c.is_control() || c == '{' || c == '}')
    {
        return Err(config_error(
            "the namespace must not contain control characters, `{` or `}` \
             (braces would change the store's Redis Cluster hash tags)",
        ));
    }
    Ok(())
}

pub(crate) fn config_error(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Config, message).with_backend(crate::BACKEND)
}
