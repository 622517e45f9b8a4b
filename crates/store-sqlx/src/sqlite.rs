//! [`SqliteStore`]: a store in one SQLite table, in a file or in memory.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite};
use store_core::{
    Capabilities, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, PutMode, PutOptions,
    PutResult, Result, ScanCursor, ScanPage, Store, Version, scan::key_order_start, validate,
};

use crate::config::SqliteConfig;
use crate::entry::{from_columns, key_column, scan_page};
use crate::error::{CodeMeaning, PoolLimits, classify};
use crate::ident::quote;
use crate::outcome::{check_columns, refused_delete, refused_put};
use crate::timeout::Within;

/// The backend name in errors and [`Capabilities`]: `"sqlite"`.
pub const SQLITE: &str = "sqlite";

/// SQLite's generic `SQLITE_ERROR` result code, which a missing table gives.
const SQLITE_ERROR: &str = "1";

/// A [`Store`] in one SQLite table, through a sqlx pool.
///
/// - **Databases**: a file (`sqlite://path/to/app.db`, created when
///   missing, in WAL mode with a busy timeout, so concurrent writers wait
///   for each other instead of failing with "database is locked"), or
///   memory (`sqlite::memory:`, one connection that lives as long as the
///   store: the data goes with it).
/// - **Schema** (`migrate()`): `key TEXT PRIMARY KEY`, `value BLOB`,
///   `version INTEGER`, `expires_at INTEGER` (milliseconds since the epoch,
///   NULL: never, so comparisons are exact and indexed), `owner TEXT`;
///   partial indexes on `expires_at` and `(owner, key)`. A one-row table
///   `<table>_versions`, kept by two triggers, remembers the highest
///   version ever written, so a version is never handed out twice, even
///   after a delete.
/// - **One statement per call**: every [`PutMode`] is a single `INSERT …
///   ON CONFLICT` or `UPDATE … RETURNING`; SQLite runs each write under the
///   database's write lock, so the condition and the write are one step.
/// - **One clock**: the store's [`Clock`](store_core::Clock) is bound as a
///   parameter to every statement.
///
/// ```
/// use store_core::{Key, PutMode, Store};
/// use store_sqlx::SqliteStore;
///
/// # #[tokio::main] async fn main() -> store_core::Result<()> {
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let key = Key::new("session:1")?;
/// store.put(&key, "data".into(), PutMode::Create.into()).await?;
/// assert_eq!(&store.get(&key).await?.unwrap().value[..], b"data");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    config: Arc<SqliteConfig>,
    sql: Arc<Statements>,
    limits: PoolLimits,
    in_memory: bool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.config.common.table)
            .field("in_memory", &self.in_memory)
            .field("max_connections", &self.limits.max_connections)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens `url`: `sqlite://path/app.db` or `sqlite:app.db` (created when
    /// missing) or `sqlite::memory:`, with sqlx's query options. Uses
    /// [`SqliteConfig::default`]: table `store_entries`. Call
    /// [`migrate`](Self::migrate) once before the first use of a table.
    ///
    /// A file database is switched to WAL mode with `synchronous = NORMAL`
    /// (a commit survives a crash of the process; a power loss may lose the
    /// last commits) and the busy timeout of the config.
    ///
    /// # Errors
    /// `Config` for a malformed URL or a file that cannot be opened or
    /// created.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> store_core::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let url = format!("sqlite://{}", dir.path().join("app.db").display());
    /// let store = store_sqlx::SqliteStore::connect(&url).await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, SqliteConfig::default()).await
    }

    /// [`connect`](Self::connect) with settings: pool size, acquire timeout
    /// and busy timeout apply to the new pool. An in-memory database always
    /// has exactly one connection.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), and `Config` for an invalid config.
    ///
    /// ```
    /// use store_sqlx::{SqliteConfig, SqliteStore};
    /// # #[tokio::main] async fn main() -> store_core::Result<()> {
    /// let store = SqliteStore::connect_with("sqlite::memory:", SqliteConfig::default().table("sessions")).await?;
    /// assert_eq!(store.table(), "sessions");
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(url: &str, config: SqliteConfig) -> Result<Self> {
        let connect_err = |e| {
            classify(
                e,
                SQLITE,
                Operation::Connect,
                PoolLimits {
                    max_connections: config.common.max_connections,
                    acquire_timeout: config.common.acquire_timeout,
                },
                result_code,
            )
        };
        config
            .validate()
            .map_err(|e| e.in_context(SQLITE, Operation::Connect))?;
        let in_memory = is_memory_url(url);
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(connect_err)?
            .create_if_missing(true)
            .busy_timeout(config.busy_timeout);
        let mut pool = SqlitePoolOptions::new()
            .acquire_timeout(config.common.acquire_timeout)
            .test_before_acquire(config.common.test_before_acquire);
        if in_memory {
            // One connection keeps the database alive and serialises access.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            pool = pool.max_connections(config.common.max_connections);
        }
        let pool = open_pool(pool, options, config.busy_timeout)
            .await
            .map_err(|e| {
                let e = connect_err(e);
                let message = format!("cannot open {url}: {}", e.message());
                Error::new(e.kind(), message)
                    .in_context(SQLITE, Operation::Connect)
                    .with_source(e)
            })?;
        let mut store = Self::with_config(pool, config)?;
        store.in_memory = in_memory;
        Ok(store)
    }

    /// A store on an existing pool, with [`SqliteConfig::default`]. The
    /// pool keeps its own options: give it WAL mode and a busy timeout for
    /// concurrent writers, and one long-lived connection for an in-memory
    /// database (or use [`connect`](Self::connect), which does both).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let store = store_sqlx::SqliteStore::new(pool);
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub fn new(pool: SqlitePool) -> Self {
        Self::with_config(pool, SqliteConfig::default()).expect("the default SqliteConfig is valid")
    }

    /// A store on an existing pool with settings; the pool keeps its own
    /// size and timeouts.
    ///
    /// # Errors
    /// `Config` for an invalid table name or limit.
    ///
    /// ```
    /// use store_sqlx::{SqliteConfig, SqliteStore};
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let err = SqliteStore::with_config(pool, SqliteConfig::default().table("Bad-Name")).unwrap_err();
    /// assert_eq!(err.kind(), store_core::ErrorKind::Config);
    /// # Ok(()) }
    /// ```
    pub fn with_config(pool: SqlitePool, config: SqliteConfig) -> Result<Self> {
        config
            .validate()
            .map_err(|e| e.in_context(SQLITE, Operation::Connect))?;
        let limits = PoolLimits {
            max_connections: pool.options().get_max_connections(),
            acquire_timeout: pool.options().get_acquire_timeout(),
        };
        let sql = Arc::new(Statements::new(&config.common.table));
        Ok(Self {
            pool,
            config: Arc::new(config),
            sql,
            limits,
            in_memory: false,
        })
    }

    /// A store on the same pool in another table: another namespace. Call
    /// [`migrate`](Self::migrate) on it before first use.
    ///
    /// # Errors
    /// `Config` for an invalid table name.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> store_core::Result<()> {
    /// let sessions = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// let tokens = sessions.with_table("oauth_tokens")?;
    /// tokens.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub fn with_table(&self, table: impl Into<String>) -> Result<Self> {
        let config = (*self.config).clone().table(table);
        let mut store = Self::with_config(self.pool.clone(), config)?;
        store.in_memory = self.in_memory;
        Ok(store)
    }

    /// The pool, for the application's own queries.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> store_core::Result<()> {
    /// let store = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// let pool: &sqlx::SqlitePool = store.pool();
    /// # Ok(()) }
    /// ```
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The table name.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> store_core::Result<()> {
    /// let store = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// assert_eq!(store.table(), store_sqlx::DEFAULT_TABLE);
    /// # Ok(()) }
    /// ```
    pub fn table(&self) -> &str {
        &self.config.common.table
    }

    /// Creates the table, its indexes, the version table and its triggers.
    /// Idempotent, and safe when several processes call it at once: it runs
    /// in one `BEGIN IMMEDIATE` transaction, which holds the database's
    /// write lock.
    ///
    /// # Errors
    /// `Config` when a table of that name exists with other columns (it is
    /// left untouched) or the file is read-only; `Unavailable` when the
    /// write lock is not free within the busy timeout.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> store_core::Result<()> {
    /// let store = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// store.migrate().await?; // a no-op the second time
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<()> {
        let op = Operation::Migrate;
        let mut tx = self
            .run(op, self.pool.begin_with("BEGIN IMMEDIATE"))
            .await?;
        self.run(op, sqlx::query(&self.sql.create_table).execute(&mut *tx))
            .await?;
        let columns: Vec<(String, String)> = self
            .run(
                op,
                sqlx::query_as("SELECT name, upper(type) FROM pragma_table_info(?1)")
                    .bind(&self.config.common.table)
                    .fetch_all(&mut *tx),
            )
            .await?;
        self.check_columns(&columns)?;
        for ddl in &self.sql.create_rest {
            self.run(op, sqlx::query(ddl).execute(&mut *tx)).await?;
        }
        self.run(op, tx.commit()).await
    }

    fn check_columns(&self, found: &[(String, String)]) -> Result<()> {
        const EXPECTED: [(&str, &str); 5] = [
            ("key", "TEXT"),
            ("value", "BLOB"),
            ("version", "INTEGER"),
            ("expires_at", "INTEGER"),
            ("owner", "TEXT"),
        ];
        check_columns(SQLITE, &self.config.common.table, &EXPECTED, found)
    }

    /// Awaits one driver call and maps its error. A generic `SQLITE_ERROR`
    /// is looked into: when this store's table does not exist the error
    /// says to call `migrate()`.
    async fn run<T>(
        &self,
        operation: Operation,
        call: impl Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        let e = match call.within(self.config.common.statement_timeout).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let generic =
            matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some(SQLITE_ERROR));
        let err = classify(e, SQLITE, operation, self.limits, result_code);
        if generic && operation != Operation::Migrate && !self.table_exists().await {
            let message = format!(
                "table {} does not exist: call migrate() once before using the store",
                self.config.common.table
            );
            return Err(Error::new(ErrorKind::Config, message)
                .in_context(SQLITE, operation)
                .with_source(err));
        }
        Err(err)
    }

    async fn table_exists(&self) -> bool {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        )
        .bind(&self.config.common.table)
        .fetch_one(&self.pool)
        .within(self.config.common.statement_timeout)
        .await
        .is_ok_and(|n| n > 0)
    }

    fn now(&self) -> i64 {
        self.config.common.clock.now().as_unix_millis()
    }

    fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(SQLITE);
        caps.shared = !self.in_memory;
        caps.max_value_len = self.config.common.max_value_len;
        caps
    }

    fn entry(&self, row: &SqliteRow, operation: Operation) -> Result<Entry> {
        let err = |e| classify(e, SQLITE, operation, self.limits, result_code);
        from_columns(
            SQLITE,
            operation,
            row.try_get("value").map_err(err)?,
            row.try_get("version").map_err(err)?,
            row.try_get("expires_at").map_err(err)?,
            row.try_get("owner").map_err(err)?,
        )
    }

    async fn live_version(&self, key: &Key, now: i64, op: Operation) -> Result<Option<Version>> {
        let version: Option<i64> = self
            .run(
                op,
                sqlx::query_scalar(&self.sql.live_version)
                    .bind(key.as_str())
                    .bind(now)
                    .fetch_optional(&self.pool),
            )
            .await?;
        Ok(version.map(Version::from_i64))
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for SqliteStore {
    /// One `SELECT` by primary key that skips an expired row.
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let op = Operation::Get;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(SQLITE, op))?;
        let query = sqlx::query(&self.sql.get)
            .bind(key.as_str())
            .bind(self.now());
        let rows = self.run(op, query.fetch_all(&self.pool)).await?;
        rows.first().map(|r| self.entry(r, op)).transpose()
    }

    /// One statement per mode: `INSERT … ON CONFLICT DO UPDATE` for
    /// `Upsert` and `Create` (the latter only over an expired row),
    /// `UPDATE … WHERE <live> [AND version = ?]` for `Update` and
    /// `UpdateIf`; the new version is one more than the highest ever
    /// written to the table.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let op = Operation::Put;
        let now = self.now();
        let caps = self.caps();
        validate::key(&caps, key)
            .and_then(|()| {
                let now = Expiry::from_unix_millis(now)?;
                validate::put(&caps, &value, &options, now)
            })
            .map_err(|e| e.in_context(SQLITE, op))?;
        let (sql, expected) = match options.mode {
            PutMode::Upsert => (&self.sql.upsert, None),
            PutMode::Create => (&self.sql.create_entry, None),
            PutMode::Update => (&self.sql.update, None),
            PutMode::UpdateIf(v) => (&self.sql.update_if, Some(v)),
        };
        let mut query = sqlx::query_scalar::<Sqlite, i64>(sql)
            .bind(key.as_str())
            .bind(&value[..])
            .bind(options.expires_at.map(Expiry::as_unix_millis))
            .bind(options.owner.as_ref().map(Owner::as_str));
        if options.mode != PutMode::Upsert {
            query = query.bind(now);
        }
        if let Some(v) = expected {
            query = query.bind(v.as_i64());
        }
        // `fetch_all` steps the statement to its end, so the write commits
        // before the call returns.
        let written = self.run(op, query.fetch_all(&self.pool)).await?;
        if let Some(&version) = written.first() {
            return Ok(PutResult::new(Version::from_i64(version)));
        }
        let current = match options.mode {
            PutMode::UpdateIf(_) => self.live_version(key, now, op).await?,
            _ => None,
        };
        Err(refused_put(SQLITE, options.mode, current))
    }

    /// One `DELETE`; with `if_version`, a read-only query afterwards tells
    /// a stale version (`VersionMismatch`) from a missing key (`false`).
    /// An expired row is removed too, and reported as `false`.
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(SQLITE, op))?;
        let now = self.now();
        let Some(expected) = if_version else {
            let query = sqlx::query_scalar::<Sqlite, i64>(&self.sql.delete)
                .bind(key.as_str())
                .bind(now);
            let live = self.run(op, query.fetch_all(&self.pool)).await?;
            return Ok(live.first() == Some(&1));
        };
        let query = sqlx::query(&self.sql.delete_if)
            .bind(key.as_str())
            .bind(now)
            .bind(expected.as_i64());
        if self
            .run(op, query.execute(&self.pool))
            .await?
            .rows_affected()
            > 0
        {
            return Ok(true);
        }
        let current = self.live_version(key, now, op).await?;
        refused_delete(SQLITE, expected, current)
    }

    /// One `UPDATE` of `expires_at` on a live row; value, owner and version
    /// stay.
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        let now = self.now();
        validate::key(&self.caps(), key)
            .and_then(|()| validate::expiry(expires_at, Expiry::from_unix_millis(now)?))
            .map_err(|e| e.in_context(SQLITE, op))?;
        let query = sqlx::query(&self.sql.touch)
            .bind(key.as_str())
            .bind(expires_at.as_unix_millis())
            .bind(now);
        if self
            .run(op, query.execute(&self.pool))
            .await?
            .rows_affected()
            == 0
        {
            return Err(Error::not_found().in_context(SQLITE, op));
        }
        Ok(())
    }

    /// Batches of `DELETE … WHERE key IN (SELECT … LIMIT n)` until a batch
    /// comes back short. Each batch is one write transaction, so other
    /// writers get the lock between batches.
    async fn delete_expired(&self) -> Result<u64> {
        let op = Operation::DeleteExpired;
        let now = self.now();
        let batch = self.config.common.purge_batch;
        let mut total = 0;
        loop {
            let query = sqlx::query(&self.sql.purge)
                .bind(now)
                .bind(i64::from(batch));
            let deleted = self
                .run(op, query.execute(&self.pool))
                .await?
                .rows_affected();
            total += deleted;
            if deleted < u64::from(batch) {
                return Ok(total);
            }
        }
    }

    /// One `SELECT` through the `(owner, key)` index.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let op = Operation::ListByOwner;
        let query = sqlx::query(&self.sql.list_owner)
            .bind(owner.as_str())
            .bind(self.now());
        let rows = self.run(op, query.fetch_all(&self.pool)).await?;
        rows.iter()
            .map(|row| {
                let key: String = row
                    .try_get("key")
                    .map_err(|e| classify(e, SQLITE, op, self.limits, result_code))?;
                Ok((key_column(SQLITE, op, key)?, self.entry(row, op)?))
            })
            .collect()
    }

    /// One `DELETE` through the owner index, counting the rows that were
    /// still live.
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let op = Operation::DeleteByOwner;
        let query = sqlx::query_scalar::<Sqlite, i64>(&self.sql.delete_owner)
            .bind(owner.as_str())
            .bind(self.now());
        let live = self.run(op, query.fetch_all(&self.pool)).await?;
        Ok(live.iter().filter(|&&l| l == 1).count() as u64)
    }

    /// One `SELECT` in primary-key order from the cursor's key, `limit`
    /// rows at most; rows that do not decode are named, not fatal. Rows
    /// whose key is not text (no store writes those) are not visited.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        let after = key_order_start(cursor, limit).map_err(|e| e.in_context(SQLITE, op))?;
        let limit_param = i64::try_from(limit).unwrap_or(i64::MAX);
        let query = match after {
            Some(after) => sqlx::query(&self.sql.scan_after)
                .bind(after)
                .bind(limit_param),
            None => sqlx::query(&self.sql.scan_first).bind(limit_param),
        };
        let now = self.config.common.clock.now();
        let rows = self.run(op, query.fetch_all(&self.pool)).await?;
        let rows = rows
            .iter()
            .map(|row| {
                let key: String = row
                    .try_get("key")
                    .map_err(|e| classify(e, SQLITE, op, self.limits, result_code))?;
                Ok((key, self.entry(row, op)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(scan_page(rows, now, limit))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}

/// Whether a SQLite URL names an in-memory database (`:memory:` or
/// `mode=memory`).
fn is_memory_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

/// Every statement of one table, built once from its quoted names.
#[derive(Debug)]
struct Statements {
    create_table: String,
    create_rest: Vec<String>,
    get: String,
    live_version: String,
    upsert: String,
    create_entry: String,
    update: String,
    update_if: String,
    delete: String,
    delete_if: String,
    touch: String,
    purge: String,
    list_owner: String,
    delete_owner: String,
    scan_first: String,
    scan_after: String,
}

impl Statements {
    fn new(table: &str) -> Self {
        let t = quote(table);
        let versions = quote(&format!("{table}_versions"));
        let on_insert = quote(&format!("{table}_version_on_insert"));
        let on_update = quote(&format!("{table}_version_on_update"));
        let expiry_idx = quote(&format!("{table}_expires_at_idx"));
        let owner_idx = quote(&format!("{table}_owner_idx"));
        let next_version = format!("(SELECT last + 1 FROM {versions} WHERE id = 1)");
        let remember = format!(
            "BEGIN UPDATE {versions} SET last = NEW.version WHERE id = 1 AND last < NEW.version; END"
        );
        // `?1` is always the key (or owner); `live` needs `now` as `?n`.
        let live = |n: u8| format!("(expires_at IS NULL OR expires_at > ?{n})");
        let insert = format!(
            "INSERT INTO {t} (key, value, version, expires_at, owner) \
             VALUES (?1, ?2, {next_version}, ?3, ?4) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             version = excluded.version, expires_at = excluded.expires_at, owner = excluded.owner"
        );
        let update = format!(
            "UPDATE {t} SET value = ?2, version = {next_version}, expires_at = ?3, owner = ?4 \
             WHERE key = ?1 AND {}",
            live(5)
        );
        Self {
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 key TEXT PRIMARY KEY NOT NULL, \
                 value BLOB NOT NULL, \
                 version INTEGER NOT NULL, \
                 expires_at INTEGER, \
                 owner TEXT)"
            ),
            create_rest: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {versions} (\
                     id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL)"
                ),
                format!(
                    "INSERT INTO {versions} (id, last) \
                     SELECT 1, coalesce((SELECT max(version) FROM {t}), 0) WHERE true \
                     ON CONFLICT (id) DO NOTHING"
                ),
                format!("CREATE TRIGGER IF NOT EXISTS {on_insert} AFTER INSERT ON {t} {remember}"),
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {on_update} AFTER UPDATE OF version ON {t} \
                     {remember}"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {expiry_idx} ON {t} (expires_at) \
                     WHERE expires_at IS NOT NULL"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {owner_idx} ON {t} (owner, key) \
                     WHERE owner IS NOT NULL"
                ),
            ],
            get: format!(
                "SELECT value, version, expires_at, owner FROM {t} WHERE key = ?1 AND {}",
                live(2)
            ),
            live_version: format!("SELECT version FROM {t} WHERE key = ?1 AND {}", live(2)),
            upsert: format!("{insert} RETURNING version"),
            create_entry: format!(
                "{insert} WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= ?5 \
                 RETURNING version"
            ),
            update: format!("{update} RETURNING version"),
            update_if: format!("{update} AND version = ?6 RETURNING version"),
            delete: format!("DELETE FROM {t} WHERE key = ?1 RETURNING {}", live(2)),
            delete_if: format!(
                "DELETE FROM {t} WHERE key = ?1 AND {} AND version = ?3",
                live(2)
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = ?2 WHERE key = ?1 AND {}",
                live(3)
            ),
            purge: format!(
                "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= ?1 \
                 ORDER BY expires_at LIMIT ?2)"
            ),
            list_owner: format!(
                "SELECT key, value, version, expires_at, owner FROM {t} \
                 WHERE owner = ?1 AND {} ORDER BY key",
                live(2)
            ),
            delete_owner: format!("DELETE FROM {t} WHERE owner = ?1 RETURNING {}", live(2)),
            scan_first: format!(
                "SELECT key, value, version, expires_at, owner FROM {t} \
                 WHERE typeof(key) = 'text' ORDER BY key LIMIT ?1"
            ),
            scan_after: format!(
                "SELECT key, value, version, expires_at, owner FROM {t} \
                 WHERE key > ?1 AND typeof(key) = 'text' ORDER BY key LIMIT ?2"
            ),
        }
    }
}

/// What a SQLite extended result code means for the store.
/// Opens the pool, retrying while SQLite answers `SQLITE_BUSY` for up to
/// `busy_timeout`.
///
/// Opening a file switches it to WAL mode, which needs an exclusive lock.
/// When several processes open a new file at once, SQLite may refuse that
/// lock at once rather than through the busy handler (its deadlock
/// avoidance), so the busy timeout alone does not cover it.
async fn open_pool(
    pool: SqlitePoolOptions,
    options: SqliteConnectOptions,
    busy_timeout: Duration,
) -> std::result::Result<SqlitePool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match pool.clone().connect_with(options.clone()).await {
            Err(sqlx::Error::Database(e))
                if e.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff)
                    == Some(5)
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

fn result_code(code: &str) -> CodeMeaning {
    use ErrorKind::*;
    let m = CodeMeaning::new;
    let Ok(code) = code.parse::<i32>() else {
        return m(Backend, "SQLite reported an error");
    };
    match code {
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
        2067 | 1555 => return m(AlreadyExists, "the key already exists (unique constraint)"),
        _ => {}
    }
    match code & 0xff {
        5 | 6 => m(
            Unavailable,
            "the database stayed locked by another connection for the whole busy timeout",
        ),
        10 => m(Unavailable, "a disk I/O error occurred"),
        7 => m(CapacityExceeded, "SQLite ran out of memory"),
        13 => m(CapacityExceeded, "the disk or the database is full"),
        3 | 23 => m(Config, "access to the database was denied"),
        8 => m(Config, "the database is read-only"),
        14 => m(Config, "the database file cannot be opened"),
        11 | 26 => m(
            Backend,
            "the database file is corrupt or not a SQLite database",
        ),
        18 => m(InvalidInput, "a value exceeds SQLite's size limit"),
        20 => m(Encoding, "a stored value has an unexpected type"),
        _ => m(Backend, "SQLite reported an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls() {
        assert!(is_memory_url("sqlite::memory:"));
        assert!(is_memory_url("sqlite://:memory:"));
        assert!(is_memory_url("sqlite:file:x?mode=memory&cache=shared"));
        assert!(!is_memory_url("sqlite://data/app.db"));
        assert!(!is_memory_url("sqlite:app.db?mode=rwc"));
    }

    #[test]
    fn result_codes_map_to_kinds() {
        assert_eq!(result_code("5").kind, ErrorKind::Unavailable);
        assert_eq!(result_code("517").kind, ErrorKind::Unavailable); // BUSY_SNAPSHOT
        assert_eq!(result_code("2067").kind, ErrorKind::AlreadyExists);
        assert_eq!(result_code("13").kind, ErrorKind::CapacityExceeded);
        assert_eq!(result_code("8").kind, ErrorKind::Config);
        assert_eq!(result_code("1").kind, ErrorKind::Backend);
        assert_eq!(result_code("x").kind, ErrorKind::Backend);
    }
}
