//! [`MongoStore`]: a store in one MongoDB collection.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use store_core::{
    Capabilities, ClockSource, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, PutMode,
    PutOptions, PutResult, Result, ScanCursor, ScanPage, Store, Version, redact_url, scan,
    validate,
};

use crate::config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_SERVER_SELECTION_TIMEOUT, MongoConfig, check_collection,
    check_database,
};
use crate::document::{
    EXPIRES_AT, ID, OWNER, VERSION, date, entry_document, entry_of, expiry_of, is_live, key_of,
    live, version_of,
};
use crate::error::{DUPLICATE_KEY, classify, server_code};
use crate::versions::{self, Versions};

/// The backend name in errors and [`Capabilities`]: `"mongodb"`.
pub const MONGODB: &str = "mongodb";

/// The name of the TTL index [`MongoStore::ensure_indexes`] creates on
/// `expires_at`.
pub const TTL_INDEX: &str = "expires_at_ttl";

/// The name of the index [`MongoStore::ensure_indexes`] creates on
/// `(owner, _id)`.
pub const OWNER_INDEX: &str = "owner_id";

/// How many times an upsert that lost the server's duplicate-key race on a
/// new `_id` is tried in all.
const UPSERT_ATTEMPTS: u32 = 5;

/// A [`Store`] in one MongoDB collection, through the official driver.
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
///   hence [`Capabilities::native_ttl`]; [`Store::delete_expired`] removes
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
/// let store = MongoStore::connect("mongodb://localhost:27017/", "app", "sessions").await?;
/// store.ensure_indexes().await?;
/// let key = Key::new("session:1")?;
/// store.put(&key, "data".into(), PutMode::Create.into()).await?;
/// assert!(store.get(&key).await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MongoStore {
    collection: Collection<Document>,
    config: Arc<MongoConfig>,
    versions: Arc<Versions>,
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
    /// Connects to `uri` and opens the store on `database.collection`
    /// with [`MongoConfig::default`].
    ///
    /// See [`connect_with`](Self::connect_with).
    ///
    /// ```no_run
    /// # async fn f() -> store_core::Result<()> {
    /// let store = store_mongodb::MongoStore::connect("mongodb://localhost:27017/", "app", "sessions").await?;
    /// store.ensure_indexes().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(uri: &str, database: &str, collection: &str) -> Result<Self> {
        Self::connect_with(uri, database, collection, MongoConfig::default()).await
    }

    /// Connects to `uri` and opens the store on `database.collection`.
    ///
    /// Everything about the connection comes from the URI (hosts,
    /// credentials, `tls`, `maxPoolSize`, `replicaSet`, `mongodb+srv://`).
    /// When the URI does not set them, `serverSelectionTimeoutMS` and
    /// `connectTimeoutMS` default to 5 s each
    /// ([`DEFAULT_SERVER_SELECTION_TIMEOUT`], [`DEFAULT_CONNECT_TIMEOUT`])
    /// instead of the driver's 30 s and 10 s, so a call fails with
    /// `Unavailable` within about 5 s while no server answers.
    ///
    /// `connect` pings the server once, so a wrong address or bad
    /// credentials fail here, not at the first request. It does not create
    /// indexes: call [`ensure_indexes`](Self::ensure_indexes) once at
    /// deployment or start-up.
    ///
    /// # Errors
    /// `Config` for a URI the driver cannot parse, bad names or settings,
    /// or refused credentials; `Unavailable` when no server answers. The
    /// message shows the URI with its password masked.
    ///
    /// ```no_run
    /// use store_mongodb::{MongoConfig, MongoStore};
    /// # async fn f() -> store_core::Result<()> {
    /// let config = MongoConfig::default().max_value_len(8 << 20);
    /// let store = MongoStore::connect_with(
    ///     "mongodb://app:secret@db1,db2/?replicaSet=rs0&serverSelectionTimeoutMS=2000",
    ///     "app",
    ///     "sessions",
    ///     config,
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(
        uri: &str,
        database: &str,
        collection: &str,
        config: MongoConfig,
    ) -> Result<Self> {
        let connect_err = |e: Error| {
            let message = format!("cannot connect to {}: {}", redact_url(uri), e.message());
            Error::new(e.kind(), message)
                .in_context(MONGODB, Operation::Connect)
                .with_retryable(e.is_retryable())
                .with_source(e)
        };
        config
            .validate()
            .and_then(|()| check_database(database))
            .and_then(|()| check_collection(collection))
            .map_err(|e| e.in_context(MONGODB, Operation::Connect))?;
        // The driver's own parse error can quote pieces of the URI (a
        // password included), so it is not kept as the source.
        let mut options = ClientOptions::parse(uri).await.map_err(|e| {
            let e = classify(e, Operation::Connect);
            let message = format!("cannot connect to {}: {}", redact_url(uri), e.message());
            Error::new(e.kind(), message)
                .in_context(MONGODB, Operation::Connect)
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
        let db = client.database(database);
        db.run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| connect_err(classify(e, Operation::Connect)))?;
        Self::with_config(db.collection::<Document>(collection), config)
    }

    /// A store on an existing collection (of any document type), with
    /// [`MongoConfig::default`]. The collection's client keeps its own
    /// options; nothing is sent to the server.
    ///
    /// # Errors
    /// `Config` for a collection name the store cannot use (see
    /// [`with_config`](Self::with_config)).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use store_mongodb::mongodb::{Client, bson::Document};
    /// let client = Client::with_uri_str("mongodb://localhost:27017/").await?;
    /// let sessions = client.database("app").collection::<Document>("sessions");
    /// let store = store_mongodb::MongoStore::new(sessions)?;
    /// # Ok(()) }
    /// ```
    pub fn new<T: Send + Sync>(collection: Collection<T>) -> Result<Self> {
        Self::with_config(collection, MongoConfig::default())
    }

    /// A store on an existing collection with `config`.
    ///
    /// # Errors
    /// `Config` for invalid settings or a collection name that is reserved
    /// (`system.*`), contains `$`, or ends with `.versions` (the store
    /// keeps its version counter in `<collection>.versions`).
    ///
    /// ```no_run
    /// # async fn f(client: store_mongodb::mongodb::Client) -> store_core::Result<()> {
    /// use store_mongodb::mongodb::bson::Document;
    /// use store_mongodb::{MongoConfig, MongoStore};
    /// let sessions = client.database("app").collection::<Document>("sessions");
    /// let store = MongoStore::with_config(sessions, MongoConfig::default().purge_batch(200))?;
    /// # Ok(()) }
    /// ```
    pub fn with_config<T: Send + Sync>(
        collection: Collection<T>,
        config: MongoConfig,
    ) -> Result<Self> {
        let namespace = collection.namespace();
        config
            .validate()
            .and_then(|()| check_database(&namespace.db))
            .and_then(|()| check_collection(&namespace.coll))
            .map_err(|e| e.in_context(MONGODB, Operation::Connect))?;
        let collection = collection.clone_with_type::<Document>();
        let counters = collection
            .client()
            .database(&namespace.db)
            .collection::<Document>(&format!("{}{}", namespace.coll, versions::SUFFIX));
        let versions = Versions::new(counters, config.version_block);
        Ok(Self {
            collection,
            config: Arc::new(config),
            versions: Arc::new(versions),
        })
    }

    /// The same connection and settings on another collection of the same
    /// database: a separate namespace.
    ///
    /// # Errors
    /// `Config` for a collection name the store cannot use.
    ///
    /// ```no_run
    /// # async fn f(store: store_mongodb::MongoStore) -> store_core::Result<()> {
    /// let tokens = store.with_collection("oauth_tokens")?;
    /// tokens.ensure_indexes().await?;
    /// # Ok(()) }
    /// ```
    pub fn with_collection(&self, collection: &str) -> Result<Self> {
        let namespace = self.collection.namespace();
        let collection = self
            .collection
            .client()
            .database(&namespace.db)
            .collection::<Document>(collection);
        Self::with_config(collection, (*self.config).clone())
    }

    /// The collection that holds the entries.
    ///
    /// ```no_run
    /// # fn f(store: store_mongodb::MongoStore) {
    /// println!("{}", store.collection().name());
    /// # }
    /// ```
    pub fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// Creates the store's two indexes if they are missing, and checks
    /// them if they exist: a TTL index on `expires_at` with
    /// `expireAfterSeconds: 0` ([`TTL_INDEX`]), which lets the server
    /// remove expired documents by itself, and an index on
    /// `(owner, _id)` for documents that have an owner ([`OWNER_INDEX`]),
    /// which [`list_by_owner`](Store::list_by_owner) and
    /// [`delete_by_owner`](Store::delete_by_owner) use.
    ///
    /// Idempotent and safe to call from several processes at once.
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
    /// store.ensure_indexes().await?;
    /// store.ensure_indexes().await?; // a no-op the second time
    /// # Ok(()) }
    /// ```
    pub async fn ensure_indexes(&self) -> Result<()> {
        self.bounded(Operation::Migrate, self.ensure_indexes_unbounded())
            .await
    }

    async fn ensure_indexes_unbounded(&self) -> Result<()> {
        let op = Operation::Migrate;
        let wanted = [
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
        ];
        let existing = self.existing_indexes().await?;
        for index in &wanted {
            self.check_index(index, &existing)?;
        }
        let missing: Vec<IndexModel> = wanted
            .into_iter()
            .filter(|w| !existing.iter().any(|e| e.name() == index_name(w)))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        self.collection.create_indexes(missing).await.map_err(|e| {
            let err = classify(e, op);
            if err.kind() != ErrorKind::Config {
                return err;
            }
            let message = format!(
                "cannot create the indexes {TTL_INDEX} and {OWNER_INDEX} on {}: {}; drop \
                     the conflicting index or use another collection",
                self.collection.name(),
                err.message()
            );
            Error::new(ErrorKind::Config, message)
                .in_context(MONGODB, op)
                .with_source(err)
        })?;
        Ok(())
    }

    /// The collection's indexes as `(name, keys, options)`; none when the
    /// collection does not exist yet.
    async fn existing_indexes(&self) -> Result<Vec<ExistingIndex>> {
        let op = Operation::Migrate;
        let cursor = match self.collection.list_indexes().await {
            Ok(cursor) => cursor,
            // NamespaceNotFound: no collection yet, so no index.
            Err(e) if server_code(&e) == Some(26) => return Ok(Vec::new()),
            Err(e) => return Err(classify(e, op)),
        };
        let models: Vec<IndexModel> = cursor.try_collect().await.map_err(|e| classify(e, op))?;
        Ok(models.into_iter().map(ExistingIndex).collect())
    }

    /// An existing index that has `wanted`'s name or keys must have its
    /// keys and options too.
    fn check_index(&self, wanted: &IndexModel, existing: &[ExistingIndex]) -> Result<()> {
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
                    self.collection.name(),
                    problem,
                    name.unwrap_or(""),
                    describe(wanted),
                );
                return Err(
                    Error::new(ErrorKind::Config, message).in_context(MONGODB, Operation::Migrate)
                );
            }
        }
        Ok(())
    }

    fn now(&self) -> Expiry {
        self.config.clock.now()
    }

    fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(MONGODB);
        caps.native_ttl = true;
        caps.shared = true;
        caps.clock = ClockSource::Store;
        caps.max_value_len = self.config.max_value_len;
        caps
    }

    /// The live version under `key`, if any: how a conditional write that
    /// matched nothing is explained.
    async fn live_version(
        &self,
        key: &Key,
        now: Expiry,
        operation: Operation,
    ) -> Result<Option<Version>> {
        let found = self
            .collection
            .find_one(doc! { ID: key.as_str() })
            .projection(doc! { VERSION: 1, EXPIRES_AT: 1 })
            .await
            .map_err(|e| classify(e, operation))?;
        match found {
            Some(d) if is_live(&d, now) => Ok(Some(version_of(&d, operation)?)),
            _ => Ok(None),
        }
    }

    /// `replaceOne` with `upsert`, tried again when it loses the server's
    /// race of two upserts inserting the same new `_id` (the loser gets a
    /// duplicate key error although its filter would match now).
    async fn upsert(&self, key: &Key, document: &Document) -> Result<()> {
        let mut attempt = 1;
        loop {
            let result = self
                .collection
                .replace_one(doc! { ID: key.as_str() }, document)
                .upsert(true)
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(e) if server_code(&e) == Some(DUPLICATE_KEY) && attempt < UPSERT_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(classify(e, Operation::Put)),
            }
        }
    }
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

impl MongoStore {
    /// Runs one store call within [`MongoConfig::operation_timeout`]: a
    /// call still waiting then (a stalled server) fails with a retryable
    /// `Unavailable`, and the driver drops its connection.
    async fn bounded<T>(&self, op: Operation, call: impl Future<Output = Result<T>>) -> Result<T> {
        let limit = self.config.operation_timeout;
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "no answer from the server within {limit:?} (operation_timeout); a write \
                     may or may not have been applied"
                ),
            )
            .in_context(MONGODB, op)),
        }
    }
}

/// The store's operations without their time bound; [`Store`] wraps each
/// in [`MongoStore::bounded`].
impl MongoStore {
    /// One `find` by `_id`; an expired document reads as missing.
    async fn get_unbounded(&self, key: &Key) -> Result<Option<Entry>> {
        let op = Operation::Get;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(MONGODB, op))?;
        let now = self.now();
        let found = self
            .collection
            .find_one(doc! { ID: key.as_str() })
            .await
            .map_err(|e| classify(e, op))?;
        match found {
            Some(d) => match expiry_of(&d, op)? {
                Some(expires_at) if expires_at.is_expired_at(now) => Ok(None),
                _ => entry_of(&d, op).map(Some),
            },
            None => Ok(None),
        }
    }

    /// One call per mode: a `replaceOne` with `upsert` for `Upsert`
    /// (retried on the server's duplicate-key race); an `insertOne` for
    /// `Create`, then, on a key that is there, a `replaceOne` with `upsert`
    /// filtered on an expired `expires_at`; a `replaceOne` filtered on
    /// liveness (and version) for `Update` and `UpdateIf`.
    async fn put_unbounded(
        &self,
        key: &Key,
        value: Bytes,
        options: PutOptions,
    ) -> Result<PutResult> {
        let op = Operation::Put;
        let now = self.now();
        let caps = self.caps();
        validate::key(&caps, key)
            .and_then(|()| validate::put(&caps, &value, &options, now))
            .map_err(|e| e.in_context(MONGODB, op))?;
        let version = self.versions.next(op).await?;
        let document = entry_document(
            key,
            &value,
            version,
            options.expires_at,
            options.owner.as_ref(),
        );
        let filter = match options.mode {
            PutMode::Upsert => {
                self.upsert(key, &document).await?;
                return Ok(PutResult::new(version));
            }
            PutMode::Create => {
                // Most creates are of a new key (a session id, a lease):
                // one insert. A key that is there, live or expired, fails
                // it with the duplicate key error; then one upsert filtered
                // on an expired `expires_at` replaces an expired document,
                // and fails the same way on a live one (`AlreadyExists`).
                match self.collection.insert_one(&document).await {
                    Ok(_) => return Ok(PutResult::new(version)),
                    Err(e) if server_code(&e) == Some(DUPLICATE_KEY) => {}
                    Err(e) => return Err(classify(e, op)),
                }
                let result = self
                    .collection
                    .replace_one(
                        doc! { ID: key.as_str(), EXPIRES_AT: { "$lte": date(now) } },
                        &document,
                    )
                    .upsert(true)
                    .await;
                return match result {
                    Ok(_) => Ok(PutResult::new(version)),
                    Err(e) => Err(classify(e, op)),
                };
            }
            PutMode::Update => doc! { ID: key.as_str() },
            PutMode::UpdateIf(expected) => doc! { ID: key.as_str(), VERSION: expected.as_i64() },
        };
        let mut filter = filter;
        filter.extend(live(now));
        let result = self
            .collection
            .replace_one(filter, &document)
            .await
            .map_err(|e| classify(e, op))?;
        if result.matched_count > 0 {
            return Ok(PutResult::new(version));
        }
        let err = match options.mode {
            PutMode::UpdateIf(expected) => match self.live_version(key, now, op).await? {
                Some(current) if current != expected => Error::version_mismatch(),
                _ => Error::not_found(),
            },
            _ => Error::not_found(),
        };
        Err(err.in_context(MONGODB, op))
    }

    /// Without `if_version`, one `findOneAndDelete` that reports whether
    /// the document it removed was live. With `if_version`, one
    /// `deleteOne` filtered on version and liveness; when it removes
    /// nothing, a read tells a stale version from a missing key.
    async fn delete_unbounded(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(MONGODB, op))?;
        let now = self.now();
        let Some(expected) = if_version else {
            let removed = self
                .collection
                .find_one_and_delete(doc! { ID: key.as_str() })
                .projection(doc! { EXPIRES_AT: 1 })
                .await
                .map_err(|e| classify(e, op))?;
            return Ok(removed.is_some_and(|d| is_live(&d, now)));
        };
        let mut filter = doc! { ID: key.as_str(), VERSION: expected.as_i64() };
        filter.extend(live(now));
        let result = self
            .collection
            .delete_one(filter)
            .await
            .map_err(|e| classify(e, op))?;
        if result.deleted_count > 0 {
            return Ok(true);
        }
        match self.live_version(key, now, op).await? {
            Some(current) if current != expected => {
                Err(Error::version_mismatch().in_context(MONGODB, op))
            }
            _ => Ok(false),
        }
    }

    /// One `updateOne` that sets `expires_at` on a live document; value,
    /// owner and version stay.
    async fn touch_unbounded(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        let now = self.now();
        validate::key(&self.caps(), key)
            .and_then(|()| validate::expiry(expires_at, now))
            .map_err(|e| e.in_context(MONGODB, op))?;
        let mut filter = doc! { ID: key.as_str() };
        filter.extend(live(now));
        let result = self
            .collection
            .update_one(filter, doc! { "$set": { EXPIRES_AT: date(expires_at) } })
            .await
            .map_err(|e| classify(e, op))?;
        if result.matched_count == 0 {
            return Err(Error::not_found().in_context(MONGODB, op));
        }
        Ok(())
    }

    /// The TTL index removes expired documents on its own; this removes
    /// the ones expired by the store's clock now, in batches of
    /// `purge_batch`: find the `_id`s through the TTL index, then delete
    /// those still expired. Concurrent purges count each document once.
    /// Each round trip is bounded on its own, so a large backlog is never
    /// cut short by `operation_timeout`.
    async fn delete_expired_unbounded(&self) -> Result<u64> {
        let op = Operation::DeleteExpired;
        let expired = doc! { EXPIRES_AT: { "$lte": date(self.now()) } };
        let batch = self.config.purge_batch;
        let mut total = 0;
        loop {
            let found_ids = async {
                self.collection
                    .find(expired.clone())
                    .projection(doc! { ID: 1 })
                    .sort(doc! { EXPIRES_AT: 1 })
                    .limit(i64::from(batch))
                    .await
                    .map_err(|e| classify(e, op))?
                    .try_collect::<Vec<Document>>()
                    .await
                    .map_err(|e| classify(e, op))
            };
            let ids: Vec<Bson> = self
                .bounded(op, found_ids)
                .await?
                .into_iter()
                .filter_map(|mut d| d.remove(ID))
                .collect();
            let found = ids.len();
            if found == 0 {
                return Ok(total);
            }
            let mut filter = doc! { ID: { "$in": ids } };
            filter.extend(expired.clone());
            let deleted = async {
                self.collection
                    .delete_many(filter)
                    .await
                    .map_err(|e| classify(e, op))
            };
            total += self.bounded(op, deleted).await?.deleted_count;
            if found < batch as usize {
                return Ok(total);
            }
        }
    }

    /// One `find` through the owner index, sorted by key.
    async fn list_by_owner_unbounded(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let op = Operation::ListByOwner;
        let mut filter = doc! { OWNER: owner.as_str() };
        filter.extend(live(self.now()));
        let documents: Vec<Document> = self
            .collection
            .find(filter)
            .sort(doc! { ID: 1 })
            .await
            .map_err(|e| classify(e, op))?
            .try_collect()
            .await
            .map_err(|e| classify(e, op))?;
        documents
            .iter()
            .map(|d| Ok((key_of(d, op)?, entry_of(d, op)?)))
            .collect()
    }

    /// One `deleteMany` of the owner's live documents; expired ones are
    /// left to the TTL index.
    async fn delete_by_owner_unbounded(&self, owner: &Owner) -> Result<u64> {
        let op = Operation::DeleteByOwner;
        let mut filter = doc! { OWNER: owner.as_str() };
        filter.extend(live(self.now()));
        let result = self
            .collection
            .delete_many(filter)
            .await
            .map_err(|e| classify(e, op))?;
        Ok(result.deleted_count)
    }

    /// One `find` of the string `_id`s after the cursor's key, sorted on
    /// `_id` under the simple binary collation (UTF-8 byte order, as keys
    /// compare), through the `_id` index; the first page also names the
    /// documents whose `_id` is not a string (up to `MAX_SCAN_LIMIT`).
    /// Expired documents are counted in `expired`; documents that cannot be
    /// decoded are named in `unreadable` and skipped.
    async fn scan_unbounded(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        let after = scan::key_order_start(cursor, limit).map_err(|e| e.in_context(MONGODB, op))?;
        crate::scan::page(&self.collection, after, limit, self.now()).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for MongoStore {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        self.bounded(Operation::Get, self.get_unbounded(key)).await
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        self.bounded(Operation::Put, self.put_unbounded(key, value, options))
            .await
    }

    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        self.bounded(Operation::Delete, self.delete_unbounded(key, if_version))
            .await
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        self.bounded(Operation::Touch, self.touch_unbounded(key, expires_at))
            .await
    }

    async fn delete_expired(&self) -> Result<u64> {
        // Bounded per round trip inside: a purge may run many batches.
        self.delete_expired_unbounded().await
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        self.bounded(Operation::ListByOwner, self.list_by_owner_unbounded(owner))
            .await
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        self.bounded(
            Operation::DeleteByOwner,
            self.delete_by_owner_unbounded(owner),
        )
        .await
    }

    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        self.bounded(Operation::Scan, self.scan_unbounded(cursor, limit))
            .await
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}
