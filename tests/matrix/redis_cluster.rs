//! `RedisStore` on a 3-master Redis Cluster (`STORE_TEST_REDIS_CLUSTER_URLS`,
//! comma-separated node URLs): entries spread over 16 hash-slot buckets.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{Result, Store};
use store_redis::{RedisConfig, RedisStore};

/// One cluster connection shared by the tests of this row; each test gets
/// its own random namespace on it.
#[derive(Debug)]
pub(crate) struct RedisClusterBackend {
    root: RedisStore,
    urls: String,
    config: RedisConfig,
}

impl RedisClusterBackend {
    pub(crate) async fn provision() -> Option<Self> {
        Self::provision_with(RedisConfig::default()).await
    }

    /// The row's backend with stores made with `config` (the
    /// `redis_cluster_indexed` row's turns the scan index on).
    pub(crate) async fn provision_with(config: RedisConfig) -> Option<Self> {
        let urls = service_url(Service::RedisCluster).await?;
        let root = RedisStore::connect_cluster_with(urls.split(',').map(str::trim), config.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test Redis Cluster: {e}"));
        assert!(root.buckets() > 1, "a cluster store spreads over buckets");
        Some(Self { root, urls, config })
    }
}

#[async_trait::async_trait]
impl TestBackend for RedisClusterBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let nodes = self.urls.split(',').map(str::trim);
        let store = RedisStore::connect_cluster_with(nodes, self.config.clone()).await?;
        Ok(Arc::new(store.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

store_conformance::conformance_tests!(RedisClusterBackend::provision());
store_session::session_tests!(RedisClusterBackend::provision());
