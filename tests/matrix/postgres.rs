//! `PostgresStore` on one Postgres server (`STORE_TEST_POSTGRES_URL`, or a
//! container when Docker answers), with a manual clock: the store's clock
//! decides expiry in every statement, so the suite moves time instantly.
//! Each test's namespace is a table of its own.

use store_conformance::provision::{Service, service_url};
use store_core::ManualClock;
use store_sqlx::{PostgresConfig, PostgresStore, sqlx};

use crate::sql::SqlBackend;

async fn provision() -> Option<SqlBackend<sqlx::Postgres>> {
    let url = service_url(Service::Postgres).await?;
    let clock = ManualClock::starting_now();
    let config = PostgresConfig::default().clock(clock.clone());
    let root = PostgresStore::connect_with(&url, config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Postgres server: {e}"));
    Some(SqlBackend {
        root,
        url: Some(url),
        clock,
        _keep: None,
    })
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
