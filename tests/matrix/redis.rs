//! `RedisStore` on one Redis server (`STORE_TEST_REDIS_URL`, or a container
//! when Docker answers): expiry on the server's clock.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{Result, Store};
use store_redis::{RedisConfig, RedisStore};

/// One connection shared by the tests of this row; each test gets its own
/// random namespace on it.
#[derive(Debug)]
pub(crate) struct RedisBackend {
    root: RedisStore,
    url: String,
    config: RedisConfig,
}

impl RedisBackend {
    pub(crate) async fn provision() -> Option<Self> {
        Self::provision_with(RedisConfig::default()).await
    }

    /// The row's backend with stores made with `config` (the
    /// `redis_indexed` row's turns the scan index on).
    pub(crate) async fn provision_with(config: RedisConfig) -> Option<Self> {
        let url = service_url(Service::Redis).await?;
        let root = RedisStore::connect_with(&url, config.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test Redis server: {e}"));
        Some(Self { root, url, config })
    }
}

#[async_trait::async_trait]
impl TestBackend for RedisBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = RedisStore::connect_with(&self.url, self.config.clone()).await?;
        Ok(Arc::new(store.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

store_conformance::conformance_tests!(RedisBackend::provision());
store_session::session_tests!(RedisBackend::provision());
