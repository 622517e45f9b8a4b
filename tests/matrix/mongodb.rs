//! `MongoStore` on one MongoDB (or wire-compatible) server
//! (`STORE_TEST_MONGODB_URL`, or a container when Docker answers), with a
//! manual clock: the store's clock decides expiry on every read and
//! conditional write, so the suite moves time instantly. Each test's
//! namespace is a collection of its own, with the store's indexes.
//!
//! The manual clock starts a day ahead of the real one. The server's TTL
//! monitor deletes documents whose expiry is behind the server's clock; a
//! day ahead, no document of a test is ever behind it while the test runs,
//! so the monitor cannot remove an entry the suite still counts as live.

use std::sync::Arc;
use std::time::Duration;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{Clock, ManualClock, Result, Store, SystemClock};
use store_mongodb::{MongoConfig, MongoStore};

/// The database of the matrix row.
const DATABASE: &str = "store_test";

#[derive(Debug)]
pub(crate) struct MongoBackend {
    root: MongoStore,
    url: String,
    clock: ManualClock,
}

impl MongoBackend {
    async fn provision() -> Option<Self> {
        let url = service_url(Service::MongoDb).await?;
        let start = SystemClock
            .now()
            .checked_add(Duration::from_secs(24 * 3600))
            .expect("a day from now is a valid expiry");
        let clock = ManualClock::new(start);
        let config = MongoConfig::default().clock(clock.clone());
        let root = MongoStore::connect_with(&url, DATABASE, "conformance_root", config)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test MongoDB server: {e}"));
        Some(Self { root, url, clock })
    }
}

#[async_trait::async_trait]
impl TestBackend for MongoBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = self.root.with_collection(namespace)?;
        store.ensure_indexes().await?;
        Ok(Arc::new(store))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let config = MongoConfig::default().clock(self.clock.clone());
        let store = MongoStore::connect_with(&self.url, DATABASE, namespace, config).await?;
        store.ensure_indexes().await?;
        Ok(Arc::new(store))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

store_conformance::conformance_tests!(MongoBackend::provision());
store_session::session_tests!(MongoBackend::provision());
