//! `SqliteStore` on a database file (WAL mode, a pool of connections), one
//! file per test, with a manual clock. Each namespace is a table.

use std::sync::Arc;

use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_sqlx::{SqliteConfig, SqliteStore};

#[derive(Debug)]
struct SqliteFileBackend {
    root: SqliteStore,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl SqliteFileBackend {
    async fn provision() -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("matrix.db").display());
        let clock = ManualClock::starting_now();
        let config = SqliteConfig::default().clock(clock.clone());
        let root = SqliteStore::connect_with(&url, config)
            .await
            .unwrap_or_else(|e| panic!("cannot open the test SQLite file: {e}"));
        Some(Self {
            root,
            clock,
            _dir: dir,
        })
    }
}

#[async_trait::async_trait]
impl TestBackend for SqliteFileBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = self.root.with_table(namespace.replace('-', "_"))?;
        store.migrate().await?;
        Ok(Arc::new(store))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

store_conformance::conformance_tests!(SqliteFileBackend::provision());
