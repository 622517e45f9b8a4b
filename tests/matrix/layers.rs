//! The layers of `store-layers`, each around `MemoryStore` (manual clock),
//! and all of them stacked around `RedisStore`: every layer keeps every rule
//! of the contract.
//!
//! The cache is shared by the store objects of one namespace, as in one
//! process: the suite's "second process" then reads what the first wrote at
//! once, while each process keeps its own cache in production (staleness
//! bounded by `max_age`, tested in `store-layers`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_layers::{
    Cache, CacheConfig, CachedStore, EncryptedStore, Keyring, RetryPolicy, RetryStore, TracedStore,
};
use store_memory::{MemoryConfig, MemoryStore};
use store_redis::RedisStore;

/// Which layer wraps the memory store.
#[derive(Debug, Clone, Copy)]
enum Layer {
    Cache,
    Retry,
    Traced,
}

/// One cache per namespace.
#[derive(Debug, Default)]
struct Caches(Mutex<HashMap<String, Arc<Cache>>>);

impl Caches {
    fn get(&self, namespace: &str, config: impl FnOnce() -> CacheConfig) -> Arc<Cache> {
        let mut caches = self.0.lock().unwrap();
        caches
            .entry(namespace.to_owned())
            .or_insert_with(|| Cache::new(config()))
            .clone()
    }
}

#[derive(Debug)]
struct LayeredMemory {
    root: MemoryStore,
    clock: ManualClock,
    layer: Layer,
    caches: Caches,
}

#[async_trait::async_trait]
impl TestBackend for LayeredMemory {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let inner = self.root.with_namespace(namespace)?;
        Ok(match self.layer {
            Layer::Cache => {
                let cache = self.caches.get(namespace, || {
                    CacheConfig::default().clock(self.clock.clone())
                });
                Arc::new(CachedStore::new(inner, cache))
            }
            Layer::Retry => Arc::new(RetryStore::new(inner, RetryPolicy::default())),
            Layer::Traced => Arc::new(TracedStore::new(inner)),
        })
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

async fn memory(layer: Layer) -> Option<LayeredMemory> {
    let clock = ManualClock::starting_now();
    let root = MemoryStore::with_config(MemoryConfig::default().clock(clock.clone())).ok()?;
    Some(LayeredMemory {
        root,
        clock,
        layer,
        caches: Caches::default(),
    })
}

/// Traced(Cached(Retry(Encrypted(Redis)))): the documented order.
#[derive(Debug)]
struct StackedRedis {
    root: RedisStore,
    keyring: Keyring,
    caches: Caches,
}

#[async_trait::async_trait]
impl TestBackend for StackedRedis {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let encrypted =
            EncryptedStore::new(self.root.with_namespace(namespace)?, self.keyring.clone());
        let policy = RetryPolicy::default().base_delay(Duration::from_millis(5));
        let cache = self.caches.get(namespace, CacheConfig::default);
        let cached = CachedStore::new(RetryStore::new(encrypted, policy), cache);
        Ok(Arc::new(TracedStore::new(cached)))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

async fn stacked_redis() -> Option<StackedRedis> {
    let url = service_url(Service::Redis).await?;
    let root = RedisStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Redis server: {e}"));
    let keyring = Keyring::new(1, Keyring::generate_key().ok()?);
    Some(StackedRedis {
        root,
        keyring,
        caches: Caches::default(),
    })
}

mod cache_memory {
    use super::*;
    store_conformance::conformance_tests!(memory(Layer::Cache));
    store_session::session_tests!(memory(Layer::Cache));
}

mod retry_memory {
    use super::*;
    store_conformance::conformance_tests!(memory(Layer::Retry));
}

mod traced_memory {
    use super::*;
    store_conformance::conformance_tests!(memory(Layer::Traced));
}

mod stacked_redis {
    use super::*;
    store_conformance::conformance_tests!(stacked_redis());
    store_session::session_tests!(stacked_redis());
}
