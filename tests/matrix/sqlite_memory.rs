//! `SqliteStore` on an in-memory database (one connection), with a manual
//! clock. Each namespace is a table.

use store_core::ManualClock;
use store_sqlx::{SqliteConfig, SqliteStore, sqlx};

use crate::sql::SqlBackend;

async fn provision() -> Option<SqlBackend<sqlx::Sqlite>> {
    let clock = ManualClock::starting_now();
    let config = SqliteConfig::default().clock(clock.clone());
    let root = SqliteStore::connect_with("sqlite::memory:", config)
        .await
        .unwrap_or_else(|e| panic!("cannot open an in-memory SQLite database: {e}"));
    Some(SqlBackend {
        root,
        url: None,
        clock,
        _keep: None,
    })
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
