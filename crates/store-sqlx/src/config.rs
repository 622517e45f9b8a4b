//! [`SqlConfig`], the settings of the SQL stores ([`PostgresConfig`],
//! [`SqliteConfig`], [`MySqlConfig`]), their defaults and limits, and the checks of table and
//! schema names.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use store_core::{Clock, DEFAULT_MAX_VALUE_LEN, Error, ErrorKind, Result, SystemClock};

use crate::query::Dialect;

/// The table of a store whose config does not name one.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// let config = store_sqlx::SqliteConfig::default();
/// assert!(format!("{config:?}").contains(store_sqlx::DEFAULT_TABLE));
/// # }
/// ```
pub const DEFAULT_TABLE: &str = "store_entries";

/// The largest pool `connect` opens by default.
///
/// ```
/// assert_eq!(store_sqlx::DEFAULT_MAX_CONNECTIONS, 10);
/// ```
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long a call waits for a free pool connection (or for a new
/// connection to the server) by default before it fails with `Unavailable`.
///
/// ```
/// assert_eq!(store_sqlx::DEFAULT_ACQUIRE_TIMEOUT, std::time::Duration::from_secs(5));
/// ```
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one store call may take by default before it fails with
/// `Unavailable`: 10 s. See [`SqlConfig::operation_timeout`].
///
/// ```
/// assert_eq!(store_sqlx::DEFAULT_OPERATION_TIMEOUT, std::time::Duration::from_secs(10));
/// ```
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How many expired rows one `DELETE` of `delete_expired` removes by default.
///
/// ```
/// assert!(store_sqlx::DEFAULT_PURGE_BATCH <= store_sqlx::MAX_PURGE_BATCH);
/// ```
pub const DEFAULT_PURGE_BATCH: u32 = 1000;

/// The largest accepted purge batch.
///
/// ```
/// assert_eq!(store_sqlx::MAX_PURGE_BATCH, 100_000);
/// ```
pub const MAX_PURGE_BATCH: u32 = 100_000;

/// The smallest accepted `max_value_len`: 1 MiB, which every backend must
/// accept.
///
/// ```
/// assert!(store_sqlx::MIN_VALUE_LEN_LIMIT <= store_core::DEFAULT_MAX_VALUE_LEN);
/// ```
pub const MIN_VALUE_LEN_LIMIT: usize = 1024 * 1024;

/// The largest accepted `max_value_len`: 512 MiB.
///
/// ```
/// assert_eq!(store_sqlx::MAX_VALUE_LEN_LIMIT, 512 << 20);
/// ```
pub const MAX_VALUE_LEN_LIMIT: usize = 512 * 1024 * 1024;

/// The longest table name accepted, in bytes. Postgres keeps 63 bytes of an
/// identifier; the longest name derived from a table
/// (`<table>_expires_at_idx`) must fit in them.
///
/// ```
/// // The longest derived name still fits in Postgres' 63 bytes.
/// assert!(store_sqlx::MAX_TABLE_LEN + "_expires_at_idx".len() <= 63);
/// ```
pub const MAX_TABLE_LEN: usize = 48;

/// The longest Postgres schema name accepted, in bytes.
///
/// ```
/// assert_eq!(store_sqlx::MAX_SCHEMA_LEN, 63);
/// ```
pub const MAX_SCHEMA_LEN: usize = 63;

/// The schema of a [`PostgresConfig`] that does not name one.
///
/// ```
/// let config = store_sqlx::PostgresConfig::default();
/// assert!(format!("{config:?}").contains(store_sqlx::DEFAULT_SCHEMA));
/// ```
#[cfg(feature = "postgres")]
pub const DEFAULT_SCHEMA: &str = "public";

/// How long a SQLite write waits by default for a write lock held outside
/// the store (another process, another pool) before it fails with
/// `Unavailable`.
///
/// ```
/// assert_eq!(store_sqlx::DEFAULT_BUSY_TIMEOUT, std::time::Duration::from_secs(5));
/// ```
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`PostgresStore`](crate::PostgresStore): schema, table,
/// pool, time bound, limits and clock.
///
/// ```
/// use std::time::Duration;
/// use store_sqlx::PostgresConfig;
///
/// let config = PostgresConfig::default()
///     .schema("auth")
///     .namespace("sessions")
///     .acquire_timeout(Duration::from_secs(2));
/// assert!(format!("{config:?}").contains("\"auth\""));
/// ```
#[cfg(feature = "postgres")]
pub type PostgresConfig = SqlConfig<sqlx::Postgres>;

/// Settings of a [`SqliteStore`](crate::SqliteStore): table, pool, busy
/// timeout, time bound, limits and clock.
///
/// ```
/// use std::time::Duration;
/// use store_sqlx::SqliteConfig;
///
/// let config = SqliteConfig::default()
///     .namespace("sessions")
///     .busy_timeout(Duration::from_secs(10));
/// assert!(format!("{config:?}").contains("\"sessions\""));
/// ```
#[cfg(feature = "sqlite")]
pub type SqliteConfig = SqlConfig<sqlx::Sqlite>;

/// Settings of a [`MySqlStore`](crate::MySqlStore): table, pool, time
/// bound, limits and clock. The table lives in the URL's database.
///
/// ```
/// use store_sqlx::MySqlConfig;
/// let config = MySqlConfig::default().namespace("sessions");
/// assert!(format!("{config:?}").contains("\"sessions\""));
/// ```
#[cfg(feature = "mysql")]
pub type MySqlConfig = SqlConfig<sqlx::MySql>;

/// The settings of a SQL store on database `D`: use it as
/// [`PostgresConfig`], [`SqliteConfig`] or [`MySqlConfig`]. Every setter consumes the config
/// and returns it; the values are checked when the store is built (a
/// `Config` error).
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// let config = store_sqlx::SqliteConfig::default().namespace("sessions").purge_batch(500);
/// assert!(format!("{config:?}").contains("purge_batch: 500"));
/// # }
/// ```
pub struct SqlConfig<D: Dialect> {
    pub(crate) table: String,
    pub(crate) schema: String,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) test_before_acquire: bool,
    pub(crate) operation_timeout: Duration,
    pub(crate) purge_batch: u32,
    pub(crate) max_value_len: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) busy_timeout: Duration,
    dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> Clone for SqlConfig<D> {
    fn clone(&self) -> Self {
        Self {
            table: self.table.clone(),
            schema: self.schema.clone(),
            clock: Arc::clone(&self.clock),
            ..*self
        }
    }
}

impl<D: Dialect> Default for SqlConfig<D> {
    fn default() -> Self {
        Self {
            table: DEFAULT_TABLE.to_owned(),
            schema: D::DEFAULT_SCHEMA.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            test_before_acquire: false,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            purge_batch: DEFAULT_PURGE_BATCH,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            clock: Arc::new(SystemClock),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            dialect: PhantomData,
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlConfig<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct(D::CONFIG_NAME);
        if D::NAMED_SCHEMA {
            d.field("schema", &self.schema);
        }
        d.field("table", &self.table)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("test_before_acquire", &self.test_before_acquire)
            .field("operation_timeout", &self.operation_timeout)
            .field("purge_batch", &self.purge_batch)
            .field("max_value_len", &self.max_value_len)
            .field("clock", &self.clock);
        if D::BUSY_TIMEOUT {
            d.field("busy_timeout", &self.busy_timeout);
        }
        d.finish()
    }
}

impl<D: Dialect> SqlConfig<D> {
    /// The table that holds this store's entries: the store's namespace.
    /// 1 to [`MAX_TABLE_LEN`] bytes of lowercase ASCII letters, digits and
    /// `_`, not starting with a digit; checked when the store is built (a
    /// `Config` error). Default [`DEFAULT_TABLE`].
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let config = store_sqlx::SqliteConfig::default().namespace("sessions");
    /// assert!(format!("{config:?}").contains("table: \"sessions\""));
    /// # }
    /// ```
    #[must_use]
    pub fn namespace(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The most connections the pool opened by `connect_with` keeps
    /// (default [`DEFAULT_MAX_CONNECTIONS`]); on a SQLite file the writer
    /// has one more. A pool passed to `with_config` keeps its own settings.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let config = store_sqlx::SqliteConfig::default().max_connections(32);
    /// # let _ = config;
    /// # }
    /// ```
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// How long a call waits for a pool connection, including connecting
    /// to the server, before it fails with `Unavailable` (default
    /// [`DEFAULT_ACQUIRE_TIMEOUT`]). Applies to the pool opened by
    /// `connect_with`.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use std::time::Duration;
    /// let config = store_sqlx::SqliteConfig::default().acquire_timeout(Duration::from_secs(2));
    /// # let _ = config;
    /// # }
    /// ```
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Whether the pool opened by `connect_with` pings a connection before
    /// handing it to a call (sqlx's `test_before_acquire`; default `false`
    /// here, `true` in sqlx). Off, every call is one round trip to the
    /// server instead of two: sqlx already pings each connection when it
    /// goes back to the pool, so a pooled connection was alive when it went
    /// idle. What the ping on acquire adds is catching a connection that
    /// died while idle (a server restart, a proxy's idle cut): without it,
    /// that call fails with a retryable `Unavailable` and the pool drops
    /// the connection. Turn it on where idle connections are often cut and
    /// callers do not retry.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let config = store_sqlx::SqliteConfig::default().test_before_acquire(true);
    /// # let _ = config;
    /// # }
    /// ```
    #[must_use]
    pub fn test_before_acquire(mut self, test: bool) -> Self {
        self.test_before_acquire = test;
        self
    }

    /// How long one store call (all its statements, and all of `setup`'s)
    /// may take before it fails with a retryable `Unavailable` (default
    /// [`DEFAULT_OPERATION_TIMEOUT`], 10 s), so a stalled server or a lost
    /// network never blocks a caller for ever. The bound is the client's:
    /// the server is not told to cancel, unlike PostgreSQL's own
    /// `statement_timeout` setting. A write that timed out may or may not
    /// have been applied: read before retrying anything but an idempotent
    /// write (conditional writes never apply twice). On a SQLite file the
    /// bound includes the wait in the writer's queue; a write that timed out
    /// there, before the writer reached it, is not run.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use std::time::Duration;
    /// let config = store_sqlx::SqliteConfig::default().operation_timeout(Duration::from_secs(3));
    /// # let _ = config;
    /// # }
    /// ```
    #[must_use]
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How many expired rows one statement of `delete_expired` removes, 1
    /// to [`MAX_PURGE_BATCH`] (default [`DEFAULT_PURGE_BATCH`]). Smaller
    /// batches hold row locks for less time.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let config = store_sqlx::SqliteConfig::default().purge_batch(500);
    /// # let _ = config;
    /// # }
    /// ```
    #[must_use]
    pub fn purge_batch(mut self, rows: u32) -> Self {
        self.purge_batch = rows;
        self
    }

    /// The largest value accepted, in bytes, from [`MIN_VALUE_LEN_LIMIT`]
    /// to [`MAX_VALUE_LEN_LIMIT`] (default 4 MiB). Larger values fail with
    /// `InvalidInput`.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let config = store_sqlx::SqliteConfig::default().max_value_len(8 << 20);
    /// # let _ = config;
    /// # }
    /// ```
    #[must_use]
    pub fn max_value_len(mut self, bytes: usize) -> Self {
        self.max_value_len = bytes;
        self
    }

    /// The clock that decides expiry in every statement (default
    /// [`SystemClock`]). The database's own `now()` is never used, so all
    /// processes that share a table should have synchronised clocks.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use store_core::ManualClock;
    /// let config = store_sqlx::SqliteConfig::default().clock(ManualClock::starting_now());
    /// # let _ = config;
    /// # }
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks every name and limit: a `Config` error for the first wrong
    /// one.
    pub(crate) fn validate(&self) -> Result<()> {
        if D::NAMED_SCHEMA {
            check_name("schema", &self.schema, MAX_SCHEMA_LEN, D::RESERVED_SCHEMAS)?;
        }
        check_name("table", &self.table, MAX_TABLE_LEN, D::RESERVED_TABLES)?;
        let config = |m: String| Err(Error::new(ErrorKind::Config, m));
        if self.max_connections == 0 {
            return config("max_connections must be at least 1".to_owned());
        }
        if self.acquire_timeout.is_zero() {
            return config("acquire_timeout must be longer than zero".to_owned());
        }
        if self.operation_timeout.is_zero() {
            return config("operation_timeout must be longer than zero".to_owned());
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
}

#[cfg(feature = "postgres")]
impl SqlConfig<sqlx::Postgres> {
    /// The schema of the table (default [`DEFAULT_SCHEMA`]); `setup()`
    /// creates it when missing. Same rules as a table name, at most
    /// [`MAX_SCHEMA_LEN`] bytes, and not starting with `pg_`.
    ///
    /// ```
    /// let config = store_sqlx::PostgresConfig::default().schema("auth");
    /// assert!(format!("{config:?}").contains("schema: \"auth\""));
    /// ```
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }
}

#[cfg(feature = "sqlite")]
impl SqlConfig<sqlx::Sqlite> {
    /// How long a statement waits for another connection's lock on the
    /// database file (SQLite's `busy_timeout`) before it fails with
    /// `Unavailable` (default [`DEFAULT_BUSY_TIMEOUT`]). Applies to the
    /// pool opened by `connect_with` and to the database's writer, whose
    /// writes wait only for a lock held outside the store (another process,
    /// another pool, `setup()`): the store's own writes queue for the
    /// writer instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = store_sqlx::SqliteConfig::default().busy_timeout(Duration::from_secs(1));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}

/// Checks that `name` is a plain lowercase SQL identifier: 1 to `max_len`
/// bytes of `a-z`, `0-9` and `_`, not starting with a digit, and not one of
/// the `reserved` prefixes. Lowercase only, so the name means the same
/// quoted or not in `psql` and `sqlite3`.
pub(crate) fn check_name(what: &str, name: &str, max_len: usize, reserved: &[&str]) -> Result<()> {
    let bad = |why: String| {
        Err(Error::new(
            ErrorKind::Config,
            format!("invalid {what} name {name:?}: {why}"),
        ))
    };
    if name.is_empty() || name.len() > max_len {
        return bad(format!("it must be 1 to {max_len} bytes long"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return bad("use only lowercase ASCII letters, digits and '_'".to_owned());
    }
    if name.as_bytes()[0].is_ascii_digit() {
        return bad("it must not start with a digit".to_owned());
    }
    if let Some(prefix) = reserved.iter().find(|p| name.starts_with(**p)) {
        return bad(format!(
            "names starting with {prefix:?} are reserved by the database"
        ));
    }
    Ok(())
}

/// `name` double-quoted. Only for names that passed [`check_name`], which
/// cannot contain a quote.
pub(crate) fn quote(name: &str) -> String {
    debug_assert!(!name.contains('"'));
    format!("\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for name in ["store", "sessions_v2", "_x", "a"] {
            assert!(
                check_name("table", name, MAX_TABLE_LEN, &[]).is_ok(),
                "{name}"
            );
        }
        assert!(check_name("table", &"a".repeat(MAX_TABLE_LEN), MAX_TABLE_LEN, &[]).is_ok());
    }

    #[test]
    fn rejects_everything_else_with_a_config_error() {
        let long = "a".repeat(MAX_TABLE_LEN + 1);
        for name in [
            "", "Sessions", "a-b", "a b", "1st", "a\"b", "a;drop", "ä", &long,
        ] {
            let err = check_name("table", name, MAX_TABLE_LEN, &[]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{name}");
            assert!(err.message().starts_with("invalid table name"), "{err}");
        }
        let err = check_name("schema", "pg_temp", MAX_SCHEMA_LEN, &["pg_"]).unwrap_err();
        assert!(err.message().contains("reserved"), "{err}");
    }

    #[test]
    fn quotes() {
        assert_eq!(quote("store"), "\"store\"");
    }
}
