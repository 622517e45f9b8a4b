//! `EncryptedStore` around `MemoryStore`, with a manual clock: the
//! encryption layer keeps every rule of the contract.

use std::sync::Arc;

use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_layers::{EncryptedStore, Keyring};
use store_memory::{MemoryConfig, MemoryStore};

#[derive(Debug)]
struct EncryptedMemoryBackend {
    root: MemoryStore,
    clock: ManualClock,
    keyring: Keyring,
}

#[async_trait::async_trait]
impl TestBackend for EncryptedMemoryBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let inner = self.root.with_namespace(namespace)?;
        Ok(Arc::new(EncryptedStore::new(inner, self.keyring.clone())))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

async fn provision() -> Option<EncryptedMemoryBackend> {
    let clock = ManualClock::starting_now();
    let root = MemoryStore::with_config(MemoryConfig::default().clock(clock.clone())).ok()?;
    let keyring = Keyring::new(1, Keyring::generate_key().ok()?);
    Some(EncryptedMemoryBackend {
        root,
        clock,
        keyring,
    })
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
