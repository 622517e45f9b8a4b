//! The session and token behaviours on `MemoryStore` with a manual clock.
//! The workspace matrix runs the same suite on every backend.

use std::sync::Arc;

use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_memory::{MemoryConfig, MemoryStore};

#[derive(Debug)]
struct MemoryBackend {
    root: MemoryStore,
    clock: ManualClock,
}

#[store_core::async_trait]
impl TestBackend for MemoryBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

mod memory {
    use super::*;

    store_session::session_tests!(async {
        let clock = ManualClock::starting_now();
        let root = MemoryStore::with_config(MemoryConfig::default().clock(clock.clone())).ok()?;
        Some(MemoryBackend { root, clock })
    });
}
