//! `SqliteStore` on a database file (WAL mode, a pool of connections), one
//! file per test, with a manual clock. Each namespace is a table.

use store_core::ManualClock;
use store_sqlx::{SqliteConfig, SqliteStore, sqlx};

use crate::sql::SqlBackend;

async fn provision() -> Option<SqlBackend<sqlx::Sqlite>> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("matrix.db").display());
    let clock = ManualClock::starting_now();
    let config = SqliteConfig::default().clock(clock.clone());
    let root = SqliteStore::connect_with(&url, config)
        .await
        .unwrap_or_else(|e| panic!("cannot open the test SQLite file: {e}"));
    Some(SqlBackend {
        root,
        url: Some(url),
        clock,
        _keep: Some(dir),
    })
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
