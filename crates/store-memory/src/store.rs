//! [`MemoryStore`]: the sharded in-memory backend.

use std::cell::Cell;
use std::fmt;
use std::hash::BuildHasher;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashMap, HashSet, HashTable};
use rand::Rng;
use store_core::{
    Capabilities, Clock, ClockSource, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner,
    PutMode, PutOptions, PutResult, Result, ScanCursor, ScanPage, Store, Version, scan, validate,
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

/// "Now", read from the clock at most once per operation and only when an
/// expiry has to be compared.
struct LazyNow<'a> {
    clock: &'a dyn Clock,
    now: Cell<Option<Expiry>>,
}

impl<'a> LazyNow<'a> {
    fn new(clock: &'a dyn Clock) -> Self {
        Self {
            clock,
            now: Cell::new(None),
        }
    }

    fn get(&self) -> Expiry {
        match self.now.get() {
            Some(now) => now,
            None => {
                let now = self.clock.now();
                self.now.set(Some(now));
                now
            }
        }
    }
}

impl Record {
    fn is_live(&self, now: &LazyNow<'_>) -> bool {
        self.expires_at.is_none_or(|e| !e.is_expired_at(now.get()))
    }

    fn is_live_at(&self, now: Expiry) -> bool {
        self.expires_at.is_none_or(|e| !e.is_expired_at(now))
    }

    fn to_entry(&self) -> Entry {
        Entry::new(self.value.clone(), self.version)
            .with_expiry(self.expires_at)
            .with_owner(self.owner.clone())
    }
}

/// An entry with its namespace id and key, stored in a shard's table.
struct Slot {
    ns: u64,
    key: Key,
    record: Record,
}

/// Owner index of one shard: namespace id -> owner -> keys.
type OwnerShard = HashMap<u64, HashMap<Owner, HashSet<Key>>>;

struct Shard {
    table: HashTable<Slot>,
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
    hasher: DefaultHashBuilder,
    clock: Arc<dyn Clock>,
    capacity: Option<usize>,
    /// Entries held over all namespaces; maintained only with a capacity.
    len: AtomicUsize,
    max_value_len: usize,
    /// Namespace names and their ids; consulted only when a handle is made.
    namespaces: Mutex<HashMap<Arc<str>, u64>>,
    /// Dropped with the store: wakes purge tasks so they stop at once.
    stop: watch::Sender<()>,
}

fn unpoison<G>(r: std::result::Result<G, PoisonError<G>>) -> G {
    // Every critical section leaves the tables consistent before it can
    // panic, so a poisoned lock still guards valid data.
    r.unwrap_or_else(PoisonError::into_inner)
}

enum PutOutcome {
    Written(PutResult),
    Full,
}

impl Inner {
    fn intern(&self, prefix: &str) -> u64 {
        let mut names = unpoison(self.namespaces.lock());
        if let Some(id) = names.get(prefix) {
            return *id;
        }
        let id = names.len() as u64;
        names.insert(Arc::from(prefix), id);
        id
    }

    fn hash(&self, ns: u64, key: &str) -> u64 {
        self.hasher.hash_one((ns, key))
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        // The table uses the low and the top bits of the hash; pick the
        // shard from the middle ones.
        &self.shards[((hash >> 32) as usize) & self.mask].0
    }

    fn owners(&self, owner: &Owner) -> MutexGuard<'_, OwnerShard> {
        let hash = self.hasher.hash_one(owner.as_str());
        unpoison(self.owners[(hash as usize) & self.mask].0.lock())
    }

    fn index_add(&self, ns: u64, owner: &Owner, key: &Key) {
        let mut shard = self.owners(owner);
        let by_owner = shard.entry(ns).or_default();
        match by_owner.get_mut(owner.as_str()) {
            Some(keys) => {
                keys.insert(key.clone());
            }
            None => {
                by_owner.insert(owner.clone(), HashSet::from_iter([key.clone()]));
            }
        }
    }

    fn index_remove(&self, ns: u64, owner: &Owner, key: &Key) {
        let mut shard = self.owners(owner);
        if let Some(by_owner) = shard.get_mut(&ns) {
            if let Some(keys) = by_owner.get_mut(owner.as_str()) {
                keys.remove(key.as_str());
                if keys.is_empty() {
                    by_owner.remove(owner.as_str());
                }
            }
            if by_owner.is_empty() {
                shard.remove(&ns);
            }
        }
    }

    fn forget(&self, removed: usize) {
        if self.capacity.is_some() && removed > 0 {
            self.len.fetch_sub(removed, Ordering::AcqRel);
        }
    }

    fn check_mode(mode: PutMode, live: Option<&Record>) -> Result<()> {
        match (mode, live) {
            (PutMode::Upsert, _) | (PutMode::Create, None) | (PutMode::Update, Some(_)) => Ok(()),
            (PutMode::Create, Some(_)) => Err(Error::already_exists()),
            (PutMode::Update | PutMode::UpdateIf(_), None) => Err(Error::not_found()),
            (PutMode::UpdateIf(expected), Some(current)) if current.version != expected => {
                Err(Error::version_mismatch())
            }
            (PutMode::UpdateIf(_), Some(_)) => Ok(()),
        }
    }

    fn try_put(
        &self,
        ns: u64,
        key: &Key,
        value: &Bytes,
        options: &PutOptions,
        now: &LazyNow<'_>,
    ) -> Result<PutOutcome> {
        let hash = self.hash(ns, key.as_str());
        let mut guard = unpoison(self.shard(hash).write());
        let shard = &mut *guard;
        let new_record = |version| Record {
            value: value.clone(),
            expires_at: options.expires_at,
            owner: options.owner.clone(),
            version,
        };
        let old_owner = match shard
            .table
            .find_entry(hash, |s| s.ns == ns && s.key == *key)
        {
            Ok(mut occupied) => {
                let current = &occupied.get().record;
                Self::check_mode(options.mode, Some(current).filter(|r| r.is_live(now)))?;
                shard.last_version = shard.last_version.wrapping_add(1);
                let record = new_record(Version::from_u64(shard.last_version));
                std::mem::replace(&mut occupied.get_mut().record, record).owner
            }
            Err(absent) => {
                Self::check_mode(options.mode, None)?;
                if let Some(capacity) = self.capacity {
                    if self.len.fetch_add(1, Ordering::AcqRel) >= capacity {
                        self.len.fetch_sub(1, Ordering::AcqRel);
                        return Ok(PutOutcome::Full);
                    }
                }
                let table = absent.into_table();
                shard.last_version = shard.last_version.wrapping_add(1);
                let slot = Slot {
                    ns,
                    key: key.clone(),
                    record: new_record(Version::from_u64(shard.last_version)),
                };
                table.insert_unique(hash, slot, |s| self.hash(s.ns, s.key.as_str()));
                None
            }
        };
        let version = Version::from_u64(shard.last_version);
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

    fn get(&self, ns: u64, key: &Key, now: &LazyNow<'_>) -> Option<Entry> {
        let hash = self.hash(ns, key.as_str());
        let shard = unpoison(self.shard(hash).read());
        let slot = shard.table.find(hash, |s| s.ns == ns && s.key == *key)?;
        slot.record.is_live(now).then(|| slot.record.to_entry())
    }

    fn delete(
        &self,
        ns: u64,
        key: &Key,
        if_version: Option<Version>,
        now: &LazyNow<'_>,
    ) -> Result<bool> {
        let hash = self.hash(ns, key.as_str());
        let mut shard = unpoison(self.shard(hash).write());
        let Ok(occupied) = shard
            .table
            .find_entry(hash, |s| s.ns == ns && s.key == *key)
        else {
            return Ok(false);
        };
        let live = occupied.get().record.is_live(now);
        if let (true, Some(expected)) = (live, if_version) {
            if occupied.get().record.version != expected {
                return Err(Error::version_mismatch());
            }
        }
        // An expired record is freed here too, but reported as not deleted.
        let (slot, _) = occupied.remove();
        if let Some(owner) = &slot.record.owner {
            self.index_remove(ns, owner, key);
        }
        self.forget(1);
        Ok(live)
    }

    fn touch(&self, ns: u64, key: &Key, expires_at: Expiry, now: &LazyNow<'_>) -> Result<()> {
        let hash = self.hash(ns, key.as_str());
        let mut shard = unpoison(self.shard(hash).write());
        let slot = shard
            .table
            .find_mut(hash, |s| s.ns == ns && s.key == *key)
            .filter(|s| s.record.is_live(now))
            .ok_or_else(Error::not_found)?;
        slot.record.expires_at = Some(expires_at);
        Ok(())
    }

    /// Removes expired records of one namespace, or of all when `ns` is
    /// `None`, one shard at a time.
    fn purge(&self, ns: Option<u64>, now: Expiry) -> u64 {
        let mut removed = 0u64;
        let expired = |s: &Slot| ns.is_none_or(|n| n == s.ns) && !s.record.is_live_at(now);
        for shard in self.shards.iter() {
            if !unpoison(shard.0.read()).table.iter().any(expired) {
                continue;
            }
            let mut guard = unpoison(shard.0.write());
            guard.table.retain(|s| {
                if !expired(s) {
                    return true;
                }
                if let Some(owner) = &s.record.owner {
                    self.index_remove(s.ns, owner, &s.key);
                }
                removed += 1;
                false
            });
        }
        self.forget(usize::try_from(removed).unwrap_or(usize::MAX));
        removed
    }

    fn owned_keys(&self, ns: u64, owner: &Owner, take: bool) -> Vec<Key> {
        let mut shard = self.owners(owner);
        let Some(by_owner) = shard.get_mut(&ns) else {
            return Vec::new();
        };
        let keys: Vec<Key> = if take {
            by_owner
                .remove(owner.as_str())
                .into_iter()
                .flatten()
                .collect()
        } else {
            by_owner
                .get(owner.as_str())
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default()
        };
        if by_owner.is_empty() {
            shard.remove(&ns);
        }
        keys
    }

    fn list_by_owner(&self, ns: u64, owner: &Owner, now: &LazyNow<'_>) -> Vec<(Key, Entry)> {
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

    /// The first `limit` records of `ns` after `after` in key order, live
    /// or not, and whether more follow. Each shard is read-locked in turn.
    fn scan(&self, ns: u64, after: Option<&str>, limit: usize) -> (Vec<(Key, Record)>, bool) {
        let mut found: Vec<(Key, Record)> = Vec::new();
        for shard in self.shards.iter() {
            let guard = unpoison(shard.0.read());
            found.extend(
                guard
                    .table
                    .iter()
                    .filter(|s| s.ns == ns && after.is_none_or(|a| s.key.as_str() > a))
                    .map(|s| (s.key.clone(), s.record.clone())),
            );
        }
        let more = found.len() > limit;
        if more {
            found.select_nth_unstable_by(limit, |a, b| a.0.cmp(&b.0));
            found.truncate(limit);
        }
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        (found, more)
    }

    fn delete_by_owner(&self, ns: u64, owner: &Owner, now: &LazyNow<'_>) -> u64 {
        let mut deleted = 0;
        for key in self.owned_keys(ns, owner, true) {
            let hash = self.hash(ns, key.as_str());
            let mut shard = unpoison(self.shard(hash).write());
            let Ok(occupied) = shard.table.find_entry(hash, |s| {
                s.ns == ns && s.key == key && s.record.owner.as_ref() == Some(owner)
            }) else {
                continue;
            };
            let (slot, _) = occupied.remove();
            self.forget(1);
            if slot.record.is_live(now) {
                deleted += 1;
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
    ns: u64,
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
                        table: HashTable::new(),
                        last_version: rng.random(),
                    }))
                })
                .collect(),
            owners: (0..shards)
                .map(|_| Padded(Mutex::new(OwnerShard::new())))
                .collect(),
            mask: shards - 1,
            hasher: DefaultHashBuilder::default(),
            clock: config.clock,
            capacity: config.capacity,
            len: AtomicUsize::new(0),
            max_value_len: config.max_value_len,
            namespaces: Mutex::new(HashMap::new()),
            stop: watch::channel(()).0,
        };
        let ns = inner.intern(&config.prefix);
        Self {
            inner: Arc::new(inner),
            prefix: Arc::from(config.prefix),
            ns,
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
        let prefix = prefix.as_ref();
        Self {
            ns: self.inner.intern(prefix),
            inner: Arc::clone(&self.inner),
            prefix: Arc::from(prefix),
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

fn ctx(op: Operation) -> impl FnOnce(Error) -> Error {
    move |e| e.in_context(BACKEND, op)
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let now = LazyNow::new(&*self.inner.clock);
        Ok(self.inner.get(self.ns, key, &now))
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let now = LazyNow::new(&*self.inner.clock);
        let caps = self.caps();
        validate::value(&caps, &value).map_err(ctx(Operation::Put))?;
        if let Some(expires_at) = options.expires_at {
            validate::expiry(expires_at, now.get()).map_err(ctx(Operation::Put))?;
        }
        let inner = &self.inner;
        match inner
            .try_put(self.ns, key, &value, &options, &now)
            .map_err(ctx(Operation::Put))?
        {
            PutOutcome::Written(r) => return Ok(r),
            PutOutcome::Full => {}
        }
        // Full: free expired entries once, then try again.
        inner.purge(None, now.get());
        match inner
            .try_put(self.ns, key, &value, &options, &now)
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
        let now = LazyNow::new(&*self.inner.clock);
        self.inner
            .delete(self.ns, key, if_version, &now)
            .map_err(ctx(Operation::Delete))
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let now = LazyNow::new(&*self.inner.clock);
        validate::expiry(expires_at, now.get()).map_err(ctx(Operation::Touch))?;
        self.inner
            .touch(self.ns, key, expires_at, &now)
            .map_err(ctx(Operation::Touch))
    }

    async fn delete_expired(&self) -> Result<u64> {
        Ok(self.inner.purge(Some(self.ns), self.inner.clock.now()))
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let now = LazyNow::new(&*self.inner.clock);
        Ok(self.inner.list_by_owner(self.ns, owner, &now))
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let now = LazyNow::new(&*self.inner.clock);
        Ok(self.inner.delete_by_owner(self.ns, owner, &now))
    }

    /// Key order; each page reads every shard once, so a page costs time
    /// in proportion to the namespace's size.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let after = scan::key_order_start(cursor, limit).map_err(ctx(Operation::Scan))?;
        let (records, more) = self.inner.scan(self.ns, after, limit);
        let now = self.inner.clock.now();
        let next = if more {
            records
                .last()
                .map(|(k, _)| ScanCursor::after_key(k.as_str()))
        } else {
            None
        };
        let mut expired = 0;
        let mut entries = Vec::with_capacity(records.len());
        for (key, record) in records {
            if record.is_live_at(now) {
                entries.push((key, record.to_entry()));
            } else {
                expired += 1;
            }
        }
        Ok(ScanPage::new(entries).with_expired(expired).with_next(next))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}
