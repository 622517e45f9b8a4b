//! What the SQL rows share: each namespace is a set-up table of its
//! own, and a manual clock decides expiry in every statement.

use std::sync::Arc;

use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_sqlx::{Dialect, SqlConfig, SqlStore};

/// One row's backend: a root store, its manual clock, the URL that opens
/// another pool on the same data (none for a private in-memory database),
/// and whatever must live as long as the store (a temporary directory).
#[derive(Debug)]
pub(crate) struct SqlBackend<D: Dialect> {
    pub(crate) root: SqlStore<D>,
    pub(crate) url: Option<String>,
    pub(crate) clock: ManualClock,
    pub(crate) _keep: Option<tempfile::TempDir>,
}

/// A row on the test server of `service`: a root store on a manual clock,
/// and the URL that opens more pools on the same database.
pub(crate) async fn on_server<D: Dialect>(service: Service) -> Option<SqlBackend<D>> {
    let url = service_url(service).await?;
    let clock = ManualClock::starting_now();
    let config = SqlConfig::<D>::default().clock(clock.clone());
    let root = SqlStore::<D>::connect_with(&url, config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test {} server: {e}", service.name()));
    Some(SqlBackend {
        root,
        url: Some(url),
        clock,
        _keep: None,
    })
}

#[async_trait::async_trait]
impl<D: Dialect> TestBackend for SqlBackend<D> {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let store = self.root.with_namespace(namespace.replace('-', "_"))?;
        store.setup().await?;
        Ok(Arc::new(store))
    }

    async fn connect(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let Some(url) = &self.url else {
            return self.open(namespace).await;
        };
        let config = SqlConfig::default().clock(self.clock.clone());
        let store = SqlStore::<D>::connect_with(url, config)
            .await?
            .with_namespace(namespace.replace('-', "_"))?;
        store.setup().await?;
        Ok(Arc::new(store))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}
