//! [`MemoryStore`]: how a store is made (from a [`MemoryConfig`] or a
//! `memory://` URL), its namespaces, its purge task, and
//! [`Open`](store_core::Open).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use store_core::{
    Capabilities, ClockSource, Error, ErrorKind, Open, OpenOptions, Result, check_scheme,
};
use tokio::task::JoinHandle;

use crate::config::MemoryConfig;
use crate::query::Inner;
use crate::{BACKEND, SCHEMES};

/// A concurrent in-memory store: the default for tests and development.
///
/// Entries live in independently locked shards (see
/// [`MemoryConfig::shards`]), so tasks touching different keys do not wait
/// for each other. Every [`PutMode`](store_core::PutMode) is checked and applied under one shard
/// lock, so conditional writes are atomic. Expiry is decided by the
/// configured [`Clock`](store_core::Clock) (a [`ManualClock`](store_core::ManualClock) in
/// tests). Expired entries are never returned and are freed by
/// [`Store::delete_expired`](store_core::Store::delete_expired), by the optional
/// [purge task](MemoryStore::spawn_purge_task), or when their key is written
/// or deleted.
///
/// Cloning is cheap and shares the data. [`MemoryStore::with_namespace`] gives a
/// handle on the same data in another namespace, like a second store on the
/// same server.
///
/// ```
/// use store_core::{Key, PutMode, Store};
/// use store_memory::MemoryStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = Key::new("user:1")?;
/// let written = store.put(&key, "hello".into(), PutMode::Create.into()).await?;
/// let entry = store.get(&key).await?.expect("just written");
/// assert_eq!(entry.version, written.version);
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    pub(crate) inner: Arc<Inner>,
    namespace: Arc<str>,
    pub(crate) ns: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the default [`MemoryConfig`]: system clock, no capacity
    /// limit, 64 shards, the namespace `""`.
    ///
    /// ```
    /// let store = store_memory::MemoryStore::new();
    /// assert_eq!(store.namespace(), "");
    /// ```
    pub fn new() -> Self {
        Self::build(MemoryConfig::default())
    }

    /// A store with `config`.
    ///
    /// # Errors
    /// `Config` when [`MemoryConfig::max_value_len`] or
    /// [`MemoryConfig::capacity`] is zero.
    ///
    /// ```
    /// use store_core::ErrorKind;
    /// use store_memory::{MemoryConfig, MemoryStore};
    /// let err = MemoryStore::with_config(MemoryConfig::default().capacity(0)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// ```
    pub fn with_config(config: MemoryConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self::build(config))
    }

    /// A new, empty store from a `memory://` URL; everything after the
    /// scheme is ignored. Each call makes a store of its own: two stores
    /// from the same URL share nothing.
    ///
    /// # Errors
    /// `Config` when the URL's scheme is not `memory`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_memory::MemoryStore::connect("memory://").await?;
    /// assert_eq!(store.namespace(), "");
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, MemoryConfig::default()).await
    }

    /// A new, empty store with `config` from a `memory://` URL; everything
    /// after the scheme is ignored.
    ///
    /// # Errors
    /// `Config` when the URL's scheme is not `memory`, or as
    /// [`MemoryStore::with_config`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use store_memory::{MemoryConfig, MemoryStore};
    /// let config = MemoryConfig::default().namespace("sessions");
    /// let store = MemoryStore::connect_with("memory://anything", config).await?;
    /// assert_eq!(store.namespace(), "sessions");
    /// let err = MemoryStore::connect("redis://localhost").await.unwrap_err();
    /// assert_eq!(err.kind(), store_core::ErrorKind::Config);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect_with(url: &str, config: MemoryConfig) -> Result<Self> {
        check_scheme(url, BACKEND, SCHEMES)?;
        Self::with_config(config)
    }

    fn build(config: MemoryConfig) -> Self {
        let inner = Inner::new(&config);
        let ns = inner.intern(&config.namespace);
        Self {
            inner: Arc::new(inner),
            namespace: Arc::from(config.namespace),
            ns,
        }
    }

    /// A handle on the same data in the namespace `namespace`. Its
    /// operations never see or touch entries of other namespaces.
    ///
    /// # Errors
    /// None: memory takes any string as a namespace. The `Result` is the
    /// signature every backend's `with_namespace` has.
    ///
    /// ```
    /// use store_core::{Key, Store, StoreExt};
    /// use store_memory::MemoryStore;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sessions = MemoryStore::new().with_namespace("sessions")?;
    /// let tokens = sessions.with_namespace("tokens")?;
    /// let key = Key::new("42")?;
    /// sessions.upsert(&key, "s", None).await?;
    /// assert!(tokens.get(&key).await?.is_none());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_namespace(&self, namespace: impl Into<String>) -> Result<Self> {
        let namespace = namespace.into();
        Ok(Self {
            ns: self.inner.intern(&namespace),
            inner: Arc::clone(&self.inner),
            namespace: Arc::from(namespace),
        })
    }

    /// This handle's namespace.
    ///
    /// ```
    /// let store = store_memory::MemoryStore::new().with_namespace("tokens")?;
    /// assert_eq!(store.namespace(), "tokens");
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Does nothing and returns `Ok(())`: memory has no tables or indexes
    /// to create. Present so that every backend is set up the same way.
    ///
    /// # Errors
    /// None.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// store_memory::MemoryStore::new().setup().await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn setup(&self) -> Result<()> {
        Ok(())
    }

    /// Removes expired entries of **every** namespace of this store's data
    /// and returns how many it removed. [`Store::delete_expired`](store_core::Store::delete_expired) only
    /// touches this handle's namespace.
    ///
    /// ```
    /// use store_memory::MemoryStore;
    /// assert_eq!(MemoryStore::new().purge_all_expired(), 0);
    /// ```
    pub fn purge_all_expired(&self) -> u64 {
        self.inner.purge(None, self.inner.clock.now())
    }

    /// Starts a background task on the current Tokio runtime that calls
    /// [`purge_all_expired`](MemoryStore::purge_all_expired) about every
    /// `every` (each wait is jittered by ±25 % so many stores do not purge in
    /// step).
    ///
    /// The task holds no strong reference to the data: it stops as soon as
    /// the last handle of the store is dropped. A panic inside one purge is
    /// logged and the task carries on. Dropping the returned [`PurgeTask`]
    /// does not stop it; call [`PurgeTask::abort`] for that.
    ///
    /// # Errors
    /// `InvalidInput` when `every` is zero; `Config` when called outside a
    /// Tokio runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use store_memory::MemoryStore;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let task = store.spawn_purge_task(Duration::from_secs(60))?;
    /// drop(store);
    /// task.join().await; // ends promptly once the store is gone
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn spawn_purge_task(&self, every: Duration) -> Result<PurgeTask> {
        if every.is_zero() {
            return Err(
                Error::invalid_input("the purge interval must be above zero").with_backend(BACKEND),
            );
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            Error::new(
                ErrorKind::Config,
                "spawn_purge_task must be called inside a Tokio runtime",
            )
            .with_backend(BACKEND)
            .with_source(e)
        })?;
        let weak = Arc::downgrade(&self.inner);
        let mut stop = self.inner.stop.subscribe();
        let handle = runtime.spawn(async move {
            loop {
                let factor = rand::rng().random_range(0.75..1.25);
                let wait = every.mul_f64(factor);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
                let Some(inner) = weak.upgrade() else { break };
                let now = inner.clock.now();
                match catch_unwind(AssertUnwindSafe(|| inner.purge(None, now))) {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(removed = n, "memory store purged expired entries"),
                    Err(_) => tracing::warn!("memory store purge panicked; retrying next round"),
                }
            }
        });
        Ok(PurgeTask { handle })
    }

    pub(crate) fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(BACKEND);
        caps.clock = ClockSource::Store;
        caps.max_value_len = self.inner.max_value_len;
        caps
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("namespace", &self.namespace)
            .field("shards", &self.inner.shards.len())
            .field("capacity", &self.inner.capacity)
            .field("max_value_len", &self.inner.max_value_len)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// The handle of a task started by [`MemoryStore::spawn_purge_task`].
///
/// Dropping it detaches the task; it still ends when the store is dropped.
///
/// ```
/// use std::time::Duration;
/// use store_memory::MemoryStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let task = store.spawn_purge_task(Duration::from_secs(30))?;
/// assert!(!task.is_finished());
/// task.abort();
/// task.join().await;
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct PurgeTask {
    handle: JoinHandle<()>,
}

impl PurgeTask {
    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops the task.
    pub fn abort(&self) {
        self.handle.abort();
    }

    /// Waits until the task has ended (after the store was dropped or
    /// [`abort`](PurgeTask::abort) was called).
    pub async fn join(self) {
        // A cancelled or panicked task has ended too; nothing to report.
        let _ = self.handle.await;
    }
}

/// Opens a new, empty store for any `memory://` URL (the rest of the URL
/// is ignored), in [`OpenOptions::namespace`](store_core::OpenOptions::namespace()) when set. Memory has no
/// purge batches, no server to wait for and nothing to set up, so the
/// other options change nothing.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use store_core::{Open, OpenOptions};
/// use store_memory::MemoryStore;
/// let options = OpenOptions::default().namespace("sessions");
/// let store = MemoryStore::open("memory://", &options).await?;
/// assert_eq!(store.namespace(), "sessions");
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
impl Open for MemoryStore {
    const NAME: &'static str = BACKEND;
    const SCHEMES: &'static [&'static str] = SCHEMES;

    async fn open(url: &str, options: &OpenOptions) -> Result<Self> {
        let mut config = MemoryConfig::default();
        if let Some(namespace) = options.namespace.as_deref() {
            config = config.namespace(namespace);
        }
        let store = Self::connect_with(url, config).await?;
        if options.setup {
            store.setup().await?;
        }
        Ok(store)
    }
}
