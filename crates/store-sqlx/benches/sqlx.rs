//! `PostgresStore` and `SqliteStore` next to hand-written sqlx queries on
//! the same database and pool, in the same run: `get` and `put(Upsert)`
//! with an expiry, from 1 and 16 concurrent tasks, with a 200-byte value.
//!
//! Two raw contenders:
//! - **same SQL**: the statements the store sends, written by hand with
//!   sqlx against the store's own table: what this crate's Rust layer costs;
//! - **bare table**: a minimal session table (key, value, expiry with an
//!   index) with a plain `SELECT` and `INSERT … ON CONFLICT DO UPDATE`,
//!   what an application without versions and owners would write: what the
//!   contract (a fresh version per write, the owner column) costs.
//!
//! The sides take turns in short rounds (7 of 0.8 s, a different side
//! first each time); a ratio is the median of the per-round ratios, so
//! drift on a busy machine hits all sides alike.
//!
//! ```text
//! STORE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/store_test \
//!   cargo bench -p store-sqlx --all-features --bench sqlx
//! ```
//! (`just bench` starts a Postgres server and runs it.) Without the URL only
//! SQLite (a file in a temporary directory) runs. Prints a markdown table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use store_core::{Clock, Expiry, Key, PutMode, PutOptions, Store, SystemClock};
use store_sqlx::{PostgresConfig, PostgresStore, SqliteConfig, SqliteStore};
use time::OffsetDateTime;

const KEYS_PER_TASK: usize = 512;
const VALUE_LEN: usize = 200;
const ROUND: Duration = Duration::from_millis(800);
const ROUNDS: usize = 7;
const TTL: Duration = Duration::from_secs(3600);
const CONCURRENCY: [usize; 2] = [1, 16];
const POOL_SIZE: u32 = 16;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Op {
    Get,
    Upsert,
}

/// One side of a comparison: the store, or raw queries on its pool.
#[derive(Clone)]
enum Side {
    Store(Arc<dyn Store>),
    /// The store's own statements on its table (named here).
    SameSqlPostgres(sqlx::PgPool, Arc<SameSql>),
    SameSqlSqlite(sqlx::SqlitePool, Arc<SameSql>),
    BarePostgres(sqlx::PgPool),
    BareSqlite(sqlx::SqlitePool),
}

/// The store's `get` and `Upsert` statements for one table, by hand.
struct SameSql {
    get: String,
    upsert: String,
}

impl SameSql {
    fn postgres(table: &str) -> Self {
        Self {
            get: format!(
                "SELECT value, version, expires_at, owner FROM \"{table}\" \
                 WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)"
            ),
            upsert: format!(
                "INSERT INTO \"{table}\" AS t (key, value, version, expires_at, owner) \
                 VALUES ($1, $2, nextval('\"{table}_version_seq\"'), $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                 version = EXCLUDED.version, expires_at = EXCLUDED.expires_at, \
                 owner = EXCLUDED.owner RETURNING version"
            ),
        }
    }

    fn sqlite(table: &str) -> Self {
        Self {
            get: format!(
                "SELECT value, version, expires_at, owner FROM \"{table}\" \
                 WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
            ),
            upsert: format!(
                "INSERT INTO \"{table}\" (key, value, version, expires_at, owner) \
                 VALUES (?1, ?2, (SELECT last + 1 FROM \"{table}_versions\" WHERE id = 1), ?3, ?4) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                 version = excluded.version, expires_at = excluded.expires_at, \
                 owner = excluded.owner RETURNING version"
            ),
        }
    }
}

fn expiry_in(ttl: Duration) -> Expiry {
    SystemClock.now().checked_add(ttl).expect("expiry in range")
}

fn timestamp(at: Expiry) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_unix_millis()) * 1_000_000)
        .expect("timestamp")
}

impl Side {
    async fn call(&self, op: Op, key: &Key, value: &Bytes) {
        let now = SystemClock.now();
        match (self, op) {
            (Side::Store(s), Op::Get) => {
                assert!(
                    s.get(key).await.expect("get").is_some(),
                    "bench key missing"
                );
            }
            (Side::Store(s), Op::Upsert) => {
                let opts = PutOptions::new(PutMode::Upsert).expires_at(expiry_in(TTL));
                s.put(key, value.clone(), opts).await.expect("put");
            }
            (Side::SameSqlPostgres(pool, sql), Op::Get) => {
                type Row = (Vec<u8>, i64, Option<OffsetDateTime>, Option<String>);
                let row: Option<Row> = sqlx::query_as(&sql.get)
                    .bind(key.as_str())
                    .bind(timestamp(now))
                    .fetch_optional(pool)
                    .await
                    .expect("select");
                assert!(row.is_some(), "bench key missing");
            }
            (Side::SameSqlPostgres(pool, sql), Op::Upsert) => {
                let _version: i64 = sqlx::query_scalar(&sql.upsert)
                    .bind(key.as_str())
                    .bind(&value[..])
                    .bind(timestamp(expiry_in(TTL)))
                    .bind(None::<&str>)
                    .fetch_one(pool)
                    .await
                    .expect("upsert");
            }
            (Side::SameSqlSqlite(pool, sql), Op::Get) => {
                type Row = (Vec<u8>, i64, Option<i64>, Option<String>);
                let rows: Vec<Row> = sqlx::query_as(&sql.get)
                    .bind(key.as_str())
                    .bind(now.as_unix_millis())
                    .fetch_all(pool)
                    .await
                    .expect("select");
                assert!(!rows.is_empty(), "bench key missing");
            }
            (Side::SameSqlSqlite(pool, sql), Op::Upsert) => {
                let _versions: Vec<i64> = sqlx::query_scalar(&sql.upsert)
                    .bind(key.as_str())
                    .bind(&value[..])
                    .bind(expiry_in(TTL).as_unix_millis())
                    .bind(None::<&str>)
                    .fetch_all(pool)
                    .await
                    .expect("upsert");
            }
            (Side::BarePostgres(pool), Op::Get) => {
                let row: Option<(Vec<u8>, Option<OffsetDateTime>)> = sqlx::query_as(
                    "SELECT value, expires_at FROM bench_raw WHERE key = $1 AND expires_at > $2",
                )
                .bind(key.as_str())
                .bind(timestamp(now))
                .fetch_optional(pool)
                .await
                .expect("select");
                assert!(row.is_some(), "bench key missing");
            }
            (Side::BarePostgres(pool), Op::Upsert) => {
                sqlx::query(
                    "INSERT INTO bench_raw (key, value, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                     expires_at = EXCLUDED.expires_at",
                )
                .bind(key.as_str())
                .bind(&value[..])
                .bind(timestamp(expiry_in(TTL)))
                .execute(pool)
                .await
                .expect("upsert");
            }
            (Side::BareSqlite(pool), Op::Get) => {
                let row: Option<(Vec<u8>, Option<i64>)> = sqlx::query_as(
                    "SELECT value, expires_at FROM bench_raw WHERE key = ?1 AND expires_at > ?2",
                )
                .bind(key.as_str())
                .bind(now.as_unix_millis())
                .fetch_optional(pool)
                .await
                .expect("select");
                assert!(row.is_some(), "bench key missing");
            }
            (Side::BareSqlite(pool), Op::Upsert) => {
                sqlx::query(
                    "INSERT INTO bench_raw (key, value, expires_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                     expires_at = excluded.expires_at",
                )
                .bind(key.as_str())
                .bind(&value[..])
                .bind(expiry_in(TTL).as_unix_millis())
                .execute(pool)
                .await
                .expect("upsert");
            }
        }
    }
}

fn keys(task: usize) -> Vec<Key> {
    (0..KEYS_PER_TASK)
        .map(|i| Key::new(format!("bench:t{task}:k{i}")).expect("key"))
        .collect()
}

/// Operations per second of `tasks` tasks calling `op` for one round.
async fn ops_per_sec(side: &Side, op: Op, tasks: usize) -> f64 {
    let value = Bytes::from(vec![b'x'; VALUE_LEN]);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..tasks)
        .map(|task| {
            let (side, stop, done, value) =
                (side.clone(), stop.clone(), done.clone(), value.clone());
            tokio::spawn(async move {
                let keys = keys(task);
                let mut n = 0u64;
                for key in keys.iter().cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    side.call(op, key, &value).await;
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(ROUND).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Writes every key any round reads.
async fn preload(side: &Side) {
    let value = Bytes::from(vec![b'x'; VALUE_LEN]);
    let max_tasks = CONCURRENCY.into_iter().max().unwrap_or(1);
    for task in 0..max_tasks {
        for key in keys(task) {
            side.call(Op::Upsert, &key, &value).await;
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

async fn compare(database: &str, sides: [Side; 3]) {
    for side in &sides {
        preload(side).await;
    }
    for (op, label) in [(Op::Get, "get"), (Op::Upsert, "put(Upsert)")] {
        for tasks in CONCURRENCY {
            let mut rates: [Vec<f64>; 3] = Default::default();
            for round in 0..ROUNDS {
                // A different side goes first in each round.
                for i in 0..sides.len() {
                    let i = (i + round) % sides.len();
                    rates[i].push(ops_per_sec(&sides[i], op, tasks).await);
                }
            }
            // Ratios per round (the sides of one round ran back to back),
            // then the median: drift between rounds cancels out.
            let ratio =
                |other: &[f64]| median(rates[0].iter().zip(other).map(|(a, b)| a / b).collect());
            let (to_same, to_bare) = (ratio(&rates[1]), ratio(&rates[2]));
            let [ours, same, bare] = rates.map(median);
            println!(
                "| {database} | {label} | {tasks} | {ours:.0} | {same:.0} | {to_same:.2} | {bare:.0} | {to_bare:.2} |"
            );
        }
    }
}

async fn postgres(url: &str) {
    let table = format!("bench_{}", std::process::id());
    let config = PostgresConfig::default()
        .table(table)
        .max_connections(POOL_SIZE);
    let store = PostgresStore::connect_with(url, config)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let pool = store.pool().clone();
    for ddl in [
        "DROP TABLE IF EXISTS bench_raw",
        "CREATE TABLE bench_raw (key text COLLATE \"C\" PRIMARY KEY, value bytea NOT NULL, \
         expires_at timestamptz)",
        "CREATE INDEX ON bench_raw (expires_at)",
    ] {
        sqlx::query(ddl).execute(&pool).await.expect("raw table");
    }
    let same = Arc::new(SameSql::postgres(store.table()));
    let sides = [
        Side::Store(Arc::new(store.clone())),
        Side::SameSqlPostgres(pool.clone(), same),
        Side::BarePostgres(pool.clone()),
    ];
    compare("Postgres", sides).await;
    for ddl in [
        "DROP TABLE bench_raw".to_owned(),
        format!("DROP TABLE {}", store.table()),
        format!("DROP SEQUENCE {}_version_seq", store.table()),
    ] {
        sqlx::query(&ddl).execute(&pool).await.expect("drop");
    }
}

async fn sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let config = SqliteConfig::default().max_connections(POOL_SIZE);
    let store = SqliteStore::connect_with(&url, config).await.expect("open");
    store.migrate().await.expect("migrate");
    let pool = store.pool().clone();
    for ddl in [
        "CREATE TABLE bench_raw (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, \
         expires_at INTEGER)",
        "CREATE INDEX bench_raw_expires_at ON bench_raw (expires_at)",
    ] {
        sqlx::query(ddl).execute(&pool).await.expect("raw table");
    }
    let same = Arc::new(SameSql::sqlite(store.table()));
    let sides = [
        Side::Store(Arc::new(store)),
        Side::SameSqlSqlite(pool.clone(), same),
        Side::BareSqlite(pool),
    ];
    compare("SQLite file", sides).await;
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "| database | operation | tasks | store ops/s | raw, same SQL ops/s | ratio | \
             raw, bare table ops/s | ratio |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        match std::env::var("STORE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => postgres(&url).await,
            _ => eprintln!(
                "Postgres skipped: set STORE_TEST_POSTGRES_URL (for example with `just bench`)"
            ),
        }
        sqlite().await;
    });
}
