#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

use std::sync::Arc;

pub use store_core::*;
#[cfg(feature = "memory")]
pub use store_memory;
#[cfg(feature = "mongodb")]
pub use store_mongodb;
#[cfg(feature = "redis")]
pub use store_redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use store_sqlx;

/// How [`open_with`] opens a store.
///
/// ```
/// let options = store::OpenOptions::default().namespace("sessions").setup(false);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    namespace: Option<String>,
    setup: bool,
    purge_batch: Option<u32>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            setup: true,
            purge_batch: None,
        }
    }
}

impl OpenOptions {
    /// The store's namespace: key prefix (memory, Redis), table (SQL) or
    /// collection (MongoDB). Default: each backend's own default
    /// (`store`, `store_entries`).
    ///
    /// ```
    /// let options = store::OpenOptions::default().namespace("sessions");
    /// # let _ = options;
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Whether to create the table (SQL) or the indexes (MongoDB) when
    /// opening (default `true`; idempotent).
    ///
    /// ```
    /// let options = store::OpenOptions::default().setup(false);
    /// # let _ = options;
    /// ```
    pub fn setup(mut self, setup: bool) -> Self {
        self.setup = setup;
        self
    }

    /// How many expired entries each statement of
    /// [`Store::delete_expired`] removes, for SQL and MongoDB (each
    /// backend's default otherwise; memory and Redis have no batches). A
    /// value out of the backend's range is a `Config` error from
    /// [`open_with`].
    ///
    /// ```
    /// let options = store::OpenOptions::default().purge_batch(500);
    /// # let _ = options;
    /// ```
    pub fn purge_batch(mut self, rows: u32) -> Self {
        self.purge_batch = Some(rows);
        self
    }
}

/// Opens the store `url` names, with [`OpenOptions::default`].
///
/// # Errors
/// `Config` for an unknown scheme, a scheme whose feature is off, or a bad
/// URL (shown with its password masked); the backend's connect errors
/// (`Unavailable` when the server does not answer).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let err = store::open("ftp://example.com/").await.unwrap_err();
/// assert_eq!(err.kind(), store::ErrorKind::Config);
/// # });
/// ```
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, OpenOptions::default()).await
}

/// Opens the store `url` names, with `options`.
///
/// # Errors
/// As [`open`].
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let options = store::OpenOptions::default().namespace("sessions");
/// let store = store::open_with("memory://", options).await?;
/// # let _ = store;
/// # Ok::<(), store::Error>(())
/// # }).unwrap();
/// ```
pub async fn open_with(url: &str, options: OpenOptions) -> Result<Arc<dyn Store>> {
    let scheme = match url.split_once(':') {
        Some((scheme, _)) => scheme.to_ascii_lowercase(),
        None => return Err(config(format!("{} is not a store URL", redact_url(url)))),
    };
    match scheme.as_str() {
        "memory" => memory(url, options),
        "sqlite" => sqlite(url, options).await,
        "postgres" | "postgresql" => postgres(url, options).await,
        "redis" | "rediss" | "redis+unix" | "unix" => redis(url, options).await,
        "mongodb" | "mongodb+srv" => mongodb(url, options).await,
        _ => Err(config(format!(
            "unknown store URL scheme {scheme:?} in {}: use memory://, sqlite://, postgres://, \
             redis:// or mongodb://",
            redact_url(url)
        ))),
    }
}

fn config(message: String) -> Error {
    Error::new(ErrorKind::Config, message).with_operation(Operation::Connect)
}

#[cfg(not(all(
    feature = "memory",
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "mongodb"
)))]
fn feature_off(scheme: &str, feature: &str) -> Error {
    config(format!(
        "{scheme} URLs need the `{feature}` feature of the `store` crate"
    ))
}

#[cfg(feature = "memory")]
fn memory(_url: &str, options: OpenOptions) -> Result<Arc<dyn Store>> {
    let store = store_memory::MemoryStore::new();
    Ok(match options.namespace {
        Some(ns) => Arc::new(store.with_prefix(ns)),
        None => Arc::new(store),
    })
}

#[cfg(not(feature = "memory"))]
fn memory(_url: &str, _options: OpenOptions) -> Result<Arc<dyn Store>> {
    Err(feature_off("memory://", "memory"))
}

#[cfg(feature = "sqlite")]
async fn sqlite(url: &str, options: OpenOptions) -> Result<Arc<dyn Store>> {
    let mut config = store_sqlx::SqliteConfig::default();
    if let Some(ns) = options.namespace {
        config = config.table(ns);
    }
    if let Some(rows) = options.purge_batch {
        config = config.purge_batch(rows);
    }
    let store = store_sqlx::SqliteStore::connect_with(url, config).await?;
    if options.setup {
        store.migrate().await?;
    }
    Ok(Arc::new(store))
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite(_url: &str, _options: OpenOptions) -> Result<Arc<dyn Store>> {
    Err(feature_off("sqlite://", "sqlite"))
}

#[cfg(feature = "postgres")]
async fn postgres(url: &str, options: OpenOptions) -> Result<Arc<dyn Store>> {
    let mut config = store_sqlx::PostgresConfig::default();
    if let Some(ns) = options.namespace {
        config = config.table(ns);
    }
    if let Some(rows) = options.purge_batch {
        config = config.purge_batch(rows);
    }
    let store = store_sqlx::PostgresStore::connect_with(url, config).await?;
    if options.setup {
        store.migrate().await?;
    }
    Ok(Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_url: &str, _options: OpenOptions) -> Result<Arc<dyn Store>> {
    Err(feature_off("postgres://", "postgres"))
}

#[cfg(feature = "redis")]
async fn redis(url: &str, options: OpenOptions) -> Result<Arc<dyn Store>> {
    let mut config = store_redis::RedisConfig::default();
    if let Some(ns) = options.namespace {
        config = config.prefix(ns);
    }
    Ok(Arc::new(
        store_redis::RedisStore::connect_with(url, config).await?,
    ))
}

#[cfg(not(feature = "redis"))]
async fn redis(_url: &str, _options: OpenOptions) -> Result<Arc<dyn Store>> {
    Err(feature_off("redis://", "redis"))
}

/// The database named by the path of a MongoDB URI (`store` when none).
#[cfg(feature = "mongodb")]
fn mongo_database(url: &str) -> String {
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    // A password with an unescaped '/' must not give the database name
    // (which an error about the name would show). Read up to that '/',
    // `u:pa/ss@h` has a host `u` with the port `pa`: the driver refuses
    // such a URL anyway, so the name does not matter.
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let bad_port = hosts.split(',').any(|host| {
        let after_ipv6 = host.rsplit_once(']').map_or(host, |(_, p)| p);
        after_ipv6
            .split_once(':')
            .is_some_and(|(_, port)| port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    });
    if bad_port {
        return "store".to_owned();
    }
    let mut db = path.split(['?', '#']).next().unwrap_or("");
    // An '@' there means the '/' was in a password that also holds an '@'
    // (`u:p@ss/word@h/db`): the hosts and the path follow the last '@'.
    if let Some((_, hosts_and_path)) = db.rsplit_once('@') {
        db = hosts_and_path.split_once('/').map_or("", |(_, path)| path);
    }
    if db.is_empty() {
        "store".to_owned()
    } else {
        db.to_owned()
    }
}

#[cfg(feature = "mongodb")]
async fn mongodb(url: &str, options: OpenOptions) -> Result<Arc<dyn Store>> {
    let collection = options.namespace.as_deref().unwrap_or("store_entries");
    let mut config = store_mongodb::MongoConfig::default();
    if let Some(documents) = options.purge_batch {
        config = config.purge_batch(documents);
    }
    let store =
        store_mongodb::MongoStore::connect_with(url, &mongo_database(url), collection, config)
            .await?;
    if options.setup {
        store.ensure_indexes().await?;
    }
    Ok(Arc::new(store))
}

#[cfg(not(feature = "mongodb"))]
async fn mongodb(_url: &str, _options: OpenOptions) -> Result<Arc<dyn Store>> {
    Err(feature_off("mongodb://", "mongodb"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn schemes_pick_backends_or_say_why_not() {
        let err = open("nonsense").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = open("ftp://u:secret@h/").await.unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.message().contains("unknown store URL scheme"), "{err}");
        let store = open_with("memory://", OpenOptions::default().namespace("s"))
            .await
            .unwrap();
        assert_eq!(store.capabilities().backend, "memory");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_urls_open_a_migrated_table() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let store = open_with(&url, OpenOptions::default().namespace("sessions"))
            .await
            .unwrap();
        let key = Key::new("k").unwrap();
        store
            .put(&key, "v".into(), PutMode::Create.into())
            .await
            .unwrap();
        assert_eq!(store.capabilities().backend, "sqlite");
        let again = open_with(&url, OpenOptions::default().namespace("sessions"))
            .await
            .unwrap();
        assert!(again.get(&key).await.unwrap().is_some());
    }

    #[cfg(feature = "mongodb")]
    #[test]
    fn mongo_database_comes_from_the_path() {
        assert_eq!(mongo_database("mongodb://h:1/app?tls=true"), "app");
        assert_eq!(mongo_database("mongodb://u:p@h1,h2/"), "store");
        assert_eq!(mongo_database("mongodb+srv://c.example.net"), "store");
    }
}
