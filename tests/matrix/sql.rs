//! What the three SQL rows share: each namespace is a migrated table of its
//! own, and a manual clock decides expiry in every statement.

use std::sync::Arc;

use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_sqlx::{PostgresConfig, PostgresStore, SqliteConfig, SqliteStore};

/// A SQL store that can open another table on its pool.
#[async_trait::async_trait]
pub(crate) trait SqlStore: Store + Sized {
    /// A store on a pool of its own, at `url`.
    async fn connect_new(url: &str, clock: ManualClock) -> Result<Self>;
    fn table_store(&self, table: String) -> Result<Self>;
    async fn create_table(&self) -> Result<()>;
}

#[async_trait::async_trait]
impl SqlStore for PostgresStore {
    async fn connect_new(url: &str, clock: ManualClock) -> Result<Self> {
        PostgresStore::connect_with(url, PostgresConfig::default().clock(clock)).await
    }
    fn table_store(&self, table: String) -> Result<Self> {
        self.with_table(table)
    }
    async fn create_table(&self) -> Result<()> {
        self.migrate().await
    }
}

#[async_trait::async_trait]
impl SqlStore for SqliteStore {
    async fn connect_new(url: &str, clock: ManualClock) -> Result<Self> {
        SqliteStore::connect_with(url, SqliteConfig::default().clock(clock)).await
    }
    fn table_store(&self, table: String) -> Result<Self> {
        self.with_table(table)
    }
    async fn create_table(&self) -> Result<()> {
        self.migrate().await
    }
}

/// One row's backend: a root store, its manual clock, the URL that opens
/// another pool on the same data (none for a private in-memory database),
/// and whatever must live as long as the store (a temporary directory).
#[derive(Debug)]
pub(crate) struct SqlBackend<S> {
    pub(crate) root: S,
    pub(crate) url: Option<String>,
    pub(crate) clock: ManualClock,
    pub(crate) _keep: Option<tempfile::TempDir>,
}

#[async_trait::async_trait]
impl<S: SqlStore> TestBackend for SqlBackend<S> {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = self.root.table_store(namespace.replace('-', "_"))?;
        store.create_table().await?;
        Ok(Arc::new(store))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let Some(url) = &self.url else {
            return self.open(namespace).await;
        };
        let store = S::connect_new(url, self.clock.clone())
            .await?
            .table_store(namespace.replace('-', "_"))?;
        store.create_table().await?;
        Ok(Arc::new(store))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}
