//! [`CachedStore`]: a read-through cache in this process, in front of any
//! store.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Clock, Entry, Expiry, Key, Owner, PutOptions, PutResult, Result, ScanCursor,
    ScanPage, Store, SystemClock, Version,
};

/// Settings of a [`Cache`].
///
/// ```
/// use std::time::Duration;
/// let config = store_layers::CacheConfig::default()
///     .max_entries(50_000)
///     .max_bytes(64 << 20)
///     .max_age(Duration::from_millis(500));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct CacheConfig {
    max_entries: usize,
    max_bytes: usize,
    max_age: Duration,
    clock: Arc<dyn Clock>,
}

impl Default for CacheConfig {
    /// 10,000 entries, 32 MiB of values, entries served for at most 1 s,
    /// expiry decided by the system clock.
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 32 << 20,
            max_age: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl CacheConfig {
    /// The most entries kept; the least recently used go first.
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// The most value bytes kept; the least recently used go first.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How long a cached entry is served before it is read again from the
    /// store: the longest another process's write can stay unseen here.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// The clock that decides whether a cached entry has expired; give the
    /// store's own clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

struct Cached {
    entry: Entry,
    loaded: Instant,
    tick: u64,
}

#[derive(Default)]
struct Lru {
    map: HashMap<Key, Cached>,
    order: BTreeMap<u64, Key>,
    bytes: usize,
    tick: u64,
}

impl Lru {
    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.map.remove(key) {
            self.order.remove(&old.tick);
            self.bytes -= old.entry.value.len();
        }
    }

    fn insert(&mut self, key: Key, entry: Entry, config: &CacheConfig) {
        self.remove(&key);
        if entry.value.len() > config.max_bytes {
            return;
        }
        self.tick += 1;
        self.bytes += entry.value.len();
        self.order.insert(self.tick, key.clone());
        let loaded = Instant::now();
        self.map.insert(
            key,
            Cached {
                entry,
                loaded,
                tick: self.tick,
            },
        );
        while self.map.len() > config.max_entries || self.bytes > config.max_bytes {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(old) = self.map.remove(&oldest) {
                self.bytes -= old.entry.value.len();
            }
        }
    }
}

/// Counters of a [`Cache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
}

/// Tells other processes' caches that a key was written.
pub(crate) trait Invalidator: Send + Sync {
    /// Announces a write of `key`; best effort.
    fn publish<'a>(&'a self, key: &'a Key) -> futures::future::BoxFuture<'a, ()>;
}

/// The entries cached for one namespace of one store. Share it (clone the
/// `Arc`) between store objects on the same namespace in one process, so
/// that each sees the others' writes at once.
#[derive(Default)]
pub struct Cache {
    config: CacheConfig,
    lru: Mutex<Lru>,
    invalidator: Mutex<Option<Arc<dyn Invalidator>>>,
    /// Bumped by every write: a read that raced a write does not fill the
    /// cache with what it read.
    writes: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            ..Self::default()
        })
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg_attr(not(feature = "redis-invalidation"), allow(dead_code))]
    pub(crate) fn set_invalidator(&self, invalidator: Arc<dyn Invalidator>) {
        *self.invalidator.lock().unwrap_or_else(|e| e.into_inner()) = Some(invalidator);
    }

    /// Drops `key` (another process wrote it).
    #[cfg_attr(not(feature = "redis-invalidation"), allow(dead_code))]
    pub(crate) fn forget(&self, key: &Key) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.lock().remove(key);
    }

    /// Drops everything (invalidations may have been missed).
    #[cfg_attr(not(feature = "redis-invalidation"), allow(dead_code))]
    pub(crate) fn forget_all(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        *self.lock() = Lru::default();
    }

    /// Whether writes are announced to other processes.
    fn announces(&self) -> bool {
        self.invalidator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    async fn announce(&self, key: &Key) {
        let invalidator = self
            .invalidator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(invalidator) = invalidator {
            invalidator.publish(key).await;
        }
    }

    /// Before a write reaches the store: drops `key`, and returns the
    /// write counter as this write left it.
    fn writing(&self, key: &Key) -> u64 {
        let mut lru = self.lock();
        lru.remove(key);
        self.writes.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// After the write that [`Self::writing`] began: caches `entry` only
    /// when no other write began or ended meanwhile (`began` is still the
    /// counter), else drops the key. Two racing writes may reach the store
    /// in one order and this method in the other; caching the later
    /// caller's entry could then keep a value the store no longer has, so
    /// neither is cached and the next read fetches the store's.
    fn written(&self, key: &Key, entry: Option<Entry>, began: u64) {
        let mut lru = self.lock();
        let alone = self.writes.load(Ordering::SeqCst) == began;
        self.writes.fetch_add(1, Ordering::SeqCst);
        match entry {
            Some(entry) if alone => lru.insert(key.clone(), entry, &self.config),
            _ => lru.remove(key),
        }
    }
}

/// A [`Store`] that answers reads from a bounded in-process cache and sends
/// every write to the store first.
///
/// - Reads: a cached entry is served while it is younger than
///   [`CacheConfig::max_age`] and not expired by the cache's clock;
///   otherwise the store is read and the answer cached. Missing keys are
///   not cached.
/// - Writes (every `put` mode, conditional or not, `delete`, `touch`) always
///   reach the store. The key is dropped from the cache before the write;
///   after a successful `put` the cache holds the new entry, unless another
///   write of this cache overlapped it (then the key stays dropped, since
///   the store may have applied the two in either order); after anything
///   else the key stays dropped.
///   `delete_by_owner` drops the owner's cached entries. `list_by_owner` and
///   `delete_expired` always go to the store.
/// - Two processes: conditional writes are decided by the store, so a race
///   of `Create` or `UpdateIf` through two caches has one winner. A write
///   in another process is seen here after at most `max_age`, or at once
///   with [`RedisInvalidation`](crate::RedisInvalidation) (feature
///   `redis-invalidation`), which announces every write on a Redis channel.
///
/// ```
/// use store_layers::{Cache, CacheConfig, CachedStore};
/// let store = CachedStore::new(store_memory::MemoryStore::new(), Cache::new(CacheConfig::default()));
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct CachedStore<S> {
    inner: S,
    cache: Arc<Cache>,
}

impl<S: fmt::Debug> fmt::Debug for CachedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedStore")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .finish()
    }
}

impl<S: Store> CachedStore<S> {
    /// `inner` behind `cache` (one cache per namespace).
    pub fn new(inner: S, cache: Arc<Cache>) -> Self {
        Self { inner, cache }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The cache.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// Drops the cached entries of `owner`.
    fn forget_owner(&self, owner: &Owner) {
        self.cache.writes.fetch_add(1, Ordering::SeqCst);
        let mut lru = self.cache.lock();
        let owned: Vec<Key> = lru
            .map
            .iter()
            .filter(|(_, c)| c.entry.owner.as_ref() == Some(owner))
            .map(|(k, _)| k.clone())
            .collect();
        for key in owned {
            lru.remove(&key);
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for CachedStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let cache = &self.cache;
        {
            let mut lru = cache.lock();
            if let Some(cached) = lru.map.get(key) {
                let now = cache.config.clock.now();
                let live = cached
                    .entry
                    .expires_at
                    .is_none_or(|e| !e.is_expired_at(now));
                if live && cached.loaded.elapsed() < cache.config.max_age {
                    let entry = cached.entry.clone();
                    cache.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(entry));
                }
                lru.remove(key);
            }
        }
        cache.misses.fetch_add(1, Ordering::Relaxed);
        let writes = cache.writes.load(Ordering::SeqCst);
        let found = self.inner.get(key).await?;
        if let Some(entry) = &found {
            let mut lru = cache.lock();
            if cache.writes.load(Ordering::SeqCst) == writes {
                lru.insert(key.clone(), entry.clone(), &cache.config);
            }
        }
        Ok(found)
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let entry = Entry::new(value.clone(), Version::from_u64(0))
            .with_expiry(options.expires_at)
            .with_owner(options.owner.clone());
        let began = self.cache.writing(key);
        match self.inner.put(key, value, options).await {
            Ok(written) => {
                let mut entry = entry;
                entry.version = written.version;
                self.cache.written(key, Some(entry), began);
                self.cache.announce(key).await;
                Ok(written)
            }
            Err(e) => {
                self.cache.written(key, None, began);
                Err(e)
            }
        }
    }

    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let began = self.cache.writing(key);
        let result = self.inner.delete(key, if_version).await;
        self.cache.written(key, None, began);
        if matches!(result, Ok(true)) {
            self.cache.announce(key).await;
        }
        result
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let began = self.cache.writing(key);
        let result = self.inner.touch(key, expires_at).await;
        // The value is unchanged, but the simplest correct cache entry is
        // none: the next read fetches the new expiry.
        self.cache.written(key, None, began);
        if result.is_ok() {
            self.cache.announce(key).await;
        }
        result
    }

    async fn delete_expired(&self) -> Result<u64> {
        // Expired entries are never served from the cache anyway.
        self.inner.delete_expired().await
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        self.inner.list_by_owner(owner).await
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let announcing = self.cache.announces();
        // Other processes must hear of each deleted key.
        let listed = match announcing {
            true => self.inner.list_by_owner(owner).await.ok(),
            false => None,
        };
        let result = self.inner.delete_by_owner(owner).await;
        self.forget_owner(owner);
        for (key, _) in listed.unwrap_or_default() {
            self.cache.announce(&key).await;
        }
        result
    }

    /// Straight to the inner store; a scan neither reads nor fills the
    /// cache.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        self.inner.scan(cursor, limit).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}
