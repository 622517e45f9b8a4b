//! The memory floor: hash tables under `RwLock`s, 64 of them chosen by
//! the key's hash (one lock for all would make the 16-task cells measure
//! two threads fighting over one cache line, which on a 2-core machine
//! swings threefold from one round to the next), each entry holding value,
//! version and expiry.

use std::hash::BuildHasher;
use std::sync::RwLock;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;
use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::Workload;
use crate::target::{Session, TTL, Target, floor_refresh, now_ms};

/// Locks, a power of two.
const SHARDS: usize = 64;

struct Slot {
    key: String,
    value: Bytes,
    version: u64,
    expires_ms: u64,
}

/// One lock's table and the last version it handed out.
#[derive(Default)]
struct Table {
    slots: HashTable<Slot>,
    last_version: u64,
}

impl Table {
    fn next_version(&mut self) -> u64 {
        self.last_version += 1;
        self.last_version
    }
}

/// Keeps each lock on cache lines of its own.
#[derive(Default)]
#[repr(align(128))]
struct Shard(RwLock<Table>);

/// Hash tables under locks: the least an in-process store can do.
pub struct MemoryFloor {
    shards: Box<[Shard]>,
    hasher: DefaultHashBuilder,
}

impl Default for MemoryFloor {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl MemoryFloor {
    fn expires() -> u64 {
        now_ms() + TTL.as_millis() as u64
    }

    /// The key's hash and the lock of its table.
    fn locate(&self, key: &str) -> (u64, &RwLock<Table>) {
        let hash = self.hasher.hash_one(key);
        (hash, &self.shards[(hash >> 32) as usize & (SHARDS - 1)].0)
    }

    /// The slot of `key` in `table`, for writing.
    fn entry<'t>(&self, table: &'t mut HashTable<Slot>, hash: u64, key: &str) -> Entry<'t, Slot> {
        table.entry(
            hash,
            |s| s.key == key,
            |s| self.hasher.hash_one(s.key.as_str()),
        )
    }

    /// Writes `key`; with `unless_live_at`, fails instead where the key
    /// holds an entry still live at that time (`create`).
    fn write(&self, key: &str, value: &Bytes, unless_live_at: Option<u64>) -> Result<u64> {
        let (hash, lock) = self.locate(key);
        let mut table = lock.write().expect("lock");
        let version = table.next_version();
        let expires_ms = Self::expires();
        match self.entry(&mut table.slots, hash, key) {
            Entry::Occupied(o) if unless_live_at.is_some_and(|now| o.get().expires_ms > now) => {
                bail!("create: the key exists")
            }
            Entry::Occupied(mut o) => {
                let old = o.get_mut();
                old.value = value.clone();
                old.version = version;
                old.expires_ms = expires_ms;
            }
            Entry::Vacant(v) => {
                v.insert(Slot {
                    key: key.to_owned(),
                    value: value.clone(),
                    version,
                    expires_ms,
                });
            }
        }
        Ok(version)
    }
}

#[async_trait]
impl Target for MemoryFloor {
    fn runs(&self, _workload: Workload) -> bool {
        true
    }

    async fn seed(&self, keys: &[String], value: &Bytes) -> Result<Vec<u64>> {
        keys.iter()
            .map(|k| self.write(k, &Bytes::copy_from_slice(value), None))
            .collect()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let now = now_ms();
        let (hash, lock) = self.locate(key);
        let table = lock.read().expect("lock");
        Ok(table
            .slots
            .find(hash, |s| s.key == key)
            .filter(|s| s.expires_ms > now)
            .map(|s| s.value.clone()))
    }

    async fn upsert(&self, key: &str, value: &Bytes) -> Result<()> {
        self.write(key, value, None)?;
        Ok(())
    }

    async fn create(&self, key: &str, value: &Bytes) -> Result<()> {
        self.write(key, value, Some(now_ms()))?;
        Ok(())
    }

    async fn update_if(&self, key: &str, value: &Bytes, version: u64) -> Result<u64> {
        let now = now_ms();
        let (hash, lock) = self.locate(key);
        let mut table = lock.write().expect("lock");
        let new = table.next_version();
        let slot = table
            .slots
            .find_mut(hash, |s| s.key == key)
            .filter(|s| s.expires_ms > now)
            .context("update_if: missing")?;
        if slot.version != version {
            bail!("update_if: version mismatch");
        }
        slot.value = value.clone();
        slot.version = new;
        slot.expires_ms = Self::expires();
        Ok(new)
    }

    async fn session_touch(&self, session: &mut Session) -> Result<()> {
        let key = session.downcast_ref::<String>().context("not a key")?;
        let (hash, lock) = self.locate(key);
        let mut table = lock.write().expect("lock");
        table
            .slots
            .find_mut(hash, |s| s.key == *key)
            .context("a live session is missing")?
            .expires_ms = Self::expires();
        Ok(())
    }

    async fn session_delete(&self, session: Session) -> Result<()> {
        let key = session
            .downcast::<String>()
            .map_err(|_| anyhow!("not a key"))?;
        let (hash, lock) = self.locate(&key);
        let mut table = lock.write().expect("lock");
        table
            .slots
            .find_entry(hash, |s| s.key == *key)
            .map_err(|_| anyhow!("a live session is missing"))?
            .remove();
        Ok(())
    }

    async fn forget(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            let (hash, lock) = self.locate(key);
            let mut table = lock.write().expect("lock");
            if let Ok(slot) = table.slots.find_entry(hash, |s| s.key == *key) {
                slot.remove();
            }
        }
        Ok(())
    }

    async fn refresh(&self, user: usize) -> Result<bool> {
        floor_refresh(self, &format!("tok:u{user}")).await
    }
}
