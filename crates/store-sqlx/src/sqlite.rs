//! The SQLite dialect of [`SqlStore`](crate::SqlStore): its SQL text,
//! expiry as integer milliseconds, result codes and pool options (WAL, busy
//! timeout, one connection for an in-memory database).

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use store_core::{ErrorKind, Expiry};

use crate::codec::Codec;
use crate::config::{SqlConfig, quote};
use crate::error::CodeMeaning;
use crate::query::{Dialect, Setup, Sql};
use crate::{SQLITE, SQLITE_SCHEMES};

impl Dialect for Sqlite {
    const BACKEND: &'static str = SQLITE;
    const SCHEMES: &'static [&'static str] = SQLITE_SCHEMES;
    const STORE_NAME: &'static str = "SqliteStore";
    const CONFIG_NAME: &'static str = "SqliteConfig";
    const BUSY_TIMEOUT: bool = true;
    /// `IMMEDIATE`: the transaction takes the write lock when it begins.
    const WRITER: Option<&'static str> = Some("BEGIN IMMEDIATE");
    const NAMED_SCHEMA: bool = false;
    const DEFAULT_SCHEMA: &'static str = "main";
    const RESERVED_SCHEMAS: &'static [&'static str] = &[];
    const RESERVED_TABLES: &'static [&'static str] = &["sqlite_"];
    /// The generic `SQLITE_ERROR`, which a missing table gives (among
    /// others: the table is then looked up).
    const MISSING_TABLE_CODE: &'static str = "1";
    const COLUMNS: [(&'static str, &'static str); 5] = [
        ("key", "TEXT"),
        ("value", "BLOB"),
        ("version", "INTEGER"),
        ("expires_at", "INTEGER"),
        ("owner", "TEXT"),
    ];

    /// The schema is always `main`: statements that are given it as `?1`
    /// do not use it.
    fn sql(_schema: &str, table: &str) -> Sql {
        let t = quote(table);
        // What older versions of the store kept the highest version in:
        // a one-row table updated by two triggers in every write.
        let on_insert = format!("{table}_version_on_insert");
        let on_update = format!("{table}_version_on_update");
        let versions = quote(&format!("{table}_versions"));
        Sql {
            shown: table.to_owned(),
            param: |n| format!("?{n}"),
            purge_lock: "",
            scan_filter: Some("typeof(key) = 'text'"),
            // One row per deleted row: 1 when it was live, else 0.
            delete_counting: |t, column, live| {
                format!("DELETE FROM {t} WHERE {column} = ?1 RETURNING {live}")
            },
            setup: Setup {
                begin: "BEGIN IMMEDIATE",
                first: Vec::new(),
                schema: None,
                create: vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     key TEXT PRIMARY KEY NOT NULL, \
                     value BLOB NOT NULL, \
                     version INTEGER NOT NULL, \
                     expires_at INTEGER, \
                     owner TEXT)"
                )],
                columns: "SELECT name, upper(type) AS type FROM pragma_table_info(?2)".to_owned(),
                // The triggers would cost every write; the versions table
                // is dropped only beside them (then it is the store's).
                // Processes of an older version still writing to the table
                // then fail instead of handing out a version twice.
                retired: Some((
                    format!(
                        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' \
                         AND tbl_name = ?2 AND name IN ('{on_insert}', '{on_update}')"
                    ),
                    vec![
                        format!("DROP TRIGGER IF EXISTS {}", quote(&on_insert)),
                        format!("DROP TRIGGER IF EXISTS {}", quote(&on_update)),
                        format!("DROP TABLE IF EXISTS {versions}"),
                    ],
                )),
                // The indexes follow (the same in Postgres and SQLite).
                rest: Vec::new(),
            },
            table_exists: "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?2"
                .to_owned(),
            table: t,
        }
    }

    fn meaning(code: &str) -> CodeMeaning {
        result_code(code)
    }

    /// A file: WAL mode, `synchronous = NORMAL`, the busy timeout and the
    /// pool size of the config. Memory: exactly one connection that lives
    /// as long as the pool, and not shared.
    fn open_pool(
        url: &str,
        config: &SqlConfig<Self>,
    ) -> impl Future<Output = Result<(SqlitePool, bool), sqlx::Error>> + Send {
        let in_memory = is_memory_url(url);
        let options = SqliteConnectOptions::from_str(url).map(|options| {
            let options = options
                .create_if_missing(true)
                .busy_timeout(config.busy_timeout);
            if in_memory {
                options
            } else {
                options
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
            }
        });
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(config.acquire_timeout)
            .test_before_acquire(config.test_before_acquire);
        let pool = if in_memory {
            // One connection keeps the database alive and serialises access.
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool.max_connections(config.max_connections)
        };
        let busy_timeout = config.busy_timeout;
        async move { Ok((open_pool(pool, options?, busy_timeout).await?, !in_memory)) }
    }
}

impl Codec for Sqlite {
    type Time = i64;

    fn time(at: Expiry) -> i64 {
        at.as_unix_millis()
    }

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    fn millis(at: i64) -> i64 {
        at
    }
}

/// Whether a SQLite URL names an in-memory database (`:memory:` or
/// `mode=memory`).
fn is_memory_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

/// Opens the pool, retrying while SQLite answers `SQLITE_BUSY` for up to
/// `busy_timeout`.
///
/// Opening a file switches it to WAL mode, which needs an exclusive lock.
/// When several processes open a new file at once, SQLite may refuse that
/// lock at once rather than through the busy handler (its deadlock
/// avoidance), so the busy timeout alone does not cover it.
async fn open_pool(
    pool: SqlitePoolOptions,
    options: SqliteConnectOptions,
    busy_timeout: Duration,
) -> std::result::Result<SqlitePool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match pool.clone().connect_with(options.clone()).await {
            Err(sqlx::Error::Database(e))
                if e.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff)
                    == Some(5)
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

/// What a SQLite extended result code means for the store.
fn result_code(code: &str) -> CodeMeaning {
    use ErrorKind::*;
    let m = CodeMeaning::new;
    let Ok(code) = code.parse::<i32>() else {
        return m(Backend, "SQLite reported an error");
    };
    match code {
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
        2067 | 1555 => return m(AlreadyExists, "the key already exists (unique constraint)"),
        _ => {}
    }
    match code & 0xff {
        5 | 6 => m(
            Unavailable,
            "the database stayed locked by another connection for the whole busy timeout",
        ),
        10 => m(Unavailable, "a disk I/O error occurred"),
        7 => m(CapacityExceeded, "SQLite ran out of memory"),
        13 => m(CapacityExceeded, "the disk or the database is full"),
        3 | 23 => m(Config, "access to the database was denied"),
        8 => m(Config, "the database is read-only"),
        14 => m(Config, "the database file cannot be opened"),
        11 | 26 => m(
            Backend,
            "the database file is corrupt or not a SQLite database",
        ),
        18 => m(InvalidInput, "a value exceeds SQLite's size limit"),
        20 => m(Encoding, "a stored value has an unexpected type"),
        _ => m(Backend, "SQLite reported an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Statements;

    #[test]
    fn memory_urls() {
        assert!(is_memory_url("sqlite::memory:"));
        assert!(is_memory_url("sqlite://:memory:"));
        assert!(is_memory_url("sqlite:file:x?mode=memory&cache=shared"));
        assert!(!is_memory_url("sqlite://data/app.db"));
        assert!(!is_memory_url("sqlite:app.db?mode=rwc"));
    }

    #[test]
    fn statements_name_the_table_and_skip_keys_that_are_not_text() {
        let sql = Statements::new::<Sqlite>("main", "sessions");
        for (statement, part) in [
            (&sql.get, "FROM \"sessions\" WHERE key = ?1"),
            (&sql.upsert, "VALUES (?1, ?2, ?5, ?3, ?4)"),
            (&sql.update_if, "AND version = ?7"),
            (&sql.scan_after, "typeof(key) = 'text'"),
        ] {
            assert!(statement.contains(part), "{statement}");
        }
    }

    #[test]
    fn result_codes_map_to_kinds() {
        assert_eq!(result_code("5").kind, ErrorKind::Unavailable);
        assert_eq!(result_code("517").kind, ErrorKind::Unavailable); // BUSY_SNAPSHOT
        assert_eq!(result_code("2067").kind, ErrorKind::AlreadyExists);
        assert_eq!(result_code("13").kind, ErrorKind::CapacityExceeded);
        assert_eq!(result_code("8").kind, ErrorKind::Config);
        assert_eq!(result_code("1").kind, ErrorKind::Backend);
        assert_eq!(result_code("x").kind, ErrorKind::Backend);
    }
}
