//! [`PostgresStore`]: a store in one Postgres table.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArgumentBuffer, PgPool, PgPoolOptions, PgRow, PgTypeInfo, PgValueFormat, PgValueRef,
    types::Oid,
};
use sqlx::{Decode, Encode, Postgres, Row, Type};
use store_core::{
    Capabilities, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, PutMode, PutOptions,
    PutResult, Result, ScanCursor, ScanPage, Store, Version, is_secret_param, redact_url,
    scan::key_order_start, validate,
};

use crate::config::PostgresConfig;
use crate::entry::{from_columns, key_column, scan_page};
use crate::error::{CodeMeaning, PoolLimits, classify};
use crate::ident::quote;
use crate::outcome::{check_columns, refused_delete, refused_put};
use crate::timeout::Within;

/// The backend name in errors and [`Capabilities`]: `"postgres"`.
pub const POSTGRES: &str = "postgres";

/// The advisory lock every `migrate()` takes, whatever the table: the
/// bytes of `"storesql"`.
const MIGRATE_LOCK: i64 = i64::from_be_bytes(*b"storesql");

/// A [`Store`] in one Postgres table, through a sqlx pool.
///
/// - **Schema** (`migrate()`): `key text COLLATE "C" PRIMARY KEY`,
///   `value bytea`, `version bigint` (from the table's own sequence, so a
///   version is never handed out twice), `expires_at timestamptz` (NULL:
///   never), `owner text`; partial indexes on `expires_at` and
///   `(owner, key)`.
/// - **One statement per call**: every [`PutMode`] is a single `INSERT …
///   ON CONFLICT` or `UPDATE … RETURNING` whose `WHERE` holds the whole
///   condition, so concurrent writers are decided by the row lock. Only
///   when a conditional statement changes nothing does a second, read-only
///   query tell `NotFound` from `VersionMismatch`.
/// - **One clock**: the store's [`Clock`](store_core::Clock) is bound as a
///   parameter to every statement; the server's `now()` is never used.
/// - **Cleanup**: [`Store::delete_expired`] deletes in batches of
///   `purge_batch` rows locked with `FOR UPDATE SKIP LOCKED`, so several
///   processes can purge at once and each row is counted once.
///
/// ```no_run
/// use store_core::{Key, PutMode, Store};
/// use store_sqlx::PostgresStore;
///
/// # #[tokio::main] async fn main() -> store_core::Result<()> {
/// let store = PostgresStore::connect("postgres://app@localhost/app").await?;
/// store.migrate().await?;
/// let key = Key::new("session:1")?;
/// store.put(&key, "data".into(), PutMode::Create.into()).await?;
/// assert!(store.get(&key).await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    config: Arc<PostgresConfig>,
    sql: Arc<Statements>,
    limits: PoolLimits,
}

impl fmt::Debug for PostgresStore {
    /// Schema, table and pool size; never the connection options, which
    /// hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.config.schema)
            .field("table", &self.config.common.table)
            .field("max_connections", &self.limits.max_connections)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects a pool to `url` (`postgres://user:password@host:port/db`,
    /// with sqlx's query options such as `sslmode`) and checks that one
    /// connection works. Uses [`PostgresConfig::default`]: table
    /// `store_entries` in `public`. Call [`migrate`](Self::migrate) once
    /// before the first use of a table.
    ///
    /// # Errors
    /// `Config` for a malformed URL, rejected credentials or a query
    /// parameter sqlx does not know whose name says it holds a secret
    /// (libpq's `sslpassword`: sqlx would log its value), `Unavailable`
    /// when the server cannot be reached within the acquire timeout. The
    /// URL's password never appears in the message.
    ///
    /// ```no_run
    /// # async fn f() -> store_core::Result<()> {
    /// let store = store_sqlx::PostgresStore::connect("postgres://app:secret@db/app").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PostgresConfig::default()).await
    }

    /// [`connect`](Self::connect) with settings: pool size and acquire
    /// timeout apply to the new pool.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), and `Config` for an invalid config.
    ///
    /// ```no_run
    /// use store_sqlx::{PostgresConfig, PostgresStore};
    /// # async fn f() -> store_core::Result<()> {
    /// let config = PostgresConfig::default().schema("auth").table("sessions").max_connections(20);
    /// let store = PostgresStore::connect_with("postgres://app@db/app", config).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(url: &str, config: PostgresConfig) -> Result<Self> {
        config
            .validate()
            .map_err(|e| e.in_context(POSTGRES, Operation::Connect))?;
        if let Some(name) = ignored_secret_param(url) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "cannot connect to {}: sqlx does not support the connection parameter \
                     `{name}` and would log its value; remove it from the URL",
                    redact_url(url)
                ),
            )
            .in_context(POSTGRES, Operation::Connect));
        }
        let limits = PoolLimits {
            max_connections: config.common.max_connections,
            acquire_timeout: config.common.acquire_timeout,
        };
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .test_before_acquire(config.common.test_before_acquire)
            .acquire_timeout(limits.acquire_timeout)
            .connect(url)
            .await
            .map_err(|e| {
                let e = classify(e, POSTGRES, Operation::Connect, limits, sqlstate);
                let message = format!("cannot connect to {}: {}", redact_url(url), e.message());
                Error::new(e.kind(), message)
                    .in_context(POSTGRES, Operation::Connect)
                    .with_retryable(e.is_retryable())
                    .with_source(e)
            })?;
        Self::with_config(pool, config)
    }

    /// A store on an existing pool, with [`PostgresConfig::default`].
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@db/app").await?;
    /// let store = store_sqlx::PostgresStore::new(pool);
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        Self::with_config(pool, PostgresConfig::default())
            .expect("the default PostgresConfig is valid")
    }

    /// A store on an existing pool with settings; the pool keeps its own
    /// size and timeouts.
    ///
    /// # Errors
    /// `Config` for an invalid schema or table name or limit.
    ///
    /// ```no_run
    /// use store_sqlx::{PostgresConfig, PostgresStore};
    /// # async fn f(pool: sqlx::PgPool) -> store_core::Result<()> {
    /// let store = PostgresStore::with_config(pool, PostgresConfig::default().table("sessions"))?;
    /// # Ok(()) }
    /// ```
    pub fn with_config(pool: PgPool, config: PostgresConfig) -> Result<Self> {
        config
            .validate()
            .map_err(|e| e.in_context(POSTGRES, Operation::Connect))?;
        let limits = PoolLimits {
            max_connections: pool.options().get_max_connections(),
            acquire_timeout: pool.options().get_acquire_timeout(),
        };
        let sql = Arc::new(Statements::new(&config.schema, &config.common.table));
        Ok(Self {
            pool,
            config: Arc::new(config),
            sql,
            limits,
        })
    }

    /// A store on the same pool and schema in another table: another
    /// namespace. Call [`migrate`](Self::migrate) on it before first use.
    ///
    /// # Errors
    /// `Config` for an invalid table name.
    ///
    /// ```no_run
    /// # fn f(store: store_sqlx::PostgresStore) -> store_core::Result<()> {
    /// let tokens = store.with_table("oauth_tokens")?;
    /// assert_eq!(tokens.table(), "oauth_tokens");
    /// # Ok(()) }
    /// ```
    pub fn with_table(&self, table: impl Into<String>) -> Result<Self> {
        let config = (*self.config).clone().table(table);
        Self::with_config(self.pool.clone(), config)
    }

    /// The pool, for the application's own queries.
    ///
    /// ```no_run
    /// # fn f(store: store_sqlx::PostgresStore) {
    /// let pool: &sqlx::PgPool = store.pool();
    /// # }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table name.
    ///
    /// ```no_run
    /// # fn f(store: store_sqlx::PostgresStore) {
    /// assert_eq!(store.table(), store_sqlx::DEFAULT_TABLE);
    /// # }
    /// ```
    pub fn table(&self) -> &str {
        &self.config.common.table
    }

    /// The schema name.
    ///
    /// ```no_run
    /// # fn f(store: store_sqlx::PostgresStore) {
    /// assert_eq!(store.schema(), "public");
    /// # }
    /// ```
    pub fn schema(&self) -> &str {
        &self.config.schema
    }

    /// Creates the schema (when missing), the version sequence, the table
    /// and its two indexes. Idempotent, and safe when several processes
    /// call it at once: it runs in one transaction under a Postgres
    /// advisory lock.
    ///
    /// # Errors
    /// `Config` when a table of that name exists with other columns (it is
    /// left untouched) or the user may not create it; `Unavailable`.
    ///
    /// ```no_run
    /// # async fn f(store: store_sqlx::PostgresStore) -> store_core::Result<()> {
    /// store.migrate().await?;
    /// store.migrate().await?; // a no-op the second time
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<()> {
        let err = |e| self.classify(e, Operation::Migrate);
        let mut tx = self
            .pool
            .begin()
            .within(self.config.common.statement_timeout)
            .await
            .map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK)
            .execute(&mut *tx)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(err)?;
        let schema_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(&self.config.schema)
                .fetch_one(&mut *tx)
                .within(self.config.common.statement_timeout)
                .await
                .map_err(err)?;
        if !schema_exists {
            let ddl = format!("CREATE SCHEMA {}", quote(&self.config.schema));
            sqlx::query(&ddl)
                .execute(&mut *tx)
                .within(self.config.common.statement_timeout)
                .await
                .map_err(err)?;
        }
        for ddl in &self.sql.create {
            sqlx::query(ddl)
                .execute(&mut *tx)
                .within(self.config.common.statement_timeout)
                .await
                .map_err(err)?;
        }
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .bind(&self.config.schema)
        .bind(&self.config.common.table)
        .fetch_all(&mut *tx)
        .within(self.config.common.statement_timeout)
        .await
        .map_err(err)?;
        self.check_columns(&columns)?;
        for ddl in &self.sql.indexes {
            sqlx::query(ddl)
                .execute(&mut *tx)
                .within(self.config.common.statement_timeout)
                .await
                .map_err(err)?;
        }
        tx.commit()
            .within(self.config.common.statement_timeout)
            .await
            .map_err(err)
    }

    /// A table that existed before `migrate` must have the store's columns,
    /// or every later call would fail in a less clear way.
    fn check_columns(&self, found: &[(String, String)]) -> Result<()> {
        const EXPECTED: [(&str, &str); 5] = [
            ("key", "text"),
            ("value", "bytea"),
            ("version", "bigint"),
            ("expires_at", "timestamp with time zone"),
            ("owner", "text"),
        ];
        check_columns(
            POSTGRES,
            &format!("{}.{}", self.config.schema, self.config.common.table),
            &EXPECTED,
            found,
        )
    }

    fn classify(&self, e: sqlx::Error, operation: Operation) -> Error {
        let missing_table =
            matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01"));
        let err = classify(e, POSTGRES, operation, self.limits, sqlstate);
        if missing_table && operation != Operation::Migrate {
            let message = format!(
                "table {}.{} does not exist: call migrate() once before using the store",
                self.config.schema, self.config.common.table
            );
            return Error::new(ErrorKind::Config, message)
                .in_context(POSTGRES, operation)
                .with_source(err);
        }
        err
    }

    fn now(&self) -> Expiry {
        self.config.common.clock.now()
    }

    fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(POSTGRES);
        caps.shared = true;
        caps.max_value_len = self.config.common.max_value_len;
        caps
    }

    fn entry(&self, row: &PgRow, operation: Operation) -> Result<Entry> {
        let err = |e| self.classify(e, operation);
        from_columns(
            POSTGRES,
            operation,
            row.try_get("value").map_err(err)?,
            row.try_get("version").map_err(err)?,
            row.try_get::<Option<Timestamp>, _>("expires_at")
                .map_err(err)?
                .map(|t| t.0),
            row.try_get("owner").map_err(err)?,
        )
    }

    /// The live version under `key`, if any: how a conditional statement
    /// that changed nothing is explained.
    async fn live_version(
        &self,
        key: &Key,
        now: Expiry,
        operation: Operation,
    ) -> Result<Option<Version>> {
        let version: Option<i64> = sqlx::query_scalar(&self.sql.live_version)
            .bind(key.as_str())
            .bind(to_timestamp(now))
            .fetch_optional(&self.pool)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(|e| self.classify(e, operation))?;
        Ok(version.map(Version::from_i64))
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for PostgresStore {
    /// One `SELECT` by primary key that skips an expired row.
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let op = Operation::Get;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(POSTGRES, op))?;
        let row = sqlx::query(&self.sql.get)
            .bind(key.as_str())
            .bind(to_timestamp(self.now()))
            .fetch_optional(&self.pool)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(|e| self.classify(e, op))?;
        row.map(|r| self.entry(&r, op)).transpose()
    }

    /// One statement per mode: `INSERT … ON CONFLICT DO UPDATE` for
    /// `Upsert` and `Create` (the latter only over an expired row),
    /// `UPDATE … WHERE <live> [AND version = $v]` for `Update` and
    /// `UpdateIf`; the new version comes from the table's sequence.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let op = Operation::Put;
        let now = self.now();
        let caps = self.caps();
        validate::key(&caps, key)
            .and_then(|()| validate::put(&caps, &value, &options, now))
            .map_err(|e| e.in_context(POSTGRES, op))?;
        let (sql, expected) = match options.mode {
            PutMode::Upsert => (&self.sql.upsert, None),
            PutMode::Create => (&self.sql.create_entry, None),
            PutMode::Update => (&self.sql.update, None),
            PutMode::UpdateIf(v) => (&self.sql.update_if, Some(v)),
        };
        let mut query = sqlx::query_scalar::<Postgres, i64>(sql)
            .bind(key.as_str())
            .bind(&value[..])
            .bind(options.expires_at.map(to_timestamp))
            .bind(options.owner.as_ref().map(Owner::as_str));
        if options.mode != PutMode::Upsert {
            query = query.bind(to_timestamp(now));
        }
        if let Some(v) = expected {
            query = query.bind(v.as_i64());
        }
        let written = query
            .fetch_optional(&self.pool)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(|e| self.classify(e, op))?;
        if let Some(version) = written {
            return Ok(PutResult::new(Version::from_i64(version)));
        }
        let current = match options.mode {
            PutMode::UpdateIf(_) => self.live_version(key, now, op).await?,
            _ => None,
        };
        Err(refused_put(POSTGRES, options.mode, current))
    }

    /// One `DELETE`; with `if_version`, a read-only query afterwards tells
    /// a stale version (`VersionMismatch`) from a missing key (`false`).
    /// An expired row is removed too, and reported as `false`.
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(POSTGRES, op))?;
        let now = self.now();
        let Some(expected) = if_version else {
            let live: Option<bool> = sqlx::query_scalar(&self.sql.delete)
                .bind(key.as_str())
                .bind(to_timestamp(now))
                .fetch_optional(&self.pool)
                .within(self.config.common.statement_timeout)
                .await
                .map_err(|e| self.classify(e, op))?;
            return Ok(live == Some(true));
        };
        let deleted = sqlx::query(&self.sql.delete_if)
            .bind(key.as_str())
            .bind(to_timestamp(now))
            .bind(expected.as_i64())
            .execute(&self.pool)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(|e| self.classify(e, op))?
            .rows_affected();
        if deleted > 0 {
            return Ok(true);
        }
        let current = self.live_version(key, now, op).await?;
        refused_delete(POSTGRES, expected, current)
    }

    /// One `UPDATE` of `expires_at` on a live row; value, owner and version
    /// stay.
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        let now = self.now();
        validate::key(&self.caps(), key)
            .and_then(|()| validate::expiry(expires_at, now))
            .map_err(|e| e.in_context(POSTGRES, op))?;
        let touched = sqlx::query(&self.sql.touch)
            .bind(key.as_str())
            .bind(to_timestamp(expires_at))
            .bind(to_timestamp(now))
            .execute(&self.pool)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(|e| self.classify(e, op))?
            .rows_affected();
        if touched == 0 {
            return Err(Error::not_found().in_context(POSTGRES, op));
        }
        Ok(())
    }

    /// Batches of `DELETE … WHERE key IN (SELECT … FOR UPDATE SKIP
    /// LOCKED LIMIT n)` until a batch comes back short; rows another
    /// process has locked are left to it.
    async fn delete_expired(&self) -> Result<u64> {
        let op = Operation::DeleteExpired;
        let now = to_timestamp(self.now());
        let batch = self.config.common.purge_batch;
        let mut total = 0;
        loop {
            let deleted = sqlx::query(&self.sql.purge)
                .bind(now)
                .bind(i64::from(batch))
                .execute(&self.pool)
                .within(self.config.common.statement_timeout)
                .await
                .map_err(|e| self.classify(e, op))?
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
        let rows = sqlx::query(&self.sql.list_owner)
            .bind(owner.as_str())
            .bind(to_timestamp(self.now()))
            .fetch_all(&self.pool)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(|e| self.classify(e, op))?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get("key").map_err(|e| self.classify(e, op))?;
                Ok((key_column(POSTGRES, op, key)?, self.entry(row, op)?))
            })
            .collect()
    }

    /// One `DELETE` through the owner index, counting the rows that were
    /// still live.
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let op = Operation::DeleteByOwner;
        let live: i64 = sqlx::query_scalar(&self.sql.delete_owner)
            .bind(owner.as_str())
            .bind(to_timestamp(self.now()))
            .fetch_one(&self.pool)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(|e| self.classify(e, op))?;
        Ok(u64::try_from(live).unwrap_or(0))
    }

    /// One `SELECT` in primary-key order from the cursor's key, `limit`
    /// rows at most; rows that do not decode are named, not fatal.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        let after = key_order_start(cursor, limit).map_err(|e| e.in_context(POSTGRES, op))?;
        let limit_param = i64::try_from(limit).unwrap_or(i64::MAX);
        let query = match after {
            Some(after) => sqlx::query(&self.sql.scan_after)
                .bind(after)
                .bind(limit_param),
            None => sqlx::query(&self.sql.scan_first).bind(limit_param),
        };
        let now = self.now();
        let rows = query
            .fetch_all(&self.pool)
            .within(self.config.common.statement_timeout)
            .await
            .map_err(|e| self.classify(e, op))?;
        let rows = rows
            .iter()
            .map(|row| {
                let key: String = row.try_get("key").map_err(|e| self.classify(e, op))?;
                Ok((key, self.entry(row, op)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(scan_page(rows, now, limit))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}

/// Every statement of one table, built once from its quoted names.
#[derive(Debug)]
struct Statements {
    create: Vec<String>,
    indexes: Vec<String>,
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
    fn new(schema: &str, table: &str) -> Self {
        let s = quote(schema);
        let t = format!("{s}.{}", quote(table));
        let seq = format!("{s}.{}", quote(&format!("{table}_version_seq")));
        let expiry_idx = quote(&format!("{table}_expires_at_idx"));
        let owner_idx = quote(&format!("{table}_owner_idx"));
        let columns = "value, version, expires_at, owner";
        // `$1` is always the key (or owner); `live` needs `now` as `$n`.
        let live = |n: u8| format!("(expires_at IS NULL OR expires_at > ${n})");
        let insert = format!(
            "INSERT INTO {t} AS t (key, value, version, expires_at, owner) \
             VALUES ($1, $2, nextval('{seq}'), $3, $4) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
             version = EXCLUDED.version, expires_at = EXCLUDED.expires_at, owner = EXCLUDED.owner"
        );
        let update = format!(
            "UPDATE {t} SET value = $2, version = nextval('{seq}'), expires_at = $3, owner = $4 \
             WHERE key = $1 AND {}",
            live(5)
        );
        Self {
            create: vec![
                format!("CREATE SEQUENCE IF NOT EXISTS {seq} AS bigint"),
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     key text COLLATE \"C\" PRIMARY KEY, \
                     value bytea NOT NULL, \
                     version bigint NOT NULL, \
                     expires_at timestamptz, \
                     owner text COLLATE \"C\")"
                ),
            ],
            indexes: vec![
                format!(
                    "CREATE INDEX IF NOT EXISTS {expiry_idx} ON {t} (expires_at) \
                     WHERE expires_at IS NOT NULL"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {owner_idx} ON {t} (owner, key) \
                     WHERE owner IS NOT NULL"
                ),
            ],
            get: format!("SELECT {columns} FROM {t} WHERE key = $1 AND {}", live(2)),
            live_version: format!("SELECT version FROM {t} WHERE key = $1 AND {}", live(2)),
            upsert: format!("{insert} RETURNING version"),
            create_entry: format!(
                "{insert} WHERE t.expires_at IS NOT NULL AND t.expires_at <= $5 RETURNING version"
            ),
            update: format!("{update} RETURNING version"),
            update_if: format!("{update} AND version = $6 RETURNING version"),
            delete: format!("DELETE FROM {t} WHERE key = $1 RETURNING {}", live(2)),
            delete_if: format!(
                "DELETE FROM {t} WHERE key = $1 AND {} AND version = $3",
                live(2)
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = $2 WHERE key = $1 AND {}",
                live(3)
            ),
            purge: format!(
                "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= $1 \
                 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            ),
            list_owner: format!(
                "SELECT key, {columns} FROM {t} \
                 WHERE owner = $1 AND {} ORDER BY key",
                live(2)
            ),
            delete_owner: format!(
                "WITH gone AS (DELETE FROM {t} WHERE owner = $1 RETURNING expires_at) \
                 SELECT count(*) FROM gone WHERE {}",
                live(2)
            ),
            scan_first: format!("SELECT key, {columns} FROM {t} ORDER BY key LIMIT $1"),
            scan_after: format!(
                "SELECT key, {columns} FROM {t} WHERE key > $1 ORDER BY key LIMIT $2"
            ),
        }
    }
}

/// Milliseconds between the Unix epoch and Postgres' epoch, 2000-01-01 UTC.
const PG_EPOCH_MILLIS: i64 = 946_684_800_000;

/// A `timestamptz` as milliseconds since the Unix epoch, in Postgres'
/// binary format (an `i64` of microseconds since 2000-01-01 UTC). Decoding
/// never fails on a valid column: `±infinity` and timestamps outside the
/// [`Expiry`] range come out as milliseconds that [`Expiry`] then rejects,
/// so such a row is an `Encoding` error rather than a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timestamp(i64);

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        // The OID of `timestamptz`, fixed in every Postgres.
        PgTypeInfo::with_oid(Oid(1184))
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let micros = self
            .0
            .checked_sub(PG_EPOCH_MILLIS)
            .and_then(|ms| ms.checked_mul(1000))
            .ok_or("timestamp out of range")?;
        <i64 as Encode<'_, Postgres>>::encode(micros, buf)
    }
}

impl Decode<'_, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        if value.format() != PgValueFormat::Binary {
            return Err("timestamptz in text format".into());
        }
        let micros = <i64 as Decode<'_, Postgres>>::decode(value)?;
        Ok(Self(
            micros.div_euclid(1000).saturating_add(PG_EPOCH_MILLIS),
        ))
    }
}

/// An [`Expiry`] as a `timestamptz` parameter, exact to the millisecond.
fn to_timestamp(at: Expiry) -> Timestamp {
    Timestamp(at.as_unix_millis())
}

/// The first query parameter of `url` that sqlx does not know, so logs
/// with its value ("ignoring unrecognized connect parameter"), and whose
/// name says it holds a secret ([`is_secret_param`]): libpq's
/// `sslpassword`, a `PASSWORD` in capitals, a percent-encoded name. sqlx
/// knows only `password`, exactly.
fn ignored_secret_param(url: &str) -> Option<&str> {
    let query = url.split('#').next()?.split_once('?')?.1;
    query
        .split('&')
        .map(|param| param.split_once('=').map_or(param, |(name, _)| name))
        .find(|&name| name != "password" && is_secret_param(name))
}

/// What a SQLSTATE means for the store.
fn sqlstate(code: &str) -> CodeMeaning {
    use ErrorKind::*;
    let m = CodeMeaning::new;
    match code {
        "23505" => m(AlreadyExists, "the key already exists (unique violation)"),
        "40001" => m(
            Unavailable,
            "serialization failure; the call may be retried",
        ),
        "40P01" => m(Unavailable, "deadlock detected; the call may be retried"),
        "55P03" => m(Unavailable, "a row or table lock is held elsewhere"),
        "57014" => m(
            Unavailable,
            "the statement was cancelled (statement_timeout?)",
        ),
        "57P01" | "57P02" | "57P03" => m(
            Unavailable,
            "the database server is shutting down, restarting or starting up",
        ),
        "53300" => m(Unavailable, "the database server has too many connections"),
        "25006" => m(
            Unavailable,
            "the server is read-only (a standby, or a failover in progress)",
        ),
        "53100" => m(CapacityExceeded, "the database server's disk is full"),
        "53200" => m(CapacityExceeded, "the database server is out of memory"),
        "3D000" => m(Config, "the database does not exist"),
        "3F000" => m(Config, "the schema does not exist"),
        "42P01" => m(Config, "the table does not exist"),
        "42703" => m(
            Config,
            "the table lacks a store column (created by migrate()?)",
        ),
        "42501" => m(
            Config,
            "the database user lacks a privilege this store needs",
        ),
        "54000" => m(InvalidInput, "a value exceeds a database limit"),
        _ if code.starts_with("08") => m(Unavailable, "the connection to the database failed"),
        _ if code.starts_with("28") => m(Config, "the database rejected the credentials"),
        _ if code.starts_with("22") => m(Encoding, "the database rejected a value's encoding"),
        _ => m(Backend, "the database reported an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_epoch_is_2000_01_01() {
        assert_eq!(PG_EPOCH_MILLIS, 10_957 * 86_400_000);
    }

    #[test]
    fn secret_params_sqlx_would_log_are_found() {
        for (url, found) in [
            ("postgres://u:p@h/db", None),
            ("postgres://h/db?password=x&sslmode=require", None),
            (
                "postgres://h/db?sslmode=require&sslpassword=x",
                Some("sslpassword"),
            ),
            ("postgres://h/db?PASSWORD=x", Some("PASSWORD")),
            ("postgres://h/db?ssl%70assword=x#f", Some("ssl%70assword")),
            ("postgres://h/db?x=1#?sslpassword=x", None),
            ("postgres://h/db?application_name=a&pass=x", Some("pass")),
        ] {
            assert_eq!(ignored_secret_param(url), found, "{url}");
        }
    }

    #[test]
    fn sqlstates_map_to_kinds() {
        assert_eq!(sqlstate("08006").kind, ErrorKind::Unavailable);
        assert_eq!(sqlstate("57P01").kind, ErrorKind::Unavailable);
        assert_eq!(sqlstate("40001").kind, ErrorKind::Unavailable);
        assert_eq!(sqlstate("23505").kind, ErrorKind::AlreadyExists);
        assert_eq!(sqlstate("28P01").kind, ErrorKind::Config);
        assert_eq!(sqlstate("42P01").kind, ErrorKind::Config);
        assert_eq!(sqlstate("XX000").kind, ErrorKind::Backend);
    }

    #[test]
    fn statements_quote_names() {
        let sql = Statements::new("auth", "sessions");
        assert!(
            sql.get.contains("FROM \"auth\".\"sessions\""),
            "{}",
            sql.get
        );
        assert!(
            sql.upsert
                .contains("nextval('\"auth\".\"sessions_version_seq\"')")
        );
    }
}
