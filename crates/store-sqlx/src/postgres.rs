//! The Postgres dialect of [`SqlStore`](crate::SqlStore): its SQL text,
//! expiry as `timestamptz`, SQLSTATEs and pool options.

use std::future::Future;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArgumentBuffer, PgPool, PgPoolOptions, PgTypeInfo, PgValueFormat, PgValueRef, types::Oid,
};
use sqlx::{Decode, Encode, Postgres, Type};
use store_core::{ErrorKind, Expiry, is_secret_param};

use crate::codec::Codec;
use crate::config::{DEFAULT_SCHEMA, SqlConfig, quote};
use crate::error::CodeMeaning;
use crate::query::{Dialect, Setup, Sql};
use crate::{POSTGRES, POSTGRES_SCHEMES};

/// The advisory lock every `setup()` takes, whatever the table: the bytes
/// of `"storesql"`.
const SETUP_LOCK: i64 = i64::from_be_bytes(*b"storesql");

impl Dialect for Postgres {
    const BACKEND: &'static str = POSTGRES;
    const SCHEMES: &'static [&'static str] = POSTGRES_SCHEMES;
    const STORE_NAME: &'static str = "PostgresStore";
    const CONFIG_NAME: &'static str = "PostgresConfig";
    const NAMED_SCHEMA: bool = true;
    const DEFAULT_SCHEMA: &'static str = DEFAULT_SCHEMA;
    const RESERVED_SCHEMAS: &'static [&'static str] = &["pg_"];
    const RESERVED_TABLES: &'static [&'static str] = &[];
    const MISSING_TABLE_CODE: &'static str = "42P01";
    const COLUMNS: [(&'static str, &'static str); 5] = [
        ("key", "text"),
        ("value", "bytea"),
        ("version", "bigint"),
        ("expires_at", "timestamp with time zone"),
        ("owner", "text"),
    ];

    fn sql(schema: &str, table: &str) -> Sql {
        let s = quote(schema);
        let t = format!("{s}.{}", quote(table));
        Sql {
            shown: format!("{schema}.{table}"),
            param: |n| format!("${n}"),
            purge_lock: " FOR UPDATE SKIP LOCKED",
            scan_filter: None,
            // One row: the count of the live rows among those deleted.
            delete_counting: |t, column, live| {
                format!(
                    "WITH gone AS (DELETE FROM {t} WHERE {column} = $1 RETURNING expires_at) \
                     SELECT count(*) FROM gone WHERE {live}"
                )
            },
            setup: Setup {
                begin: "BEGIN",
                first: vec![format!("SELECT pg_advisory_xact_lock({SETUP_LOCK})")],
                // Looked up first: `CREATE SCHEMA IF NOT EXISTS` needs the
                // privilege to create even when the schema exists.
                schema: Some((
                    "SELECT count(*) FROM pg_namespace WHERE nspname = $1".to_owned(),
                    format!("CREATE SCHEMA {s}"),
                )),
                create: vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     key text COLLATE \"C\" PRIMARY KEY, \
                     value bytea NOT NULL, \
                     version bigint NOT NULL, \
                     expires_at timestamptz, \
                     owner text COLLATE \"C\")"
                )],
                columns: "SELECT a.attname::text AS name, \
                          format_type(a.atttypid, a.atttypmod) AS type \
                          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                          JOIN pg_namespace n ON n.oid = c.relnamespace \
                          WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 \
                          AND NOT a.attisdropped"
                    .to_owned(),
                // The sequence `<table>_version_seq` that older versions of
                // the store took versions from is left alone: their
                // processes may still be writing to the table.
                retired: None,
                // The indexes follow (the same in Postgres and SQLite).
                rest: Vec::new(),
            },
            table_exists: "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2"
                .to_owned(),
            table: t,
        }
    }

    fn meaning(code: &str) -> CodeMeaning {
        sqlstate(code)
    }

    fn refuse_url(url: &str) -> Option<String> {
        ignored_secret_param(url).map(|name| {
            format!(
                "sqlx does not support the connection parameter `{name}` and would log its \
                 value; remove it from the URL"
            )
        })
    }

    fn open_pool(
        url: &str,
        config: &SqlConfig<Self>,
    ) -> impl Future<Output = Result<(PgPool, bool), sqlx::Error>> + Send {
        let options = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .test_before_acquire(config.test_before_acquire)
            .acquire_timeout(config.acquire_timeout);
        let url = url.to_owned();
        async move { Ok((options.connect(&url).await?, true)) }
    }
}

impl Codec for Postgres {
    type Time = Timestamp;

    fn time(at: Expiry) -> Timestamp {
        Timestamp(at.as_unix_millis())
    }

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    fn millis(at: Timestamp) -> i64 {
        at.0
    }
}

/// Milliseconds between the Unix epoch and Postgres' epoch, 2000-01-01 UTC.
const PG_EPOCH_MILLIS: i64 = 946_684_800_000;

/// A `timestamptz` as milliseconds since the Unix epoch, in Postgres'
/// binary format (an `i64` of microseconds since 2000-01-01 UTC). Decoding
/// never fails on a valid column: `±infinity` and timestamps outside the
/// [`Expiry`] range come out as milliseconds that [`Expiry`] then rejects,
/// so such a row is an `Encoding` error rather than a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(i64);

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        // The OID of `timestamptz`, fixed in every Postgres.
        PgTypeInfo::with_oid(Oid(1184))
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let micros = self
            .0
            .checked_sub(PG_EPOCH_MILLIS)
            .and_then(|ms| ms.checked_mul(1000))
            .ok_or("timestamp out of range")?;
        <i64 as Encode<'_, Postgres>>::encode(micros, buf)
    }
}

impl Decode<'_, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        if value.format() != PgValueFormat::Binary {
            return Err("timestamptz in text format".into());
        }
        let micros = <i64 as Decode<'_, Postgres>>::decode(value)?;
        Ok(Self(
            micros.div_euclid(1000).saturating_add(PG_EPOCH_MILLIS),
        ))
    }
}

/// The first query parameter of `url` that sqlx does not know, so logs
/// with its value ("ignoring unrecognized connect parameter"), and whose
/// name says it holds a secret ([`is_secret_param`]): libpq's
/// `sslpassword`, a `PASSWORD` in capitals, a percent-encoded name. sqlx
/// knows only `password`, exactly.
fn ignored_secret_param(url: &str) -> Option<&str> {
    let query = url.split('#').next()?.split_once('?')?.1;
    query
        .split('&')
        .map(|param| param.split_once('=').map_or(param, |(name, _)| name))
        .find(|&name| name != "password" && is_secret_param(name))
}

/// What a SQLSTATE means for the store.
fn sqlstate(code: &str) -> CodeMeaning {
    use ErrorKind::*;
    let m = CodeMeaning::new;
    match code {
        "23505" => m(AlreadyExists, "the key already exists (unique violation)"),
        "40001" => m(
            Unavailable,
            "serialization failure; the call may be retried",
        ),
        "40P01" => m(Unavailable, "deadlock detected; the call may be retried"),
        "55P03" => m(Unavailable, "a row or table lock is held elsewhere"),
        "57014" => m(
            Unavailable,
            "the statement was cancelled (statement_timeout?)",
        ),
        "57P01" | "57P02" | "57P03" => m(
            Unavailable,
            "the database server is shutting down, restarting or starting up",
        ),
        "53300" => m(Unavailable, "the database server has too many connections"),
        "25006" => m(
            Unavailable,
            "the server is read-only (a standby, or a failover in progress)",
        ),
        "53100" => m(CapacityExceeded, "the database server's disk is full"),
        "53200" => m(CapacityExceeded, "the database server is out of memory"),
        "3D000" => m(Config, "the database does not exist"),
        "3F000" => m(Config, "the schema does not exist"),
        "42P01" => m(Config, "the table does not exist"),
        "42703" => m(
            Config,
            "the table lacks a store column (created by setup()?)",
        ),
        "42501" => m(
            Config,
            "the database user lacks a privilege this store needs",
        ),
        "54000" => m(InvalidInput, "a value exceeds a database limit"),
        _ if code.starts_with("08") => m(Unavailable, "the connection to the database failed"),
        _ if code.starts_with("28") => m(Config, "the database rejected the credentials"),
        _ if code.starts_with("22") => m(Encoding, "the database rejected a value's encoding"),
        _ => m(Backend, "the database reported an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Statements;

    #[test]
    fn pg_epoch_is_2000_01_01() {
        assert_eq!(PG_EPOCH_MILLIS, 10_957 * 86_400_000);
    }

    #[test]
    fn secret_params_sqlx_would_log_are_found() {
        for (url, found) in [
            ("postgres://u:p@h/db", None),
            ("postgres://h/db?password=x&sslmode=require", None),
            (
                "postgres://h/db?sslmode=require&sslpassword=x",
                Some("sslpassword"),
            ),
            ("postgres://h/db?PASSWORD=x", Some("PASSWORD")),
            ("postgres://h/db?ssl%70assword=x#f", Some("ssl%70assword")),
            ("postgres://h/db?x=1#?sslpassword=x", None),
            ("postgres://h/db?application_name=a&pass=x", Some("pass")),
        ] {
            assert_eq!(ignored_secret_param(url), found, "{url}");
        }
    }

    #[test]
    fn sqlstates_map_to_kinds() {
        assert_eq!(sqlstate("08006").kind, ErrorKind::Unavailable);
        assert_eq!(sqlstate("57P01").kind, ErrorKind::Unavailable);
        assert_eq!(sqlstate("40001").kind, ErrorKind::Unavailable);
        assert_eq!(sqlstate("23505").kind, ErrorKind::AlreadyExists);
        assert_eq!(sqlstate("28P01").kind, ErrorKind::Config);
        assert_eq!(sqlstate("42P01").kind, ErrorKind::Config);
        assert_eq!(sqlstate("XX000").kind, ErrorKind::Backend);
    }

    #[test]
    fn statements_quote_names() {
        let sql = Statements::new::<Postgres>("auth", "sessions");
        assert!(
            sql.get.contains("FROM \"auth\".\"sessions\""),
            "{}",
            sql.get
        );
        // The new version is a parameter: no sequence, nothing shared.
        assert!(
            sql.upsert.contains("VALUES ($1, $2, $5, $3, $4)"),
            "{}",
            sql.upsert
        );
        assert!(!sql.upsert.contains("nextval"), "{}", sql.upsert);
        assert!(
            sql.update_if.ends_with("AND version = $7"),
            "{}",
            sql.update_if
        );
    }
}
