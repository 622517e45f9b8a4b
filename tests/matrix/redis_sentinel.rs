//! `RedisStore` on the master of a Redis Sentinel group
//! (`STORE_TEST_REDIS_SENTINEL_URL`, a `redis+sentinel://` URL naming three
//! sentinels): the store finds the master through the sentinels.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{Result, Store};
use store_redis::RedisStore;

/// One connection shared by the tests of this row; each test gets its own
/// random namespace on it.
#[derive(Debug)]
pub(crate) struct RedisSentinelBackend {
    root: RedisStore,
    url: String,
}

impl RedisSentinelBackend {
    pub(crate) async fn provision() -> Option<Self> {
        let url = service_url(Service::RedisSentinel).await?;
        let root = RedisStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test Sentinel group: {e}"));
        assert!(!root.capabilities().cluster);
        Some(Self { root, url })
    }
}

#[async_trait::async_trait]
impl TestBackend for RedisSentinelBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = RedisStore::connect(&self.url).await?;
        Ok(Arc::new(store.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

store_conformance::conformance_tests!(RedisSentinelBackend::provision());
store_session::session_tests!(RedisSentinelBackend::provision());
