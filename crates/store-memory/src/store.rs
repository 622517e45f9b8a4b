//! [`MemoryStore`]: the sharded in-memory backend.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::Rng;
use store_core::{
    Capabilities, Clock, ClockSource, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner,
    PutMode, PutOptions, PutResult, Result, Store, Version, validate,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::MemoryConfig;

/// The backend name used in errors and [`Capabilities::backend`]: `"memory"`.
pub const BACKEND: &str = "memory";

#[derive(Clone)]
struct Record {
    value: Bytes,
    expires_at: Option<Expiry>,
    owner: Option<Owner>,
    version: Version,
}

impl Record {
    fn is_live(&self, now: Expiry) -> bool {
        self.expires_at.is_none_or(|e| !e.is_expired_at(now))
    }

    fn to_entry(&self) -> Entry {
        Entry::new(self.value.clone(), self.version)
            .with_expiry(self.expires_at)
            .with_owner(self.owner.clone())
    }
}

type Namespace = HashMap<Key, Record>;
type OwnerShard = HashMap<Arc<str>, HashMap<Owner, HashSet<Key>>>;

struct Shard {
    namespaces: HashMap<Arc<str>, Namespace>,
    /// The last version handed out by this shard. A key always lives in the
    /// same shard, so versions never repeat for a key.
    last_version: u64,
}

/// Keeps each lock on its own cache lines so shards do not contend.
#[repr(align(128))]
struct Padded<T>(T);

struct Inner {
    shards: Box<[Padded<RwLock<Shard>>]>,
    owners: Box<[Padded<Mutex<OwnerShard>>]>,
    mask: usize,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    capacity: Option<usize>,
    /// Entries held over all namespaces; maintained only with a capacity.
    len: AtomicUsize,
    max_value_len: usize,
    /// Dropped with the store: wakes purge tasks so they stop at once.
    stop: watch::Sender<()>,
}

fn unpoison<G>(r: std::result::Result<G, PoisonError<G>>) -> G {
    // Every critical section leaves the maps consistent before it can
    // panic, so a poisoned lock still guards valid data.
    r.unwrap_or_else(PoisonError::into_inner)
}

fn namespace_mut<'a>(
    namespaces: &'a mut HashMap<Arc<str>, Namespace>,
    ns: &Arc<str>,
) -> &'a mut Namespace {
    if !namespaces.contains_key(&**ns) {
        namespaces.insert(Arc::clone(ns), Namespace::new());
    }
    namespaces
        .get_mut(&**ns)
        .expect("the namespace was inserted above")
}

enum PutOutcome {
    Written(PutResult),
    Full,
}

impl Inner {
    fn index(&self, s: &str) -> usize {
        (self.hasher.hash_one(s) as usize) & self.mask
    }

    fn read(&self, key: &Key) -> RwLockReadGuard<'_, Shard> {
        unpoison(self.shards[self.index(key.as_str())].0.read())
    }

    fn write(&self, key: &Key) -> RwLockWriteGuard<'_, Shard> {
        unpoison(self.shards[self.index(key.as_str())].0.write())
    }

    fn owners(&self, owner: &Owner) -> MutexGuard<'_, OwnerShard> {
        unpoison(self.owners[self.index(owner.as_str())].0.lock())
    }

    fn index_add(&self, ns: &Arc<str>, owner: &Owner, key: &Key) {
        let mut shard = self.owners(owner);
        if !shard.contains_key(&**ns) {
            shard.insert(Arc::clone(ns), HashMap::new());
        }
        if let Some(by_owner) = shard.get_mut(&**ns) {
            by_owner
                .entry(owner.clone())
                .or_default()
                .insert(key.clone());
        }
    }

    fn index_remove(&self, ns: &str, owner: &Owner, key: &Key) {
        let mut shard = self.owners(owner);
        if let Some(by_owner) = shard.get_mut(ns) {
            if let Some(keys) = by_owner.get_mut(owner) {
                keys.remove(key);
                if keys.is_empty() {
                    by_owner.remove(owner);
                }
            }
            if by_owner.is_empty() {
                shard.remove(ns);
            }
        }
    }

    fn forget(&self, removed: usize) {
        if self.capacity.is_some() && removed > 0 {
            self.len.fetch_sub(removed, Ordering::AcqRel);
        }
    }

    fn try_put(
        &self,
        ns: &Arc<str>,
        key: &Key,
        value: &Bytes,
        options: &PutOptions,
        now: Expiry,
    ) -> Result<PutOutcome> {
        let mut guard = self.write(key);
        let shard = &mut *guard;
        let map = namespace_mut(&mut shard.namespaces, ns);
        let existing = map.get(key.as_str());
        let live = existing.filter(|r| r.is_live(now));
        match (options.mode, live) {
            (PutMode::Upsert, _) | (PutMode::Create, None) | (PutMode::Update, Some(_)) => {}
            (PutMode::Create, Some(_)) => return Err(Error::already_exists()),
            (PutMode::Update | PutMode::UpdateIf(_), None) => return Err(Error::not_found()),
            (PutMode::UpdateIf(expected), Some(current)) => {
                if current.version != expected {
                    return Err(Error::version_mismatch());
                }
            }
        }
        if existing.is_none() {
            if let Some(capacity) = self.capacity {
                if self.len.fetch_add(1, Ordering::AcqRel) >= capacity {
                    self.len.fetch_sub(1, Ordering::AcqRel);
                    return Ok(PutOutcome::Full);
                }
            }
        }
        shard.last_version = shard.last_version.wrapping_add(1);
        let version = Version::from_u64(shard.last_version);
        let record = Record {
            value: value.clone(),
            expires_at: options.expires_at,
            owner: options.owner.clone(),
            version,
        };
        let old_owner = match map.get_mut(key.as_str()) {
            Some(slot) => std::mem::replace(slot, record).owner,
            None => {
                map.insert(key.clone(), record);
                None
            }
        };
        // The index is updated while the entry's shard is still locked, so a
        // live owned entry is always listed in the index once unlocked.
        if let Some(old) = &old_owner {
            if options.owner.as_ref() != Some(old) {
                self.index_remove(ns, old, key);
            }
        }
        if let Some(owner) = &options.owner {
            self.index_add(ns, owner, key);
        }
        Ok(PutOutcome::Written(PutResult::new(version)))
    }

    fn get(&self, ns: &str, key: &Key, now: Expiry) -> Option<Entry> {
        let shard = self.read(key);
        shard
            .namespaces
            .get(ns)?
            .get(key.as_str())
            .filter(|r| r.is_live(now))
            .map(Record::to_entry)
    }

    fn delete(
        &self,
        ns: &str,
        key: &Key,
        if_version: Option<Version>,
        now: Expiry,
    ) -> Result<bool> {
        let mut shard = self.write(key);
        let Some(map) = shard.namespaces.get_mut(ns) else {
            return Ok(false);
        };
        let Some(record) = map.get(key.as_str()) else {
            return Ok(false);
        };
        let live = record.is_live(now);
        if live {
            if let Some(expected) = if_version {
                if record.version != expected {
                    return Err(Error::version_mismatch());
                }
            }
        }
        // An expired record is freed here too, but reported as not deleted.
        if let Some(record) = map.remove(key.as_str()) {
            if let Some(owner) = &record.owner {
                self.index_remove(ns, owner, key);
            }
            self.forget(1);
        }
        Ok(live)
    }

    fn touch(&self, ns: &str, key: &Key, expires_at: Expiry, now: Expiry) -> Result<()> {
        let mut shard = self.write(key);
        let record = shard
            .namespaces
            .get_mut(ns)
            .and_then(|m| m.get_mut(key.as_str()))
            .filter(|r| r.is_live(now))
            .ok_or_else(Error::not_found)?;
        record.expires_at = Some(expires_at);
        Ok(())
    }

    /// Removes expired records of one namespace, or of all when `ns` is
    /// `None`, one shard at a time.
    fn purge(&self, ns: Option<&str>, now: Expiry) -> u64 {
        let mut removed = 0u64;
        for shard in self.shards.iter() {
            let has_expired = {
                let guard = unpoison(shard.0.read());
                guard
                    .namespaces
                    .iter()
                    .filter(|(name, _)| ns.is_none_or(|n| n == &***name))
                    .any(|(_, map)| map.values().any(|r| !r.is_live(now)))
            };
            if !has_expired {
                continue;
            }
            let mut guard = unpoison(shard.0.write());
            for (name, map) in guard.namespaces.iter_mut() {
                if ns.is_some_and(|n| n != &**name) {
                    continue;
                }
                let expired: Vec<Key> = map
                    .iter()
                    .filter(|(_, r)| !r.is_live(now))
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in expired {
                    if let Some(record) = map.remove(key.as_str()) {
                        if let Some(owner) = &record.owner {
                            self.index_remove(name, owner, &key);
                        }
                        removed += 1;
                    }
                }
            }
            guard.namespaces.retain(|_, map| !map.is_empty());
        }
        self.forget(usize::try_from(removed).unwrap_or(usize::MAX));
        removed
    }

    fn owned_keys(&self, ns: &str, owner: &Owner, take: bool) -> Vec<Key> {
        let mut shard = self.owners(owner);
        let Some(by_owner) = shard.get_mut(ns) else {
            return Vec::new();
        };
        let keys: Vec<Key> = if take {
            by_owner.remove(owner).into_iter().flatten().collect()
        } else {
            by_owner
                .get(owner)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default()
        };
        if by_owner.is_empty() {
            shard.remove(ns);
        }
        keys
    }

    fn list_by_owner(&self, ns: &str, owner: &Owner, now: Expiry) -> Vec<(Key, Entry)> {
        let mut out: Vec<(Key, Entry)> = self
            .owned_keys(ns, owner, false)
            .into_iter()
            .filter_map(|key| {
                let entry = self
                    .get(ns, &key, now)
                    .filter(|e| e.owner.as_ref() == Some(owner))?;
                Some((key, entry))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn delete_by_owner(&self, ns: &str, owner: &Owner, now: Expiry) -> u64 {
        let mut deleted = 0;
        for key in self.owned_keys(ns, owner, true) {
            let mut shard = self.write(&key);
            let Some(map) = shard.namespaces.get_mut(ns) else {
                continue;
            };
            let owned = map
                .get(key.as_str())
                .is_some_and(|r| r.owner.as_ref() == Some(owner));
            if owned {
                if let Some(record) = map.remove(key.as_str()) {
                    self.forget(1);
                    if record.is_live(now) {
                        deleted += 1;
                    }
                }
            }
        }
        deleted
    }
}

/// A concurrent in-memory store: the default for tests and development.
///
/// Entries live in independently locked shards (see
/// [`MemoryConfig::shards`]), so tasks touching different keys do not wait
/// for each other. Every [`PutMode`] is checked and applied under one shard
/// lock, so conditional writes are atomic. Expiry is decided by the
/// configured [`Clock`] (a [`ManualClock`](store_core::ManualClock) in
/// tests). Expired entries are never returned and are freed by
/// [`Store::delete_expired`], by the optional
/// [purge task](MemoryStore::spawn_purge_task), or when their key is written
/// or deleted.
///
/// Cloning is cheap and shares the data. [`MemoryStore::with_prefix`] gives a
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
    inner: Arc<Inner>,
    prefix: Arc<str>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the default [`MemoryConfig`]: system clock, no capacity
    /// limit, 64 shards, empty prefix.
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
        let bad = |msg: &'static str| {
            Err(Error::new(ErrorKind::Config, msg)
                .with_backend(BACKEND)
                .with_operation(Operation::Connect))
        };
        if config.max_value_len == 0 {
            return bad("max_value_len must be at least 1 byte");
        }
        if config.capacity == Some(0) {
            return bad("capacity must be at least 1 entry (or None for unbounded)");
        }
        Ok(Self::build(config))
    }

    fn build(config: MemoryConfig) -> Self {
        let shards = config.shards.max(1).next_power_of_two();
        let mut rng = rand::rng();
        let inner = Inner {
            shards: (0..shards)
                .map(|_| {
                    Padded(RwLock::new(Shard {
                        namespaces: HashMap::new(),
                        last_version: rng.random(),
                    }))
                })
                .collect(),
            owners: (0..shards)
                .map(|_| Padded(Mutex::new(OwnerShard::new())))
                .collect(),
            mask: shards - 1,
            hasher: RandomState::new(),
            clock: config.clock,
            capacity: config.capacity,
            len: AtomicUsize::new(0),
            max_value_len: config.max_value_len,
            stop: watch::channel(()).0,
        };
        Self {
            inner: Arc::new(inner),
            prefix: Arc::from(config.prefix),
        }
    }

    /// A handle on the same data in the namespace `prefix`. Its operations
    /// never see or touch entries of other namespaces.
    ///
    /// ```
    /// use store_core::{Key, Store, StoreExt};
    /// use store_memory::MemoryStore;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sessions = MemoryStore::new().with_prefix("sessions");
    /// let tokens = sessions.with_prefix("tokens");
    /// let key = Key::new("42")?;
    /// sessions.upsert(&key, "s", None).await?;
    /// assert!(tokens.get(&key).await?.is_none());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_prefix(&self, prefix: impl AsRef<str>) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            prefix: Arc::from(prefix.as_ref()),
        }
    }

    /// This handle's namespace.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Removes expired entries of **every** namespace of this store's data
    /// and returns how many it removed. [`Store::delete_expired`] only
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

    fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(BACKEND);
        caps.clock = ClockSource::Store;
        caps.max_value_len = self.inner.max_value_len;
        caps
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("prefix", &self.prefix)
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

fn ctx(op: Operation) -> impl FnOnce(Error) -> Error {
    move |e| e.in_context(BACKEND, op)
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        Ok(self.inner.get(&self.prefix, key, self.inner.clock.now()))
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let now = self.inner.clock.now();
        validate::put(&self.caps(), &value, &options, now).map_err(ctx(Operation::Put))?;
        let inner = &self.inner;
        match inner
            .try_put(&self.prefix, key, &value, &options, now)
            .map_err(ctx(Operation::Put))?
        {
            PutOutcome::Written(r) => return Ok(r),
            PutOutcome::Full => {}
        }
        // Full: free expired entries once, then try again.
        inner.purge(None, now);
        match inner
            .try_put(&self.prefix, key, &value, &options, now)
            .map_err(ctx(Operation::Put))?
        {
            PutOutcome::Written(r) => Ok(r),
            PutOutcome::Full => Err(Error::new(
                ErrorKind::CapacityExceeded,
                format!(
                    "the memory store holds its capacity of {} entries (expired entries were purged first)",
                    inner.capacity.unwrap_or_default()
                ),
            )
            .with_backend(BACKEND)
            .with_operation(Operation::Put)),
        }
    }

    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let now = self.inner.clock.now();
        self.inner
            .delete(&self.prefix, key, if_version, now)
            .map_err(ctx(Operation::Delete))
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let now = self.inner.clock.now();
        validate::expiry(expires_at, now).map_err(ctx(Operation::Touch))?;
        self.inner
            .touch(&self.prefix, key, expires_at, now)
            .map_err(ctx(Operation::Touch))
    }

    async fn delete_expired(&self) -> Result<u64> {
        Ok(self.inner.purge(Some(&self.prefix), self.inner.clock.now()))
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        Ok(self
            .inner
            .list_by_owner(&self.prefix, owner, self.inner.clock.now()))
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        Ok(self
            .inner
            .delete_by_owner(&self.prefix, owner, self.inner.clock.now()))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}
