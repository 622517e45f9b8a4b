//! Tests of `SqliteStore` beyond the conformance suite: concurrent
//! `setup()` from separate pools, expiry stored as integer milliseconds,
//! writers from several pools on one file never failing with "database is
//! locked", the busy timeout, versions that are not reused after a reopen,
//! random versions, a table set up by an older version of the store,
//! in-memory databases, and clear errors for a missing or foreign table,
//! bad names, an unopenable file and corrupt rows.

use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use store_core::{
    Clock, ErrorKind, Expiry, Key, ManualClock, Owner, PutMode, PutOptions, Store, StoreExt,
    SystemClock,
};
use store_sqlx::{SqliteConfig, SqliteStore};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

struct TempDb {
    dir: tempfile::TempDir,
}

impl TempDb {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("store.db").display())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_setup_concurrently_from_separate_pools() {
    let db = TempDb::new();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url();
            tokio::spawn(async move {
                let store = SqliteStore::connect(&url).await?;
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
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let objects: Vec<(String, String)> = sqlx::query_as(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let names: Vec<String> = objects.iter().map(|(t, n)| format!("{t} {n}")).collect();
    assert_eq!(
        names,
        [
            "index store_entries_expires_at_idx",
            "index store_entries_owner_idx",
            "table store_entries",
        ]
    );
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_expiry_is_stored_as_integer_milliseconds() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.setup().await.unwrap();
    let at = Expiry::from_unix_millis(SystemClock.now().as_unix_millis() + 3_600_123).unwrap();
    store
        .put(&key("k"), "v".into(), PutOptions::default().expires_at(at))
        .await
        .unwrap();
    let (stored, ty): (i64, String) =
        sqlx::query_as("SELECT expires_at, typeof(expires_at) FROM store_entries")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((stored, ty.as_str()), (at.as_unix_millis(), "integer"));
    assert_eq!(
        store.get(&key("k")).await.unwrap().unwrap().expires_at,
        Some(at)
    );
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN DELETE FROM store_entries WHERE key IN \
         (SELECT key FROM store_entries WHERE expires_at <= 1 ORDER BY expires_at LIMIT 10)",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(
        plan.iter()
            .any(|(.., d)| d.contains("store_entries_expires_at_idx")),
        "the purge uses the expiry index: {plan:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writers_from_several_pools_never_see_a_locked_database() {
    let db = TempDb::new();
    let first = SqliteStore::connect(&db.url()).await.unwrap();
    first.setup().await.unwrap();
    let counter = key("counter");
    first
        .put_typed(&counter, &0u64, PutOptions::default())
        .await
        .unwrap();
    // Four pools are four processes; each runs 8 tasks of read-modify-CAS.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        for t in 0..8 {
            let store = store.clone();
            let counter = counter.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    loop {
                        let cur = store.get_typed::<u64>(&counter).await?.expect("counter");
                        let next = PutOptions::new(PutMode::UpdateIf(cur.version));
                        match store.put_typed(&counter, &(cur.value + 1), next).await {
                            Ok(_) => break,
                            Err(e) if e.kind() == ErrorKind::VersionMismatch => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    let k = Key::new(format!("t{t}-{i}"))?;
                    store.put(&k, "x".into(), PutOptions::default()).await?;
                }
                Ok::<_, store_core::Error>(())
            }));
        }
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("no write fails with a locked database");
    }
    let total: u64 = first.get_typed(&counter).await.unwrap().unwrap().value;
    assert_eq!(total, 4 * 8 * 25, "every increment landed exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_busy_timeout_then_unavailable_then_recovery() {
    let db = TempDb::new();
    let config = SqliteConfig::default().busy_timeout(Duration::from_millis(200));
    let store = SqliteStore::connect_with(&db.url(), config).await.unwrap();
    store.setup().await.unwrap();
    let mut other = SqliteConnection::connect(&db.url()).await.unwrap();
    let tx = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let err = store
        .put(&key("k"), "v".into(), PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(err.message().contains("busy timeout"), "{err}");
    tx.commit().await.unwrap();
    store
        .put(&key("k"), "v".into(), PutOptions::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_operation_timeout_bounds_a_whole_call() {
    let db = TempDb::new();
    let config = SqliteConfig::default()
        .busy_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_millis(200));
    let store = SqliteStore::connect_with(&db.url(), config).await.unwrap();
    store.setup().await.unwrap();
    let mut other = SqliteConnection::connect(&db.url()).await.unwrap();
    let tx = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let started = std::time::Instant::now();
    let err = store
        .put(&key("k"), "v".into(), PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(err.message().contains("operation_timeout"), "{err}");
    tx.commit().await.unwrap();
    store
        .put(&key("k"), "v".into(), PutOptions::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_versions_are_not_reused_across_reopens() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    store.setup().await.unwrap();
    let first = store
        .put(&key("k"), "1".into(), PutOptions::default())
        .await
        .unwrap()
        .version;
    assert!(store.delete(&key("k"), None).await.unwrap());
    store.pool().close().await;

    let store = SqliteStore::connect(&db.url()).await.unwrap();
    store.setup().await.unwrap();
    let again = store
        .put(&key("k"), "2".into(), PutOptions::new(PutMode::Create))
        .await
        .unwrap()
        .version;
    assert_ne!(again, first);
    let err = store
        .put(
            &key("k"),
            "3".into(),
            PutOptions::new(PutMode::UpdateIf(first)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VersionMismatch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_databases_are_private_and_not_shared() {
    let a = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let b = SqliteStore::connect("sqlite::memory:").await.unwrap();
    a.setup().await.unwrap();
    b.setup().await.unwrap();
    a.put(&key("k"), "a".into(), PutOptions::default())
        .await
        .unwrap();
    assert!(b.get(&key("k")).await.unwrap().is_none());
    assert!(!a.capabilities().shared);
    let file = TempDb::new();
    let f = SqliteStore::connect(&file.url()).await.unwrap();
    assert!(f.capabilities().shared);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_missing_and_foreign_tables_are_config_errors() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    for err in [
        store.get(&key("k")).await.unwrap_err(),
        store
            .put(&key("k"), "v".into(), PutOptions::default())
            .await
            .unwrap_err(),
        store
            .list_by_owner(&Owner::new("o").unwrap())
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.message().contains("call setup()"), "{err}");
    }
    sqlx::query("CREATE TABLE sessions (id TEXT PRIMARY KEY, data BLOB, expiry_date INTEGER)")
        .execute(store.pool())
        .await
        .unwrap();
    let err = store
        .with_namespace("sessions")
        .unwrap()
        .setup()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("table sessions"), "{err}");
    assert!(err.message().contains("has no column key"), "{err}");
    let versions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE 'sessions_%'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(versions, 0, "nothing was created beside the foreign table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_corrupt_rows_are_encoding_errors_for_that_key_only() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.setup().await.unwrap();
    store
        .put(&key("good"), "v".into(), PutOptions::default())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO store_entries (key, value, version, expires_at, owner) VALUES \
         ('text-expiry', x'00', 1, '2999-01-01T00:00:00Z', NULL), \
         ('text-version', x'00', 'two', NULL, NULL), \
         ('huge-expiry', x'00', 3, 9223372036854775807, NULL)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    for bad in ["text-expiry", "text-version", "huge-expiry"] {
        let err = store.get(&key(bad)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding, "{bad}: {err}");
    }
    assert_eq!(
        &store.get(&key("good")).await.unwrap().unwrap().value[..],
        b"v"
    );
}

#[tokio::test]
async fn sqlite_bad_names_urls_and_files_are_config_errors() {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    for config in [
        SqliteConfig::default().namespace("Sessions"),
        SqliteConfig::default().namespace("sqlite_master"),
        SqliteConfig::default().namespace("x;drop"),
        SqliteConfig::default().purge_batch(0),
        SqliteConfig::default().max_value_len(usize::MAX),
        SqliteConfig::default().max_connections(0),
    ] {
        let err = SqliteStore::with_config(pool.clone(), config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
    for url in [
        "sqlite:///nonexistent-dir/sub/app.db",
        "sqlite:app.db?mode=bogus",
    ] {
        let err = SqliteStore::connect(url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_purge_runs_in_batches() {
    let clock = ManualClock::starting_now();
    let config = SqliteConfig::default().purge_batch(7).clock(clock.clone());
    let store = SqliteStore::connect_with("sqlite::memory:", config)
        .await
        .unwrap();
    store.setup().await.unwrap();
    let soon = clock.now().checked_add(Duration::from_secs(1)).unwrap();
    for i in 0..50 {
        let k = Key::new(format!("k{i}")).unwrap();
        store
            .put(&k, "v".into(), PutOptions::default().expires_at(soon))
            .await
            .unwrap();
    }
    store
        .put(&key("live"), "v".into(), PutOptions::default())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(store.delete_expired().await.unwrap(), 50);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM store_entries")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_versions_are_random_64_bit_values_never_0() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.setup().await.unwrap();
    let mut versions = Vec::new();
    for i in 0..2000 {
        let k = Key::new(format!("k{}", i % 10)).unwrap();
        let written = store
            .put(&k, "v".into(), PutOptions::default())
            .await
            .unwrap()
            .version;
        // Stored as the signed 64-bit integer it maps to, read back exactly.
        assert_eq!(store.get(&k).await.unwrap().unwrap().version, written);
        versions.push(written.as_u64());
    }
    assert!(!versions.contains(&0));
    let mut distinct = versions.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), versions.len(), "no version twice");
    // Not a counter: both halves of the range, far apart. (Each fails by
    // chance with probability below 2^-1000.)
    assert!(versions.iter().any(|&v| v >= 1 << 63));
    assert!(versions.iter().any(|&v| v < 1 << 63));
    assert!(versions.windows(2).any(|w| w[0].abs_diff(w[1]) > 1 << 40));
}

/// The schema an older version of the store created: versions from a
/// one-row table kept by two triggers.
const OLD_SCHEMA: [&str; 6] = [
    "CREATE TABLE \"store_entries\" (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, \
     version INTEGER NOT NULL, expires_at INTEGER, owner TEXT)",
    "CREATE TABLE \"store_entries_versions\" (id INTEGER PRIMARY KEY CHECK (id = 1), \
     last INTEGER NOT NULL)",
    "INSERT INTO \"store_entries_versions\" (id, last) VALUES (1, 0)",
    "CREATE TRIGGER \"store_entries_version_on_insert\" AFTER INSERT ON \"store_entries\" \
     BEGIN UPDATE \"store_entries_versions\" SET last = NEW.version \
     WHERE id = 1 AND last < NEW.version; END",
    "CREATE TRIGGER \"store_entries_version_on_update\" AFTER UPDATE OF version \
     ON \"store_entries\" BEGIN UPDATE \"store_entries_versions\" SET last = NEW.version \
     WHERE id = 1 AND last < NEW.version; END",
    "CREATE INDEX \"store_entries_owner_idx\" ON \"store_entries\" (owner, key) \
     WHERE owner IS NOT NULL",
];

/// How an older version of the store wrote: the next version from the
/// versions table.
const OLD_UPSERT: &str = "INSERT INTO \"store_entries\" AS t (key, value, version, expires_at, owner) \
     VALUES (?1, ?2, (SELECT last + 1 FROM \"store_entries_versions\" WHERE id = 1), NULL, NULL) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version \
     RETURNING version";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_setup_on_a_table_of_an_older_version_drops_its_version_triggers() {
    let db = TempDb::new();
    let mut old = SqliteConnection::connect(&format!("{}?mode=rwc", db.url()))
        .await
        .unwrap();
    for statement in OLD_SCHEMA {
        sqlx::query(statement).execute(&mut old).await.unwrap();
    }
    // A table of the user's named like a versions table, without triggers.
    sqlx::query("CREATE TABLE sessions_versions (id INTEGER, last INTEGER)")
        .execute(&mut old)
        .await
        .unwrap();
    let old_version: i64 = sqlx::query_scalar(OLD_UPSERT)
        .bind("old")
        .bind(&b"1"[..])
        .fetch_one(&mut old)
        .await
        .unwrap();
    assert_eq!(old_version, 1);

    let store = SqliteStore::connect(&db.url()).await.unwrap();
    // Before setup() the store already writes on the old table.
    store
        .put(&key("early"), "e".into(), PutOptions::default())
        .await
        .unwrap();
    store.setup().await.unwrap();
    let sessions = store.with_namespace("sessions").unwrap();
    sessions.setup().await.unwrap();
    let objects: Vec<String> =
        sqlx::query_scalar("SELECT type || ' ' || name FROM sqlite_master ORDER BY name")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let kept: Vec<&str> = objects
        .iter()
        .map(String::as_str)
        .filter(|o| o.contains("store_entries") && !o.contains("autoindex"))
        .collect();
    assert_eq!(
        kept,
        [
            "table store_entries",
            "index store_entries_expires_at_idx",
            "index store_entries_owner_idx",
        ],
        "the triggers and the versions table are gone"
    );
    assert!(
        objects.iter().any(|o| o == "table sessions_versions"),
        "a versions table without the store's triggers is not the store's: {objects:?}"
    );

    // The entries written before stay readable and writable by version.
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
    assert_eq!(store.get(&key("early")).await.unwrap().unwrap().value, "e");
    store.setup().await.unwrap();

    // A process of the older version fails rather than handing out a
    // version again.
    let err = sqlx::query_scalar::<_, i64>(OLD_UPSERT)
        .bind("old")
        .bind(&b"3"[..])
        .fetch_one(&mut old)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("store_entries_versions"), "{err}");
    assert_eq!(
        &store.get(&key("old")).await.unwrap().unwrap().value[..],
        b"2"
    );
}

/// Reads the value under `k` as a counter.
async fn bump(store: &SqliteStore, k: &Key) -> store_core::Result<()> {
    loop {
        let cur = store.get_typed::<u64>(k).await?.expect("counter");
        let next = PutOptions::new(PutMode::UpdateIf(cur.version));
        match store.put_typed(k, &(cur.value + 1), next).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::VersionMismatch => continue,
            Err(e) => return Err(e),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writers_of_one_store_never_wait_on_the_database_lock() {
    let db = TempDb::new();
    // No busy timeout: a write that found the lock taken would fail at
    // once with "database is locked".
    let config = SqliteConfig::default().busy_timeout(Duration::ZERO);
    let store = SqliteStore::connect_with(&db.url(), config).await.unwrap();
    store.setup().await.unwrap();
    let tokens = store.with_namespace("tokens").unwrap();
    tokens.setup().await.unwrap();
    let counter = key("counter");
    store
        .put_typed(&counter, &0u64, PutOptions::default())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let (store, tokens, counter) = (store.clone(), tokens.clone(), counter.clone());
            tokio::spawn(async move {
                for i in 0..20 {
                    bump(&store, &counter).await?;
                    let k = Key::new(format!("t{t}-{i}"))?;
                    let at = SystemClock.now().checked_add(Duration::from_secs(60))?;
                    tokens
                        .put(
                            &k,
                            "x".into(),
                            PutOptions::new(PutMode::Create).expires_at(at),
                        )
                        .await?;
                    tokens.touch(&k, at).await?;
                    if i % 2 == 0 {
                        assert!(tokens.delete(&k, None).await?);
                    }
                }
                Ok::<_, store_core::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("no write meets a locked database");
    }
    let total: u64 = store.get_typed(&counter).await.unwrap().unwrap().value;
    assert_eq!(total, 32 * 20, "every increment landed exactly once");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tokens")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 32 * 10);
}

/// The frames in the write-ahead log of the database at `url`: it only
/// grows until a checkpoint (after 1000 pages by default).
fn wal_frames(db: &TempDb) -> u64 {
    let wal = db.dir.path().join("store.db-wal");
    let len = std::fs::metadata(wal).map_or(0, |m| m.len());
    len.saturating_sub(32) / (4096 + 24)
}

/// Runs `writes` (a store and a put of `k{i}`, for `i` in `0..n`) from as
/// many tasks while another connection holds the write lock, so that they
/// queue up together; returns each result, in order.
async fn queued_together(
    db: &TempDb,
    n: usize,
    write: impl Fn(usize) -> tokio::task::JoinHandle<store_core::Result<store_core::PutResult>>,
) -> Vec<store_core::Result<store_core::PutResult>> {
    let mut other = SqliteConnection::connect(&db.url()).await.unwrap();
    let tx = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let tasks: Vec<_> = (0..n).map(write).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.commit().await.unwrap();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writes_queued_together_commit_together() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    store.setup().await.unwrap();
    store
        .put(&key("taken"), "t".into(), PutOptions::default())
        .await
        .unwrap();
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(page_size, 4096);
    let before = wal_frames(&db);
    let results = queued_together(&db, 40, |i| {
        let store = store.clone();
        tokio::spawn(async move {
            match i % 10 {
                // Refused: the key is live.
                0 => {
                    store
                        .put(&key("taken"), "x".into(), PutMode::Create.into())
                        .await
                }
                _ => {
                    let k = Key::new(format!("k{i}")).unwrap();
                    store.put(&k, "v".into(), PutMode::Create.into()).await
                }
            }
        })
    })
    .await;
    for (i, result) in results.into_iter().enumerate() {
        if i % 10 == 0 {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::AlreadyExists);
        } else {
            let k = Key::new(format!("k{i}")).unwrap();
            let stored = store.get(&k).await.unwrap().unwrap();
            assert_eq!(stored.version, result.unwrap().version);
        }
    }
    // 36 writes one by one would add a frame each at least.
    let frames = wal_frames(&db) - before;
    assert!(frames < 12, "{frames} frames for 36 writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writes_queued_together_each_get_their_own_result() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    store.setup().await.unwrap();
    store
        .put(&key("taken"), "t".into(), PutOptions::default())
        .await
        .unwrap();
    // A table nobody set up: its writes fail among the others.
    let unset = store.with_namespace("never_set_up").unwrap();
    let results = queued_together(&db, 40, |i| {
        let (store, unset) = (store.clone(), unset.clone());
        tokio::spawn(async move {
            let k = Key::new(format!("k{i}")).unwrap();
            match i % 10 {
                0 => {
                    store
                        .put(&key("taken"), "x".into(), PutMode::Create.into())
                        .await
                }
                1 | 7 => unset.put(&k, "x".into(), PutOptions::default()).await,
                _ => store.put(&k, "v".into(), PutMode::Create.into()).await,
            }
        })
    })
    .await;
    for (i, result) in results.into_iter().enumerate() {
        let k = Key::new(format!("k{i}")).unwrap();
        match i % 10 {
            0 => assert_eq!(result.unwrap_err().kind(), ErrorKind::AlreadyExists),
            1 | 7 => {
                let err = result.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Config, "{err}");
                assert!(err.message().contains("call setup()"), "{err}");
                assert!(store.get(&k).await.unwrap().is_none());
            }
            _ => {
                let written = result.unwrap().version;
                assert_eq!(store.get(&k).await.unwrap().unwrap().version, written);
            }
        }
    }
    assert_eq!(
        &store.get(&key("taken")).await.unwrap().unwrap().value[..],
        b"t"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writes_whose_callers_left_are_not_run_and_the_writer_goes_on() {
    let db = TempDb::new();
    let config = SqliteConfig::default()
        .busy_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_millis(100));
    let store = SqliteStore::connect_with(&db.url(), config).await.unwrap();
    store.setup().await.unwrap();
    let mut other = SqliteConnection::connect(&db.url()).await.unwrap();
    let tx = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let k = Key::new(format!("left{i}")).unwrap();
                store.put(&k, "v".into(), PutOptions::default()).await
            })
        })
        .collect();
    // And callers that drop their write's future themselves.
    for i in 0..10 {
        let k = Key::new(format!("dropped{i}")).unwrap();
        let write = store.put(&k, "v".into(), PutOptions::default());
        assert!(
            tokio::time::timeout(Duration::from_millis(5), write)
                .await
                .is_err()
        );
    }
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.message().contains("operation_timeout"), "{err}");
    }
    tx.commit().await.unwrap();
    // The writer goes on, once the write it had started has the lock
    // (SQLite's busy handler sleeps up to 100 ms between tries), not
    // after the busy timeout ...
    let started = std::time::Instant::now();
    let again = Duration::from_secs(2);
    tokio::time::timeout(again, async {
        while store
            .put(&key("after"), "a".into(), PutOptions::default())
            .await
            .is_err()
        {}
    })
    .await
    .unwrap();
    assert!(started.elapsed() < again);
    // ... and ran none of the writes withdrawn before it reached them: at
    // most the one it was running when the lock was released.
    let ran: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM store_entries WHERE key LIKE 'left%' OR key LIKE 'dropped%'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(ran <= 1, "{ran} withdrawn writes ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writes_after_the_pool_closed_fail_for_good() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    store.setup().await.unwrap();
    store
        .put(&key("k"), "v".into(), PutOptions::default())
        .await
        .unwrap();
    store.pool().close().await;
    for err in [
        store
            .put(&key("k"), "w".into(), PutOptions::default())
            .await
            .unwrap_err(),
        store.delete(&key("k"), None).await.unwrap_err(),
        store.get(&key("k")).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(!err.is_retryable(), "{err}");
        assert!(err.message().contains("pool was closed"), "{err}");
    }
    let reopened = SqliteStore::connect(&db.url()).await.unwrap();
    assert_eq!(
        &reopened.get(&key("k")).await.unwrap().unwrap().value[..],
        b"v"
    );
}

/// A store that keeps connections between calls may be made on one
/// runtime, used on others, and dropped after they all ended, outside any
/// runtime: it never panics, and the database file holds what was written.
#[test]
fn sqlite_store_outlives_the_runtimes_that_used_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let store = runtime().block_on(async {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.setup().await.unwrap();
        store
    });
    for round in 0..3 {
        runtime().block_on(async {
            for i in 0..20 {
                let k = key(&format!("k{i}"));
                store
                    .put(&k, format!("{round}").into(), PutOptions::default())
                    .await
                    .unwrap();
                assert!(store.get(&k).await.unwrap().is_some());
            }
        });
    }
    drop(store);
    let read = runtime().block_on(async {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.get(&key("k7")).await.unwrap().unwrap()
    });
    assert_eq!(&read.value[..], b"2");
}
