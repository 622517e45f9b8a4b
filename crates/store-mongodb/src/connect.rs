//! [`MongoStore`]: a store in one MongoDB collection; connecting, other
//! namespaces on the same connection, [`setup`](MongoStore::setup) of the
//! store's indexes ([`TTL_INDEX`], [`OWNER_INDEX`]), and [`Open`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use store_core::{
    Capabilities, ClockSource, Error, ErrorKind, Expiry, Open, OpenOptions, Operation, Result,
    check_scheme, redact_url, within,
};

use crate::codec::{EXPIRES_AT, ID, OWNER};
use crate::config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DATABASE, DEFAULT_SERVER_SELECTION_TIMEOUT, MongoConfig,
    check_collection, check_database,
};
use crate::error::{classify, server_code};
use crate::query::{self, Versions};
use crate::{BACKEND, SCHEMES};

/// A [`Store`](store_core::Store) in one MongoDB collection, through the
/// official driver.
///
/// - **Documents**: `{ _id: key, value: BinData, version: int64,
///   expires_at: date, owner: string }`; `expires_at` and `owner` are left
///   out when the entry has none. Dates keep milliseconds exactly.
/// - **One operation per write**: `Upsert` is a `replaceOne` with
///   `upsert`; `Create` is an `insertOne`, and only when the key is there
///   already a second step, a `replaceOne` with `upsert` filtered on an
///   expired `expires_at`, which replaces an expired document and fails on
///   a live one with the duplicate key error (`AlreadyExists`); `Update`
///   and `UpdateIf` are a `replaceOne` filtered on `_id`, liveness and
///   version. No transactions, so a standalone server works.
/// - **One clock**: reads and conditional writes compare expiry with the
///   store's [`Clock`](store_core::Clock). The TTL index removes expired
///   documents later (the server's TTL monitor runs about once a minute),
///   hence [`Capabilities::native_ttl`];
///   [`Store::delete_expired`](store_core::Store::delete_expired) removes
///   them at once and counts those it removed.
/// - **Versions** come from blocks reserved on a counter in the collection
///   `<collection>.versions`, so a version is never handed out twice, also
///   after a key is deleted and created again.
///
/// ```no_run
/// use store_core::{Key, PutMode, Store};
/// use store_mongodb::MongoStore;
///
/// # #[tokio::main] async fn main() -> store_core::Result<()> {
/// let store = MongoStore::connect("mongodb://localhost:27017/app").await?;
/// store.setup().await?;
/// let key = Key::new("session:1")?;
/// store.put(&key, "data".into(), PutMode::Create.into()).await?;
/// assert!(store.get(&key).await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MongoStore {
    pub(crate) collection: Collection<Document>,
    pub(crate) config: Arc<MongoConfig>,
    pub(crate) versions: Arc<Versions>,
}

impl fmt::Debug for MongoStore {
    /// Database and collection names; never the client's options, which
    /// hold the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let namespace = self.collection.namespace();
        f.debug_struct("MongoStore")
            .field("database", &namespace.db)
            .field("collection", &namespace.coll)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects to `url` and opens the store with
    /// [`MongoConfig::default`]: the database named by the URL's path
    /// ([`DEFAULT_DATABASE`], `store`, when it has none), the collection
    /// [`DEFAULT_NAMESPACE`](crate::DEFAULT_NAMESPACE) (`store_entries`).
    ///
    /// See [`connect_with`](Self::connect_with).
    ///
    /// ```no_run
    /// # async fn f() -> store_core::Result<()> {
    /// let store = store_mongodb::MongoStore::connect("mongodb://localhost:27017/app").await?;
    /// store.setup().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, MongoConfig::default()).await
    }

    /// Connects to `url` and opens the store on the collection
    /// [`MongoConfig::namespace`] of the database the URL's path names
    /// ([`DEFAULT_DATABASE`], `store`, when it has none).
    ///
    /// Everything about the connection comes from the URL (hosts,
    /// credentials, `tls`, `maxPoolSize`, `replicaSet`, `mongodb+srv://`).
    /// When the URL does not set them, `serverSelectionTimeoutMS` and
    /// `connectTimeoutMS` default to 5 s each
    /// ([`DEFAULT_SERVER_SELECTION_TIMEOUT`], [`DEFAULT_CONNECT_TIMEOUT`])
    /// instead of the driver's 30 s and 10 s, so a call fails with
    /// `Unavailable` within about 5 s while no server answers.
    ///
    /// `connect_with` pings the server once, so a wrong address or bad
    /// credentials fail here, not at the first request. It does not create
    /// indexes: call [`setup`](Self::setup) once at deployment or start-up.
    ///
    /// # Errors
    /// `Config` for a URL the driver cannot parse, bad names or settings,
    /// or refused credentials; `Unavailable` when no server answers. The
    /// message shows the URL with its password masked.
    ///
    /// ```no_run
    /// use store_mongodb::{MongoConfig, MongoStore};
    /// # async fn f() -> store_core::Result<()> {
    /// let config = MongoConfig::default().namespace("sessions").max_value_len(8 << 20);
    /// let store = MongoStore::connect_with(
    ///     "mongodb://app:secret@db1,db2/app?replicaSet=rs0&serverSelectionTimeoutMS=2000",
    ///     config,
    /// )
    /// .await?;
    /// assert_eq!(store.namespace(), "sessions");
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(url: &str, config: MongoConfig) -> Result<Self> {
        let connect_err = |e: Error| {
            let message = format!("cannot connect to {}: {}", redact_url(url), e.message());
            Error::new(e.kind(), message)
                .in_context(BACKEND, Operation::Connect)
                .with_retryable(e.is_retryable())
                .with_source(e)
        };
        let database = mongo_database(url);
        config
            .validate()
            .and_then(|()| check_database(&database))
            .and_then(|()| check_collection(&config.namespace))
            .map_err(|e| e.in_context(BACKEND, Operation::Connect))?;
        // The driver's own parse error can quote pieces of the URL (a
        // password included), so it is not kept as the source.
        let mut options = ClientOptions::parse(url).await.map_err(|e| {
            let e = classify(e, Operation::Connect);
            let message = format!("cannot connect to {}: {}", redact_url(url), e.message());
            Error::new(e.kind(), message)
                .in_context(BACKEND, Operation::Connect)
                .with_retryable(e.is_retryable())
        })?;
        options
            .server_selection_timeout
            .get_or_insert(DEFAULT_SERVER_SELECTION_TIMEOUT);
        options
            .connect_timeout
            .get_or_insert(DEFAULT_CONNECT_TIMEOUT);
        options
            .app_name
            .get_or_insert_with(|| "store-mongodb".to_owned());
        let client = Client::with_options(options)
            .map_err(|e| connect_err(classify(e, Operation::Connect)))?;
        let db = client.database(&database);
        db.run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| connect_err(classify(e, Operation::Connect)))?;
        Self::with_config(db, config)
    }

    /// A store on the collection
    /// [`DEFAULT_NAMESPACE`](crate::DEFAULT_NAMESPACE) of an existing
    /// client's `database`, with [`MongoConfig::default`]. The client keeps
    /// its own options; nothing is sent to the server.
    ///
    /// The database name is not checked here: a name MongoDB refuses fails
    /// each call with `Config`. [`with_config`](Self::with_config) checks
    /// it at once.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use store_mongodb::mongodb::Client;
    /// let client = Client::with_uri_str("mongodb://localhost:27017/").await?;
    /// let store = store_mongodb::MongoStore::new(client.database("app"));
    /// assert_eq!(store.namespace(), "store_entries");
    /// # Ok(()) }
    /// ```
    pub fn new(database: Database) -> Self {
        Self::on(database, MongoConfig::default())
    }

    /// A store on the collection [`MongoConfig::namespace`] of an existing
    /// client's `database`, with `config`. Nothing is sent to the server.
    ///
    /// # Errors
    /// `Config` for invalid settings, a database name MongoDB does not
    /// allow, or a collection name that is reserved (`system.*`), contains
    /// `$`, or ends with `.versions` (the store keeps its version counter
    /// in `<collection>.versions`).
    ///
    /// ```no_run
    /// # async fn f(client: store_mongodb::mongodb::Client) -> store_core::Result<()> {
    /// use store_mongodb::{MongoConfig, MongoStore};
    /// let config = MongoConfig::default().namespace("sessions").purge_batch(200);
    /// let store = MongoStore::with_config(client.database("app"), config)?;
    /// # Ok(()) }
    /// ```
    pub fn with_config(database: Database, config: MongoConfig) -> Result<Self> {
        config
            .validate()
            .and_then(|()| check_database(database.name()))
            .and_then(|()| check_collection(&config.namespace))
            .map_err(|e| e.in_context(BACKEND, Operation::Connect))?;
        Ok(Self::on(database, config))
    }

    fn on(database: Database, config: MongoConfig) -> Self {
        let collection = database.collection::<Document>(&config.namespace);
        let counters =
            database.collection::<Document>(&format!("{}{}", config.namespace, query::SUFFIX));
        let versions = Versions::new(counters, config.version_block);
        Self {
            collection,
            config: Arc::new(config),
            versions: Arc::new(versions),
        }
    }

    /// The same connection and settings on another collection of the same
    /// database: a separate namespace.
    ///
    /// # Errors
    /// `Config` for a collection name the store cannot use.
    ///
    /// ```no_run
    /// # async fn f(store: store_mongodb::MongoStore) -> store_core::Result<()> {
    /// let tokens = store.with_namespace("oauth_tokens")?;
    /// tokens.setup().await?;
    /// # Ok(()) }
    /// ```
    pub fn with_namespace(&self, namespace: impl Into<String>) -> Result<Self> {
        let database = self
            .collection
            .client()
            .database(&self.collection.namespace().db);
        let config = (*self.config).clone().namespace(namespace);
        Self::with_config(database, config)
    }

    /// The store's namespace: the name of the collection that holds the
    /// entries.
    ///
    /// ```no_run
    /// # async fn f() -> store_core::Result<()> {
    /// let store = store_mongodb::MongoStore::connect("mongodb://localhost:27017/app").await?;
    /// assert_eq!(store.namespace(), "store_entries");
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> &str {
        self.collection.name()
    }

    /// The collection that holds the entries.
    ///
    /// ```no_run
    /// # fn f(store: store_mongodb::MongoStore) {
    /// println!("{}", store.collection().namespace());
    /// # }
    /// ```
    pub fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// Creates the store's two indexes if they are missing, and checks
    /// them if they exist: a TTL index on `expires_at` with
    /// `expireAfterSeconds: 0` ([`TTL_INDEX`]), which
    /// lets the server remove expired documents by itself, and an index on
    /// `(owner, _id)` for documents that have an owner
    /// ([`OWNER_INDEX`]), which
    /// [`list_by_owner`](store_core::Store::list_by_owner) and
    /// [`delete_by_owner`](store_core::Store::delete_by_owner) use.
    ///
    /// Idempotent and safe to call from several processes at once; bounded
    /// by [`MongoConfig::operation_timeout`] like every store call.
    ///
    /// # Errors
    /// `Config` naming the index when an index with one of these names, or
    /// on the same fields, exists with other options (for example a TTL of
    /// 3600 s left by another library): drop it, or use another collection.
    /// Nothing is changed then. `Unavailable` when the server cannot be
    /// reached.
    ///
    /// ```no_run
    /// # async fn f(store: store_mongodb::MongoStore) -> store_core::Result<()> {
    /// store.setup().await?;
    /// store.setup().await?; // a no-op the second time
    /// # Ok(()) }
    /// ```
    pub async fn setup(&self) -> Result<()> {
        let create = create_indexes(&self.collection);
        within(
            self.config.operation_timeout,
            BACKEND,
            Operation::Migrate,
            create,
        )
        .await
    }

    /// The store clock's now.
    pub(crate) fn now(&self) -> Expiry {
        self.config.clock.now()
    }

    pub(crate) fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(BACKEND);
        caps.native_ttl = true;
        caps.shared = true;
        caps.clock = ClockSource::Store;
        caps.max_value_len = self.config.max_value_len;
        caps
    }
}

// --------------------------------------------------------------- indexes

/// The name of the TTL index [`MongoStore::setup`] creates on
/// `expires_at`, with `expireAfterSeconds: 0`.
///
/// ```
/// assert_eq!(store_mongodb::TTL_INDEX, "expires_at_ttl");
/// ```
pub const TTL_INDEX: &str = "expires_at_ttl";

/// The name of the index [`MongoStore::setup`] creates on `(owner, _id)`,
/// partial on documents that have an owner.
///
/// ```
/// assert_eq!(store_mongodb::OWNER_INDEX, "owner_id");
/// ```
pub const OWNER_INDEX: &str = "owner_id";

/// The store's two indexes: [`TTL_INDEX`] and [`OWNER_INDEX`].
fn wanted_indexes() -> [IndexModel; 2] {
    [
        IndexModel::builder()
            .keys(doc! { EXPIRES_AT: 1 })
            .options(
                IndexOptions::builder()
                    .name(TTL_INDEX.to_owned())
                    .expire_after(Duration::ZERO)
                    .build(),
            )
            .build(),
        IndexModel::builder()
            .keys(doc! { OWNER: 1, ID: 1 })
            .options(
                IndexOptions::builder()
                    .name(OWNER_INDEX.to_owned())
                    .partial_filter_expression(doc! { OWNER: { "$exists": true } })
                    .build(),
            )
            .build(),
    ]
}

/// Creates the store's indexes on `collection` where they are missing,
/// after checking that no existing index conflicts with them; nothing is
/// changed when one does.
pub(crate) async fn create_indexes(collection: &Collection<Document>) -> Result<()> {
    let op = Operation::Migrate;
    let wanted = wanted_indexes();
    let existing = existing_indexes(collection).await?;
    for index in &wanted {
        check_index(collection, index, &existing)?;
    }
    let missing: Vec<IndexModel> = wanted
        .into_iter()
        .filter(|w| !existing.iter().any(|e| e.name() == index_name(w)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    collection.create_indexes(missing).await.map_err(|e| {
        let err = classify(e, op);
        if err.kind() != ErrorKind::Config {
            return err;
        }
        let message = format!(
            "cannot create the indexes {TTL_INDEX} and {OWNER_INDEX} on {}: {}; drop the \
             conflicting index or use another collection",
            collection.name(),
            err.message()
        );
        Error::new(ErrorKind::Config, message)
            .in_context(BACKEND, op)
            .with_source(err)
    })?;
    Ok(())
}

/// The collection's indexes; none when the collection does not exist yet.
async fn existing_indexes(collection: &Collection<Document>) -> Result<Vec<ExistingIndex>> {
    let op = Operation::Migrate;
    let cursor = match collection.list_indexes().await {
        Ok(cursor) => cursor,
        // NamespaceNotFound: no collection yet, so no index.
        Err(e) if server_code(&e) == Some(26) => return Ok(Vec::new()),
        Err(e) => return Err(classify(e, op)),
    };
    let models: Vec<IndexModel> = cursor.try_collect().await.map_err(|e| classify(e, op))?;
    Ok(models.into_iter().map(ExistingIndex).collect())
}

/// An existing index that has `wanted`'s name or keys must have its keys
/// and options too.
fn check_index(
    collection: &Collection<Document>,
    wanted: &IndexModel,
    existing: &[ExistingIndex],
) -> Result<()> {
    let name = index_name(wanted);
    for index in existing {
        let same_name = index.name() == name;
        let same_keys = index.0.keys == wanted.keys;
        if !same_name && !same_keys {
            continue;
        }
        let problem = if !same_keys {
            Some(format!("is on the fields {} instead", index.0.keys))
        } else if !same_name {
            Some(format!(
                "already covers these fields under the name {:?}",
                index.name().unwrap_or("")
            ))
        } else {
            index.differing_option(wanted)
        };
        if let Some(problem) = problem {
            let message = format!(
                "index {:?} on {} {} ({} expected {}); drop it or use another collection",
                index.name().unwrap_or(name.unwrap_or("")),
                collection.name(),
                problem,
                name.unwrap_or(""),
                describe(wanted),
            );
            return Err(
                Error::new(ErrorKind::Config, message).in_context(BACKEND, Operation::Migrate)
            );
        }
    }
    Ok(())
}

/// An index as `listIndexes` reports it.
struct ExistingIndex(IndexModel);

impl ExistingIndex {
    fn name(&self) -> Option<&str> {
        index_name(&self.0)
    }

    /// What differs from `wanted` in the options the store relies on.
    fn differing_option(&self, wanted: &IndexModel) -> Option<String> {
        let have = self.0.options.clone().unwrap_or_default();
        let want = wanted.options.clone().unwrap_or_default();
        if have.expire_after != want.expire_after {
            return Some(match have.expire_after {
                Some(d) => format!("has expireAfterSeconds {}", d.as_secs()),
                None => "has no expireAfterSeconds".to_owned(),
            });
        }
        if have.partial_filter_expression != want.partial_filter_expression {
            return Some(match have.partial_filter_expression {
                Some(f) => format!("has the partial filter {f}"),
                None => "has no partial filter".to_owned(),
            });
        }
        if have.unique.unwrap_or(false) || have.sparse.unwrap_or(false) {
            return Some("is unique or sparse".to_owned());
        }
        None
    }
}

/// The name an index model sets.
fn index_name(index: &IndexModel) -> Option<&str> {
    index.options.as_ref().and_then(|o| o.name.as_deref())
}

/// The keys and options of an index the store wants, for messages.
fn describe(index: &IndexModel) -> String {
    let options = index.options.clone().unwrap_or_default();
    let mut out = format!("on {}", index.keys);
    if let Some(ttl) = options.expire_after {
        out.push_str(&format!(" with expireAfterSeconds {}", ttl.as_secs()));
    }
    if let Some(filter) = options.partial_filter_expression {
        out.push_str(&format!(" with the partial filter {filter}"));
    }
    out
}

// ------------------------------------------------------------------ open

/// Opens `mongodb://` and `mongodb+srv://` URLs: the database from the
/// URL's path ([`DEFAULT_DATABASE`] when none), the collection from
/// [`OpenOptions::namespace`] (default
/// [`DEFAULT_NAMESPACE`](crate::DEFAULT_NAMESPACE)), the purge batch and
/// the operation timeout from the options, and the indexes created unless
/// [`OpenOptions::setup`] is `false`.
///
/// ```no_run
/// # async fn f() -> store_core::Result<()> {
/// use store_core::{Open, OpenOptions};
/// use store_mongodb::MongoStore;
/// let options = OpenOptions::default().namespace("sessions").purge_batch(500);
/// let store = MongoStore::open("mongodb://localhost:27017/app", &options).await?;
/// assert_eq!(store.namespace(), "sessions");
/// # Ok(()) }
/// ```
#[async_trait]
impl Open for MongoStore {
    const NAME: &'static str = BACKEND;
    const SCHEMES: &'static [&'static str] = SCHEMES;

    async fn open(url: &str, options: &OpenOptions) -> Result<Self> {
        check_scheme(url, BACKEND, SCHEMES)?;
        let mut config = MongoConfig::default();
        if let Some(namespace) = options.namespace.as_deref() {
            config = config.namespace(namespace);
        }
        if let Some(documents) = options.purge_batch {
            config = config.purge_batch(documents);
        }
        if let Some(timeout) = options.operation_timeout {
            config = config.operation_timeout(timeout);
        }
        let store = Self::connect_with(url, config).await?;
        if options.setup {
            store.setup().await?;
        }
        Ok(store)
    }
}

/// The database named by the path of a MongoDB URL ([`DEFAULT_DATABASE`]
/// when none).
pub(crate) fn mongo_database(url: &str) -> String {
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
        return DEFAULT_DATABASE.to_owned();
    }
    let mut db = path.split(['?', '#']).next().unwrap_or("");
    // An '@' there means the '/' was in a password that also holds an '@'
    // (`u:p@ss/word@h/db`): the hosts and the path follow the last '@'.
    if let Some((_, hosts_and_path)) = db.rsplit_once('@') {
        db = hosts_and_path.split_once('/').map_or("", |(_, path)| path);
    }
    if db.is_empty() {
        DEFAULT_DATABASE.to_owned()
    } else {
        db.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mongo_database_comes_from_the_path() {
        assert_eq!(mongo_database("mongodb://h:1/app?tls=true"), "app");
        assert_eq!(mongo_database("mongodb://u:p@h1,h2/"), "store");
        assert_eq!(mongo_database("mongodb+srv://c.example.net"), "store");
    }
}
