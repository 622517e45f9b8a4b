//! Each backend's contenders: our store, the raw floor, our tower-sessions
//! adapter and the peer, all on the same server, each in a namespace of
//! its own that is removed at the end.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use store::store_mongodb::{MongoConfig, MongoStore};
use store::store_sqlx::{
    DEFAULT_MAX_CONNECTIONS, MySqlConfig, MySqlStore, PostgresConfig, PostgresStore, SqliteConfig,
    SqliteStore,
};
use store::{BackendInfo, OpenOptions, Store};
use store_tower_sessions::TowerStore;

use crate::floor::{MemoryFloor, MongoFloor, MySqlFloor, PostgresFloor, RedisFloor, SqliteFloor};
use crate::harness::Contender;
use crate::ours::{Ours, Tower14, Tower15};
use crate::target::Role;

/// The bench's name of a registry backend: `sqlite_file` for SQLite (a
/// file in WAL mode, as in production), the registry's name otherwise.
fn bench_name(registry: &'static str) -> &'static str {
    if registry == "sqlite" {
        "sqlite_file"
    } else {
        registry
    }
}

/// The registry's entry of a bench backend name.
fn info(name: &str) -> Option<&'static BackendInfo> {
    store::backend(if name == "sqlite_file" {
        "sqlite"
    } else {
        name
    })
}

/// Every backend of the registry (`crates/store/backends.txt`), in its
/// order, by its bench name.
pub fn all() -> Vec<&'static str> {
    store::BACKENDS
        .iter()
        .filter(|b| b.enabled)
        .map(|b| bench_name(b.name))
        .collect()
}

/// The bench backend called `name`.
///
/// # Errors
/// An unknown name, with the list of known ones.
pub fn named(name: &str) -> Result<&'static str> {
    all()
        .into_iter()
        .find(|b| *b == name)
        .with_context(|| format!("unknown backend {name:?}; choose from {}", all().join(", ")))
}

/// The URL of the server `backend` needs: the `{service}` of its registry
/// test URL, read from the test suite's variable (`STORE_TEST_REDIS_URL`,
/// …), or an error that says how to get one; `None` for a backend without
/// a server.
pub fn server_url(backend: &str) -> Result<Option<String>> {
    let info = info(backend).with_context(|| format!("unknown backend {backend:?}"))?;
    let url = info.test_url;
    let Some(service) = url
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(service, _)| service)
        .filter(|service| *service != "dir")
    else {
        return Ok(None);
    };
    let var = format!(
        "STORE_TEST_{}_URL",
        service.to_ascii_uppercase().replace('-', "_")
    );
    match std::env::var(&var) {
        Ok(value) if !value.is_empty() => Ok(Some(url.replace(&format!("{{{service}}}"), &value))),
        _ => bail!(
            "{backend}: {var} is not set; run `just bench` (it starts the servers), \
             or start them with `just services` and export the URLs it prints"
        ),
    }
}

/// The layers run at 1 and 16 tasks.
const LAYER_MAX_TASKS: usize = 16;

/// Our store wrapped in each `store-layers` layer and in the whole stack,
/// each over its own namespace (`open(namespace)`).
fn layers(name: &str, open: impl Fn(&str) -> Result<Arc<dyn Store>>) -> Result<Vec<Contender>> {
    use store_layers::{
        Cache, CacheConfig, CachedStore, EncryptedStore, Keyring, RetryPolicy, RetryStore, Stack,
        TracedStore,
    };
    let keyring = || Keyring::new(1, [9; 32]);
    let cache = || {
        Cache::new(
            CacheConfig::default()
                .max_entries(100_000)
                .max_bytes(256 << 20)
                .max_age(Duration::from_secs(3600)),
        )
    };
    let layered: Vec<(&str, Arc<dyn Store>)> = vec![
        (
            "encryption",
            Arc::new(EncryptedStore::new(open("enc")?, keyring())),
        ),
        (
            "retry",
            Arc::new(RetryStore::new(open("retry")?, RetryPolicy::default())),
        ),
        ("cache", Arc::new(CachedStore::new(open("cache")?, cache()))),
        ("tracing", Arc::new(TracedStore::new(open("trace")?))),
        (
            "whole stack",
            Stack::new(open("stack")?)
                .tracing()
                .cache(cache())
                .retry(RetryPolicy::default())
                .encryption(keyring())
                .build(),
        ),
    ];
    layered
        .into_iter()
        .map(|(layer, store)| {
            Ok(Contender::new(
                format!("{name} + {layer}"),
                Role::Layer,
                Ours::layered(store)?,
            )
            .up_to(LAYER_MAX_TASKS))
        })
        .collect()
}

/// One backend's contenders and what it needs removed at the end.
pub struct Backend {
    /// The bench name: `memory`, `redis`, `postgres`, `sqlite_file`,
    /// `mongodb`, or another backend of the registry.
    pub name: &'static str,
    /// Ours first, then the floor, our tower-sessions adapter, the peer.
    pub contenders: Vec<Contender>,
    /// The server's name and version, for the report.
    pub server: String,
    cleanup: Cleanup,
    /// The database files of the control's stores (see [`control`]), on
    /// SQLite.
    control_files: Option<tempfile::TempDir>,
}

enum Cleanup {
    None,
    Redis(redis::aio::ConnectionManager, String),
    Postgres(sqlx::PgPool, String),
    /// A database of the run's own, dropped at the end.
    MySql(sqlx::MySqlPool, String),
    Sqlite(tempfile::TempDir),
    Mongo(mongodb::Database),
}

impl Backend {
    /// Removes every namespace the contenders wrote to.
    pub async fn cleanup(self) -> Result<()> {
        for c in &self.contenders {
            c.finish_sessions().await?;
            c.target.cleanup().await?;
        }
        match self.cleanup {
            Cleanup::None => {}
            Cleanup::Redis(conn, pattern) => crate::floor::delete_matching(&conn, &pattern).await?,
            Cleanup::Postgres(pool, schema) => {
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&pool)
                    .await?;
            }
            Cleanup::MySql(pool, database) => {
                sqlx::query(&format!("DROP DATABASE IF EXISTS {database}"))
                    .execute(&pool)
                    .await?;
            }
            Cleanup::Sqlite(dir) => dir.close()?,
            Cleanup::Mongo(db) => db.drop().await?,
        }
        if let Some(dir) = self.control_files {
            dir.close()?;
        }
        Ok(())
    }
}

/// The control run (`--control`, an A/A test): `backend` with its floor
/// and its peer replaced by two more stores of ours, set up as its own
/// and on the same server (a file of their own on SQLite): our store
/// through the `Store` trait in the floor's place, our tower-sessions
/// adapter in the peer's. The ratios to them then compare each of ours
/// with a copy of itself, whose true ratio is 1: how far they stray from 1
/// is the spread of the method on this machine.
pub async fn control(mut backend: Backend, url: Option<&str>, tag: &str) -> Result<Backend> {
    let open_twins = async {
        match backend.name {
            "memory" => {
                let ours: Arc<dyn Store> = Arc::new(store::store_memory::MemoryStore::new());
                let tower: Arc<dyn Store> = Arc::new(store::store_memory::MemoryStore::new());
                Ok::<_, anyhow::Error>((ours, tower, None))
            }
            "postgres" => {
                let url = url.context("no URL")?;
                Ok((
                    postgres_store(url, tag, "control").await?,
                    postgres_store(url, tag, "control_tower").await?,
                    None,
                ))
            }
            "sqlite_file" => {
                let dir = tempfile::Builder::new().prefix(tag).tempdir()?;
                Ok((
                    sqlite_store(dir.path(), "control").await?,
                    sqlite_store(dir.path(), "control_tower").await?,
                    Some(dir),
                ))
            }
            "mongodb" => {
                let db = mongodb::Client::with_uri_str(url.context("no URL")?)
                    .await?
                    .database(tag);
                Ok((
                    mongo_store(&db, "control").await?,
                    mongo_store(&db, "control_tower").await?,
                    None,
                ))
            }
            "mysql" => {
                let url = url.context("no URL")?;
                let url = run_database(url, tag);
                Ok((
                    mysql_store(&url, "control").await?,
                    mysql_store(&url, "control_tower").await?,
                    None,
                ))
            }
            // Redis and the registry's other backends: opened by URL, as
            // their store of ours is.
            _ => {
                let info = info(backend.name).context("unknown backend")?;
                let (url, dir) = store_url(info, url)?;
                let open =
                    |ns: String| store::open_with(&url, OpenOptions::default().namespace(ns));
                Ok((
                    open(format!("{tag}_control")).await?,
                    open(format!("{tag}_control_tower")).await?,
                    dir,
                ))
            }
        }
    };
    let (ours, tower, files) = open_twins.await?;
    let label = |role: Role| {
        backend
            .contenders
            .iter()
            .find(|c| c.role == role)
            .map_or_else(|| role.to_string(), |c| c.label.clone())
    };
    let (ours_label, adapter_label) = (label(Role::Ours), label(Role::Adapter));
    let mut twin = Ours::new(ours)?;
    if backend.name == "memory" {
        twin = twin.in_process();
    }
    backend
        .contenders
        .retain(|c| !matches!(c.role, Role::Floor | Role::Peer));
    backend.contenders.insert(
        1,
        Contender::new(format!("{ours_label} (control)"), Role::Floor, twin),
    );
    backend.contenders.insert(
        2,
        Contender::new(
            format!("{adapter_label} (control)"),
            Role::Peer,
            Tower15::new(TowerStore::new(tower)),
        ),
    );
    backend.control_files = files;
    Ok(backend)
}

/// The URL a registry backend's store opens: `url` when the server's is
/// given, else the registry's test URL, in a new temporary directory (kept
/// for the run, returned beside it) where that URL names one (`{dir}`).
fn store_url(info: &BackendInfo, url: Option<&str>) -> Result<(String, Option<tempfile::TempDir>)> {
    Ok(match url {
        Some(url) => (url.to_owned(), None),
        None if info.test_url.contains("{dir}") => {
            let dir = tempfile::tempdir()?;
            let url = info
                .test_url
                .replace("{dir}", &dir.path().display().to_string());
            (url, Some(dir))
        }
        None => (info.test_url.to_owned(), None),
    })
}

/// The MySQL server's `url` with the run's database, `tag`, in place of
/// its own.
fn run_database(url: &str, tag: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{tag}")
}

/// Our PostgreSQL store on `url`, table `table` in `schema`, set up.
async fn postgres_store(url: &str, schema: &str, table: &str) -> Result<Arc<dyn Store>> {
    let config = PostgresConfig::default().schema(schema).namespace(table);
    let store = PostgresStore::connect_with(url, config).await?;
    store.setup().await?;
    Ok(Arc::new(store))
}

/// Our MySQL store on `url` (the run's database), table `table`, set up.
async fn mysql_store(url: &str, table: &str) -> Result<Arc<dyn Store>> {
    let store = MySqlStore::connect_with(url, MySqlConfig::default().namespace(table)).await?;
    store.setup().await?;
    Ok(Arc::new(store))
}

/// Our SQLite store in a database file of its own, `table.db` in `dir`,
/// set up.
async fn sqlite_store(dir: &std::path::Path, table: &str) -> Result<Arc<dyn Store>> {
    let url = format!("sqlite://{}", dir.join(format!("{table}.db")).display());
    let store = SqliteStore::connect_with(&url, SqliteConfig::default().namespace(table)).await?;
    store.setup().await?;
    Ok(Arc::new(store))
}

/// Our MongoDB store in collection `collection` of `db`, set up.
async fn mongo_store(db: &mongodb::Database, collection: &str) -> Result<Arc<dyn Store>> {
    let store = MongoStore::with_config(db.clone(), MongoConfig::default().namespace(collection))?;
    store.setup().await?;
    Ok(Arc::new(store))
}

/// Sets up `backend` (`url` for the server ones) under the run's `tag`.
pub async fn open(backend: &'static str, url: Option<&str>, tag: &str) -> Result<Backend> {
    match backend {
        "memory" => memory(),
        "redis" => redis(url.context("no URL")?, tag).await,
        "postgres" => postgres(url.context("no URL")?, tag).await,
        "sqlite_file" => sqlite(tag).await,
        "mongodb" => mongo(url.context("no URL")?, tag).await,
        "mysql" => mysql(url.context("no URL")?, tag).await,
        other => ours_only(other, url, tag).await,
    }
}

/// A registry backend without a floor or a peer here yet: our store alone,
/// opened through `store::open_with` at its test URL.
async fn ours_only(name: &'static str, url: Option<&str>, tag: &str) -> Result<Backend> {
    let info = info(name).with_context(|| format!("unknown backend {name:?}"))?;
    let (url, dir) = store_url(info, url)?;
    let store = store::open_with(&url, OpenOptions::default().namespace(tag)).await?;
    Ok(Backend {
        name,
        contenders: vec![Contender::new(
            info.crate_name,
            Role::Ours,
            Ours::new(store)?,
        )],
        server: if info.servers.is_empty() {
            "in process".to_owned()
        } else {
            info.servers.join(", ")
        },
        cleanup: dir.map_or(Cleanup::None, Cleanup::Sqlite),
        control_files: None,
    })
}

fn memory() -> Result<Backend> {
    let ours = store::store_memory::MemoryStore::new();
    let tower = Arc::new(store::store_memory::MemoryStore::new());
    let base = store::store_memory::MemoryStore::new();
    let layered = layers("store-memory", |ns| Ok(Arc::new(base.with_namespace(ns)?)))?;
    Ok(Backend {
        name: "memory",
        contenders: vec![
            Contender::new(
                "store-memory",
                Role::Ours,
                Ours::new(Arc::new(ours))?.in_process(),
            ),
            Contender::new("RwLock<HashMap> × 64", Role::Floor, MemoryFloor::default()),
            Contender::new(
                "store-tower-sessions (memory)",
                Role::Adapter,
                Tower15::new(TowerStore::new(tower)),
            ),
            Contender::new(
                "tower-sessions MemoryStore 0.15",
                Role::Peer,
                Tower15::new(tower_sessions_memory_store::MemoryStore::default()),
            ),
        ]
        .into_iter()
        .chain(layered)
        .collect(),
        server: "in process".to_owned(),
        cleanup: Cleanup::None,
        control_files: None,
    })
}

/// The server's version, from `INFO server` (`unknown` when it does not
/// say).
pub async fn redis_version(conn: &redis::aio::ConnectionManager) -> Result<String> {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn.clone())
        .await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("unknown")
        .trim()
        .to_owned())
}

async fn redis(url: &str, tag: &str) -> Result<Backend> {
    let ours =
        store::open_with(url, OpenOptions::default().namespace(format!("{tag}_ours"))).await?;
    let tower = store::open_with(
        url,
        OpenOptions::default().namespace(format!("{tag}_tower")),
    )
    .await?;
    let base = store::store_redis::RedisStore::connect(url).await?;
    let layered = layers("store-redis", |ns| {
        Ok(Arc::new(base.with_namespace(format!("{tag}_layer_{ns}"))?))
    })?;
    // The same store keeping the scan index: what the index costs a write.
    let indexed = store::store_redis::RedisStore::connect_with(
        url,
        store::store_redis::RedisConfig::default()
            .namespace(format!("{tag}_indexed"))
            .scan_index(true),
    )
    .await?;
    let indexed = Contender::new(
        "store-redis + scan index",
        Role::Layer,
        Ours::layered(Arc::new(indexed))?,
    )
    .up_to(LAYER_MAX_TASKS);
    let conn = redis::Client::open(url)?.get_connection_manager().await?;
    let version = redis_version(&conn).await?;
    let config = fred::prelude::Config::from_url(url)?;
    let pool = fred::prelude::Builder::from_config(config).build_pool(6)?;
    fred::prelude::ClientLike::init(&pool).await?;
    Ok(Backend {
        name: "redis",
        contenders: vec![
            Contender::new("store-redis", Role::Ours, Ours::new(ours)?),
            Contender::new(
                "redis crate",
                Role::Floor,
                RedisFloor::connect(url, &format!("{tag}_raw")).await?,
            ),
            Contender::new(
                "store-tower-sessions (redis)",
                Role::Adapter,
                Tower15::new(TowerStore::new(tower)),
            ),
            Contender::new(
                "tower-sessions-redis-store 0.16",
                Role::Peer,
                Tower14::new(tower_sessions_redis_store::RedisStore::new(pool)),
            ),
        ]
        .into_iter()
        .chain(layered)
        .chain([indexed])
        .collect(),
        server: format!("Redis {version}"),
        cleanup: Cleanup::Redis(conn, format!("{tag}_*")),
        control_files: None,
    })
}

async fn postgres(url: &str, tag: &str) -> Result<Backend> {
    let schema = tag.to_owned();
    let pool = PgPoolOptions::new()
        .max_connections(DEFAULT_MAX_CONNECTIONS)
        .connect(url)
        .await
        .context("postgres: connect")?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&pool)
        .await?;
    let (version,): (String,) = sqlx::query_as("SHOW server_version")
        .fetch_one(&pool)
        .await?;
    let ours = postgres_store(url, &schema, "ours").await?;
    let tower = postgres_store(url, &schema, "tower").await?;
    let peer_pool = PgPoolOptions::new()
        .max_connections(DEFAULT_MAX_CONNECTIONS)
        .connect(url)
        .await?;
    let peer = tower_sessions_sqlx_store::PostgresStore::new(peer_pool)
        .with_schema_name(&schema)
        .map_err(anyhow::Error::msg)?
        .with_table_name("peer")
        .map_err(anyhow::Error::msg)?;
    peer.migrate().await?;
    // The floor's pool is set up as our store's is: no ping before each
    // call (sqlx pings on release either way).
    let floor_pool = PgPoolOptions::new()
        .max_connections(DEFAULT_MAX_CONNECTIONS)
        .test_before_acquire(false)
        .connect(url)
        .await?;
    let floor = PostgresFloor::create_table(floor_pool, &format!("{schema}.raw")).await?;
    Ok(Backend {
        name: "postgres",
        contenders: vec![
            Contender::new("store-sqlx (Postgres)", Role::Ours, Ours::new(ours)?),
            Contender::new("sqlx (Postgres)", Role::Floor, floor),
            Contender::new(
                "store-tower-sessions (postgres)",
                Role::Adapter,
                Tower15::new(TowerStore::new(tower)),
            ),
            Contender::new(
                "tower-sessions-sqlx-store 0.15 (Postgres)",
                Role::Peer,
                Tower14::new(peer),
            ),
        ],
        server: format!("PostgreSQL {version}"),
        cleanup: Cleanup::Postgres(pool, schema),
        control_files: None,
    })
}

/// MySQL or MariaDB, every contender in a database of the run's own (the
/// server's URL with that database), with pools of the same size.
async fn mysql(url: &str, tag: &str) -> Result<Backend> {
    let admin = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("mysql: connect")?;
    sqlx::query(&format!("CREATE DATABASE IF NOT EXISTS {tag}"))
        .execute(&admin)
        .await?;
    let (version,): (String,) = sqlx::query_as("SELECT version()").fetch_one(&admin).await?;
    let url = run_database(url, tag);
    let ours = mysql_store(&url, "ours").await?;
    let tower = mysql_store(&url, "tower").await?;
    // The peer and the floor: pools as our store's, without a ping before
    // each call (sqlx pings on release either way).
    let pool = || {
        MySqlPoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .test_before_acquire(false)
            .connect(&url)
    };
    let peer = tower_sessions_sqlx_store::MySqlStore::new(pool().await?)
        .with_schema_name(tag)
        .map_err(anyhow::Error::msg)?
        .with_table_name("peer")
        .map_err(anyhow::Error::msg)?;
    peer.migrate().await?;
    let floor = MySqlFloor::create_table(pool().await?, "raw").await?;
    Ok(Backend {
        name: "mysql",
        contenders: vec![
            Contender::new("store-sqlx (MySQL)", Role::Ours, Ours::new(ours)?),
            Contender::new("sqlx (MySQL)", Role::Floor, floor),
            Contender::new(
                "store-tower-sessions (mysql)",
                Role::Adapter,
                Tower15::new(TowerStore::new(tower)),
            ),
            Contender::new(
                "tower-sessions-sqlx-store 0.15 (MySQL)",
                Role::Peer,
                Tower14::new(peer),
            ),
        ],
        server: if version.contains("MariaDB") {
            format!("MariaDB {}", version.split('-').next().unwrap_or(&version))
        } else {
            format!("MySQL {version}")
        },
        cleanup: Cleanup::MySql(admin, tag.to_owned()),
        control_files: None,
    })
}

/// A SQLite pool set up as our store sets up its own: WAL,
/// `synchronous = NORMAL`, a busy timeout, the same pool size.
async fn sqlite_pool(path: &std::path::Path) -> Result<sqlx::SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    Ok(SqlitePoolOptions::new()
        .max_connections(DEFAULT_MAX_CONNECTIONS)
        .test_before_acquire(false)
        .connect_with(options)
        .await?)
}

async fn sqlite(tag: &str) -> Result<Backend> {
    // Each contender has a database file of its own: in one shared file
    // the contenders would share one write-ahead log, and the commit that
    // fills it would checkpoint (copy to the database and sync) the pages
    // the others wrote as well.
    let dir = tempfile::Builder::new().prefix(tag).tempdir()?;
    let file = |name: &str| dir.path().join(format!("{name}.db"));
    let ours = sqlite_store(dir.path(), "ours").await?;
    let tower = sqlite_store(dir.path(), "tower").await?;
    let floor = SqliteFloor::create_table(sqlite_pool(&file("raw")).await?, "raw").await?;
    let peer_pool = sqlite_pool(&file("peer")).await?;
    let (version,): (String,) = sqlx::query_as("SELECT sqlite_version()")
        .fetch_one(&peer_pool)
        .await?;
    let peer = tower_sessions_sqlx_store::SqliteStore::new(peer_pool)
        .with_table_name("peer")
        .map_err(anyhow::Error::msg)?;
    peer.migrate().await?;
    Ok(Backend {
        name: "sqlite_file",
        contenders: vec![
            Contender::new("store-sqlx (SQLite)", Role::Ours, Ours::new(ours)?),
            Contender::new("sqlx (SQLite)", Role::Floor, floor),
            Contender::new(
                "store-tower-sessions (sqlite)",
                Role::Adapter,
                Tower15::new(TowerStore::new(tower)),
            ),
            Contender::new(
                "tower-sessions-sqlx-store 0.15 (SQLite)",
                Role::Peer,
                Tower14::new(peer),
            ),
        ],
        server: format!("SQLite {version} (file, WAL)"),
        cleanup: Cleanup::Sqlite(dir),
        control_files: None,
    })
}

async fn mongo(url: &str, tag: &str) -> Result<Backend> {
    let client = mongodb::Client::with_uri_str(url).await?;
    let db = client.database(tag);
    let info = db
        .run_command(mongodb::bson::doc! { "buildInfo": 1 })
        .await?;
    let version = info.get_str("version").unwrap_or("unknown").to_owned();
    // secantusd-rs names itself in buildInfo (`secantusVersion`), wherever
    // it runs (a process or a container, with or without its binary on
    // this machine); mongod gives only its version.
    let name = info
        .get_str("secantusVersion")
        .ok()
        .map(|v| format!("secantusd-rs {v}"));
    let ours = mongo_store(&db, "ours").await?;
    let tower = mongo_store(&db, "tower").await?;
    let floor = MongoFloor::create_collection(&db, "raw").await?;
    Ok(Backend {
        name: "mongodb",
        contenders: vec![
            Contender::new("store-mongodb", Role::Ours, Ours::new(ours)?),
            Contender::new("mongodb crate", Role::Floor, floor),
            Contender::new(
                "store-tower-sessions (mongodb)",
                Role::Adapter,
                Tower15::new(TowerStore::new(tower)),
            ),
        ],
        server: match name {
            Some(name) => format!("{name}, speaking the MongoDB {version} wire protocol"),
            None => format!("a server reporting MongoDB {version}"),
        },
        cleanup: Cleanup::Mongo(db),
        control_files: None,
    })
}
