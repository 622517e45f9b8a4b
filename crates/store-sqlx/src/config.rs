//! Settings shared by both SQL stores, and the two configs built on them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use store_core::{Clock, DEFAULT_MAX_VALUE_LEN, Error, ErrorKind, Result, SystemClock};

use crate::ident;

/// The table of a store whose config does not name one.
pub const DEFAULT_TABLE: &str = "store_entries";

/// The largest pool [`connect`](crate) opens by default.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long a call waits for a free pool connection (or for a new
/// connection to the server) by default before it fails with `Unavailable`.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many expired rows one `DELETE` of `delete_expired` removes by default.
pub const DEFAULT_PURGE_BATCH: u32 = 1000;

/// The smallest accepted `max_value_len`: 1 MiB, which every backend must
/// accept.
pub const MIN_VALUE_LEN_LIMIT: usize = 1024 * 1024;

/// The largest accepted `max_value_len`: 512 MiB.
pub const MAX_VALUE_LEN_LIMIT: usize = 512 * 1024 * 1024;

/// How long one database call may take before it fails with
/// `Unavailable`: 10 s. See `statement_timeout` on the configs.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest accepted purge batch.
pub const MAX_PURGE_BATCH: u32 = 100_000;

#[derive(Clone)]
pub(crate) struct Common {
    pub(crate) table: String,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) test_before_acquire: bool,
    pub(crate) statement_timeout: Duration,
    pub(crate) purge_batch: u32,
    pub(crate) max_value_len: usize,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            table: DEFAULT_TABLE.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            test_before_acquire: false,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            purge_batch: DEFAULT_PURGE_BATCH,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            clock: Arc::new(SystemClock),
        }
    }
}

impl Common {
    pub(crate) fn validate(&self, reserved_tables: &[&str]) -> Result<()> {
        ident::check("table", &self.table, ident::MAX_TABLE_LEN, reserved_tables)?;
        let config = |m: String| Err(Error::new(ErrorKind::Config, m));
        if self.max_connections == 0 {
            return config("max_connections must be at least 1".to_owned());
        }
        if self.acquire_timeout.is_zero() {
            return config("acquire_timeout must be longer than zero".to_owned());
        }
        if self.statement_timeout.is_zero() {
            return config("statement_timeout must be longer than zero".to_owned());
        }
        if !(1..=MAX_PURGE_BATCH).contains(&self.purge_batch) {
            return config(format!(
                "purge_batch is {}; it must be 1 to {MAX_PURGE_BATCH}",
                self.purge_batch
            ));
        }
        if !(MIN_VALUE_LEN_LIMIT..=MAX_VALUE_LEN_LIMIT).contains(&self.max_value_len) {
            return config(format!(
                "max_value_len is {} bytes; it must be {MIN_VALUE_LEN_LIMIT} to \
                 {MAX_VALUE_LEN_LIMIT} bytes",
                self.max_value_len
            ));
        }
        Ok(())
    }

    fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("table", &self.table)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("test_before_acquire", &self.test_before_acquire)
            .field("statement_timeout", &self.statement_timeout)
            .field("purge_batch", &self.purge_batch)
            .field("max_value_len", &self.max_value_len)
            .field("clock", &self.clock);
    }
}

/// The setters both configs share, each with its own doc example.
macro_rules! common_setters {
    ($ty:ident) => {
        impl $ty {
            /// The table that holds this store's entries: the store's
            /// namespace. 1 to 48 bytes of lowercase ASCII letters, digits
            /// and `_`, not starting with a digit; checked when the store is
            /// built (a `Config` error). Default [`DEFAULT_TABLE`].
            ///
            /// ```
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default().table(\"sessions\");")]
            /// assert_eq!(config.get_table(), "sessions");
            /// ```
            pub fn table(mut self, table: impl Into<String>) -> Self {
                self.common.table = table.into();
                self
            }

            /// The configured table name.
            ///
            /// ```
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default();")]
            /// assert_eq!(config.get_table(), store_sqlx::DEFAULT_TABLE);
            /// ```
            pub fn get_table(&self) -> &str {
                &self.common.table
            }

            /// The most connections the pool opened by `connect_with` keeps
            /// (default [`DEFAULT_MAX_CONNECTIONS`]). A pool passed to
            /// `with_config` keeps its own settings.
            ///
            /// ```
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default().max_connections(32);")]
            /// # let _ = config;
            /// ```
            pub fn max_connections(mut self, max: u32) -> Self {
                self.common.max_connections = max;
                self
            }

            /// How long a call waits for a pool connection, including
            /// connecting to the server, before it fails with `Unavailable`
            /// (default [`DEFAULT_ACQUIRE_TIMEOUT`]). Applies to the pool
            /// opened by `connect_with`.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default().acquire_timeout(Duration::from_secs(2));")]
            /// # let _ = config;
            /// ```
            pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
                self.common.acquire_timeout = timeout;
                self
            }

            /// Whether the pool opened by `connect_with` pings a connection
            /// before handing it to a call (sqlx's `test_before_acquire`;
            /// default `false` here, `true` in sqlx). Off, every call is one
            /// round trip to the server instead of two: sqlx already pings
            /// each connection when it goes back to the pool, so a pooled
            /// connection was alive when it went idle. What the ping on
            /// acquire adds is catching a connection that died while idle
            /// (a server restart, a proxy's idle cut): without it, that
            /// call fails with a retryable `Unavailable` and the pool
            /// drops the connection. Turn it on where idle connections are
            /// often cut and callers do not retry.
            ///
            /// ```
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default().test_before_acquire(true);")]
            /// # let _ = config;
            /// ```
            pub fn test_before_acquire(mut self, test: bool) -> Self {
                self.common.test_before_acquire = test;
                self
            }

            /// How long one database call (each statement, each of
            /// `migrate`'s statements) may take before it fails with a
            /// retryable `Unavailable` (default
            /// [`DEFAULT_STATEMENT_TIMEOUT`], 10 s), so a stalled server or
            /// a lost network never blocks a caller for ever. The bound is
            /// the client's: the server is not told to cancel, unlike
            /// PostgreSQL's own `statement_timeout` setting. A write that timed out may or may not have been
            /// applied: read before retrying anything but an idempotent
            /// write (conditional writes never apply twice).
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default().statement_timeout(Duration::from_secs(3));")]
            /// # let _ = config;
            /// ```
            pub fn statement_timeout(mut self, timeout: Duration) -> Self {
                self.common.statement_timeout = timeout;
                self
            }

            /// How many expired rows one statement of `delete_expired`
            /// removes, 1 to [`MAX_PURGE_BATCH`] (default
            /// [`DEFAULT_PURGE_BATCH`]). Smaller batches hold row locks for
            /// less time.
            ///
            /// ```
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default().purge_batch(500);")]
            /// # let _ = config;
            /// ```
            pub fn purge_batch(mut self, rows: u32) -> Self {
                self.common.purge_batch = rows;
                self
            }

            /// The largest value accepted, in bytes, from
            /// [`MIN_VALUE_LEN_LIMIT`] to [`MAX_VALUE_LEN_LIMIT`] (default
            /// 4 MiB). Larger values fail with `InvalidInput`.
            ///
            /// ```
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default().max_value_len(8 << 20);")]
            /// # let _ = config;
            /// ```
            pub fn max_value_len(mut self, bytes: usize) -> Self {
                self.common.max_value_len = bytes;
                self
            }

            /// The clock that decides expiry in every statement (default
            /// [`SystemClock`](store_core::SystemClock)). The database's
            /// own `now()` is never used, so all processes that share a
            /// table should have synchronised clocks.
            ///
            /// ```
            /// use store_core::ManualClock;
            #[doc = concat!("let config = store_sqlx::", stringify!($ty), "::default().clock(ManualClock::starting_now());")]
            /// # let _ = config;
            /// ```
            pub fn clock(mut self, clock: impl store_core::Clock) -> Self {
                self.common.clock = Arc::new(clock);
                self
            }
        }
    };
}

/// Settings of a [`PostgresStore`](crate::PostgresStore): schema, table,
/// pool, limits and clock.
///
/// ```
/// use std::time::Duration;
/// use store_sqlx::PostgresConfig;
///
/// let config = PostgresConfig::default()
///     .schema("auth")
///     .table("sessions")
///     .acquire_timeout(Duration::from_secs(2));
/// assert_eq!(config.get_schema(), "auth");
/// ```
#[cfg(feature = "postgres")]
#[derive(Clone)]
pub struct PostgresConfig {
    pub(crate) common: Common,
    pub(crate) schema: String,
}

/// The schema of a [`PostgresConfig`] that does not name one.
#[cfg(feature = "postgres")]
pub const DEFAULT_SCHEMA: &str = "public";

#[cfg(feature = "postgres")]
impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            common: Common::default(),
            schema: DEFAULT_SCHEMA.to_owned(),
        }
    }
}

#[cfg(feature = "postgres")]
impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PostgresConfig");
        d.field("schema", &self.schema);
        self.common.debug_fields(&mut d);
        d.finish()
    }
}

#[cfg(feature = "postgres")]
impl PostgresConfig {
    /// The schema of the table (default [`DEFAULT_SCHEMA`]); `migrate()`
    /// creates it when missing. Same rules as a table name, at most 63
    /// bytes, and not starting with `pg_`.
    ///
    /// ```
    /// let config = store_sqlx::PostgresConfig::default().schema("auth");
    /// assert_eq!(config.get_schema(), "auth");
    /// ```
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The configured schema.
    ///
    /// ```
    /// assert_eq!(store_sqlx::PostgresConfig::default().get_schema(), "public");
    /// ```
    pub fn get_schema(&self) -> &str {
        &self.schema
    }

    pub(crate) fn validate(&self) -> Result<()> {
        ident::check("schema", &self.schema, ident::MAX_SCHEMA_LEN, &["pg_"])?;
        self.common.validate(&[])
    }
}

#[cfg(feature = "postgres")]
common_setters!(PostgresConfig);

/// Settings of a [`SqliteStore`](crate::SqliteStore): table, pool, busy
/// timeout, limits and clock.
///
/// ```
/// use std::time::Duration;
/// use store_sqlx::SqliteConfig;
///
/// let config = SqliteConfig::default()
///     .table("sessions")
///     .busy_timeout(Duration::from_secs(10));
/// assert_eq!(config.get_table(), "sessions");
/// ```
#[cfg(feature = "sqlite")]
#[derive(Clone)]
pub struct SqliteConfig {
    pub(crate) common: Common,
    pub(crate) busy_timeout: Duration,
}

/// How long a write waits for another connection's write lock by default
/// before it fails with `Unavailable`.
#[cfg(feature = "sqlite")]
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(feature = "sqlite")]
impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            common: Common::default(),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

#[cfg(feature = "sqlite")]
impl fmt::Debug for SqliteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SqliteConfig");
        self.common.debug_fields(&mut d);
        d.field("busy_timeout", &self.busy_timeout);
        d.finish()
    }
}

#[cfg(feature = "sqlite")]
impl SqliteConfig {
    /// How long a statement waits for another connection's lock on the
    /// database file (SQLite's `busy_timeout`) before it fails with
    /// `Unavailable` (default [`DEFAULT_BUSY_TIMEOUT`]). Applies to the
    /// pool opened by `connect_with`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = store_sqlx::SqliteConfig::default().busy_timeout(Duration::from_secs(1));
    /// # let _ = config;
    /// ```
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.common.validate(&["sqlite_"])
    }
}

#[cfg(feature = "sqlite")]
common_setters!(SqliteConfig);
