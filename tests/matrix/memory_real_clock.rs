//! `MemoryStore` on the system clock: the suite's real-time path (sleeps and
//! sub-second expiries), as server backends whose clock decides expiry run it.

use std::sync::Arc;

use store_conformance::{TestBackend, TestClock};
use store_core::{Result, Store};
use store_memory::MemoryStore;

/// One in-memory "server" per test, on the system clock.
#[derive(Debug)]
struct MemoryRealClockBackend {
    root: MemoryStore,
}

#[async_trait::async_trait]
impl TestBackend for MemoryRealClockBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

async fn provision() -> Option<MemoryRealClockBackend> {
    Some(MemoryRealClockBackend {
        root: MemoryStore::new(),
    })
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
