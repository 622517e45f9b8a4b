//! `storectl` through its binary, against memory, SQLite and real Redis,
//! PostgreSQL and MongoDB servers (from `STORE_TEST_*_URL`; with
//! `STORE_TEST_REQUIRE=1` a missing server fails the test).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use store::{Clock, Key, PutMode, PutOptions, Store, SystemClock};

use crate::common::{
    Backend, Kind, Shape, backend, contents, copy_args, fails, ok, seed, sqlite_pool, sqlx_exec,
    storectl,
};

/// Writes `n` entries `short-…` that expire in 800 ms, and waits until they
/// have.
async fn seed_expiring(store: &dyn Store, n: usize) {
    let expiry = SystemClock
        .now()
        .checked_add(Duration::from_millis(800))
        .expect("expiry");
    for i in 0..n {
        let opts = PutOptions::new(PutMode::Create).expires_at(expiry);
        store
            .put(
                &Key::new(format!("short-{i}")).expect("key"),
                "x".into(),
                opts,
            )
            .await
            .expect("seed expiring");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
}

/// Every command on one backend, checked against the data through the
/// library.
async fn end_to_end(kind: Kind) {
    let Some(b) = backend(kind).await else { return };
    let t = b.target();
    for _ in 0..2 {
        let out = ok(&[&["migrate-schema"][..], &t].concat());
        assert!(
            out.contains("schema ready") || out.contains("nothing to set up"),
            "{out}"
        );
    }
    let store = b.open().await;
    let seeded = seed(&*store, 40).await;
    seed_expiring(&*store, 3).await;

    let stats: serde_json::Value =
        serde_json::from_str(&ok(&[&["stats", "--json"][..], &t].concat())).expect("JSON stats");
    assert_eq!(stats["live"], 40);
    assert_eq!(stats["owners"], 2);
    assert_eq!(stats["top_owners"][0]["owner"], "alice");
    assert_eq!(stats["top_owners"][0]["entries"], 6);
    assert_eq!(stats["top_owners"][1]["entries"], 3);
    assert_eq!(stats["without_owner"], 31);
    assert_eq!(stats["without_expiry"], 20);
    let value_bytes: usize = seeded.values().map(|s| s.0.len()).sum();
    assert_eq!(stats["value_bytes"], value_bytes);
    let text = ok(&[&["stats", "--top", "1"][..], &t].concat());
    assert!(text.contains("live entries:        40"), "{text}");

    let purged = ok(&[&["purge-expired", "--batch", "2"][..], &t].concat());
    match kind {
        Kind::Sqlite | Kind::Postgres | Kind::MySql => {
            assert_eq!(stats["expired_not_purged"], 3);
            assert_eq!(purged.trim(), "purged 3 expired entries");
        }
        Kind::Redis => {
            assert_eq!(stats["expired_not_purged"], 0);
            assert!(
                purged.contains("redis removes expired entries itself"),
                "{purged}"
            );
        }
        Kind::MongoDb => {
            // The TTL monitor may have removed some already (`native_ttl`);
            // the purge counts what it removed itself, never more.
            let shown = stats["expired_not_purged"].as_u64().expect("a count");
            assert!(shown <= 3, "{stats}");
            let removed: u64 = purged
                .trim()
                .strip_prefix("purged ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no count in {purged}"));
            assert!(removed <= shown, "{purged}, {shown} shown expired");
            if removed == 0 {
                assert!(purged.contains("mongodb removes expired entries itself"));
            }
        }
    }
    let again = ok(&[&["stats", "--json"][..], &t].concat());
    assert!(again.contains("\"expired_not_purged\": 0"), "{again}");

    let listed = ok(&[&["list", "--owner", "alice"][..], &t].concat());
    for k in ["k-0000", "k-0007", "k-0014", "k-0021", "k-0028", "k-0035"] {
        assert!(listed.contains(k), "{k} missing from\n{listed}");
    }
    assert!(listed.contains("6 entries of owner alice"), "{listed}");
    let json_lines = ok(&[&["list", "--owner", "bob", "--json"][..], &t].concat());
    assert_eq!(json_lines.lines().count(), 3, "{json_lines}");

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("export.jsonl");
    let file = file.to_str().expect("UTF-8 path");
    ok(&[&["export", "--batch", "7", "-o", file][..], &t].concat());
    let exported = std::fs::read_to_string(file).expect("export file");
    assert_eq!(exported.lines().count(), 40);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .expect("export file")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "an export is readable by its owner only"
        );
        assert!(!Path::new(&format!("{file}.partial")).exists());
    }

    let out = ok(&[&["revoke", "--owner", "alice"][..], &t].concat());
    assert_eq!(out.trim(), "revoked 6 entries of owner alice");
    let after = contents(&*store).await;
    assert_eq!(after.len(), 34);
    assert!(after.values().all(|s| s.2.as_deref() != Some("alice")));
    let listed = ok(&[&["list", "--owner", "bob"][..], &t].concat());
    assert!(listed.contains("3 entries of owner bob"), "{listed}");

    // The export, imported into another namespace, is the seeded data.
    let other = b.sibling();
    let o = other.target();
    let out = ok(&[&["import", "-i", file][..], &o].concat());
    assert!(
        out.starts_with("imported 40 entries (kept existing: 0"),
        "{out}"
    );
    let out = ok(&[&["import", "-i", file][..], &o].concat());
    assert!(
        out.starts_with("imported 0 entries (kept existing: 40"),
        "{out}"
    );
    assert_eq!(contents(&*other.open().await).await, seeded);
}

/// Copies `from` into `to` and checks the destination holds exactly the
/// live entries of the source, to the millisecond.
async fn copy_and_check(from: &Backend, to: &Backend, expected: &BTreeMap<String, Shape>) {
    let out = ok(&copy_args(
        from,
        "--from-namespace",
        to,
        "--to-namespace",
        &["--batch", "300"],
    ));
    let n = expected.len();
    assert!(out.contains(&format!("source: {n} live entries")), "{out}");
    assert!(out.contains(&format!("copied {n} entries")), "{out}");
    assert!(
        out.contains(&format!(
            "verified: {n} entries equal at the destination, 0 missing"
        )),
        "{out}"
    );
    assert_eq!(&contents(&*to.open().await).await, expected);
}

/// SQLite -> Redis -> PostgreSQL -> MySQL -> MongoDB -> SQLite: every live entry
/// arrives with its value, expiry to the ms and owner; expired ones never.
#[tokio::test(flavor = "multi_thread")]
async fn copy_preserves_every_live_entry_across_backends() {
    let Some(sqlite) = backend(Kind::Sqlite).await else {
        return;
    };
    let Some(redis) = backend(Kind::Redis).await else {
        return;
    };
    let Some(postgres) = backend(Kind::Postgres).await else {
        return;
    };
    let Some(mongo) = backend(Kind::MongoDb).await else {
        return;
    };
    let Some(mysql) = backend(Kind::MySql).await else {
        return;
    };
    let back = sqlite.sibling();
    let source = sqlite.open().await;
    let expected = seed(&*source, 1500).await;
    seed_expiring(&*source, 5).await;
    copy_and_check(&sqlite, &redis, &expected).await;
    copy_and_check(&redis, &postgres, &expected).await;
    copy_and_check(&postgres, &mysql, &expected).await;
    copy_and_check(&mysql, &mongo, &expected).await;
    copy_and_check(&mongo, &back, &expected).await;
}

/// A copy that fails half-way keeps its state; the same command resumes
/// after the last complete batch and finishes with every entry once.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_file_copy_resumes_after_a_failure() {
    let Some(from) = backend(Kind::Sqlite).await else {
        return;
    };
    let to = from.sibling();
    let expected = seed(&*from.open().await, 1000).await;
    ok(&[&["migrate-schema"][..], &to.target()].concat());
    // The destination refuses one key, as a server failing mid-copy would.
    let dest_file = to.url.trim_start_matches("sqlite://");
    let pool = sqlite_pool(dest_file).await;
    let trigger = format!(
        "CREATE TRIGGER stop BEFORE INSERT ON \"{}\" WHEN NEW.key = 'k-0650' \
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
        to.namespace
    );
    sqlx_exec(&pool, &trigger).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("copy.state");
    let state = state.to_str().expect("UTF-8 path");
    let args = copy_args(
        &from,
        "--from-table",
        &to,
        "--to-table",
        &["--batch", "200", "--state", state],
    );
    let err = fails(&args, 1);
    assert!(err.contains("cannot write to the destination"), "{err}");
    assert!(err.contains("run the same command again"), "{err}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).expect("state file")).expect("JSON");
    assert_eq!(
        saved["cursor"], "k:k-0599",
        "state after 3 complete batches"
    );
    assert_eq!(saved["counts"]["written"], 600);
    assert!(!saved.to_string().contains("k-0650"));
    sqlx_exec(&pool, "DROP TRIGGER stop").await;
    let out = ok(&args);
    assert!(out.contains("resuming after 600 entries"), "{out}");
    // 600 before the failure; the other 199 entries of the failed batch
    // were written then and are kept now; 201 are written by this run.
    assert!(
        out.contains("copied 801 entries (201 in this run)"),
        "{out}"
    );
    assert!(out.contains("kept existing: 199,"), "{out}");
    assert!(out.contains("verified: 1000 entries equal"), "{out}");
    assert!(
        !Path::new(state).exists(),
        "the state file is removed at the end"
    );
    assert_eq!(contents(&*to.open().await).await, expected);
}

/// `--dry-run` reports and writes nothing, not even the destination table.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_copy_dry_run_writes_nothing() {
    let Some(from) = backend(Kind::Sqlite).await else {
        return;
    };
    let Some(to) = backend(Kind::Postgres).await else {
        return;
    };
    seed(&*from.open().await, 30).await;
    let out = ok(&copy_args(
        &from,
        "--from-table",
        &to,
        "--to-table",
        &["--dry-run"],
    ));
    assert!(
        out.contains("dry run: would copy 30 entries; 0 of them already exist"),
        "{out}"
    );
    let err = fails(&[&["stats"][..], &to.target()].concat(), 2);
    assert!(
        err.contains("does not exist"),
        "the table was not created: {err}"
    );
}

/// Entries already at the destination are kept and counted, the check
/// then reports them as different (exit 1); `--overwrite` replaces them.
#[tokio::test(flavor = "multi_thread")]
async fn redis_copy_keeps_existing_entries_unless_overwrite() {
    let Some(from) = backend(Kind::Sqlite).await else {
        return;
    };
    let Some(to) = backend(Kind::Redis).await else {
        return;
    };
    let expected = seed(&*from.open().await, 20).await;
    let dest = to.open().await;
    dest.put(
        &Key::new("k-0003").expect("key"),
        "newer".into(),
        PutOptions::default(),
    )
    .await
    .expect("put");
    let args = copy_args(&from, "--from-table", &to, "--to-prefix", &[]);
    let out = storectl().args(&args).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("copied 19 entries"), "{stdout}");
    assert!(stdout.contains("kept existing: 1"), "{stdout}");
    assert!(stdout.contains("0 missing, 1 different"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"k-0003\" is different at the destination"),
        "{stderr}"
    );
    let out = ok(&[&args[..], &["--overwrite"]].concat());
    assert!(out.contains("verified: 20 entries equal"), "{out}");
    assert_eq!(contents(&*dest).await, expected);
}

/// Memory stores live in one process: each command works on an empty one.
#[test]
fn memory_commands_run_on_an_empty_store() {
    let t = ["--url", "memory://"];
    let out = ok(&[&["migrate-schema"][..], &t].concat());
    assert!(out.starts_with("nothing to set up: memory"), "{out}");
    assert!(ok(&[&["stats"][..], &t].concat()).contains("live entries:        0"));
    assert_eq!(
        ok(&[&["purge-expired"][..], &t].concat()).trim(),
        "purged 0 expired entries"
    );
    assert_eq!(
        ok(&[&["revoke", "--owner", "alice"][..], &t].concat()).trim(),
        "revoked 0 entries of owner alice"
    );
    let out = storectl()
        .args([&["import"][..], &t].concat())
        .write_stdin("{\"key\":\"a\",\"value\":\"aGk=\",\"expires_at\":null,\"owner\":\"alice\"}\n")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("imported 1 entries"));
    let out = storectl()
        .args([&["export"][..], &t].concat())
        .output()
        .expect("run");
    assert!(out.status.success() && out.stdout.is_empty());
}

/// Bad input: the documented exit codes and messages, and never a
/// password.
#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gives_documented_errors() {
    let err = fails(&["stats", "--url", "ftp://admin:hunter2@example.com/"], 2);
    assert!(err.contains("unknown store URL scheme \"ftp\""), "{err}");
    assert!(err.contains("check the URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let err = fails(&["stats"], 2);
    assert!(err.contains("--url"), "{err}");
    let err = fails(&["stats", "--url", "redis://:hunter2@127.0.0.1:1/"], 1);
    assert!(err.contains("unavailable"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let Some(sqlite) = backend(Kind::Sqlite).await else {
        return;
    };
    let err = fails(&[&["purge-expired"][..], &sqlite.target()].concat(), 2);
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("storectl migrate-schema"), "{err}");

    let err = fails(
        &[&["list", "--owner", ""][..], &sqlite.target()].concat(),
        2,
    );
    assert!(err.contains("invalid --owner"), "{err}");

    let input = "{\"key\":\"a\",\"value\":\"aGk=\",\"expires_at\":null,\"owner\":null}\n\
                 {\"key\":\"b\",\"value\":\"not base64!\",\"expires_at\":null,\"owner\":null}\n";
    let out = storectl()
        .args([&["import"][..], &sqlite.target()].concat())
        .write_stdin(input)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: value is not base64"), "{err}");

    let err = fails(
        &[
            "copy",
            "--from",
            "memory://",
            "--to",
            "memory://",
            "--batch",
            "0",
        ],
        2,
    );
    assert!(err.contains("--batch must be between 1 and 10000"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_postgres_exits_1_without_the_password() {
    let err = fails(
        &[
            "revoke",
            "--owner",
            "a",
            "--url",
            "postgres://app:hunter2@127.0.0.1:1/db",
        ],
        1,
    );
    assert!(err.contains("postgres://app:***@127.0.0.1:1/db"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

mod sqlite_file {
    #[tokio::test(flavor = "multi_thread")]
    async fn every_command_end_to_end() {
        super::end_to_end(super::Kind::Sqlite).await;
    }
}

mod redis {
    #[tokio::test(flavor = "multi_thread")]
    async fn every_command_end_to_end() {
        super::end_to_end(super::Kind::Redis).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread")]
    async fn every_command_end_to_end() {
        super::end_to_end(super::Kind::Postgres).await;
    }
}

mod mongodb {
    #[tokio::test(flavor = "multi_thread")]
    async fn every_command_end_to_end() {
        super::end_to_end(super::Kind::MongoDb).await;
    }
}

mod mysql {
    #[tokio::test(flavor = "multi_thread")]
    async fn every_command_end_to_end() {
        super::end_to_end(super::Kind::MySql).await;
    }
}
