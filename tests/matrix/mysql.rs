//! `MySqlStore` on one MySQL or MariaDB server (`STORE_TEST_MYSQL_URL`),
//! with a manual clock: the store's clock decides expiry in every
//! statement, so the suite moves time instantly. Each test's namespace is
//! a table of its own.

use store_conformance::provision::{Service, service_url};
use store_core::ManualClock;
use store_sqlx::{MySqlConfig, MySqlStore, sqlx};

use crate::sql::SqlBackend;

async fn provision() -> Option<SqlBackend<sqlx::MySql>> {
    let url = service_url(Service::MySql).await?;
    let clock = ManualClock::starting_now();
    let config = MySqlConfig::default().clock(clock.clone());
    let root = MySqlStore::connect_with(&url, config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test MySQL server: {e}"));
    Some(SqlBackend {
        root,
        url: Some(url),
        clock,
        _keep: None,
    })
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
