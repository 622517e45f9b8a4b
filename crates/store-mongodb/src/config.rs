//! [`MongoConfig`]: the collection, limits, cleanup batches, version
//! blocks, the time bound and the clock; and the checks of database and
//! collection names.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use store_core::{Clock, DEFAULT_MAX_VALUE_LEN, Error, ErrorKind, Result, SystemClock};

/// The collection a store uses unless [`MongoConfig::namespace`] names
/// another: `store_entries`.
pub const DEFAULT_NAMESPACE: &str = "store_entries";

/// The database a store uses when its URL has no path (see
/// [`MongoStore::connect`](crate::MongoStore::connect)): `store`.
pub const DEFAULT_DATABASE: &str = "store";

/// How many expired documents one round of `delete_expired` removes by
/// default.
pub const DEFAULT_PURGE_BATCH: u32 = 1000;

/// The largest accepted purge batch.
pub const MAX_PURGE_BATCH: u32 = 100_000;

/// How many versions a store reserves from the version counter at once by
/// default.
pub const DEFAULT_VERSION_BLOCK: u32 = 1000;

/// The largest accepted version block.
pub const MAX_VERSION_BLOCK: u32 = 1_000_000;

/// The smallest accepted `max_value_len`: 1 MiB, which every backend must
/// accept.
pub const MIN_VALUE_LEN_LIMIT: usize = 1024 * 1024;

/// The largest accepted `max_value_len`: 16 MiB (MongoDB's document limit)
/// less 16 KiB for the key and the other fields.
pub const MAX_VALUE_LEN_LIMIT: usize = 16 * 1024 * 1024 - 16 * 1024;

/// How long `connect` waits to find a usable server (and each operation
/// waits when none is), unless the URI sets `serverSelectionTimeoutMS`.
/// The driver's own default is 30 s, too long for a web request.
pub const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long opening one TCP connection may take, unless the URI sets
/// `connectTimeoutMS`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one store call may take before it fails with `Unavailable`:
/// 10 s. See [`MongoConfig::operation_timeout`].
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a [`MongoStore`](crate::MongoStore).
///
/// The connection itself (hosts, credentials, TLS, pool size, timeouts,
/// the database) is configured through the URL given to
/// [`MongoStore::connect_with`](crate::MongoStore::connect_with), or through
/// the `Database` given to
/// [`MongoStore::with_config`](crate::MongoStore::with_config).
///
/// ```
/// use store_core::ManualClock;
/// use store_mongodb::MongoConfig;
///
/// let config = MongoConfig::default()
///     .namespace("sessions")
///     .max_value_len(8 << 20)
///     .purge_batch(500)
///     .clock(ManualClock::starting_now());
/// assert!(format!("{config:?}").contains("max_value_len: 8388608"));
/// ```
#[derive(Clone)]
pub struct MongoConfig {
    pub(crate) namespace: String,
    pub(crate) max_value_len: usize,
    pub(crate) purge_batch: u32,
    pub(crate) version_block: u32,
    pub(crate) operation_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for MongoConfig {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            purge_batch: DEFAULT_PURGE_BATCH,
            version_block: DEFAULT_VERSION_BLOCK,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for MongoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoConfig")
            .field("namespace", &self.namespace)
            .field("max_value_len", &self.max_value_len)
            .field("purge_batch", &self.purge_batch)
            .field("version_block", &self.version_block)
            .field("operation_timeout", &self.operation_timeout)
            .field("clock", &self.clock)
            .finish()
    }
}

impl MongoConfig {
    /// The collection that holds the entries: the store's namespace
    /// (default [`DEFAULT_NAMESPACE`], `store_entries`). The store also
    /// keeps its version counter in `<namespace>.versions`. A name MongoDB
    /// refuses, one starting with `system.` or ending with `.versions`, is
    /// a `Config` error when the store is made.
    ///
    /// ```
    /// let config = store_mongodb::MongoConfig::default().namespace("sessions");
    /// assert!(format!("{config:?}").contains("\"sessions\""));
    /// ```
    pub fn namespace(mut self, collection: impl Into<String>) -> Self {
        self.namespace = collection.into();
        self
    }

    /// The largest value accepted, in bytes, from [`MIN_VALUE_LEN_LIMIT`] to
    /// [`MAX_VALUE_LEN_LIMIT`] (default 4 MiB). Larger values fail with
    /// `InvalidInput` before anything is sent; the store's
    /// [`capabilities`](store_core::Store::capabilities) report it.
    ///
    /// ```
    /// let config = store_mongodb::MongoConfig::default().max_value_len(8 << 20);
    /// assert!(format!("{config:?}").contains("max_value_len: 8388608"));
    /// ```
    pub fn max_value_len(mut self, bytes: usize) -> Self {
        self.max_value_len = bytes;
        self
    }

    /// How many expired documents one round of
    /// [`delete_expired`](store_core::Store::delete_expired) finds and
    /// deletes, 1 to [`MAX_PURGE_BATCH`] (default [`DEFAULT_PURGE_BATCH`]).
    ///
    /// ```
    /// let config = store_mongodb::MongoConfig::default().purge_batch(200);
    /// # let _ = config;
    /// ```
    pub fn purge_batch(mut self, documents: u32) -> Self {
        self.purge_batch = documents;
        self
    }

    /// How many versions the store reserves from the collection's version
    /// counter in one round trip, 1 to [`MAX_VERSION_BLOCK`] (default
    /// [`DEFAULT_VERSION_BLOCK`]). A larger block means fewer extra round
    /// trips on writes; the unused rest of a block is skipped when the
    /// process ends, which only leaves gaps. Versions stay unique either
    /// way.
    ///
    /// ```
    /// let config = store_mongodb::MongoConfig::default().version_block(100);
    /// # let _ = config;
    /// ```
    pub fn version_block(mut self, versions: u32) -> Self {
        self.version_block = versions;
        self
    }

    /// The clock that decides expiry (default
    /// [`SystemClock`](store_core::SystemClock)): every read and
    /// conditional write compares with its `now`, never the server's. The
    /// TTL index removes expired documents later on the server's clock, so
    /// processes sharing a collection should have synchronised clocks.
    ///
    /// ```
    /// use store_core::ManualClock;
    /// let config = store_mongodb::MongoConfig::default().clock(ManualClock::starting_now());
    /// # let _ = config;
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long one store call may take, all its round trips included
    /// (for `delete_expired`, each batch's round trips), before it fails
    /// with a retryable `Unavailable` (default
    /// [`DEFAULT_OPERATION_TIMEOUT`], 10 s). The driver's own timeouts only
    /// cover finding a server and connecting; this one also covers a
    /// server that accepted the request and never answers. A write that
    /// timed out may or may not have been applied: read before retrying
    /// anything but an idempotent write (conditional writes never apply
    /// twice).
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = store_mongodb::MongoConfig::default().operation_timeout(Duration::from_secs(3));
    /// # let _ = config;
    /// ```
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let config = |m: String| Err(Error::new(ErrorKind::Config, m));
        if self.operation_timeout.is_zero() {
            return config("operation_timeout must be longer than zero".to_owned());
        }
        if !(MIN_VALUE_LEN_LIMIT..=MAX_VALUE_LEN_LIMIT).contains(&self.max_value_len) {
            return config(format!(
                "max_value_len is {} bytes; it must be {MIN_VALUE_LEN_LIMIT} to \
                 {MAX_VALUE_LEN_LIMIT} bytes",
                self.max_value_len
            ));
        }
        if !(1..=MAX_PURGE_BATCH).contains(&self.purge_batch) {
            return config(format!(
                "purge_batch is {}; it must be 1 to {MAX_PURGE_BATCH}",
                self.purge_batch
            ));
        }
        if !(1..=MAX_VERSION_BLOCK).contains(&self.version_block) {
            return config(format!(
                "version_block is {}; it must be 1 to {MAX_VERSION_BLOCK}",
                self.version_block
            ));
        }
        Ok(())
    }
}

/// The longest accepted database name, in bytes (MongoDB's limit).
pub const MAX_DATABASE_LEN: usize = 63;

/// The longest accepted collection name, in bytes. The store also uses the
/// collection `<name>.versions`, and MongoDB limits a whole namespace
/// (`database.collection`) to 255 bytes.
pub const MAX_COLLECTION_LEN: usize = 120;

/// Checks a database name: 1 to [`MAX_DATABASE_LEN`] bytes, none of
/// `/\. "$*<>:|?` or NUL.
pub(crate) fn check_database(name: &str) -> Result<()> {
    let bad = name.chars().find(|c| "/\\. \"$*<>:|?\0".contains(*c));
    let problem = if name.is_empty() {
        "is empty".to_owned()
    } else if name.len() > MAX_DATABASE_LEN {
        format!(
            "is {} bytes long; the limit is {MAX_DATABASE_LEN}",
            name.len()
        )
    } else if let Some(c) = bad {
        format!("contains {c:?}, which MongoDB does not allow in database names")
    } else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::Config,
        format!("database name {name:?} {problem}"),
    ))
}

/// Checks a collection name: 1 to [`MAX_COLLECTION_LEN`] bytes, no `$` or
/// NUL, not starting with `system.` or `.`, and not ending with
/// `.versions` (the store's own counter collection).
pub(crate) fn check_collection(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        "is empty".to_owned()
    } else if name.len() > MAX_COLLECTION_LEN {
        format!(
            "is {} bytes long; the limit is {MAX_COLLECTION_LEN}",
            name.len()
        )
    } else if name.contains(['$', '\0']) {
        "contains '$' or NUL, which MongoDB does not allow in collection names".to_owned()
    } else if name.starts_with("system.") || name.starts_with('.') || name.ends_with('.') {
        "is reserved (it starts with \"system.\" or starts or ends with '.')".to_owned()
    } else if name.ends_with(".versions") {
        "ends with \".versions\", the suffix of the store's version counters".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::Config,
        format!("collection name {name:?} {problem}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_limits_are_checked() {
        assert!(check_database("app").is_ok());
        for bad in ["", "a.b", "a b", "a$", &"d".repeat(64)] {
            let e = check_database(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
        }
        assert!(check_collection("sessions").is_ok());
        assert!(check_collection("app.sessions").is_ok());
        for bad in [
            "",
            "a$b",
            "system.users",
            "s.versions",
            ".s",
            "s.",
            &"c".repeat(121),
        ] {
            let e = check_collection(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
            assert!(e.message().contains("collection name"), "{e}");
        }
        assert!(MongoConfig::default().validate().is_ok());
        for config in [
            MongoConfig::default().max_value_len(1),
            MongoConfig::default().max_value_len(MAX_VALUE_LEN_LIMIT + 1),
            MongoConfig::default().purge_batch(0),
            MongoConfig::default().version_block(0),
            MongoConfig::default().version_block(MAX_VERSION_BLOCK + 1),
        ] {
            assert_eq!(config.validate().unwrap_err().kind(), ErrorKind::Config);
        }
    }
}
