//! `PostgresStore` on one Postgres server (`STORE_TEST_POSTGRES_URL`, or a
//! container when Docker answers), with a manual clock: the store's clock
//! decides expiry in every statement, so the suite moves time instantly.
//! Each test's namespace is a table of its own.

use store_conformance::provision::Service;
use store_sqlx::sqlx;

use crate::sql::{SqlBackend, on_server};

async fn provision() -> Option<SqlBackend<sqlx::Postgres>> {
    on_server(Service::Postgres).await
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
