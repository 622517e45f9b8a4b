//! The MySQL and MariaDB dialect of [`SqlStore`](crate::SqlStore): its SQL
//! text (no `RETURNING`, no `ON CONFLICT`, no partial indexes), expiry as
//! integer milliseconds, error numbers and pool options (ANSI quotes,
//! `READ COMMITTED`).

use std::future::Future;

use sqlx::mysql::{MySqlDatabaseError, MySqlPool, MySqlPoolOptions};
use sqlx::{Executor, MySql};
use store_core::{ErrorKind, Expiry, MAX_KEY_LEN, MAX_OWNER_LEN};

use crate::codec::Codec;
use crate::config::{SqlConfig, quote};
use crate::error::CodeMeaning;
use crate::query::{Dialect, Setup, Sql, Statements};
use crate::{MYSQL, MYSQL_SCHEMES};

/// Keys and owners come back as text: the columns are binary strings, so
/// that they compare byte for byte. (The alias hides the column from
/// `ORDER BY`, which names the table's column to keep byte order.)
const KEY: &str = "CAST(\"key\" AS CHAR CHARACTER SET utf8mb4) AS \"key\"";
const OWNER: &str = "CAST(owner AS CHAR CHARACTER SET utf8mb4) AS owner";

/// Run on every new connection: double quotes quote names (as in the
/// shared statements), and `READ COMMITTED`, so that writes take no gap
/// locks (which make concurrent inserts of new keys deadlock).
const SESSION: [&str; 2] = [
    "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
];

impl Dialect for MySql {
    const BACKEND: &'static str = MYSQL;
    const SCHEMES: &'static [&'static str] = MYSQL_SCHEMES;
    const STORE_NAME: &'static str = "MySqlStore";
    const CONFIG_NAME: &'static str = "MySqlConfig";
    /// The table lives in the URL's database.
    const NAMED_SCHEMA: bool = false;
    const DEFAULT_SCHEMA: &'static str = "";
    const RESERVED_SCHEMAS: &'static [&'static str] = &[];
    const RESERVED_TABLES: &'static [&'static str] = &[];
    /// `ER_NO_SUCH_TABLE`.
    const MISSING_TABLE_CODE: &'static str = "1146";
    const COLUMNS: [(&'static str, &'static str); 5] = [
        ("key", "varbinary"),
        ("value", "longblob"),
        ("version", "bigint"),
        ("expires_at", "bigint"),
        ("owner", "varbinary"),
    ];
    const RETURNING: bool = false;
    /// `ER_LOCK_DEADLOCK`: the server rolled the statement back.
    const DEADLOCK_CODE: Option<&'static str> = Some("1213");
    /// `SET value, expires_at, owner, version WHERE key … now … version`.
    const UPDATE_ORDER: Option<&'static [usize]> = Some(&[1, 2, 3, 4, 0, 5, 6]);
    /// `SET expires_at WHERE key … now`.
    const TOUCH_ORDER: Option<&'static [usize]> = Some(&[1, 0, 2]);

    fn sql(_schema: &str, table: &str) -> Sql {
        let t = quote(table);
        Sql {
            shown: table.to_owned(),
            param: |_| "?".to_owned(),
            purge_lock: "",
            scan_filter: None,
            delete_counting: |t, column, live| {
                format!("DELETE FROM {t} WHERE {column} = ? AND {live}")
            },
            setup: Setup {
                begin: "BEGIN",
                first: Vec::new(),
                schema: None,
                // One statement, with its indexes: concurrent callers wait
                // for each other on the table's metadata lock.
                create: vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     \"key\" VARBINARY({MAX_KEY_LEN}) NOT NULL, \
                     value LONGBLOB NOT NULL, \
                     version BIGINT NOT NULL, \
                     expires_at BIGINT NULL, \
                     owner VARBINARY({MAX_OWNER_LEN}) NULL, \
                     PRIMARY KEY (\"key\"), \
                     INDEX expires_at_idx (expires_at), \
                     INDEX owner_idx (owner, \"key\")) ENGINE = InnoDB"
                )],
                // `?` stands for the schema, which is the URL's database.
                columns: "SELECT column_name AS name, data_type AS type \
                          FROM information_schema.columns \
                          WHERE ? IS NOT NULL AND table_schema = DATABASE() AND table_name = ?"
                    .to_owned(),
                retired: None,
                rest: Vec::new(),
            },
            table_exists: "SELECT count(*) FROM information_schema.tables \
                           WHERE ? IS NOT NULL AND table_schema = DATABASE() AND table_name = ?"
                .to_owned(),
            table: t,
        }
    }

    /// MySQL's own statements: each write reports its outcome through the
    /// rows it matched (sqlx asks for matched rather than changed rows),
    /// and `Create` a live entry it left alone through `LAST_INSERT_ID`.
    /// Parameters are plain `?`, bound in the order they appear: the
    /// store's order, except in the `UPDATE`s
    /// ([`UPDATE_ORDER`](Dialect::UPDATE_ORDER),
    /// [`TOUCH_ORDER`](Dialect::TOUCH_ORDER)).
    fn statements(schema: &str, table: &str) -> Statements {
        let sql = Self::sql(schema, table);
        let t = &sql.table;
        let live = "(expires_at IS NULL OR expires_at > ?)";
        let entry = format!("value, version, expires_at, {OWNER}");
        // The columns in the order of the store's parameters.
        let insert = format!(
            "INSERT INTO {t} (\"key\", value, expires_at, owner, version) VALUES (?, ?, ?, ?, ?)"
        );
        let update = |condition: &str| {
            format!(
                "UPDATE {t} SET value = ?, expires_at = ?, owner = ?, version = ? \
                 WHERE \"key\" = ? AND {live}{condition}"
            )
        };
        let scan = |filter: &str| {
            format!("SELECT {KEY}, {entry} FROM {t}{filter} ORDER BY {t}.\"key\" LIMIT ?")
        };
        Statements {
            get: format!("SELECT {entry} FROM {t} WHERE \"key\" = ? AND {live}"),
            live_version: format!("SELECT version FROM {t} WHERE \"key\" = ? AND {live}"),
            upsert: format!(
                "{insert} ON DUPLICATE KEY UPDATE value = VALUES(value), \
                 version = VALUES(version), expires_at = VALUES(expires_at), \
                 owner = VALUES(owner)"
            ),
            // A live entry keeps everything and sets `LAST_INSERT_ID` to
            // 1, which the server sends back with the statement's result
            // (the rows matched cannot tell: 1 for a new row and for a live
            // one left alone); an expired one is replaced. `version` is
            // assigned first, while `expires_at` is still the old one; the
            // later columns follow it (`version = VALUES(version)` means
            // "replaced": the new version is random, so the live entry's
            // equals it with probability 2^-64).
            create_entry: format!(
                "{insert} ON DUPLICATE KEY UPDATE \
                 version = IF(expires_at IS NULL OR expires_at > ?, \
                 IF(LAST_INSERT_ID(1), version, version), VALUES(version)), \
                 value = IF(version = VALUES(version), VALUES(value), value), \
                 owner = IF(version = VALUES(version), VALUES(owner), owner), \
                 expires_at = IF(version = VALUES(version), VALUES(expires_at), expires_at)"
            ),
            update: update(""),
            update_if: update(" AND version = ?"),
            delete: (sql.delete_counting)(t, "\"key\"", live),
            delete_if: format!("DELETE FROM {t} WHERE \"key\" = ? AND {live} AND version = ?"),
            touch: format!("UPDATE {t} SET expires_at = ? WHERE \"key\" = ? AND {live}"),
            purge: format!("DELETE FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"),
            list_owner: format!(
                "SELECT {KEY}, {entry} FROM {t} WHERE owner = ? AND {live} ORDER BY {t}.\"key\""
            ),
            delete_owner: (sql.delete_counting)(t, "owner", live),
            scan_first: scan(""),
            scan_after: scan(" WHERE \"key\" > ?"),
            dialect: sql,
        }
    }

    fn meaning(code: &str) -> CodeMeaning {
        error_number(code)
    }

    /// The server's error number (the SQLSTATE is shared by many errors:
    /// `23000` is a duplicate key and a foreign key alike).
    fn error_code(db: &dyn sqlx::error::DatabaseError) -> String {
        db.try_downcast_ref::<MySqlDatabaseError>()
            .map_or_else(String::new, |e| e.number().to_string())
    }

    fn open_pool(
        url: &str,
        config: &SqlConfig<Self>,
    ) -> impl Future<Output = Result<(MySqlPool, bool), sqlx::Error>> + Send {
        // sqlx knows MariaDB URLs as `mysql://`.
        let url = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                format!("mysql://{rest}")
            }
            _ => url.to_owned(),
        };
        let options = MySqlPoolOptions::new()
            .max_connections(config.max_connections)
            .test_before_acquire(config.test_before_acquire)
            .acquire_timeout(config.acquire_timeout)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    for statement in SESSION {
                        conn.execute(statement).await?;
                    }
                    Ok(())
                })
            });
        async move { Ok((options.connect(&url).await?, true)) }
    }
}

impl Codec for MySql {
    type Time = i64;

    fn time(at: Expiry) -> i64 {
        at.as_unix_millis()
    }

    fn millis(at: i64) -> i64 {
        at
    }

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    fn last_insert_id(done: &Self::QueryResult) -> u64 {
        done.last_insert_id()
    }
}

/// What a MySQL or MariaDB error number means for the store.
fn error_number(code: &str) -> CodeMeaning {
    use ErrorKind::*;
    let m = CodeMeaning::new;
    match code {
        "1062" => m(AlreadyExists, "the key already exists (duplicate entry)"),
        "1213" => m(
            Unavailable,
            "deadlock, still after the statement was run again; the call may be retried",
        ),
        "1205" => m(Unavailable, "a row lock was held elsewhere too long"),
        "1040" => m(Unavailable, "the database server has too many connections"),
        "1053" | "1927" => m(
            Unavailable,
            "the database server is shutting down or ended the connection",
        ),
        "1290" | "1792" | "1836" => m(
            Unavailable,
            "the server is read-only (a replica, or a failover in progress)",
        ),
        "1114" => m(CapacityExceeded, "the table is full"),
        "1021" => m(CapacityExceeded, "the database server's disk is full"),
        "1037" | "1041" => m(CapacityExceeded, "the database server is out of memory"),
        "1146" => m(Config, "the table does not exist"),
        "1049" => m(Config, "the database does not exist"),
        "1054" => m(
            Config,
            "the table lacks a store column (created by setup()?)",
        ),
        "1044" | "1045" | "1698" => m(Config, "the database rejected the credentials"),
        "1142" | "1143" => m(
            Config,
            "the database user lacks a privilege this store needs",
        ),
        "1406" | "1153" | "1301" => m(InvalidInput, "a value exceeds a database limit"),
        "1366" | "1300" => m(Encoding, "the database rejected a value's encoding"),
        _ => m(Backend, "the database reported an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_numbers_map_to_kinds() {
        assert_eq!(error_number("1062").kind, ErrorKind::AlreadyExists);
        assert_eq!(error_number("1213").kind, ErrorKind::Unavailable);
        assert_eq!(error_number("1205").kind, ErrorKind::Unavailable);
        assert_eq!(error_number("1146").kind, ErrorKind::Config);
        assert_eq!(error_number("1045").kind, ErrorKind::Config);
        assert_eq!(error_number("1406").kind, ErrorKind::InvalidInput);
        assert_eq!(error_number("9999").kind, ErrorKind::Backend);
    }

    #[test]
    fn statements_quote_names_and_bind_in_order() {
        let sql = MySql::statements("", "sessions");
        assert!(
            sql.get.contains("FROM \"sessions\" WHERE \"key\" = ?"),
            "{}",
            sql.get
        );
        for statement in [&sql.upsert, &sql.create_entry, &sql.update, &sql.update_if] {
            // The version is a parameter: nothing shared between writers.
            assert!(!statement.contains("UUID_SHORT"), "{statement}");
            assert!(!statement.contains("RETURNING"), "{statement}");
        }
        for statement in [&sql.upsert, &sql.create_entry] {
            assert!(
                statement.contains(
                    "(\"key\", value, expires_at, owner, version) VALUES (?, ?, ?, ?, ?)"
                ),
                "{statement}"
            );
        }
        // Bound in the order they appear: value, expiry, owner, new
        // version, key, now, expected version.
        let order = [
            "value = ?",
            "expires_at = ?",
            "owner = ?",
            "version = ?",
            "\"key\" = ?",
            "> ?",
            "AND version = ?",
        ];
        let mut from = 0;
        for p in order {
            let at = sql.update_if[from..]
                .find(p)
                .unwrap_or_else(|| panic!("{p}: {}", sql.update_if));
            from += at + p.len();
        }
        assert_eq!(MySql::UPDATE_ORDER, Some(&[1, 2, 3, 4, 0, 5, 6][..]));
    }
}
