//! `MemoryStore` with a manual clock: the suite moves time instantly.

use std::sync::Arc;

use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_memory::{MemoryConfig, MemoryStore};

/// One in-memory "server" per test, with its own manual clock.
#[derive(Debug)]
struct MemoryBackend {
    root: MemoryStore,
    clock: ManualClock,
}

impl MemoryBackend {
    fn new() -> Self {
        let clock = ManualClock::starting_now();
        let root = MemoryStore::with_config(MemoryConfig::default().clock(clock.clone()))
            .expect("valid memory config");
        Self { root, clock }
    }
}

#[async_trait::async_trait]
impl TestBackend for MemoryBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

store_conformance::conformance_tests!(async { Some(MemoryBackend::new()) });
store_session::session_tests!(async { Some(MemoryBackend::new()) });
