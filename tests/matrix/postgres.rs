//! `PostgresStore` on one Postgres server (`STORE_TEST_POSTGRES_URL`, or a
//! container when Docker answers), with a manual clock: the store's clock
//! decides expiry in every statement, so the suite moves time instantly.
//! Each test's namespace is a table of its own.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_sqlx::{PostgresConfig, PostgresStore};

#[derive(Debug)]
pub(crate) struct PostgresBackend {
    root: PostgresStore,
    clock: ManualClock,
}

impl PostgresBackend {
    pub(crate) async fn provision() -> Option<Self> {
        let url = service_url(Service::Postgres).await?;
        let clock = ManualClock::starting_now();
        let config = PostgresConfig::default().clock(clock.clone());
        let root = PostgresStore::connect_with(&url, config)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test Postgres server: {e}"));
        Some(Self { root, clock })
    }
}

#[async_trait::async_trait]
impl TestBackend for PostgresBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = self.root.with_table(namespace.replace('-', "_"))?;
        store.migrate().await?;
        Ok(Arc::new(store))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

store_conformance::conformance_tests!(PostgresBackend::provision());
