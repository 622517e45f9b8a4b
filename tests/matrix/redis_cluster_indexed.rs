//! `RedisStore` on a 3-master Redis Cluster with the scan index on
//! (`RedisConfig::scan_index`): 16 hash-slot buckets, each with its own
//! index sets in its slot.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{Result, Store};
use store_redis::{RedisConfig, RedisStore};

/// One cluster connection shared by the tests of this row; each test gets
/// its own random namespace on it.
#[derive(Debug)]
pub(crate) struct RedisClusterIndexedBackend {
    root: RedisStore,
    urls: String,
}

fn config() -> RedisConfig {
    RedisConfig::default().scan_index(true)
}

impl RedisClusterIndexedBackend {
    pub(crate) async fn provision() -> Option<Self> {
        let urls = service_url(Service::RedisCluster).await?;
        let root = RedisStore::connect_cluster_with(urls.split(',').map(str::trim), config())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test Redis Cluster: {e}"));
        assert!(root.buckets() > 1, "a cluster store spreads over buckets");
        Some(Self { root, urls })
    }
}

#[async_trait::async_trait]
impl TestBackend for RedisClusterIndexedBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store =
            RedisStore::connect_cluster_with(self.urls.split(',').map(str::trim), config()).await?;
        Ok(Arc::new(store.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

store_conformance::conformance_tests!(RedisClusterIndexedBackend::provision());
store_session::session_tests!(RedisClusterIndexedBackend::provision());
