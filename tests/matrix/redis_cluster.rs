//! `RedisStore` on a 3-master Redis Cluster (`STORE_TEST_REDIS_CLUSTER_URLS`,
//! comma-separated node URLs): entries spread over 16 hash-slot buckets.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{Result, Store};
use store_redis::RedisStore;

/// One cluster connection shared by the tests of this row; each test gets
/// its own random namespace on it.
#[derive(Debug)]
pub(crate) struct RedisClusterBackend {
    root: RedisStore,
    urls: String,
}

impl RedisClusterBackend {
    pub(crate) async fn provision() -> Option<Self> {
        let urls = service_url(Service::RedisCluster).await?;
        let root = RedisStore::connect_cluster(urls.split(',').map(str::trim))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test Redis Cluster: {e}"));
        assert!(root.buckets() > 1, "a cluster store spreads over buckets");
        Some(Self { root, urls })
    }
}

#[async_trait::async_trait]
impl TestBackend for RedisClusterBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = RedisStore::connect_cluster(self.urls.split(',').map(str::trim)).await?;
        Ok(Arc::new(store.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

store_conformance::conformance_tests!(RedisClusterBackend::provision());
store_session::session_tests!(RedisClusterBackend::provision());
