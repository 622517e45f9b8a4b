//! `SqliteStore` on an in-memory database (one connection), with a manual
//! clock. Each namespace is a table.

use std::sync::Arc;

use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_sqlx::{SqliteConfig, SqliteStore};

#[derive(Debug)]
struct SqliteMemoryBackend {
    root: SqliteStore,
    clock: ManualClock,
}

impl SqliteMemoryBackend {
    async fn provision() -> Option<Self> {
        let clock = ManualClock::starting_now();
        let config = SqliteConfig::default().clock(clock.clone());
        let root = SqliteStore::connect_with("sqlite::memory:", config)
            .await
            .unwrap_or_else(|e| panic!("cannot open an in-memory SQLite database: {e}"));
        Some(Self { root, clock })
    }
}

#[async_trait::async_trait]
impl TestBackend for SqliteMemoryBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = self.root.with_table(namespace.replace('-', "_"))?;
        store.migrate().await?;
        Ok(Arc::new(store))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

store_conformance::conformance_tests!(SqliteMemoryBackend::provision());
