//! The operations on the in-process tables: each [`Store`](store_core::Store)
//! call of [`MemoryStore`](crate::MemoryStore) is one method of [`Inner`]
//! here, applied under the lock of the one shard its key lives in.
//!
//! Where a backend with a server keeps its SQL statements, scripts or
//! update pipelines, memory keeps the tables themselves: entries by
//! (namespace id, key) in independently locked shards, an owner index in
//! as many shards, and a per-shard version counter.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashMap, HashSet, HashTable};
use rand::Rng;
use store_core::{
    Clock, Entry, Error, Expiry, Key, Owner, PutMode, PutOptions, PutResult, Result, Version,
};
use tokio::sync::watch;

use crate::codec::{LazyNow, Record};
use crate::config::MemoryConfig;
use crate::error::{self, unpoison};

/// An entry with its namespace id and key, stored in a shard's table.
pub(crate) struct Slot {
    pub(crate) ns: u64,
    pub(crate) key: Key,
    pub(crate) record: Record,
}

/// Owner index of one shard: namespace id -> owner -> keys.
pub(crate) type OwnerShard = HashMap<u64, HashMap<Owner, HashSet<Key>>>;

pub(crate) struct Shard {
    pub(crate) table: HashTable<Slot>,
    /// The last version handed out by this shard. A key always lives in the
    /// same shard, so versions never repeat for a key.
    pub(crate) last_version: u64,
}

/// Keeps each lock on its own cache lines so shards do not contend.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

pub(crate) struct Inner {
    pub(crate) shards: Box<[Padded<RwLock<Shard>>]>,
    owners: Box<[Padded<Mutex<OwnerShard>>]>,
    mask: usize,
    hasher: DefaultHashBuilder,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) capacity: Option<usize>,
    /// Entries held over all namespaces; maintained only with a capacity.
    len: AtomicUsize,
    pub(crate) max_value_len: usize,
    /// Namespace names and their ids; consulted only when a handle is made.
    namespaces: Mutex<HashMap<Arc<str>, u64>>,
    /// Dropped with the store: wakes purge tasks so they stop at once.
    pub(crate) stop: watch::Sender<()>,
}

enum PutOutcome {
    Written(PutResult),
    Full,
}

impl Inner {
    /// Empty tables for `config`: its shard count rounded up to a power of
    /// two, each shard starting its versions at a random number.
    pub(crate) fn new(config: &MemoryConfig) -> Self {
        let shards = config.shards.max(1).next_power_of_two();
        let mut rng = rand::rng();
        Self {
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
            clock: Arc::clone(&config.clock),
            capacity: config.capacity,
            len: AtomicUsize::new(0),
            max_value_len: config.max_value_len,
            namespaces: Mutex::new(HashMap::new()),
            stop: watch::channel(()).0,
        }
    }

    /// The id of the namespace `name`, the same for every handle.
    pub(crate) fn intern(&self, name: &str) -> u64 {
        let mut names = unpoison(self.namespaces.lock());
        if let Some(id) = names.get(name) {
            return *id;
        }
        let id = names.len() as u64;
        names.insert(Arc::from(name), id);
        id
    }

    pub(crate) fn hash(&self, ns: u64, key: &str) -> u64 {
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

    /// Writes `key` as `options` ask; when the store is full, purges the
    /// expired entries of every namespace once and tries again.
    pub(crate) fn put(
        &self,
        ns: u64,
        key: &Key,
        value: &Bytes,
        options: &PutOptions,
        now: &LazyNow<'_>,
    ) -> Result<PutResult> {
        if let PutOutcome::Written(r) = self.try_put(ns, key, value, options, now)? {
            return Ok(r);
        }
        self.purge(None, now.get());
        match self.try_put(ns, key, value, options, now)? {
            PutOutcome::Written(r) => Ok(r),
            PutOutcome::Full => Err(error::capacity_exceeded(self.capacity.unwrap_or_default())),
        }
    }

    pub(crate) fn get(&self, ns: u64, key: &Key, now: &LazyNow<'_>) -> Option<Entry> {
        let hash = self.hash(ns, key.as_str());
        let shard = unpoison(self.shard(hash).read());
        let slot = shard.table.find(hash, |s| s.ns == ns && s.key == *key)?;
        slot.record.is_live(now).then(|| slot.record.to_entry())
    }

    pub(crate) fn delete(
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

    pub(crate) fn touch(
        &self,
        ns: u64,
        key: &Key,
        expires_at: Expiry,
        now: &LazyNow<'_>,
    ) -> Result<()> {
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
    pub(crate) fn purge(&self, ns: Option<u64>, now: Expiry) -> u64 {
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

    pub(crate) fn list_by_owner(
        &self,
        ns: u64,
        owner: &Owner,
        now: &LazyNow<'_>,
    ) -> Vec<(Key, Entry)> {
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

    pub(crate) fn delete_by_owner(&self, ns: u64, owner: &Owner, now: &LazyNow<'_>) -> u64 {
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
