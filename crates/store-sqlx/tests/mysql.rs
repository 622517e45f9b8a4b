//! Tests of `MySqlStore` beyond the conformance suite, on a real MySQL or
//! MariaDB server (`STORE_TEST_MYSQL_URL`): the traps a MySQL backend must
//! get right. Keys compare byte for byte (the default collations fold case
//! and accents and ignore trailing spaces); the longest keys and owners fit
//! the indexes; `Create` and the conditional writes are single statements
//! whose outcome does not depend on MySQL's affected-rows rules; concurrent
//! `Create`s of one key have one winner, and a statement a deadlock rolled
//! back is run again; versions are random, of both signs, and do not
//! repeat; a refused `Create` flags its own statement only; `setup()` is
//! safe under concurrent callers; and errors are typed from error numbers,
//! without the password.
//!
//! Where the servers come from:
//!
//! - The shared server: `STORE_TEST_MYSQL_URL`; unset, a container of the
//!   MariaDB image (`STORE_TEST_MYSQL_IMAGE`) that `provision::service_url`
//!   starts or reuses.
//! - The TLS test's own server, started with a certificate from a test CA:
//!   the host's `mariadbd` (`STORE_TEST_MYSQL_SERVER`, with
//!   `mariadb-install-db` and `mariadb` on the `PATH`) in native mode, or a
//!   container of the MariaDB image in container mode
//!   (`STORE_TEST_MODE=containers`, or unset with no `mariadbd` and a
//!   Docker daemon: see `store_conformance::container`), the certificates
//!   copied in and the server's certificate naming the host the container
//!   is reached at.
//!
//! Without a server the tests skip, or fail under `STORE_TEST_REQUIRE=1`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use store_conformance::container::{self, ServerContainer, ServerSpec};
use store_conformance::provision::{self, Service};
use store_core::{
    Clock, ErrorKind, Key, MAX_KEY_LEN, MAX_OWNER_LEN, ManualClock, Owner, PutMode, PutOptions,
    Store,
};
use store_sqlx::{MySqlConfig, MySqlStore};

use crate::common::{is_root, run};

async fn server_url(test: &str) -> Option<String> {
    let url = provision::service_url(Service::MySql).await;
    if url.is_none() {
        eprintln!("{test}: no MySQL server");
    }
    url
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &store_conformance::random_namespace()["conformance-".len()..].replace('-', "_")
    )
}

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

/// A set-up store in a table of its own, on a manual clock.
async fn store(url: &str, prefix: &str) -> (MySqlStore, ManualClock) {
    let clock = ManualClock::starting_now();
    let config = MySqlConfig::default()
        .namespace(unique(prefix))
        .clock(clock.clone());
    let store = MySqlStore::connect_with(url, config).await.unwrap();
    store.setup().await.unwrap();
    (store, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_keys_compare_byte_for_byte() {
    let Some(url) = server_url("keys").await else {
        return;
    };
    let (store, _) = store(&url, "bytes").await;
    // Each pair is one key under MySQL's default collations (case, accents
    // and trailing spaces folded): here every one is a key of its own.
    let keys = [
        "Key", "key", "KEY", "\u{e9}", "e\u{301}", "e", "a", "a ", "a  ", "\u{df}", "ss",
    ];
    for (i, k) in keys.iter().enumerate() {
        store
            .put(&key(k), i.to_string().into(), PutMode::Create.into())
            .await
            .unwrap_or_else(|e| panic!("create {k:?}: {e}"));
    }
    for (i, k) in keys.iter().enumerate() {
        let entry = store.get(&key(k)).await.unwrap().unwrap();
        assert_eq!(entry.value, i.to_string().as_bytes(), "{k:?}");
    }
    let page = store.scan(None, 100).await.unwrap();
    assert_eq!(page.entries.len(), keys.len());
    // Byte order, as on every backend.
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    let scanned: Vec<&str> = page.entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(scanned, sorted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_longest_keys_and_owners_fit_the_indexes() {
    let Some(url) = server_url("longest").await else {
        return;
    };
    let (store, _) = store(&url, "longest").await;
    // Multi-byte characters up to the byte limits.
    let long_key = "\u{e9}".repeat(MAX_KEY_LEN / 2);
    let long_owner = Owner::new("\u{e9}".repeat(MAX_OWNER_LEN / 2)).unwrap();
    assert_eq!(long_key.len(), MAX_KEY_LEN);
    let options = PutOptions::new(PutMode::Create).owner(long_owner.clone());
    store
        .put(&key(&long_key), "v".into(), options)
        .await
        .unwrap();
    assert!(store.get(&key(&long_key)).await.unwrap().is_some());
    let listed = store.list_by_owner(&long_owner).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.as_str(), long_key);
    assert_eq!(store.delete_by_owner(&long_owner).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_writes_are_decided_by_the_statement_not_by_affected_rows() {
    let Some(url) = server_url("writes").await else {
        return;
    };
    let (store, clock) = store(&url, "writes").await;
    let k = key("k");
    let in_a_minute = clock.now().checked_add(Duration::from_secs(60)).unwrap();
    let created = store
        .put(
            &k,
            "one".into(),
            PutOptions::new(PutMode::Create).expires_at(in_a_minute),
        )
        .await
        .unwrap();
    // The same values again: MySQL counts an unchanged row as 0 (or 1)
    // affected rows; the store still tells a live entry apart.
    let again = store
        .put(
            &k,
            "one".into(),
            PutOptions::new(PutMode::Create).expires_at(in_a_minute),
        )
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyExists);
    // An upsert of the same value still writes a new version.
    let upserted = store
        .put(&k, "one".into(), PutMode::Upsert.into())
        .await
        .unwrap();
    assert_ne!(upserted.version, created.version);
    // Touching to the expiry it already has finds the entry.
    store.touch(&k, in_a_minute).await.unwrap();
    store.touch(&k, in_a_minute).await.unwrap();
    // Once expired, `Create` replaces it in the same single statement.
    clock.advance(Duration::from_secs(61));
    let replaced = store
        .put(&k, "two".into(), PutMode::Create.into())
        .await
        .unwrap();
    assert_ne!(replaced.version, upserted.version);
    assert_eq!(&store.get(&k).await.unwrap().unwrap().value[..], b"two");
    // A stale version is a mismatch; the right one writes.
    let stale = store
        .put(&k, "x".into(), PutMode::UpdateIf(created.version).into())
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::VersionMismatch);
    store
        .put(
            &k,
            "three".into(),
            PutMode::UpdateIf(replaced.version).into(),
        )
        .await
        .unwrap();
    // Versions do not repeat, also after a delete.
    assert!(store.delete(&k, None).await.unwrap());
    let recreated = store
        .put(&k, "four".into(), PutMode::Create.into())
        .await
        .unwrap();
    for old in [created.version, upserted.version, replaced.version] {
        assert_ne!(recreated.version, old);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn mysql_concurrent_creates_have_one_winner_and_no_deadlock_reaches_the_caller() {
    let Some(url) = server_url("creates").await else {
        return;
    };
    let (store, _) = store(&url, "creates").await;
    let store = Arc::new(store);
    const KEYS: usize = 40;
    const TASKS: usize = 16;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut won = Vec::new();
                for i in 0..KEYS {
                    let k = key(&format!("new-{i}"));
                    match store
                        .put(&k, t.to_string().into(), PutMode::Create.into())
                        .await
                    {
                        Ok(_) => won.push(i),
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                        Err(e) => panic!("task {t}, key {i}: {e}"),
                    }
                }
                (t, won)
            })
        })
        .collect();
    let mut winners = vec![Vec::new(); KEYS];
    for task in tasks {
        let (t, won) = task.await.unwrap();
        for i in won {
            winners[i].push(t);
        }
    }
    for (i, w) in winners.iter().enumerate() {
        assert_eq!(w.len(), 1, "key new-{i} was created by tasks {w:?}");
        let stored = store.get(&key(&format!("new-{i}"))).await.unwrap().unwrap();
        assert_eq!(stored.value, w[0].to_string().as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_a_refused_create_flags_its_own_statement_only() {
    let Some(url) = server_url("flag").await else {
        return;
    };
    // One connection: every statement runs in the session where a refused
    // `Create` set `LAST_INSERT_ID(1)`.
    let table = unique("flag");
    let config = MySqlConfig::default().namespace(&table).max_connections(1);
    let store = MySqlStore::connect_with(&url, config).await.unwrap();
    store.setup().await.unwrap();
    // A row an older version of the store wrote, its version from
    // `UUID_SHORT()`.
    sqlx::query(&format!(
        "INSERT INTO {table} (\"key\", value, version) \
         VALUES ('old', 'o', UUID_SHORT() & 9223372036854775807)"
    ))
    .execute(store.pool())
    .await
    .unwrap();
    let old = store.get(&key("old")).await.unwrap().unwrap();
    store
        .put(
            &key("old"),
            "n".into(),
            PutMode::UpdateIf(old.version).into(),
        )
        .await
        .unwrap();

    let k = key("k");
    let mut version = store
        .put(&k, "0".into(), PutMode::Create.into())
        .await
        .unwrap()
        .version;
    let mut versions = vec![version];
    for i in 0..200 {
        let refused = store
            .put(&k, "x".into(), PutMode::Create.into())
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::AlreadyExists, "{refused}");
        let (target, mode) = match i % 4 {
            0 => (k.clone(), PutMode::Upsert),
            1 => (k.clone(), PutMode::Update),
            2 => (k.clone(), PutMode::UpdateIf(version)),
            _ => (key(&format!("new-{i}")), PutMode::Create),
        };
        let value = i.to_string();
        let written = store
            .put(&target, value.clone().into(), mode.into())
            .await
            .unwrap_or_else(|e| panic!("{i}: {mode:?} after a refused create: {e}"))
            .version;
        let stored = store.get(&target).await.unwrap().unwrap();
        assert_eq!(
            (&stored.value[..], stored.version),
            (value.as_bytes(), written)
        );
        if target == k {
            version = written;
        }
        versions.push(written);
    }
    // Random 64-bit versions, stored in a signed BIGINT: both signs.
    assert!(versions.iter().any(|v| v.as_i64() < 0));
    assert!(versions.iter().any(|v| v.as_i64() > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_setup_concurrently_then_again() {
    let Some(url) = server_url("setup").await else {
        return;
    };
    let config = MySqlConfig::default().namespace(unique("setup"));
    let store = Arc::new(MySqlStore::connect_with(&url, config).await.unwrap());
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.setup().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    store.setup().await.unwrap();
    store
        .put(&key("k"), "v".into(), PutMode::Create.into())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_missing_and_foreign_tables_are_config_errors() {
    let Some(url) = server_url("tables").await else {
        return;
    };
    let missing = MySqlStore::connect_with(&url, MySqlConfig::default().namespace(unique("none")))
        .await
        .unwrap();
    let err = missing.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("call setup()"), "{err}");

    let foreign = unique("foreign");
    let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE TABLE {foreign} (id INT PRIMARY KEY)"))
        .execute(&pool)
        .await
        .unwrap();
    let store = MySqlStore::connect_with(&url, MySqlConfig::default().namespace(foreign))
        .await
        .unwrap();
    let err = store.setup().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("not a store table"), "{err}");
}

#[tokio::test]
async fn mysql_bad_credentials_and_unreachable_servers_do_not_show_the_password() {
    let Some(url) = server_url("credentials").await else {
        return;
    };
    let (_, rest) = url.split_once('@').unwrap();
    let wrong = format!("mysql://store:wrong-secret-123@{rest}");
    let err = MySqlStore::connect(&wrong).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wrong-secret-123"), "{shown}");

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = MySqlConfig::default().acquire_timeout(Duration::from_millis(500));
    let down = format!("mariadb://store:down-secret-456@127.0.0.1:{port}/store_test");
    let err = MySqlStore::connect_with(&down, config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("down-secret-456"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_concurrent_purges_count_each_row_once() {
    let Some(url) = server_url("purge").await else {
        return;
    };
    let (store, clock) = store(&url, "purge").await;
    let soon = clock.now().checked_add(Duration::from_secs(1)).unwrap();
    for i in 0..600 {
        let options = PutOptions::new(PutMode::Create).expires_at(soon);
        store
            .put(&key(&format!("k{i}")), "v".into(), options)
            .await
            .unwrap();
    }
    clock.advance(Duration::from_secs(2));
    let total = store_conformance::faults::purge_concurrently(&store, 4).await;
    assert_eq!(total, 600);
    assert!(store.scan(None, 10).await.unwrap().entries.is_empty());
}

/// Creates, upserts, conditional updates and deletes from 16 tasks on 20
/// neighbouring keys for 2 s: the writes that lock index gaps and rows in
/// every order. No error but the contract's outcomes reaches a caller (a
/// deadlock is run again inside the store), and the keys end readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn mysql_mixed_writes_on_neighbouring_keys_surface_no_deadlock() {
    let Some(url) = server_url("mixed").await else {
        return;
    };
    let (store, _) = store(&url, "mixed").await;
    let store = Arc::new(store);
    let until = std::time::Instant::now() + Duration::from_secs(2);
    let tasks: Vec<_> = (0..16u64)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut calls = 0u64;
                let mut i = t;
                while std::time::Instant::now() < until {
                    i = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let k = key(&format!("n{:02}", (i >> 33) % 20));
                    let result = match (i >> 40) % 4 {
                        0 => store
                            .put(&k, "c".into(), PutMode::Create.into())
                            .await
                            .map(drop),
                        1 => store
                            .put(&k, "u".into(), PutMode::Upsert.into())
                            .await
                            .map(drop),
                        2 => match store.get(&k).await {
                            Ok(Some(e)) => store
                                .put(&k, "x".into(), PutMode::UpdateIf(e.version).into())
                                .await
                                .map(drop),
                            other => other.map(drop),
                        },
                        _ => store.delete(&k, None).await.map(drop),
                    };
                    match result {
                        Ok(()) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::AlreadyExists
                                    | ErrorKind::VersionMismatch
                                    | ErrorKind::NotFound
                            ) => {}
                        Err(e) => panic!("task {t}: {e}"),
                    }
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for task in tasks {
        calls += task.await.unwrap();
    }
    assert!(calls > 100, "{calls} calls");
    for n in 0..20 {
        store.get(&key(&format!("n{n:02}"))).await.unwrap();
    }
}

/// A real deadlock: another transaction holds `b` and has written much
/// more, the store's `delete_by_owner` takes `a` and waits for `b`, then the
/// other transaction asks for `a`. InnoDB rolls back the lighter side, the
/// store's statement; the store runs it again, and once the other
/// transaction commits the call deletes both entries without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_a_statement_a_deadlock_rolled_back_is_run_again() {
    use sqlx::Connection as _;
    let Some(url) = server_url("deadlock").await else {
        return;
    };
    let (store, _) = store(&url, "deadlock").await;
    let owner = Owner::new("o").unwrap();
    for k in ["a", "b"] {
        let options = PutOptions::new(PutMode::Create).owner(owner.clone());
        store.put(&key(k), "v".into(), options).await.unwrap();
    }
    for i in 0..200 {
        store
            .put(
                &key(&format!("filler{i}")),
                "v".into(),
                PutMode::Create.into(),
            )
            .await
            .unwrap();
    }
    let table = store.namespace().to_owned();
    let mut other = sqlx::MySqlConnection::connect(&url).await.unwrap();
    sqlx::query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    // Heavy: 200 rows written, so InnoDB picks the store's side as victim.
    sqlx::query(&format!(
        "UPDATE \"{table}\" SET value = 'w' WHERE \"key\" LIKE 'filler%'"
    ))
    .execute(&mut other)
    .await
    .unwrap();
    sqlx::query(&format!(
        "SELECT 1 FROM \"{table}\" WHERE \"key\" = 'b' FOR UPDATE"
    ))
    .execute(&mut other)
    .await
    .unwrap();
    let deleting = {
        let store = store.clone();
        let owner = owner.clone();
        tokio::spawn(async move { store.delete_by_owner(&owner).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Waits for `a`, which the store holds while it waits for `b`: a
    // deadlock, decided at once.
    let asked = sqlx::query(&format!(
        "SELECT 1 FROM \"{table}\" WHERE \"key\" = 'a' FOR UPDATE"
    ))
    .execute(&mut other)
    .await;
    assert!(asked.is_ok(), "the heavier transaction survives: {asked:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let deleted = deleting
        .await
        .unwrap()
        .expect("run again after the deadlock");
    assert_eq!(deleted, 2);
}

/// The MariaDB port inside a container.
const CONTAINER_PORT: u16 = 3306;
/// Where a container's TLS files are copied.
const CONTAINER_TLS_DIR: &str = "/store-rs/tls";

/// A MariaDB server of the test's own, with a certificate from a test CA
/// for the host clients reach it at, a database `store_test` and a user
/// `store` (password `tls-secret`) with every right on it: a `mariadbd` of
/// the host on a free loopback port, or a container of the MariaDB image
/// (see the module documentation). Stopped and removed on drop.
struct OwnMariadb {
    /// The certificates (and, on the host, the data directory, the socket
    /// and the log).
    dir: tempfile::TempDir,
    port: u16,
    server: Server,
}

enum Server {
    Host(std::process::Child),
    Container(Box<ServerContainer>),
}

impl OwnMariadb {
    async fn start(test: &str) -> Option<Self> {
        let bin = std::env::var_os("STORE_TEST_MYSQL_SERVER").filter(|b| !b.is_empty());
        if container::own_server_in_container(bin.is_some()).await {
            Some(Self::start_container(test).await)
        } else if let Some(bin) = bin {
            Some(Self::start_host(&bin))
        } else {
            provision::skip(
                test,
                "STORE_TEST_MYSQL_SERVER is not set (or run the servers in containers: \
                 STORE_TEST_MODE=containers)",
            )
        }
    }

    fn start_host(bin: &std::ffi::OsStr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        let user = if is_root() { "root".to_owned() } else { user };
        store_conformance::pki::write_test_pki(dir.path(), &["localhost"]);
        let root = dir.path().to_owned();
        let path = |name: &str| root.join(name).display().to_string();
        run(std::process::Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--user={user}"))
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"]));
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let server = std::process::Command::new(bin)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--user={user}"))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", path("sock")))
            .arg(format!("--ssl-cert={}", path("server.pem")))
            .arg(format!("--ssl-key={}", path("server.key")))
            .arg(format!("--ssl-ca={}", path("ca.pem")))
            .args(["--bind-address=127.0.0.1", "--skip-log-bin"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(path("log")).unwrap())
            .spawn()
            .unwrap();
        let own = Self {
            dir,
            port,
            server: Server::Host(server),
        };
        let sql = "CREATE DATABASE store_test; \
                   CREATE USER 'store'@'%' IDENTIFIED BY 'tls-secret'; \
                   GRANT ALL ON *.* TO 'store'@'%';";
        let started = std::time::Instant::now();
        loop {
            let done = std::process::Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", path("sock")))
                .arg(format!("-u{user}"))
                .args(["-e", sql])
                .output()
                .unwrap();
            if done.status.success() {
                return own;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "mariadbd did not start: {}",
                std::fs::read_to_string(path("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A container of the MariaDB image: the image's entrypoint makes the
    /// database and the user from the official variables, and hands the
    /// `--ssl-*` arguments to `mariadbd`. The key is copied in readable by
    /// the `mysql` user the server runs as (MariaDB does not check a key's
    /// mode; the container is the test's alone).
    async fn start_container(test: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let host = container::host(Service::MySql)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store_conformance::pki::write_test_pki(dir.path(), &[host.as_str()]);
        let mut spec = ServerSpec::new(Service::MySql)
            .env("MARIADB_RANDOM_ROOT_PASSWORD", "1")
            .env("MARIADB_DATABASE", "store_test")
            .env("MARIADB_USER", "store")
            .env("MARIADB_PASSWORD", "tls-secret")
            .publish(CONTAINER_PORT)
            // The init server listens on no port ("port: 0"): this is the server.
            .ready_on_stderr(format!("port: {CONTAINER_PORT}"));
        for name in ["server.pem", "server.key", "ca.pem"] {
            let contents = std::fs::read(dir.path().join(name)).unwrap();
            spec = spec.file(format!("{CONTAINER_TLS_DIR}/{name}"), contents, 0o644);
        }
        spec = spec
            .arg(format!("--ssl-cert={CONTAINER_TLS_DIR}/server.pem"))
            .arg(format!("--ssl-key={CONTAINER_TLS_DIR}/server.key"))
            .arg(format!("--ssl-ca={CONTAINER_TLS_DIR}/ca.pem"))
            .arg("--skip-log-bin");
        let container = ServerContainer::start(spec)
            .await
            .unwrap_or_else(|e| panic!("{test}: {e}"));
        assert_eq!(container.host(), host, "the certificate names another host");
        Self {
            dir,
            port: container.port(CONTAINER_PORT),
            server: Server::Container(Box::new(container)),
        }
    }

    fn url(&self, host: &str, params: &str) -> String {
        format!(
            "mysql://store:tls-secret@{host}:{}/store_test?{params}",
            self.port
        )
    }

    /// The host name the server's certificate names, and another name of
    /// the same server that it does not.
    async fn tls_names(&self) -> (String, String) {
        match &self.server {
            Server::Host(_) => ("localhost".to_owned(), "127.0.0.1".to_owned()),
            Server::Container(c) => (
                c.host().to_owned(),
                common::another_name(c.host(), self.port).await,
            ),
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Drop for OwnMariadb {
    fn drop(&mut self) {
        // A container is removed when `server` drops.
        if let Server::Host(child) = &mut self.server {
            // mariadbd shuts down on SIGTERM.
            let _ = std::process::Command::new("kill")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

/// TLS: `ssl-mode=VERIFY_IDENTITY` with the test CA connects and the
/// session is encrypted; an unknown CA or a host name the certificate does
/// not name is a `Config` error without the password; `ssl-mode=REQUIRED`
/// encrypts without checking the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_tls_verify_identity_with_a_test_ca() {
    let Some(server) = OwnMariadb::start("mysql_tls").await else {
        return;
    };
    let (named, unnamed) = server.tls_names().await;
    eprintln!("the certificate names {named}; {unnamed} reaches the same server");
    let ca = server.file("ca.pem");
    let other = server.file("other-ca.pem");
    let verified = server.url(&named, &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"));
    let store = MySqlStore::connect(&verified).await.unwrap();
    store.setup().await.unwrap();
    store_conformance::pki::assert_round_trip(&store).await;
    let (_, cipher): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(!cipher.is_empty(), "the session is not encrypted");

    let config = || MySqlConfig::default().acquire_timeout(Duration::from_secs(2));
    for (case, bad) in [
        (
            "an unknown CA",
            server.url(&named, &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={other}")),
        ),
        (
            "a host the certificate does not name",
            server.url(&unnamed, &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}")),
        ),
    ] {
        let err = MySqlStore::connect_with(&bad, config()).await.unwrap_err();
        store_conformance::pki::assert_refused(case, &err, "tls-secret");
    }

    let encrypted = MySqlStore::connect(&server.url(&unnamed, "ssl-mode=REQUIRED"))
        .await
        .unwrap();
    assert!(encrypted.get(&key("k")).await.unwrap().is_some());
}
