//! Tests of `PostgresStore` beyond the conformance suite, on real servers:
//! concurrent `setup()` on a fresh database, a server restarted under a
//! live pool, exact `timestamptz` expiry, batched concurrent purges, the
//! pool timeout, a table of an older version of the store (versions from a
//! sequence) shared with its processes, TLS with `sslmode=verify-full`,
//! and clear errors for a missing or foreign table, bad names, an
//! unreachable server and corrupt rows.
//!
//! Where the servers come from:
//!
//! - The shared server: `STORE_TEST_POSTGRES_URL`; unset, a container of
//!   the Postgres image (`STORE_TEST_POSTGRES_IMAGE`) that
//!   `provision::service_url` starts or reuses.
//! - The servers a test owns (the restart test kills and starts its own;
//!   the TLS test starts one with a certificate): a throwaway cluster of the
//!   host's binaries (`STORE_TEST_POSTGRES_BIN`, else the newest
//!   `/usr/lib/postgresql/*/bin`) in native mode, or a container of the
//!   Postgres image in container mode (`STORE_TEST_MODE=containers`, or
//!   unset with no binaries and a Docker daemon: see
//!   `store_conformance::container`). In a container the data stays in the
//!   container across a kill and a start again on the same port, and the
//!   certificate (from the same test CA) names the host the container is
//!   reached at.
//!
//! Without a server the tests skip, or fail under `STORE_TEST_REQUIRE=1`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use store_conformance::container::{self, ServerContainer, ServerSpec};
use store_conformance::faults;
use store_conformance::provision::{self, Service};
use store_core::{
    Clock, ErrorKind, Expiry, Key, ManualClock, Owner, PutMode, PutOptions, Store, SystemClock,
};
use store_sqlx::{PostgresConfig, PostgresStore};

use crate::common::{is_root, run};

async fn shared_url(test: &str) -> Option<String> {
    let url = provision::service_url(Service::Postgres).await;
    if url.is_none() {
        eprintln!("{test}: no Postgres server");
    }
    url
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &store_conformance::random_namespace()["conformance-".len()..]
    )
}

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

/// A fresh database on the shared server, dropped at the end of the test.
struct FreshDatabase {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl FreshDatabase {
    async fn create(server_url: &str) -> Self {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(server_url)
            .await
            .expect("connect to the shared server");
        let name = unique("store_fresh");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create a database");
        let base = server_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .expect("a URL with a database");
        let url = format!("{base}/{name}");
        Self { admin, name, url }
    }

    async fn drop_now(self) {
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&self.admin)
            .await
            .expect("drop the database");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_setup_concurrently_on_a_fresh_database() {
    let Some(server) = shared_url("postgres_setup_concurrently").await else {
        return;
    };
    let db = FreshDatabase::create(&server).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move {
                // One pool per task: as many processes starting at once.
                let config = PostgresConfig::default()
                    .schema("auth")
                    .namespace("sessions");
                let store = PostgresStore::connect_with(&url, config).await?;
                store.setup().await?;
                store.pool().close().await;
                Ok::<_, store_core::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("every concurrent setup succeeds");
    }
    let pool = PgPoolOptions::new().connect(&db.url).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT schemaname::text, tablename::text FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(tables, vec![("auth".to_owned(), "sessions".to_owned())]);
    let indexes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = 'auth'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(indexes, 3, "primary key, expiry and owner indexes");
    let sequences: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_sequences")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        sequences, 0,
        "versions come from the process, not a sequence"
    );
    // And once more on the migrated database: still a no-op.
    let store = PostgresStore::with_config(
        pool.clone(),
        PostgresConfig::default()
            .schema("auth")
            .namespace("sessions"),
    )
    .unwrap();
    store.setup().await.unwrap();
    store
        .put(&key("k"), "v".into(), PutOptions::default())
        .await
        .unwrap();
    pool.close().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_expiry_is_an_exact_timestamptz() {
    let Some(url) = shared_url("postgres_expiry").await else {
        return;
    };
    let store =
        PostgresStore::connect_with(&url, PostgresConfig::default().namespace(unique("exact")))
            .await
            .unwrap();
    store.setup().await.unwrap();
    let at = Expiry::from_unix_millis(SystemClock.now().as_unix_millis() + 3_600_123).unwrap();
    let opts = PutOptions::default().expires_at(at);
    store.put(&key("k"), "v".into(), opts).await.unwrap();
    assert_eq!(
        store.get(&key("k")).await.unwrap().unwrap().expires_at,
        Some(at)
    );
    let sql = format!(
        "SELECT (extract(epoch FROM expires_at) * 1000)::bigint, pg_typeof(expires_at)::text FROM {}",
        store.namespace()
    );
    let (millis, ty): (i64, String) = sqlx::query_as(&sql).fetch_one(store.pool()).await.unwrap();
    assert_eq!(millis, at.as_unix_millis());
    assert_eq!(ty, "timestamp with time zone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_purges_count_each_row_once() {
    let Some(url) = shared_url("postgres_purges").await else {
        return;
    };
    let clock = ManualClock::starting_now();
    let config = PostgresConfig::default()
        .namespace(unique("purge"))
        .purge_batch(100)
        .clock(clock.clone());
    let store = PostgresStore::connect_with(&url, config).await.unwrap();
    store.setup().await.unwrap();
    let soon = clock.now().checked_add(Duration::from_secs(1)).unwrap();
    let sql = format!(
        "INSERT INTO {} (key, value, version, expires_at) \
         SELECT 'k' || i, '\\x00', i, to_timestamp($1::bigint / 1000.0) FROM generate_series(1, 2500) i",
        store.namespace()
    );
    sqlx::query(&sql)
        .bind(soon.as_unix_millis())
        .execute(store.pool())
        .await
        .unwrap();
    store
        .put(&key("live"), "v".into(), PutOptions::default())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    let total = store_conformance::faults::purge_concurrently(&store, 4).await;
    assert_eq!(
        total, 2500,
        "four purgers together remove each expired row once"
    );
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert!(store.get(&key("live")).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_pool_timeout_is_unavailable_and_names_the_pool() {
    let Some(url) = shared_url("postgres_pool_timeout").await else {
        return;
    };
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .connect(&url)
        .await
        .unwrap();
    let store = PostgresStore::with_config(
        pool.clone(),
        PostgresConfig::default().namespace(unique("pool")),
    )
    .unwrap();
    store.setup().await.unwrap();
    let held = pool.acquire().await.unwrap();
    let err = store.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(err.message().contains("all 1 connections"), "{err}");
    drop(held);
    assert!(store.get(&key("k")).await.unwrap().is_none());
}

/// A store on the shared server with a pool of `max` connections, set up
/// in a table of its own.
async fn small_pool_store(url: &str, max: u32, timeout: Duration) -> PostgresStore {
    let config = PostgresConfig::default()
        .namespace(unique("kept"))
        .max_connections(max)
        .operation_timeout(timeout);
    let store = PostgresStore::connect_with(url, config).await.unwrap();
    store.setup().await.unwrap();
    store
}

/// Runs `calls` gets and upserts on `store` from 16 tasks at once.
async fn busy(store: &PostgresStore, calls: usize) {
    let tasks = (0..16).map(|t| {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..calls {
                let k = key(&format!("k{t}-{}", i % 4));
                store
                    .put(&k, format!("{t}-{i}").into(), PutOptions::default())
                    .await
                    .unwrap();
                let got = store.get(&k).await.unwrap().unwrap();
                assert_eq!(&got.value[..], format!("{t}-{i}").as_bytes());
            }
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await.unwrap();
    }
}

/// The connections a store keeps between calls go back to the pool when
/// the application wants them: its own queries get every connection of
/// the pool soon after the store's calls stop, and `close` ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_kept_connections_go_back_to_the_pool() {
    let Some(url) = shared_url("postgres_kept_connections").await else {
        return;
    };
    let store = small_pool_store(&url, 3, Duration::from_secs(5)).await;
    busy(&store, 20).await;
    let started = Instant::now();
    let mut own = Vec::new();
    for _ in 0..3 {
        let conn = tokio::time::timeout(Duration::from_secs(3), store.pool().acquire())
            .await
            .expect("the application gets a connection of the pool")
            .unwrap();
        own.push(conn);
    }
    eprintln!(
        "the application had all 3 connections after {:?}",
        started.elapsed()
    );
    drop(own);
    // While the store is busy from 16 tasks, the application's own query
    // still gets a connection of the pool, in its turn.
    let load = {
        let store = store.clone();
        tokio::spawn(async move { busy(&store, 400).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let conn = tokio::time::timeout(Duration::from_secs(3), store.pool().acquire())
            .await
            .expect("the application gets a connection while the store is busy")
            .unwrap();
        eprintln!(
            "a connection while the store is busy after {:?}",
            started.elapsed()
        );
        drop(conn);
    }
    load.await.unwrap();
    busy(&store, 5).await;
    tokio::time::timeout(Duration::from_secs(5), store.pool().close())
        .await
        .expect("the pool closes although the store kept connections");
    let e = store.get(&key("k0-0")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
}

/// A call cut short by its timeout in the middle of a statement does not
/// leave its connection to the next call: with the table locked, calls
/// time out; once it is unlocked, every call reads what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_call_cut_short_leaves_no_connection_behind() {
    let Some(url) = shared_url("postgres_call_cut_short").await else {
        return;
    };
    let store = small_pool_store(&url, 2, Duration::from_millis(300)).await;
    busy(&store, 5).await;
    let locker = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let mut tx = locker.begin().await.unwrap();
    sqlx::query(&format!(
        "LOCK TABLE \"{}\" IN ACCESS EXCLUSIVE MODE",
        store.namespace()
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    for i in 0..4 {
        let e = store.get(&key(&format!("k0-{i}"))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    }
    tx.commit().await.unwrap();
    // The cancelled statements' connections went back to the pool, which
    // checks them; the next calls see their own results.
    tokio::time::sleep(Duration::from_millis(100)).await;
    busy(&store, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_missing_and_foreign_tables_are_config_errors() {
    let Some(url) = shared_url("postgres_tables").await else {
        return;
    };
    let store =
        PostgresStore::connect_with(&url, PostgresConfig::default().namespace(unique("never")))
            .await
            .unwrap();
    for err in [
        store.get(&key("k")).await.unwrap_err(),
        store
            .put(&key("k"), "v".into(), PutOptions::default())
            .await
            .unwrap_err(),
        store.delete_expired().await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.message().contains("call setup()"), "{err}");
    }

    // A table of another library under the name we were given.
    let foreign = unique("foreign");
    let ddl = format!(
        "CREATE TABLE {foreign} (id text PRIMARY KEY, data bytea, expiry_date timestamptz)"
    );
    sqlx::query(&ddl).execute(store.pool()).await.unwrap();
    let other = store.with_namespace(&foreign).unwrap();
    let err = other.setup().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(
        err.message().contains(&format!("public.{foreign}")),
        "{err}"
    );
    assert!(err.message().contains("has no column key"), "{err}");
    let columns: i64 =
        sqlx::query_scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = $1")
            .bind(&foreign)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(columns, 3, "the foreign table is left as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_table_of_an_older_version_keeps_working_beside_its_processes() {
    let Some(url) = shared_url("postgres_older").await else {
        return;
    };
    let table = unique("older");
    let store = PostgresStore::connect_with(&url, PostgresConfig::default().namespace(&table))
        .await
        .unwrap();
    // What an older version of the store created and how it wrote: the
    // next version from the table's own sequence.
    for ddl in [
        format!("CREATE SEQUENCE public.{table}_version_seq AS bigint"),
        format!(
            "CREATE TABLE public.{table} (key text COLLATE \"C\" PRIMARY KEY, \
             value bytea NOT NULL, version bigint NOT NULL, expires_at timestamptz, \
             owner text COLLATE \"C\")"
        ),
    ] {
        sqlx::query(&ddl).execute(store.pool()).await.unwrap();
    }
    let old_write = format!(
        "INSERT INTO public.{table} AS t (key, value, version) \
         VALUES ($1, $2, nextval('public.{table}_version_seq')) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version \
         RETURNING version"
    );
    let old_put = |k: &'static str, v: &'static [u8]| {
        sqlx::query_scalar::<_, i64>(&old_write)
            .bind(k)
            .bind(v)
            .fetch_one(store.pool())
    };
    assert_eq!(old_put("old", b"1").await.unwrap(), 1);

    store.setup().await.unwrap();
    let entry = store.get(&key("old")).await.unwrap().unwrap();
    assert_eq!(entry.version.as_i64(), 1);
    let next = store
        .put(
            &key("old"),
            "2".into(),
            PutOptions::new(PutMode::UpdateIf(entry.version)),
        )
        .await
        .unwrap();
    assert_ne!(next.version, entry.version);
    // A process of the older version still writes, from its sequence,
    // which the store's writes left alone; the store reads its writes.
    assert_eq!(old_put("old", b"3").await.unwrap(), 2);
    let entry = store.get(&key("old")).await.unwrap().unwrap();
    assert_eq!((&entry.value[..], entry.version.as_i64()), (&b"3"[..], 2));
    let stale = store
        .put(
            &key("old"),
            "4".into(),
            PutOptions::new(PutMode::UpdateIf(next.version)),
        )
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::VersionMismatch);
    store.setup().await.unwrap();
    for ddl in [
        format!("DROP TABLE public.{table}"),
        format!("DROP SEQUENCE public.{table}_version_seq"),
    ] {
        sqlx::query(&ddl).execute(store.pool()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_corrupt_rows_are_encoding_errors_for_that_key_only() {
    let Some(url) = shared_url("postgres_corrupt").await else {
        return;
    };
    let store =
        PostgresStore::connect_with(&url, PostgresConfig::default().namespace(unique("corrupt")))
            .await
            .unwrap();
    store.setup().await.unwrap();
    store
        .put(
            &key("good"),
            "v".into(),
            PutOptions::default().owner(Owner::new("o").unwrap()),
        )
        .await
        .unwrap();
    let sql = format!(
        "INSERT INTO {} (key, value, version, expires_at, owner) VALUES \
         ('far', '\\x00', 1, '12000-01-01T00:00:00Z', NULL), ('empty-owner', '\\x00', 2, NULL, ''), \
         ('inf', '\\x00', 3, 'infinity', NULL)",
        store.namespace()
    );
    sqlx::query(&sql).execute(store.pool()).await.unwrap();
    for bad in ["far", "empty-owner", "inf"] {
        let err = store.get(&key(bad)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding, "{bad}: {err}");
    }
    assert_eq!(
        &store.get(&key("good")).await.unwrap().unwrap().value[..],
        b"v"
    );
    assert_eq!(
        store
            .list_by_owner(&Owner::new("o").unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn postgres_bad_names_and_urls_are_config_errors_without_the_password() {
    let lazy = sqlx::PgPool::connect_lazy("postgres://app:hunter2@127.0.0.1:1/db").unwrap();
    for config in [
        PostgresConfig::default().namespace("Sessions"),
        PostgresConfig::default().namespace("a;drop table x"),
        PostgresConfig::default().namespace("x".repeat(49)),
        PostgresConfig::default().schema("pg_catalog"),
        PostgresConfig::default().purge_batch(0),
        PostgresConfig::default().max_value_len(1),
    ] {
        let err = PostgresStore::with_config(lazy.clone(), config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
    let store = PostgresStore::new(lazy);
    assert!(!format!("{store:?}").contains("hunter2"));

    let err = PostgresStore::connect("postgres://app:hunter2@127.0.0.1:1/db?sslmode=bogus")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test]
async fn postgres_unreachable_server_is_unavailable_without_the_password() {
    let port = free_port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/db");
    let config = PostgresConfig::default().acquire_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = PostgresStore::connect_with(&url, config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.message().contains("app:***@127.0.0.1"), "{err}");
    assert!(
        err.message()
            .contains("did not accept a connection within 500ms"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

/// The Postgres port inside a container.
const CONTAINER_PORT: u16 = 5432;
/// Where a container's TLS files are copied.
const CONTAINER_TLS_DIR: &str = "/store-rs/tls";

/// A Postgres server owned by one test: a throwaway cluster of the host's
/// binaries, or a container of the Postgres image (see the module
/// documentation). Stopped and removed on drop.
struct OwnPostgres {
    /// The test's files: the certificates (and, on the host, the cluster).
    dir: PathBuf,
    /// The host clients connect to.
    host: String,
    port: u16,
    server: Server,
}

enum Server {
    Host {
        bin: PathBuf,
        /// More server settings (`-c name=value …`).
        settings: String,
    },
    Container(Box<ServerContainer>),
}

impl OwnPostgres {
    /// A server with the settings the native cluster gets (no `fsync`).
    async fn start(test: &str) -> Option<Self> {
        Self::start_with(test, false).await
    }

    /// With `tls`, a server with a certificate from a test CA for the host
    /// clients reach it at ([`OwnPostgres::tls_names`]); `ca.pem` and
    /// `other-ca.pem` are in [`OwnPostgres::dir`].
    async fn start_with(test: &str, tls: bool) -> Option<Self> {
        let bin = postgres_bin();
        if container::own_server_in_container(bin.is_some()).await {
            Some(Self::start_container(test, tls).await)
        } else if let Some(bin) = bin {
            Some(Self::start_host(bin, tls))
        } else {
            provision::skip(
                test,
                "no Postgres binaries: set STORE_TEST_POSTGRES_BIN or install postgresql \
                 (or run the servers in containers: STORE_TEST_MODE=containers)",
            )
        }
    }

    fn start_host(bin: PathBuf, tls: bool) -> Self {
        let dir = std::env::temp_dir().join(unique("store-sqlx-pg"));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            run(std::process::Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir));
        }
        let mut server = Self {
            dir,
            host: "127.0.0.1".to_owned(),
            port: free_port(),
            server: Server::Host {
                bin,
                settings: String::new(),
            },
        };
        run(server
            .pg_tool("initdb")
            .arg("-D")
            .arg(server.dir.join("data"))
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]));
        if tls {
            let dir = &server.dir;
            store_conformance::pki::write_test_pki(dir, &["localhost"]);
            let tls_settings = format!(
                "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.join("server.pem").display(),
                dir.join("server.key").display()
            );
            if let Server::Host { settings, .. } = &mut server.server {
                *settings = tls_settings;
            }
        }
        if is_root() {
            run(std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&server.dir));
        }
        server.pg_ctl_start();
        server
    }

    /// A container of the Postgres image, its data in the container (kept
    /// across a kill and a start again), trusting every client like the
    /// host's cluster. With `tls` the certificate and key are copied in and
    /// handed to the `postgres` user before the image's entrypoint runs:
    /// Postgres refuses a key it cannot read or that others may read.
    async fn start_container(test: &str, tls: bool) -> Self {
        let dir = std::env::temp_dir().join(unique("store-sqlx-pg"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut spec = ServerSpec::new(Service::Postgres)
            .env("POSTGRES_HOST_AUTH_METHOD", "trust")
            .publish(CONTAINER_PORT)
            .ready_on_stderr("database system is ready to accept connections");
        let mut tls_host = None;
        if tls {
            let host = container::host(Service::Postgres)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            store_conformance::pki::write_test_pki(&dir, &[host.as_str()]);
            tls_host = Some(host);
            for (name, mode) in [("server.pem", 0o644), ("server.key", 0o600)] {
                let contents = std::fs::read(dir.join(name)).unwrap();
                spec = spec.file(format!("{CONTAINER_TLS_DIR}/{name}"), contents, mode);
            }
            spec = spec
                .entrypoint("bash")
                .arg("-c")
                .arg(format!(
                    "chown -R postgres:postgres {CONTAINER_TLS_DIR} && exec docker-entrypoint.sh \"$@\""
                ))
                .args(["docker-entrypoint.sh", "postgres", "-c", "ssl=on", "-c"])
                .arg(format!("ssl_cert_file={CONTAINER_TLS_DIR}/server.pem"))
                .arg("-c")
                .arg(format!("ssl_key_file={CONTAINER_TLS_DIR}/server.key"));
        } else {
            spec = spec.arg("postgres");
        }
        spec = spec.args(["-c", "fsync=off"]);
        let container = ServerContainer::start(spec)
            .await
            .unwrap_or_else(|e| panic!("{test}: {e}"));
        if let Some(host) = &tls_host {
            assert_eq!(container.host(), host, "the certificate names another host");
        }
        Self {
            dir,
            host: container.host().to_owned(),
            port: container.port(CONTAINER_PORT),
            server: Server::Container(Box::new(container)),
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{}:{}/postgres", self.host, self.port)
    }

    /// The host name the server's certificate names, and another name of
    /// the same server that it does not.
    async fn tls_names(&self) -> (String, String) {
        match self.server {
            Server::Host { .. } => ("localhost".to_owned(), "127.0.0.1".to_owned()),
            Server::Container(_) => (
                self.host.clone(),
                common::another_name(&self.host, self.port).await,
            ),
        }
    }

    fn pg_tool(&self, tool: &str) -> std::process::Command {
        let Server::Host { bin, .. } = &self.server else {
            unreachable!("the host's tools serve the host's cluster")
        };
        let path = bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            std::process::Command::new(path)
        };
        cmd.current_dir("/");
        cmd
    }

    /// Starts the server (again), on the same port and with the same data.
    /// On the host it returns once the server accepts connections; a
    /// container returns once it runs (clients wait, as they would).
    async fn pg_start(&self) {
        match &self.server {
            Server::Host { .. } => self.pg_ctl_start(),
            Server::Container(c) => c.start_again().await.unwrap(),
        }
    }

    /// `pg_ctl start` of the host's cluster, waiting until it is ready.
    fn pg_ctl_start(&self) {
        let Server::Host { settings, .. } = &self.server else {
            unreachable!("the host's tools serve the host's cluster")
        };
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -F -c fsync=off {settings}",
            self.port,
            self.dir.display(),
        );
        run(self
            .pg_tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "30", "-o", &options, "start"]));
    }

    /// Stops the server at once, as a crash would: `pg_ctl -m immediate`
    /// on the host, SIGKILL to the container's processes.
    async fn pg_stop(&self) {
        match &self.server {
            Server::Host { .. } => run(self
                .pg_tool("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])),
            Server::Container(c) => c.kill().await.unwrap(),
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        if let Server::Host { .. } = self.server {
            let _ = self
                .pg_tool("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        // The container, if any, is removed when `server` drops.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_server_restarted_under_a_live_pool() {
    let Some(server) = OwnPostgres::start("postgres_server_restarted").await else {
        return;
    };
    let config = PostgresConfig::default().acquire_timeout(Duration::from_millis(500));
    let store = Arc::new(
        PostgresStore::connect_with(&server.url(), config)
            .await
            .unwrap(),
    );
    store.setup().await.unwrap();
    let owner = Owner::new("u1").unwrap();
    let opts = || PutOptions::new(PutMode::Upsert).owner(Owner::new("u1").unwrap());
    store
        .put(&key("before"), "kept".into(), opts())
        .await
        .unwrap();

    server.pg_stop().await;
    for _round in 0..2 {
        faults::assert_every_operation_unavailable(&*store, &key("before"), &owner).await;
    }

    server.pg_start().await;
    let (entry, took) =
        faults::wait_for_recovery(&*store, &key("before"), Duration::from_secs(30)).await;
    eprintln!("recovered {took:?} after the restart");
    assert_eq!(
        &entry.expect("the committed write survived").value[..],
        b"kept"
    );
    store
        .put(&key("after"), "new".into(), opts())
        .await
        .unwrap();
    assert_eq!(store.list_by_owner(&owner).await.unwrap().len(), 2);
}

fn postgres_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("STORE_TEST_POSTGRES_BIN").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    found.pop()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// TLS: a server with a certificate from a test CA for the host the test
/// reaches it at (`localhost` on the host; the container's host, which
/// [`container::host`] tells, in a container). With
/// `sslmode=verify-full` and that CA the store connects, and the
/// connection is encrypted; a wrong CA, or a host name the certificate
/// does not name, is a `Config` error that does not show the password;
/// `sslmode=require` encrypts without checking the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_tls_verify_full_with_a_test_ca() {
    let Some(server) = OwnPostgres::start_with("postgres_tls", true).await else {
        return;
    };
    let (named, unnamed) = server.tls_names().await;
    eprintln!("the certificate names {named}; {unnamed} reaches the same server");
    let url = |host: &str, params: &str| {
        format!(
            "postgres://postgres:tls-secret@{host}:{}/postgres?{params}",
            server.port
        )
    };
    let ca = server.dir.join("ca.pem").display().to_string();
    let other = server.dir.join("other-ca.pem").display().to_string();

    let verified = url(&named, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let store = PostgresStore::connect(&verified).await.unwrap();
    store.setup().await.unwrap();
    store_conformance::pki::assert_round_trip(&store).await;
    let (ssl,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(ssl, "the connection is not encrypted");

    let config = || PostgresConfig::default().acquire_timeout(Duration::from_secs(2));
    for (case, bad) in [
        (
            "an unknown CA",
            url(&named, &format!("sslmode=verify-full&sslrootcert={other}")),
        ),
        (
            "a host the certificate does not name",
            url(&unnamed, &format!("sslmode=verify-full&sslrootcert={ca}")),
        ),
    ] {
        let err = PostgresStore::connect_with(&bad, config())
            .await
            .unwrap_err();
        store_conformance::pki::assert_refused(case, &err, "tls-secret");
    }

    let encrypted = PostgresStore::connect(&url(&unnamed, "sslmode=require"))
        .await
        .unwrap();
    assert!(encrypted.get(&key("k")).await.unwrap().is_some());
}
