//! One backend as the scale mode uses it: our store through the `Store`
//! trait, in a namespace of the run's own, with a clock the purge can move,
//! and what the mode needs besides the store: the server's PID (for its
//! CPU time), a way to measure the stored size, the URLs `storectl copy`
//! takes, and the cleanup that removes every entry the run wrote.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use store::store_memory::{MemoryConfig, MemoryStore};
use store::store_mongodb::{MongoConfig, MongoStore};
use store::store_sqlx::{
    MySqlConfig, MySqlStore, PostgresConfig, PostgresStore, SqliteConfig, SqliteStore,
};
use store::{OpenOptions, Store};
use store_core::{Clock, Expiry, SystemClock};

use super::cpu;

/// The system clock moved by an offset the purge sets: entries written an
/// hour ahead are expired for a store whose clock runs two hours ahead,
/// while the server's own clock (Redis, MongoDB's TTL monitor) leaves them
/// alone.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock(Arc<AtomicI64>);

impl OffsetClock {
    /// Moves the clock `by` ahead of the system clock.
    pub fn set_ahead(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Expiry {
        let now = SystemClock.now().as_unix_millis();
        let ahead = now.saturating_add(self.0.load(Ordering::SeqCst));
        Expiry::from_unix_millis(ahead).unwrap_or(Expiry::MAX)
    }
}

/// The stored size of the sessions, and how it was measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Size {
    /// Bytes the sessions take.
    pub bytes: u64,
    /// `bytes` divided by the number of sessions.
    pub per_session: f64,
    /// What was measured, e.g. `pg_total_relation_size`.
    pub method: String,
    /// The parts, e.g. the table and its indexes.
    pub detail: String,
}

/// A cache between the store's reads and its storage, and how often the
/// reads missed it while the large size was timed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Cache {
    /// What the cache is and how large, e.g. `shared_buffers 128MB`.
    pub what: String,
    /// Reads that missed it and went to the file system, while timing at
    /// N (`None` where the server does not count them).
    pub misses: Option<u64>,
    /// Reads in all, while timing at N.
    pub reads: Option<u64>,
    /// The same for the small namespace, where it is counted apart.
    #[serde(default)]
    pub small: Option<(u64, u64)>,
}

/// One timed read of the probe that shows where a whole-namespace read
/// (what `storectl copy` does) spends its time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    /// What was read.
    pub what: String,
    /// Seconds, or `None` when it did not finish within the probe's limit.
    pub secs: Option<f64>,
    /// Documents or entries it returned.
    pub returned: u64,
}

/// How long the probe waits for one read.
const PROBE_LIMIT: Duration = Duration::from_secs(180);

/// What `storectl copy` is given.
pub struct CopyPlan {
    /// `--from`.
    pub from: String,
    /// `--from-namespace`.
    pub from_namespace: String,
    /// `--to`.
    pub to: String,
    /// `--to-namespace`.
    pub to_namespace: String,
    /// The destination, as the report names it.
    pub shown: String,
}

enum Kind {
    Memory,
    Redis {
        conn: redis::aio::ConnectionManager,
        url: String,
        prefix: String,
    },
    Postgres {
        pool: sqlx::PgPool,
        url: String,
        table: String,
    },
    Sqlite {
        dir: tempfile::TempDir,
        pool: sqlx::SqlitePool,
        table: String,
    },
    Mongo {
        db: mongodb::Database,
        url: String,
    },
    MySql {
        admin: sqlx::MySqlPool,
        pool: sqlx::MySqlPool,
        url: String,
        database: String,
    },
}

/// One backend under the scale mode.
pub struct Subject {
    /// The bench name (`memory`, `redis`, `postgres`, `sqlite_file`,
    /// `mongodb`, `mysql`).
    pub name: &'static str,
    /// The server's name and version, for the report.
    pub server: String,
    /// Our store, through the `Store` trait: the namespace that grows to N.
    pub store: Arc<dyn Store>,
    /// A second namespace on the same server for the small size, timed
    /// beside the large one; `None` on Redis, which keeps every key of a
    /// database in one hash table (the small size is timed first there,
    /// in the namespace that then grows).
    pub small: Option<Arc<dyn Store>>,
    /// The store's clock (ignored by Redis, which uses the server's).
    pub clock: OffsetClock,
    /// The server's PID when it runs on this machine.
    pub server_pid: Option<u32>,
    kind: Kind,
}

/// The backends the scale mode knows.
pub const KNOWN: [&str; 6] = [
    "memory",
    "redis",
    "postgres",
    "sqlite_file",
    "mongodb",
    "mysql",
];

/// The table, collection and sub-namespace the sessions live in (besides
/// Redis and PostgreSQL, where the run's tag is the namespace).
const TABLE: &str = "sessions";
/// The copy's table or collection, on the same server.
const COPY: &str = "copied";
/// The small size's table or collection.
const SMALL: &str = "small";

/// `url` with its path (the database) replaced by `/db`, the query kept.
fn with_database(url: &str, db: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

fn pid_of(url: &str) -> Option<u32> {
    cpu::url_port(url).and_then(cpu::listener_pid)
}

impl Subject {
    /// Sets up `name` (`url` for the server ones) under the run's `tag`,
    /// with an empty namespace.
    pub async fn open(name: &'static str, url: Option<&str>, tag: &str) -> Result<Self> {
        let clock = OffsetClock::default();
        let need = || url.with_context(|| format!("{name}: no server URL"));
        match name {
            "memory" => {
                let open = || {
                    MemoryStore::with_config(
                        MemoryConfig::default().namespace(tag).clock(clock.clone()),
                    )
                };
                let store = open()?;
                let small: Arc<dyn Store> = Arc::new(open()?);
                Ok(Self {
                    name,
                    server: "in process".to_owned(),
                    store: Arc::new(store),
                    small: Some(small),
                    clock,
                    server_pid: None,
                    kind: Kind::Memory,
                })
            }
            "redis" => {
                let url = need()?;
                let store = store::open_with(url, OpenOptions::default().namespace(tag)).await?;
                let conn = redis::Client::open(url)?.get_connection_manager().await?;
                let version = crate::backends::redis_version(&conn).await?;
                Ok(Self {
                    name,
                    server: format!("Redis {version}"),
                    store,
                    small: None,
                    clock,
                    server_pid: pid_of(url),
                    kind: Kind::Redis {
                        conn,
                        url: url.to_owned(),
                        prefix: tag.to_owned(),
                    },
                })
            }
            "postgres" => {
                // In the default schema, as `storectl` opens a table by URL.
                let url = need()?;
                let pool = PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .context("postgres: connect")?;
                let (version,): (String,) = sqlx::query_as("SHOW server_version")
                    .fetch_one(&pool)
                    .await?;
                let open = |table: String| {
                    let config = PostgresConfig::default()
                        .namespace(table)
                        .clock(clock.clone());
                    async move {
                        let store = PostgresStore::connect_with(url, config).await?;
                        store.setup().await?;
                        Ok::<Arc<dyn Store>, anyhow::Error>(Arc::new(store))
                    }
                };
                let store = open(tag.to_owned()).await?;
                let small = open(format!("{tag}_{SMALL}")).await?;
                Ok(Self {
                    name,
                    server: format!("PostgreSQL {version}"),
                    store,
                    small: Some(small),
                    clock,
                    server_pid: pid_of(url),
                    kind: Kind::Postgres {
                        pool,
                        url: url.to_owned(),
                        table: tag.to_owned(),
                    },
                })
            }
            "sqlite_file" => {
                let dir = tempfile::Builder::new().prefix(tag).tempdir()?;
                let path = dir.path().join("scale.db");
                let url = format!("sqlite://{}", path.display());
                let open = |table: &str| {
                    let config = SqliteConfig::default()
                        .namespace(table)
                        .clock(clock.clone());
                    let url = url.clone();
                    async move {
                        let store = SqliteStore::connect_with(&url, config).await?;
                        store.setup().await?;
                        Ok::<Arc<dyn Store>, anyhow::Error>(Arc::new(store))
                    }
                };
                let store = open(TABLE).await?;
                let small = open(SMALL).await?;
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(
                        sqlx::sqlite::SqliteConnectOptions::new()
                            .filename(&path)
                            .busy_timeout(Duration::from_secs(30)),
                    )
                    .await?;
                let (version,): (String,) = sqlx::query_as("SELECT sqlite_version()")
                    .fetch_one(&pool)
                    .await?;
                Ok(Self {
                    name,
                    server: format!("SQLite {version} (file, WAL)"),
                    store,
                    small: Some(small),
                    clock,
                    server_pid: None,
                    kind: Kind::Sqlite {
                        dir,
                        pool,
                        table: TABLE.to_owned(),
                    },
                })
            }
            "mongodb" => {
                let url = need()?;
                let client = mongodb::Client::with_uri_str(url).await?;
                let db = client.database(tag);
                let info = db
                    .run_command(mongodb::bson::doc! { "buildInfo": 1 })
                    .await?;
                let version = info.get_str("version").unwrap_or("unknown").to_owned();
                let server = match info.get_str("secantusVersion") {
                    Ok(v) => {
                        format!("secantusd-rs {v}, speaking the MongoDB {version} wire protocol")
                    }
                    Err(_) => format!("a server reporting MongoDB {version}"),
                };
                let open = |collection: &str| {
                    let config = MongoConfig::default()
                        .namespace(collection)
                        .clock(clock.clone());
                    let db = db.clone();
                    async move {
                        let store = MongoStore::with_config(db, config)?;
                        store.setup().await?;
                        Ok::<Arc<dyn Store>, anyhow::Error>(Arc::new(store))
                    }
                };
                let store = open(TABLE).await?;
                let small = open(SMALL).await?;
                Ok(Self {
                    name,
                    server,
                    store,
                    small: Some(small),
                    clock,
                    server_pid: pid_of(url),
                    kind: Kind::Mongo {
                        db,
                        url: with_database(url, tag),
                    },
                })
            }
            "mysql" => {
                let url = need()?;
                let admin = MySqlPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .context("mysql: connect")?;
                sqlx::query(&format!("CREATE DATABASE IF NOT EXISTS {tag}"))
                    .execute(&admin)
                    .await?;
                let (version,): (String,) =
                    sqlx::query_as("SELECT version()").fetch_one(&admin).await?;
                let db_url = with_database(url, tag);
                let open = |table: &str| {
                    let config = MySqlConfig::default().namespace(table).clock(clock.clone());
                    let db_url = db_url.clone();
                    async move {
                        let store = MySqlStore::connect_with(&db_url, config).await?;
                        store.setup().await?;
                        Ok::<Arc<dyn Store>, anyhow::Error>(Arc::new(store))
                    }
                };
                let store = open(TABLE).await?;
                let small = open(SMALL).await?;
                let pool = MySqlPoolOptions::new()
                    .max_connections(1)
                    .connect(&db_url)
                    .await?;
                Ok(Self {
                    name,
                    server: if version.contains("MariaDB") {
                        format!("MariaDB {}", version.split('-').next().unwrap_or(&version))
                    } else {
                        format!("MySQL {version}")
                    },
                    store,
                    small: Some(small),
                    clock,
                    server_pid: pid_of(url),
                    kind: Kind::MySql {
                        admin,
                        pool,
                        url: db_url,
                        database: tag.to_owned(),
                    },
                })
            }
            other => bail!(
                "the scale mode does not know the backend {other:?}; choose from {}",
                KNOWN.join(", ")
            ),
        }
    }

    /// Brings the large store to rest after the load, as one that grew over
    /// time would be; returns what was done. PostgreSQL: `VACUUM
    /// (ANALYZE)` of both tables (instead of autovacuum's first pass over
    /// the fresh load landing in the timing); SQLite: a WAL checkpoint;
    /// MySQL: `ANALYZE TABLE`.
    pub async fn settle(&self) -> Result<Option<String>> {
        Ok(match &self.kind {
            Kind::Memory | Kind::Redis { .. } | Kind::Mongo { .. } => None,
            Kind::Postgres { pool, table, .. } => {
                for t in [table.clone(), format!("{table}_{SMALL}")] {
                    sqlx::query(&format!("VACUUM (ANALYZE) public.\"{t}\""))
                        .execute(pool)
                        .await?;
                }
                Some("`VACUUM (ANALYZE)` of both tables".to_owned())
            }
            Kind::Sqlite { pool, .. } => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await?;
                Some("a WAL checkpoint (`wal_checkpoint(TRUNCATE)`)".to_owned())
            }
            Kind::MySql { pool, .. } => {
                sqlx::query(&format!("ANALYZE TABLE {TABLE}, {SMALL}"))
                    .execute(pool)
                    .await?;
                Some("`ANALYZE TABLE` of both tables".to_owned())
            }
        })
    }

    /// What the size measurement starts from, before the load: the
    /// process's resident memory (memory), the server's `used_memory`
    /// (Redis); `None` where the size is measured directly.
    pub async fn baseline(&self) -> Result<Option<u64>> {
        match &self.kind {
            Kind::Memory => Ok(cpu::rss_bytes()),
            Kind::Redis { conn, .. } => {
                Ok(Some(redis_info_field(conn, "memory", "used_memory").await?))
            }
            _ => Ok(None),
        }
    }

    /// The size of `n` stored sessions, measured as each backend allows.
    pub async fn size(&self, n: u64, baseline: Option<u64>) -> Result<Size> {
        let per = |bytes: u64| bytes as f64 / n.max(1) as f64;
        match &self.kind {
            Kind::Memory => {
                let before = baseline.context("no resident size before the load")?;
                let after = cpu::rss_bytes().context("no resident size (/proc/self/status)")?;
                let bytes = after.saturating_sub(before);
                Ok(Size {
                    bytes,
                    per_session: per(bytes),
                    method: "growth of the bench process's resident memory (VmRSS)".to_owned(),
                    detail: format!("{} before the load, {} after", mib(before), mib(after)),
                })
            }
            Kind::Redis { conn, .. } => {
                let before = baseline.context("no used_memory before the load")?;
                let after = redis_info_field(conn, "memory", "used_memory").await?;
                let bytes = after.saturating_sub(before);
                let keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn.clone()).await?;
                Ok(Size {
                    bytes,
                    per_session: per(bytes),
                    method: "growth of the server's `used_memory`".to_owned(),
                    detail: format!(
                        "{} before the load, {} after, the entries plus one owner set per \
                         user; {keys} keys in the database (other users' included)",
                        mib(before),
                        mib(after)
                    ),
                })
            }
            Kind::Postgres { pool, table, .. } => {
                let name = format!("public.\"{table}\"");
                let (total, heap, indexes, toast): (i64, i64, i64, i64) = sqlx::query_as(
                    "SELECT pg_total_relation_size($1::regclass), \
                     pg_relation_size($1::regclass), pg_indexes_size($1::regclass), \
                     pg_total_relation_size($1::regclass) - pg_relation_size($1::regclass) \
                     - pg_indexes_size($1::regclass)",
                )
                .bind(&name)
                .fetch_one(pool)
                .await?;
                let bytes = u64::try_from(total).unwrap_or(0);
                Ok(Size {
                    bytes,
                    per_session: per(bytes),
                    method: "`pg_total_relation_size` of the table".to_owned(),
                    detail: format!(
                        "rows {}, indexes {} (primary key, expiry, owner), TOAST and maps {}",
                        mib(heap as u64),
                        mib(indexes as u64),
                        mib(toast as u64)
                    ),
                })
            }
            Kind::Sqlite { dir, pool, table } => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await?;
                let file = std::fs::metadata(dir.path().join("scale.db"))?.len();
                // dbstat is compiled into some SQLite builds only.
                let dbstat: Result<Vec<(String, i64)>, _> = sqlx::query_as(
                    "SELECT name, sum(pgsize) FROM dbstat WHERE name = ?1 OR name IN \
                     (SELECT name FROM sqlite_master WHERE tbl_name = ?1 AND type = 'index') \
                     GROUP BY name ORDER BY name",
                )
                .bind(table)
                .fetch_all(pool)
                .await;
                match dbstat {
                    Ok(parts) if !parts.is_empty() => {
                        let bytes: u64 = parts.iter().map(|(_, b)| *b as u64).sum();
                        let detail: Vec<String> = parts
                            .iter()
                            .map(|(name, b)| format!("{name} {}", mib(*b as u64)))
                            .collect();
                        Ok(Size {
                            bytes,
                            per_session: per(bytes),
                            method: "`dbstat` pages of the table and its indexes".to_owned(),
                            detail: format!(
                                "{}; the whole file {} after a checkpoint",
                                detail.join(", "),
                                mib(file)
                            ),
                        })
                    }
                    _ => Ok(Size {
                        bytes: file,
                        per_session: per(file),
                        method: "the database file's size after a WAL checkpoint (no `dbstat` \
                                 in this SQLite build)"
                            .to_owned(),
                        detail: format!("{} in all", mib(file)),
                    }),
                }
            }
            Kind::Mongo { db, .. } => mongo_size(db, n).await,
            Kind::MySql { pool, database, .. } => {
                sqlx::query(&format!("ANALYZE TABLE {TABLE}"))
                    .execute(pool)
                    .await?;
                let (data, index): (u64, u64) = sqlx::query_as(
                    "SELECT CAST(data_length AS UNSIGNED), CAST(index_length AS UNSIGNED) \
                     FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                )
                .bind(database)
                .bind(TABLE)
                .fetch_one(pool)
                .await?;
                Ok(Size {
                    bytes: data + index,
                    per_session: per(data + index),
                    method: "InnoDB's `data_length + index_length` after `ANALYZE TABLE`"
                        .to_owned(),
                    detail: format!(
                        "rows (clustered primary key) {}, indexes {}",
                        mib(data),
                        mib(index)
                    ),
                })
            }
        }
    }

    /// What `storectl copy` is given: the whole namespace to another one
    /// on the same server (SQLite: another file); `None` for the memory
    /// store, which lives in the bench process and which another process
    /// cannot read.
    pub fn copy_plan(&self) -> Option<CopyPlan> {
        match &self.kind {
            Kind::Memory => None,
            Kind::Redis { url, prefix, .. } => Some(CopyPlan {
                from: url.clone(),
                from_namespace: prefix.clone(),
                to: url.clone(),
                to_namespace: format!("{prefix}_copy"),
                shown: "another prefix on the same server".to_owned(),
            }),
            Kind::Postgres { url, table, .. } => Some(CopyPlan {
                from: url.clone(),
                from_namespace: table.clone(),
                to: url.clone(),
                to_namespace: format!("{table}_copy"),
                shown: "another table in the same database".to_owned(),
            }),
            Kind::Sqlite { dir, table, .. } => Some(CopyPlan {
                from: format!("sqlite://{}", dir.path().join("scale.db").display()),
                from_namespace: table.clone(),
                to: format!("sqlite://{}", dir.path().join("copy.db").display()),
                to_namespace: table.clone(),
                shown: "a new database file in the same directory".to_owned(),
            }),
            Kind::Mongo { url, .. } => Some(CopyPlan {
                from: url.clone(),
                from_namespace: TABLE.to_owned(),
                to: url.clone(),
                to_namespace: COPY.to_owned(),
                shown: "another collection in the same database".to_owned(),
            }),
            Kind::MySql { url, .. } => Some(CopyPlan {
                from: url.clone(),
                from_namespace: TABLE.to_owned(),
                to: url.clone(),
                to_namespace: COPY.to_owned(),
                shown: "another table in the same database".to_owned(),
            }),
        }
    }

    /// Removes the copy `storectl copy` made.
    pub async fn drop_copy(&self) -> Result<()> {
        match &self.kind {
            Kind::Memory => {}
            Kind::Redis { conn, prefix, .. } => {
                crate::floor::delete_matching(conn, &format!("{prefix}_copy:*")).await?;
            }
            Kind::Postgres { pool, table, .. } => {
                drop_pg_table(pool, &format!("{table}_copy")).await?
            }
            Kind::Sqlite { dir, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let path = dir.path().join(format!("copy.db{suffix}"));
                    if path.exists() {
                        std::fs::remove_file(&path)?;
                    }
                }
            }
            Kind::Mongo { db, .. } => {
                db.collection::<mongodb::bson::Document>(COPY)
                    .drop()
                    .await?;
            }
            Kind::MySql { pool, .. } => {
                sqlx::query(&format!("DROP TABLE IF EXISTS {COPY}"))
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// The rows or documents left in the namespace, counted by the
    /// backend itself (`None` where the count is not direct: memory, Redis).
    pub async fn stored(&self) -> Result<Option<u64>> {
        Ok(match &self.kind {
            Kind::Memory | Kind::Redis { .. } => None,
            Kind::Postgres { pool, table, .. } => {
                let (n,): (i64,) =
                    sqlx::query_as(&format!("SELECT count(*) FROM public.\"{table}\""))
                        .fetch_one(pool)
                        .await?;
                Some(n as u64)
            }
            Kind::Sqlite { pool, table, .. } => {
                let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM \"{table}\""))
                    .fetch_one(pool)
                    .await?;
                Some(n as u64)
            }
            Kind::Mongo { db, .. } => Some(
                db.collection::<mongodb::bson::Document>(TABLE)
                    .count_documents(mongodb::bson::doc! {})
                    .await?,
            ),
            Kind::MySql { pool, .. } => {
                let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {TABLE}"))
                    .fetch_one(pool)
                    .await?;
                Some(n as u64)
            }
        })
    }

    /// The Redis server's `(expired_keys, DBSIZE)` now; `None` on other
    /// backends.
    pub async fn redis_counts(&self) -> Result<Option<(u64, u64)>> {
        let Kind::Redis { conn, .. } = &self.kind else {
            return Ok(None);
        };
        let expired = redis_info_field(conn, "stats", "expired_keys").await?;
        let keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn.clone()).await?;
        Ok(Some((expired, keys)))
    }

    /// The cache the reads of the large size go through, with its read and
    /// miss counters now; `None` where there is none to name.
    pub async fn cache(&self) -> Result<Option<Cache>> {
        Ok(match &self.kind {
            Kind::Memory => {
                std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index3/size")
                    .ok()
                    .map(|size| Cache {
                        what: format!(
                            "the CPU's last-level (L3) cache, {} per the kernel",
                            size.trim()
                        ),
                        ..Cache::default()
                    })
            }
            Kind::Redis { .. } | Kind::Sqlite { .. } => None,
            Kind::Postgres { pool, table, .. } => {
                let (buffers,): (String,) = sqlx::query_as("SHOW shared_buffers")
                    .fetch_one(pool)
                    .await?;
                let counts = |t: String| async move {
                    let (read, hit): (i64, i64) = sqlx::query_as(
                        "SELECT COALESCE(heap_blks_read, 0) + COALESCE(idx_blks_read, 0), \
                         COALESCE(heap_blks_hit, 0) + COALESCE(idx_blks_hit, 0) \
                         FROM pg_statio_user_tables WHERE relid = $1::regclass",
                    )
                    .bind(format!("public.\"{t}\""))
                    .fetch_one(pool)
                    .await?;
                    Ok::<_, anyhow::Error>((read as u64, (read + hit) as u64))
                };
                let (misses, reads) = counts(table.clone()).await?;
                let small = counts(format!("{table}_{SMALL}")).await?;
                Some(Cache {
                    what: format!("PostgreSQL's shared_buffers, {buffers}"),
                    misses: Some(misses),
                    reads: Some(reads),
                    small: Some(small),
                })
            }
            Kind::MySql { pool, .. } => {
                let (size,): (u64,) =
                    sqlx::query_as("SELECT CAST(@@innodb_buffer_pool_size AS UNSIGNED)")
                        .fetch_one(pool)
                        .await?;
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_read%'")
                        .fetch_all(pool)
                        .await?;
                let get = |name: &str| {
                    rows.iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .and_then(|(_, v)| v.parse::<u64>().ok())
                };
                Some(Cache {
                    what: format!(
                        "InnoDB's buffer pool, {} (counters are the server's, other tables' included)",
                        mib(size)
                    ),
                    misses: get("Innodb_buffer_pool_reads"),
                    reads: get("Innodb_buffer_pool_read_requests"),
                    small: None,
                })
            }
            Kind::Mongo { .. } => {
                let args = self
                    .server_pid
                    .and_then(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
                    .map(|raw| {
                        raw.split(|b| *b == 0)
                            .map(|a| String::from_utf8_lossy(a).into_owned())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                args.iter()
                    .position(|a| a == "--cache-size")
                    .and_then(|i| args.get(i + 1))
                    .map(|size| Cache {
                        what: format!(
                            "secantusd-rs's cache, `--cache-size {size}` on its command line"
                        ),
                        ..Cache::default()
                    })
            }
        })
    }

    /// Times what a whole-namespace read starts with, on the large size:
    /// the first page of 10,000 entries (storectl counts the source with
    /// such pages) and the page of 1,000 after it, through `Store::scan`
    /// with a limit of 180 s; on MongoDB also the queries a page makes,
    /// through the driver.
    pub async fn probe(&self) -> Result<Vec<Probe>> {
        let store: Arc<dyn Store> = match &self.kind {
            Kind::Mongo { db, .. } => {
                let config = MongoConfig::default()
                    .namespace(TABLE)
                    .operation_timeout(PROBE_LIMIT)
                    .clock(self.clock.clone());
                Arc::new(MongoStore::with_config(db.clone(), config)?)
            }
            _ => self.store.clone(),
        };
        let mut out = Vec::new();
        let started = std::time::Instant::now();
        let first = tokio::time::timeout(PROBE_LIMIT, store.scan(None, 10_000)).await;
        let secs = started.elapsed().as_secs_f64();
        let next = match first {
            Ok(Ok(page)) => {
                out.push(Probe {
                    what: "`Store::scan`: the first page of 10,000".to_owned(),
                    secs: Some(secs),
                    returned: page.entries.len() as u64,
                });
                page.next
            }
            Ok(Err(e)) => {
                out.push(Probe {
                    what: format!(
                        "`Store::scan`: the first page of 10,000 failed after {secs:.1} s: {e}"
                    ),
                    secs: None,
                    returned: 0,
                });
                None
            }
            Err(_) => {
                out.push(Probe {
                    what: "`Store::scan`: the first page of 10,000".to_owned(),
                    secs: None,
                    returned: 0,
                });
                None
            }
        };
        if let Some(cursor) = next {
            let started = std::time::Instant::now();
            let page = tokio::time::timeout(PROBE_LIMIT, store.scan(Some(&cursor), 1_000)).await;
            out.push(Probe {
                what: "`Store::scan`: the page of 1,000 after it".to_owned(),
                secs: matches!(page, Ok(Ok(_))).then(|| started.elapsed().as_secs_f64()),
                returned: match page {
                    Ok(Ok(p)) => p.entries.len() as u64,
                    _ => 0,
                },
            });
        }
        if let Kind::Mongo { db, .. } = &self.kind {
            out.extend(mongo_queries(db).await);
        }
        Ok(out)
    }

    /// A Redis setting (`CONFIG GET`), `None` on other backends or where
    /// the server does not answer it.
    pub async fn redis_config(&self, name: &str) -> Option<String> {
        let Kind::Redis { conn, .. } = &self.kind else {
            return None;
        };
        let reply: Result<Vec<String>, _> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(&mut conn.clone())
            .await;
        reply.ok().and_then(|v| v.get(1).cloned())
    }

    /// Removes everything the run wrote on this backend: the namespace and
    /// its copy (key prefixes, tables and sequences, the database, the
    /// temporary directory).
    pub async fn cleanup(self) -> Result<()> {
        let copy = self.drop_copy().await;
        match self.kind {
            Kind::Memory => {}
            Kind::Redis { conn, prefix, .. } => {
                crate::floor::delete_matching(&conn, &format!("{prefix}:*")).await?;
            }
            Kind::Postgres { pool, table, .. } => {
                drop_pg_table(&pool, &table).await?;
                drop_pg_table(&pool, &format!("{table}_{SMALL}")).await?;
            }
            Kind::Sqlite { dir, pool, .. } => {
                pool.close().await;
                drop(self.store);
                drop(self.small);
                dir.close()?;
            }
            Kind::Mongo { db, .. } => db.drop().await?,
            Kind::MySql {
                admin, database, ..
            } => {
                sqlx::query(&format!("DROP DATABASE IF EXISTS {database}"))
                    .execute(&admin)
                    .await?;
            }
        }
        copy
    }
}

/// Drops a store table of the default schema and its version sequence.
async fn drop_pg_table(pool: &sqlx::PgPool, table: &str) -> Result<()> {
    sqlx::query(&format!("DROP TABLE IF EXISTS public.\"{table}\""))
        .execute(pool)
        .await?;
    sqlx::query(&format!(
        "DROP SEQUENCE IF EXISTS public.\"{table}_version_seq\""
    ))
    .execute(pool)
    .await?;
    Ok(())
}

/// A numeric field of a section of Redis's `INFO`.
async fn redis_info_field(
    conn: &redis::aio::ConnectionManager,
    section: &str,
    field: &str,
) -> Result<u64> {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn.clone())
        .await?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("redis: no {field} in INFO {section}"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The queries a MongoDB scan page makes, timed one by one through the
/// driver (the same filters, sort and collation as `store-mongodb`'s
/// scan), and variants without the collation and without the type filter,
/// to show which part the server is slow at.
async fn mongo_queries(db: &mongodb::Database) -> Vec<Probe> {
    use futures::TryStreamExt;
    use mongodb::bson::{Document, doc};
    use mongodb::options::Collation;
    let collection = db.collection::<Document>(TABLE);
    let simple = || Collation::builder().locale("simple").build();
    let mut out = Vec::new();
    // Every session has expired two hours on, as for the purge.
    let later = mongodb::bson::DateTime::from_millis(
        SystemClock
            .now()
            .checked_add(super::PURGE_AHEAD)
            .map_or(i64::MAX, |e| e.as_unix_millis()),
    );
    let queries: Vec<(&str, Document, Option<Document>, bool, i64)> = vec![
        (
            "`find` of non-string `_id`s, sorted by `_id`, simple collation, limit 10,000 (a scan's first page looks for unreadable documents so)",
            doc! { "_id": { "$not": { "$type": "string" } } },
            Some(doc! { "_id": 1 }),
            true,
            10_000,
        ),
        (
            "`find` of string `_id`s, sorted by `_id`, simple collation, limit 1,001 (a scan page)",
            doc! { "_id": { "$type": "string" } },
            Some(doc! { "_id": 1 }),
            true,
            1_001,
        ),
        (
            "the same without the collation",
            doc! { "_id": { "$type": "string" } },
            Some(doc! { "_id": 1 }),
            false,
            1_001,
        ),
        (
            "`find` of `_id` > \"sess:8\", sorted by `_id`, no collation, limit 1,001",
            doc! { "_id": { "$gt": "sess:8" } },
            Some(doc! { "_id": 1 }),
            false,
            1_001,
        ),
        (
            "`find` of `expires_at` <= now (+2 h), sorted by `expires_at`, limit 1,000 (one purge batch)",
            doc! { "expires_at": { "$lte": later } },
            Some(doc! { "expires_at": 1 }),
            false,
            1_000,
        ),
        (
            "the same unsorted",
            doc! { "expires_at": { "$lte": later } },
            None,
            false,
            1_000,
        ),
    ];
    for (what, filter, sort, collated, limit) in queries {
        let started = std::time::Instant::now();
        let mut find = collection.find(filter).limit(limit);
        if let Some(sort) = sort {
            find = find.sort(sort);
        }
        if collated {
            find = find.collation(simple());
        }
        let run = async {
            let docs: Vec<Document> = find.await?.try_collect().await?;
            Ok::<_, mongodb::error::Error>(docs.len() as u64)
        };
        let result = tokio::time::timeout(PROBE_LIMIT, run).await;
        out.push(Probe {
            what: what.to_owned(),
            secs: matches!(result, Ok(Ok(_))).then(|| started.elapsed().as_secs_f64()),
            returned: match result {
                Ok(Ok(n)) => n,
                _ => 0,
            },
        });
    }
    out
}

/// A number in a BSON reply, whatever its type.
fn bson_number(doc: &mongodb::bson::Document, field: &str) -> Option<u64> {
    use mongodb::bson::Bson;
    match doc.get(field)? {
        Bson::Int32(v) => u64::try_from(*v).ok(),
        Bson::Int64(v) => u64::try_from(*v).ok(),
        Bson::Double(v) if *v >= 0.0 => Some(*v as u64),
        _ => None,
    }
}

/// The collection's size as the server reports it: `collStats`, then the
/// `$collStats` stage, then `dbStats`, whichever answers with sizes.
async fn mongo_size(db: &mongodb::Database, n: u64) -> Result<Size> {
    use mongodb::bson::{Document, doc};
    let per = |bytes: u64| bytes as f64 / n.max(1) as f64;
    let describe = |doc: &Document, fields: &[&str]| -> String {
        fields
            .iter()
            .filter_map(|f| bson_number(doc, f).map(|v| format!("{f} {}", mib(v))))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut tried = Vec::new();
    match db.run_command(doc! { "collStats": TABLE }).await {
        Ok(reply) => {
            let data = bson_number(&reply, "size");
            let storage = bson_number(&reply, "storageSize");
            let indexes = bson_number(&reply, "totalIndexSize");
            let fields = ["size", "storageSize", "totalIndexSize", "totalSize"];
            if let (Some(data), Some(indexes)) = (storage.or(data), indexes) {
                let bytes = data + indexes;
                return Ok(Size {
                    bytes,
                    per_session: per(bytes),
                    method: format!(
                        "`collStats`: {} + `totalIndexSize`",
                        if storage.is_some() {
                            "`storageSize`"
                        } else {
                            "`size`"
                        }
                    ),
                    detail: describe(&reply, &fields),
                });
            }
            tried.push(format!(
                "collStats answered without sizes ({})",
                describe(&reply, &fields)
            ));
        }
        Err(e) => tried.push(format!("collStats: {e}")),
    }
    let pipeline = vec![doc! { "$collStats": { "storageStats": {} } }];
    match db.collection::<Document>(TABLE).aggregate(pipeline).await {
        Ok(mut cursor) => {
            use futures::TryStreamExt;
            if let Some(reply) = cursor.try_next().await.ok().flatten() {
                if let Ok(stats) = reply.get_document("storageStats") {
                    let fields = ["size", "storageSize", "totalIndexSize", "totalSize"];
                    let storage = bson_number(stats, "storageSize").or(bson_number(stats, "size"));
                    if let (Some(data), Some(indexes)) =
                        (storage, bson_number(stats, "totalIndexSize"))
                    {
                        return Ok(Size {
                            bytes: data + indexes,
                            per_session: per(data + indexes),
                            method: "`$collStats` storageStats: storage + `totalIndexSize`"
                                .to_owned(),
                            detail: describe(stats, &fields),
                        });
                    }
                }
                tried.push("$collStats answered without storageStats sizes".to_owned());
            }
        }
        Err(e) => tried.push(format!("$collStats: {e}")),
    }
    let reply = db.run_command(doc! { "dbStats": 1 }).await?;
    let fields = ["dataSize", "storageSize", "indexSize", "totalSize"];
    let data = bson_number(&reply, "storageSize").or(bson_number(&reply, "dataSize"));
    let indexes = bson_number(&reply, "indexSize").unwrap_or(0);
    let Some(data) = data else {
        bail!(
            "mongodb: no size from collStats, $collStats or dbStats ({}; dbStats: {})",
            tried.join("; "),
            describe(&reply, &fields)
        );
    };
    Ok(Size {
        bytes: data + indexes,
        per_session: per(data + indexes),
        method: format!(
            "`dbStats` of the run's own database: storage + indexes ({})",
            tried.join("; ")
        ),
        detail: describe(&reply, &fields),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_replace_the_path() {
        assert_eq!(
            with_database("mongodb://127.0.0.1:27103/", "scale_1"),
            "mongodb://127.0.0.1:27103/scale_1"
        );
        assert_eq!(
            with_database("mysql://u:p@h:1/store_test?ssl-mode=disabled", "s"),
            "mysql://u:p@h:1/s?ssl-mode=disabled"
        );
        assert_eq!(with_database("mongodb://h", "d"), "mongodb://h/d");
    }

    #[test]
    fn the_offset_clock_runs_ahead() {
        let clock = OffsetClock::default();
        let now = SystemClock.now().as_unix_millis();
        assert!((clock.now().as_unix_millis() - now).abs() < 1_000);
        clock.set_ahead(Duration::from_secs(7200));
        assert!(clock.now().as_unix_millis() - now >= 7_199_000);
    }
}
