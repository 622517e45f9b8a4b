//! [`SqlStore`] ([`PostgresStore`], [`SqliteStore`]): constructors, the
//! namespace, `setup()`, and [`Open`].

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions, Database, Pool};
use store_core::{
    Capabilities, Error, ErrorKind, Open, OpenOptions, Operation, Result, check_scheme, redact_url,
    within,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::config::SqlConfig;
use crate::error::PoolLimits;
use crate::query::{Dialect, Statements};
use crate::writer::Writer;

/// A [`Store`](store_core::Store) in one Postgres table, through a sqlx
/// pool.
///
/// - **Schema** (`setup()`): `key text COLLATE "C" PRIMARY KEY`,
///   `value bytea`, `version bigint`, `expires_at timestamptz` (NULL:
///   never), `owner text`; partial indexes on `expires_at` and
///   `(owner, key)`. `setup()` runs in one transaction under a Postgres
///   advisory lock, and creates the schema when missing.
/// - **Versions** are drawn in the process: 64 random bits per write from
///   an OS-seeded generator, bound as a parameter, so writers share no
///   sequence. A stale version matches a later write of the same key with
///   probability 2^-64 (about 5.4 × 10^-20) per write, also after a delete.
/// - **One statement per call**: every [`PutMode`](store_core::PutMode) is
///   a single `INSERT … ON CONFLICT` or `UPDATE` whose `WHERE` holds the
///   whole condition, so concurrent writers are decided by the row lock.
///   Only when a conditional statement changes nothing does a second,
///   read-only query tell `NotFound` from `VersionMismatch`.
/// - **One clock**: the store's [`Clock`](store_core::Clock) is bound as a
///   parameter to every statement; the server's `now()` is never used.
/// - **Cleanup**: `delete_expired` deletes in batches of `purge_batch`
///   rows locked with `FOR UPDATE SKIP LOCKED`, so several processes can
///   purge at once and each row is counted once.
///
/// ```no_run
/// use store_core::{Key, PutMode, Store};
/// use store_sqlx::PostgresStore;
///
/// # #[tokio::main] async fn main() -> store_core::Result<()> {
/// let store = PostgresStore::connect("postgres://app@localhost/app").await?;
/// store.setup().await?;
/// let key = Key::new("session:1")?;
/// store.put(&key, "data".into(), PutMode::Create.into()).await?;
/// assert!(store.get(&key).await?.is_some());
/// # Ok(()) }
/// ```
#[cfg(feature = "postgres")]
pub type PostgresStore = SqlStore<sqlx::Postgres>;

/// A [`Store`](store_core::Store) in one SQLite table, through a sqlx
/// pool.
///
/// - **Databases**: a file (`sqlite://path/to/app.db`, created when
///   missing, in WAL mode), or memory (`sqlite::memory:`, one connection
///   that lives as long as the store: the data goes with it).
/// - **One writer per file**: the stores `connect` opens on a file run
///   their writes on one connection of their own: at once when it is free,
///   else queued for a thread of its own, which runs the writes queued
///   together in one transaction and answers each once it is committed, so
///   they never wait for each other on the database lock; reads use the
///   pool. A queued write whose caller stopped waiting before the writer
///   reached it is not run. The busy timeout bounds the wait for a lock
///   held outside the store (another process).
/// - **Schema** (`setup()`): `key TEXT PRIMARY KEY`, `value BLOB`,
///   `version INTEGER`, `expires_at INTEGER` (milliseconds since the epoch,
///   NULL: never, so comparisons are exact and indexed), `owner TEXT`;
///   partial indexes on `expires_at` and `(owner, key)`. `setup()` runs in
///   one `BEGIN IMMEDIATE` transaction, and drops the version triggers and
///   `<table>_versions` table of a table set up by an earlier version.
/// - **Versions** are drawn in the process: 64 random bits per write from
///   an OS-seeded generator, bound as a parameter, so writes share no
///   counter. A stale version matches a later write of the same key with
///   probability 2^-64 (about 5.4 × 10^-20) per write, also after a delete.
/// - **One statement per call**: every [`PutMode`](store_core::PutMode) is
///   a single `INSERT … ON CONFLICT` or `UPDATE`; SQLite runs each write
///   under the database's write lock, so the condition and the write are
///   one step.
/// - **One clock**: the store's [`Clock`](store_core::Clock) is bound as a
///   parameter to every statement.
///
/// ```
/// use store_core::{Key, PutMode, Store};
/// use store_sqlx::SqliteStore;
///
/// # #[tokio::main] async fn main() -> store_core::Result<()> {
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// store.setup().await?;
/// let key = Key::new("session:1")?;
/// store.put(&key, "data".into(), PutMode::Create.into()).await?;
/// assert_eq!(&store.get(&key).await?.unwrap().value[..], b"data");
/// # Ok(()) }
/// ```
#[cfg(feature = "sqlite")]
pub type SqliteStore = SqlStore<sqlx::Sqlite>;

/// A [`Store`](store_core::Store) in one MySQL or MariaDB table, through a
/// sqlx pool.
///
/// - **Schema** (`setup()`, one `CREATE TABLE IF NOT EXISTS`, safe to run
///   from many processes at once): `key VARBINARY(512)` as the primary key
///   (keys compare byte for byte: no case or accent folding, no trailing
///   space padding, unlike the default collations), `value LONGBLOB`,
///   `version BIGINT`, `expires_at BIGINT` (milliseconds since the epoch,
///   NULL: never), `owner VARBINARY(256)`; indexes on `expires_at` and
///   `(owner, key)`. The table lives in the URL's database.
/// - **One statement per write**: whether the condition held comes from
///   the rows the statement matched. `Create` is one
///   `INSERT … ON DUPLICATE KEY UPDATE` that replaces an expired row and
///   leaves a live one alone, setting `LAST_INSERT_ID(1)` then, which the
///   server sends back with the statement's result (`AlreadyExists`).
/// - **Versions** are drawn in the process: 64 random bits per write from
///   an OS-seeded generator, bound as a parameter (nothing asked of the
///   server, such as `UUID_SHORT()`). A stale version matches a later write
///   of the same key with probability 2^-64 (about 5.4 × 10^-20) per
///   write, also after a delete.
/// - **Isolation**: each connection runs at `READ COMMITTED`, so writes
///   take no gap locks; a statement a deadlock rolled back (error 1213) is
///   run again, at most three times in all, then fails with a retryable
///   `Unavailable`.
/// - Tested on MariaDB 10.11.
///
/// ```no_run
/// use store_core::{Key, PutMode, Store};
/// use store_sqlx::MySqlStore;
///
/// # #[tokio::main] async fn main() -> store_core::Result<()> {
/// let store = MySqlStore::connect("mysql://app:secret@localhost/app").await?;
/// store.setup().await?;
/// let key = Key::new("session:1")?;
/// store.put(&key, "data".into(), PutMode::Create.into()).await?;
/// assert!(store.get(&key).await?.is_some());
/// # Ok(()) }
/// ```
#[cfg(feature = "mysql")]
pub type MySqlStore = SqlStore<sqlx::MySql>;

/// A store in one table of database `D`, through a sqlx pool: use it as
/// [`PostgresStore`], [`SqliteStore`] or [`MySqlStore`]. Cloning is cheap and shares the
/// pool.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
/// assert_eq!(store.namespace(), store_sqlx::DEFAULT_TABLE);
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
pub struct SqlStore<D: Dialect> {
    pub(crate) pool: Pool<D>,
    pub(crate) config: Arc<SqlConfig<D>>,
    pub(crate) sql: Arc<Statements>,
    pub(crate) limits: PoolLimits,
    pub(crate) shared: bool,
    /// The database's writer ([`Dialect::WRITER`]), shared by the stores
    /// on the same pool; none: writes run on the pool.
    pub(crate) writer: Option<Writer<D>>,
    /// Connections kept between calls (see [`Held`]), shared by the stores
    /// made from this one.
    pub(crate) held: Arc<Held<D>>,
}

/// How long a connection may wait in [`Held`] before it goes back to the
/// pool.
const HELD_IDLE: Duration = Duration::from_millis(250);

/// How long a connection may stay out of the pool, going from call to
/// call, before it goes back: so that the pool's checks (its idle timeout
/// and maximum lifetime) see it this often, and so that the application's
/// own queries on the pool, and other stores on it, which wait in the
/// pool's queue, get a connection within about this long divided by the
/// pool's size even while this store is busy. The ping that goes with it
/// costs one round trip per connection four times a second.
const HELD_OUT: Duration = Duration::from_millis(250);

/// Connections a store keeps between its calls instead of giving them back
/// to the pool after each one: sqlx checks every connection given back
/// with a round trip of its own (a ping), so a call on a connection taken
/// from here costs its statement's round trip only. A connection is kept
/// only after a call that succeeded; a call that fails or is cancelled
/// drops its connection, which then goes back through the pool's checks.
/// Connections idle here longer than [`HELD_IDLE`] go back to the pool (on
/// the next call, or within [`HELD_IDLE`] by a task that watches them), so
/// the application's own queries on the pool and `Pool::close` get them
/// back. Off when the pool tests connections before handing them out, and
/// for a pool of one connection.
pub(crate) struct Held<D: Database> {
    state: Mutex<HeldState<D>>,
    /// One permit per connection out of the pool through this store, kept
    /// or in a call: a call takes a new connection from the pool only with
    /// a permit, and otherwise waits for one another call is done with
    /// (never both at once, which on PostgreSQL would open and drop
    /// connections).
    permits: Arc<Semaphore>,
    /// Whether connections are kept at all.
    on: bool,
}

struct HeldState<D: Database> {
    /// Kept connections, the most recently used last, with when they were
    /// kept and when they left the pool.
    idle: Vec<Kept<D>>,
    /// Calls waiting for a connection, the longest-waiting first: a kept
    /// connection goes to them before it goes to `idle`, so that a task
    /// that calls again at once cannot take it back ahead of them.
    waiting: VecDeque<oneshot::Sender<Taken<D>>>,
}

struct Kept<D: Database> {
    conn: PoolConnection<D>,
    permit: OwnedSemaphorePermit,
    since: Instant,
    out: Instant,
}

/// A connection a call holds: from [`Held`] or from the pool.
pub(crate) struct Taken<D: Database> {
    pub(crate) conn: PoolConnection<D>,
    permit: OwnedSemaphorePermit,
    out: Instant,
}

impl<D: Database> Held<D> {
    pub(crate) fn new(on: bool, max_connections: u32) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(HeldState {
                idle: Vec::new(),
                waiting: VecDeque::new(),
            }),
            permits: Arc::new(Semaphore::new(max_connections as usize)),
            on,
        })
    }

    /// Whether connections are kept.
    pub(crate) fn on(&self) -> bool {
        self.on
    }

    /// The most recently kept connection that has not waited too long, or
    /// one from the pool, whichever comes first.
    pub(crate) async fn take(&self, pool: &Pool<D>) -> std::result::Result<Taken<D>, sqlx::Error> {
        let mut stale = Vec::new();
        let handed = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                match state.idle.pop() {
                    Some(k) if k.since.elapsed() <= HELD_IDLE => {
                        break Ok(Taken {
                            conn: k.conn,
                            permit: k.permit,
                            out: k.out,
                        });
                    }
                    Some(k) => stale.push(k),
                    None => {
                        let (tx, rx) = oneshot::channel();
                        state.waiting.push_back(tx);
                        break Err(rx);
                    }
                }
            }
        };
        // Back to the pool (dropped outside the lock).
        drop(stale);
        match handed {
            Ok(taken) => Ok(taken),
            // The first of: a connection another call is done with, or a
            // permit to take one from the pool.
            Err(mut handed) => tokio::select! {
                biased;
                Ok(taken) = &mut handed => Ok(taken),
                permit = Arc::clone(&self.permits).acquire_owned() => {
                    drop(handed);
                    let permit = permit.map_err(|_| sqlx::Error::PoolClosed)?;
                    let conn = pool.acquire().await?;
                    Ok(Taken { conn, permit, out: Instant::now() })
                }
            },
        }
    }

    /// Keeps `taken` for the next call, or gives it back to the pool when
    /// it has been out long enough.
    pub(crate) fn keep(&self, taken: Taken<D>) {
        if !self.on || taken.out.elapsed() > HELD_OUT {
            return;
        }
        let mut taken = taken;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(waiter) = state.waiting.pop_front() {
            match waiter.send(taken) {
                Ok(()) => return,
                // That call got a connection from the pool meanwhile, or
                // was dropped.
                Err(back) => taken = back,
            }
        }
        state.idle.push(Kept {
            conn: taken.conn,
            permit: taken.permit,
            since: Instant::now(),
            out: taken.out,
        });
    }

    /// Gives every connection that waited longer than [`HELD_IDLE`] back
    /// to the pool; all of them once the pool is closed.
    fn sweep(&self, closed: bool) {
        let stale: Vec<Kept<D>> = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.waiting.retain(|w| !w.is_closed());
            let (stale, fresh): (Vec<_>, Vec<_>) = state
                .idle
                .drain(..)
                .partition(|k| closed || k.since.elapsed() > HELD_IDLE);
            state.idle = fresh;
            stale
        };
        drop(stale);
    }

    /// Watches `held` while it lives: every [`HELD_IDLE`], gives back what
    /// waited too long.
    pub(crate) fn watch(held: &Arc<Self>, pool: Pool<D>) {
        if !held.on {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(held);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(HELD_IDLE).await;
                let Some(held) = weak.upgrade() else {
                    return;
                };
                held.sweep(pool.is_closed());
            }
        });
    }
}

impl<D: Database> Drop for Held<D> {
    /// sqlx gives a connection back to its pool on a task of the current
    /// Tokio runtime, and panics without one. A store may be dropped
    /// outside any runtime (after the runtime that ran its calls ended):
    /// then its kept connections go back on a runtime of their own, made
    /// for that and dropped at once (which closes them).
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        state.waiting.clear();
        let idle = std::mem::take(&mut state.idle);
        if idle.is_empty() || tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(async move { drop(idle) }),
            // Without a runtime to give them back on, leaving the
            // connections open is better than a panic in `drop`.
            Err(_) => std::mem::forget(idle),
        }
    }
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            config: Arc::clone(&self.config),
            sql: Arc::clone(&self.sql),
            limits: self.limits,
            shared: self.shared,
            writer: self.writer.clone(),
            held: Arc::clone(&self.held),
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlStore<D> {
    /// Schema, table and pool size; never the connection options, which
    /// hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(D::STORE_NAME)
            .field("schema", &self.config.schema)
            .field("table", &self.config.table)
            .field("shared", &self.shared)
            .field("max_connections", &self.limits.max_connections)
            .field("writer", &self.writer.is_some())
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Opens a pool on `url` and checks that one connection works, with
    /// the default config (table [`DEFAULT_TABLE`](crate::DEFAULT_TABLE)).
    /// Postgres: `postgres://user:password@host:port/db` with sqlx's query
    /// options such as `sslmode`. SQLite: `sqlite://path/app.db` or
    /// `sqlite:app.db` (created when missing; WAL mode with
    /// `synchronous = NORMAL` and the config's busy timeout; one more
    /// connection, the writer's, runs every write)
    /// or `sqlite::memory:` (one connection). Call [`setup`](Self::setup)
    /// once before the first use of a table.
    ///
    /// # Errors
    /// `Config` for a URL of another scheme, a malformed URL, rejected
    /// credentials, a file that cannot be opened, or (Postgres) a query
    /// parameter sqlx does not know whose name says it holds a secret
    /// (libpq's `sslpassword`: sqlx would log its value); `Unavailable`
    /// when the server cannot be reached within the acquire timeout. The
    /// URL's password never appears in the message.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let url = format!("sqlite://{}", dir.path().join("app.db").display());
    /// let store = store_sqlx::SqliteStore::connect(&url).await?;
    /// store.setup().await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, SqlConfig::default()).await
    }

    /// [`connect`](Self::connect) with settings: pool size, acquire timeout
    /// (and SQLite's busy timeout) apply to the new pool (and the SQLite
    /// writer's connection). An in-memory SQLite database always has exactly
    /// one connection.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), and `Config` for an invalid config.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use store_sqlx::{SqliteConfig, SqliteStore};
    /// let config = SqliteConfig::default().namespace("sessions");
    /// let store = SqliteStore::connect_with("sqlite::memory:", config).await?;
    /// assert_eq!(store.namespace(), "sessions");
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect_with(url: &str, config: SqlConfig<D>) -> Result<Self> {
        let refuse = |message: String| {
            Err(Error::new(ErrorKind::Config, message).in_context(D::BACKEND, Operation::Connect))
        };
        check_scheme(url, D::BACKEND, D::SCHEMES)?;
        config
            .validate()
            .map_err(|e| e.in_context(D::BACKEND, Operation::Connect))?;
        if let Some(problem) = D::refuse_url(url) {
            return refuse(format!("cannot connect to {}: {problem}", redact_url(url)));
        }
        let limits = PoolLimits {
            max_connections: config.max_connections,
            acquire_timeout: config.acquire_timeout,
        };
        let failed = |e| {
            let e = crate::error::classify(e, D::BACKEND, Operation::Connect, limits, D::codes());
            let message = format!("cannot connect to {}: {}", redact_url(url), e.message());
            Error::new(e.kind(), message)
                .in_context(D::BACKEND, Operation::Connect)
                .with_retryable(e.is_retryable())
                .with_source(e)
        };
        let (pool, shared) = D::open_pool(url, &config).await.map_err(failed)?;
        let mut store = Self::with_config(pool, config)?;
        store.shared = shared;
        // A database in memory lives in the pool's one connection.
        if let (Some(begin), true) = (D::WRITER, shared) {
            let conn = store.pool.connect_options().connect().await;
            let writer = Writer::start(store.pool.clone(), begin, conn.map_err(failed)?);
            store.writer = Some(writer.map_err(|e| failed(sqlx::Error::Io(e)))?);
        }
        Ok(store)
    }

    /// A store on an existing pool, with the default config. The pool
    /// keeps its own options, and the store writes through it (for SQLite:
    /// give it WAL mode and a busy timeout for concurrent writers, and one
    /// long-lived connection for an in-memory database, or use
    /// [`connect`](Self::connect), which does both and gives a database
    /// file its one writer).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    /// let store = store_sqlx::SqliteStore::new(pool);
    /// store.setup().await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn new(pool: Pool<D>) -> Self {
        Self::with_config(pool, SqlConfig::default()).expect("the default config is valid")
    }

    /// A store on an existing pool with settings; the pool keeps its own
    /// size and timeouts.
    ///
    /// # Errors
    /// `Config` for an invalid schema or table name or limit.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use store_sqlx::{SqliteConfig, SqliteStore};
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    /// let err = SqliteStore::with_config(pool, SqliteConfig::default().namespace("Bad-Name")).unwrap_err();
    /// assert_eq!(err.kind(), store_core::ErrorKind::Config);
    /// # });
    /// ```
    pub fn with_config(pool: Pool<D>, config: SqlConfig<D>) -> Result<Self> {
        config
            .validate()
            .map_err(|e| e.in_context(D::BACKEND, Operation::Connect))?;
        let limits = PoolLimits {
            max_connections: pool.options().get_max_connections(),
            acquire_timeout: pool.options().get_acquire_timeout(),
        };
        let sql = Arc::new(D::statements(&config.schema, &config.table));
        // Kept connections need the task that gives idle ones back.
        let keep = !pool.options().get_test_before_acquire()
            && limits.max_connections > 1
            && tokio::runtime::Handle::try_current().is_ok();
        let held = Held::new(keep, limits.max_connections);
        Held::watch(&held, pool.clone());
        Ok(Self {
            pool,
            config: Arc::new(config),
            sql,
            limits,
            shared: true,
            writer: None,
            held,
        })
    }

    /// A store on the same pool (and schema, and SQLite writer) in another
    /// table: another namespace. Call [`setup`](Self::setup) on it before
    /// first use.
    ///
    /// # Errors
    /// `Config` for an invalid table name.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sessions = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// let tokens = sessions.with_namespace("oauth_tokens")?;
    /// tokens.setup().await?;
    /// assert_eq!(tokens.namespace(), "oauth_tokens");
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_namespace(&self, table: impl Into<String>) -> Result<Self> {
        let config = (*self.config).clone().namespace(table);
        let mut store = Self::with_config(self.pool.clone(), config)?;
        store.shared = self.shared;
        store.writer = self.writer.clone();
        store.held = Arc::clone(&self.held);
        Ok(store)
    }

    /// The pool, for the application's own queries. The store keeps the
    /// connections of its recent calls for a moment (see the crate docs,
    /// "Connections between calls"): they are back in the pool within
    /// about 250 ms of the store's last call.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// let pool: &sqlx::SqlitePool = store.pool();
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    /// The table name: the store's namespace.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// assert_eq!(store.namespace(), store_sqlx::DEFAULT_TABLE);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn namespace(&self) -> &str {
        &self.config.table
    }

    /// Creates the table and what it needs (Postgres: the schema when
    /// missing; two indexes). On a table an earlier version of the store set
    /// up, SQLite drops the triggers and the `<table>_versions` table that
    /// version kept its versions with (stop its processes first: their
    /// writes then fail); a Postgres `<table>_version_seq` is left to them.
    /// Idempotent, and safe when several processes call it at once: it runs
    /// in one transaction (Postgres: under an advisory lock; SQLite:
    /// `BEGIN IMMEDIATE`, which holds the database's write lock). Bounded by
    /// the config's `operation_timeout` as a whole.
    ///
    /// # Errors
    /// `Config` when a table of that name exists with other columns (it is
    /// left untouched) or the user may not create it; `Unavailable`.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_sqlx::SqliteStore::connect("sqlite::memory:").await?;
    /// store.setup().await?;
    /// store.setup().await?; // a no-op the second time
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn setup(&self) -> Result<()> {
        let op = Operation::Migrate;
        within(
            self.config.operation_timeout,
            D::BACKEND,
            op,
            self.create_table(),
        )
        .await
    }

    pub(crate) fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(D::BACKEND);
        caps.shared = self.shared;
        caps.max_value_len = self.config.max_value_len;
        caps
    }
}

#[cfg(feature = "postgres")]
impl SqlStore<sqlx::Postgres> {
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
}

/// Opens a store from a URL of one of the dialect's schemes, with
/// [`OpenOptions::namespace`](store_core::OpenOptions::namespace()) as its table,
/// [`OpenOptions::purge_batch`](store_core::OpenOptions::purge_batch()) and
/// [`OpenOptions::operation_timeout`](store_core::OpenOptions::operation_timeout()) in its config, and creates the
/// table when [`OpenOptions::setup`](store_core::OpenOptions::setup()) says so.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use store_core::{Open, OpenOptions, Store};
/// use store_sqlx::SqliteStore;
/// let options = OpenOptions::default().namespace("sessions");
/// let store = SqliteStore::open("sqlite::memory:", &options).await?;
/// assert_eq!(store.namespace(), "sessions");
/// assert!(store.get(&store_core::Key::new("k")?).await?.is_none());
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
impl<D: Dialect> Open for SqlStore<D> {
    const NAME: &'static str = D::BACKEND;
    const SCHEMES: &'static [&'static str] = D::SCHEMES;

    async fn open(url: &str, options: &OpenOptions) -> Result<Self> {
        let mut config = SqlConfig::<D>::default();
        if let Some(namespace) = options.namespace.as_deref() {
            config = config.namespace(namespace);
        }
        if let Some(rows) = options.purge_batch {
            config = config.purge_batch(rows);
        }
        if let Some(limit) = options.operation_timeout {
            config = config.operation_timeout(limit);
        }
        let store = Self::connect_with(url, config).await?;
        if options.setup {
            store.setup().await?;
        }
        Ok(store)
    }
}
