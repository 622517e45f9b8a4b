//! The memory floor: a `RwLock<HashMap>` holding value, version and expiry.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;

use crate::Workload;
use crate::target::{Session, TTL, Target, floor_refresh, now_ms};

struct Slot {
    value: Bytes,
    version: u64,
    expires_ms: u64,
}

/// `RwLock<HashMap>`: the least an in-process store can do.
#[derive(Default)]
pub struct MemoryFloor {
    map: RwLock<HashMap<String, Slot>>,
    versions: AtomicU64,
}

impl MemoryFloor {
    fn expires() -> u64 {
        now_ms() + TTL.as_millis() as u64
    }

    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn write(&self, key: &str, value: &Bytes) -> u64 {
        let version = self.next_version();
        let slot = Slot {
            value: value.clone(),
            version,
            expires_ms: Self::expires(),
        };
        self.map.write().expect("lock").insert(key.to_owned(), slot);
        version
    }
}

#[async_trait]
impl Target for MemoryFloor {
    fn runs(&self, _workload: Workload) -> bool {
        true
    }

    async fn seed(&self, keys: &[String], value: &Bytes) -> Result<Vec<u64>> {
        Ok(keys.iter().map(|k| self.write(k, value)).collect())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let now = now_ms();
        let map = self.map.read().expect("lock");
        Ok(map
            .get(key)
            .filter(|s| s.expires_ms > now)
            .map(|s| s.value.clone()))
    }

    async fn upsert(&self, key: &str, value: &Bytes) -> Result<()> {
        self.write(key, value);
        Ok(())
    }

    async fn create(&self, key: &str, value: &Bytes) -> Result<()> {
        let now = now_ms();
        let version = self.next_version();
        let mut map = self.map.write().expect("lock");
        match map.get(key) {
            Some(slot) if slot.expires_ms > now => bail!("create: the key exists"),
            _ => {
                map.insert(
                    key.to_owned(),
                    Slot {
                        value: value.clone(),
                        version,
                        expires_ms: Self::expires(),
                    },
                );
                Ok(())
            }
        }
    }

    async fn update_if(&self, key: &str, value: &Bytes, version: u64) -> Result<u64> {
        let now = now_ms();
        let new = self.next_version();
        let mut map = self.map.write().expect("lock");
        let slot = map
            .get_mut(key)
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
        let mut map = self.map.write().expect("lock");
        map.get_mut(key.as_str())
            .context("a live session is missing")?
            .expires_ms = Self::expires();
        Ok(())
    }

    async fn session_delete(&self, session: Session) -> Result<()> {
        let key = session
            .downcast::<String>()
            .map_err(|_| anyhow!("not a key"))?;
        self.map
            .write()
            .expect("lock")
            .remove(key.as_str())
            .context("a live session is missing")?;
        Ok(())
    }

    async fn refresh(&self, user: usize) -> Result<bool> {
        floor_refresh(self, &format!("tok:u{user}")).await
    }
}
