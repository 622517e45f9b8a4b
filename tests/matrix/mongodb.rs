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
    /// The server's URL with [`DATABASE`] as its path.
    url: String,
    clock: ManualClock,
}

/// `url` with its path naming `database`: the database a store opens.
fn in_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path.find('?').map_or("", |i| &path[i..]);
    format!("{scheme}://{authority}/{database}{query}")
}

impl MongoBackend {
    async fn provision() -> Option<Self> {
        let url = in_database(&service_url(Service::MongoDb).await?, DATABASE);
        let start = SystemClock
            .now()
            .checked_add(Duration::from_secs(24 * 3600))
            .expect("a day from now is a valid expiry");
        let clock = ManualClock::new(start);
        let config = MongoConfig::default()
            .namespace("conformance_root")
            .clock(clock.clone());
        let root = MongoStore::connect_with(&url, config)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test MongoDB server: {e}"));
        Some(Self { root, url, clock })
    }
}

#[async_trait::async_trait]
impl TestBackend for MongoBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = self.root.with_namespace(namespace)?;
        store.setup().await?;
        Ok(Arc::new(store))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let config = MongoConfig::default()
            .namespace(namespace)
            .clock(self.clock.clone());
        let store = MongoStore::connect_with(&self.url, config).await?;
        store.setup().await?;
        Ok(Arc::new(store))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

store_conformance::conformance_tests!(MongoBackend::provision());
store_session::session_tests!(MongoBackend::provision());
