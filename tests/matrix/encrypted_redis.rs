//! `EncryptedStore` around `RedisStore` on one Redis server: the encryption
//! layer over a server backend, on the server's clock.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{Result, Store};
use store_layers::{EncryptedStore, Keyring};
use store_redis::RedisStore;

#[derive(Debug)]
struct EncryptedRedisBackend {
    root: RedisStore,
    url: String,
    keyring: Keyring,
}

#[async_trait::async_trait]
impl TestBackend for EncryptedRedisBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let inner = self.root.with_namespace(namespace)?;
        Ok(Arc::new(EncryptedStore::new(inner, self.keyring.clone())))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let inner = RedisStore::connect(&self.url)
            .await?
            .with_namespace(namespace)?;
        Ok(Arc::new(EncryptedStore::new(inner, self.keyring.clone())))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

async fn provision() -> Option<EncryptedRedisBackend> {
    let url = service_url(Service::Redis).await?;
    let root = RedisStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Redis server: {e}"));
    let keyring = Keyring::new(1, Keyring::generate_key().ok()?);
    Some(EncryptedRedisBackend { root, url, keyring })
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
