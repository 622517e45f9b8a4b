//! `RedisStore` on one Redis server with the scan index on
//! (`RedisConfig::scan_index`): every write also keeps the namespace's
//! index, and scans read it instead of walking the database.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{Result, Store};
use store_redis::{RedisConfig, RedisStore};

/// One connection shared by the tests of this row; each test gets its own
/// random namespace on it.
#[derive(Debug)]
pub(crate) struct RedisIndexedBackend {
    root: RedisStore,
    url: String,
}

fn config() -> RedisConfig {
    RedisConfig::default().scan_index(true)
}

impl RedisIndexedBackend {
    pub(crate) async fn provision() -> Option<Self> {
        let url = service_url(Service::Redis).await?;
        let root = RedisStore::connect_with(&url, config())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test Redis server: {e}"));
        Some(Self { root, url })
    }
}

#[async_trait::async_trait]
impl TestBackend for RedisIndexedBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = RedisStore::connect_with(&self.url, config()).await?;
        Ok(Arc::new(store.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

store_conformance::conformance_tests!(RedisIndexedBackend::provision());
store_session::session_tests!(RedisIndexedBackend::provision());
