//! `storectl copy --follow` through its binary, between real servers (from
//! `STORE_TEST_*_URL`; with `STORE_TEST_REQUIRE=1` a missing server fails
//! the test): changes and logouts at the source reach the destination while
//! it runs, and after SIGINT or SIGTERM the destination equals the source,
//! with no logged-out session in it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store::{
    Clock, ErrorKind, Expiry, Key, Owner, PutMode, PutOptions, Store, SystemClock, Version,
};
use store_conformance::proxy::{Fault, FaultProxy};

use crate::common::{
    Backend, Kind, Shape, backend, contents, copy_args, fails, ok, seed, sqlite_pool, sqlx_exec,
};

/// How long the destination may take to catch up with the source.
const CATCH_UP: Duration = Duration::from_secs(20);

/// How long the first copy, or a stop, may take.
const START_OR_STOP: Duration = Duration::from_secs(60);

fn key(name: &str) -> Key {
    Key::new(name).expect("key")
}

fn owner(name: &str) -> Owner {
    Owner::new(name).expect("owner")
}

fn in_from_now(after: Duration) -> Expiry {
    SystemClock.now().checked_add(after).expect("expiry")
}

/// A `storectl copy --follow` running in the background, its output
/// collected by threads.
struct Following {
    child: Child,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    stdout: Arc<Mutex<String>>,
}

/// How a follow ended.
struct Stopped {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Appends everything `from` writes to `to`, line by line.
fn collect(from: impl Read + Send + 'static, to: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            let mut text = to.lock().expect("output lock");
            text.push_str(&line);
            text.push('\n');
        }
    })
}

impl Following {
    /// Starts `storectl copy --follow --interval 100ms` from `from` to
    /// `to` (then `extra`), and waits until the copy is done and it
    /// follows.
    async fn start(from: &Backend, to: &Backend, extra: &[&str]) -> Self {
        let follow = [&["--follow", "--interval", "100ms"][..], extra].concat();
        let args = copy_args(from, "--from-namespace", to, "--to-namespace", &follow);
        let mut child = Command::new(env!("CARGO_BIN_EXE_storectl"))
            .args(&args)
            .env_remove("STORE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start storectl");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout"), stdout.clone()),
            collect(child.stderr.take().expect("stderr"), stderr.clone()),
        ];
        let mut following = Self {
            child,
            stderr,
            readers,
            stdout,
        };
        following
            .wait_for("storectl: following ", START_OR_STOP)
            .await;
        following
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("output lock").clone()
    }

    /// Waits until standard error shows `text`; fails the test when the
    /// process exits first or `within` passes.
    async fn wait_for(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.stderr().contains(text) {
            let exited = self.child.try_wait().expect("wait for storectl");
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "no {text:?} from storectl (exit status {exited:?})\nstdout:\n{}\nstderr:\n{}",
                self.stdout.lock().expect("output lock"),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `signal` (`INT`, `TERM`) and waits for the process to end.
    async fn stop(self, signal: &str) -> Stopped {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} failed");
        self.exit(START_OR_STOP).await
    }

    /// Waits for the process to end by itself, at most `within`.
    async fn exit(mut self, within: Duration) -> Stopped {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for storectl") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "storectl still runs after {within:?}\nstderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader");
        }
        Stopped {
            status,
            stdout: self.stdout.lock().expect("output lock").clone(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Following {
    /// A failed test leaves no process behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The keys on which `a` and `b` differ, the first ten.
fn differences(a: &BTreeMap<String, Shape>, b: &BTreeMap<String, Shape>) -> String {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .take(10)
        .map(|k| {
            let show = |s: Option<&Shape>| {
                s.map_or("absent".to_owned(), |(v, e, o)| {
                    format!("{} bytes, expiry {e:?}, owner {o:?}", v.len())
                })
            };
            format!(
                "{k}: source {}, destination {}",
                show(a.get(k)),
                show(b.get(k))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until the destination holds exactly the live entries of the
/// source, and returns them.
async fn until_equal(
    source: &dyn Store,
    dest: &dyn Store,
    following: &Following,
) -> BTreeMap<String, Shape> {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let (at_source, at_dest) = (contents(source).await, contents(dest).await);
        if at_source == at_dest {
            return at_source;
        }
        assert!(
            Instant::now() < deadline,
            "the destination differs from the source after {CATCH_UP:?}:\n{}\nstderr:\n{}",
            differences(&at_source, &at_dest),
            following.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that none of `keys` is live at `store`.
async fn assert_absent(store: &dyn Store, keys: impl IntoIterator<Item = &str>) {
    for name in keys {
        let found = store.get(&key(name)).await.expect("get");
        assert!(found.is_none(), "{name} is live at the destination");
    }
}

/// After the copy, every kind of change at the source reaches the
/// destination while the follow runs: a new value, a new owner, a `touch`
/// (same version, new expiry), logouts, logins, and a revoked owner.
async fn propagates_changes_and_logouts(from_kind: Kind, to_kind: Kind) {
    let Some(from) = backend(from_kind).await else {
        return;
    };
    let Some(to) = backend(to_kind).await else {
        return;
    };
    let source = from.open().await;
    seed(&*source, 60).await;
    let following = Following::start(&from, &to, &["--batch", "16"]).await;
    // The copy has created the destination's schema by now.
    let dest = to.open().await;
    let copied = until_equal(&*source, &*dest, &following).await;
    assert_eq!(copied.len(), 60);

    source
        .put(&key("k-0001"), "changed".into(), PutMode::Upsert.into())
        .await
        .expect("update");
    let later = in_from_now(Duration::from_secs(7200));
    let options = PutOptions::new(PutMode::Update)
        .owner(owner("dave"))
        .expires_at(later);
    source
        .put(&key("k-0004"), "dave's now".into(), options)
        .await
        .expect("new owner");
    let touched: Version = source
        .get(&key("k-0002"))
        .await
        .expect("get")
        .expect("k-0002")
        .version;
    source.touch(&key("k-0002"), later).await.expect("touch");
    let after = source
        .get(&key("k-0002"))
        .await
        .expect("get")
        .expect("k-0002");
    assert_eq!(after.version, touched, "touch keeps the version");
    for logout in ["k-0003", "k-0005"] {
        assert!(source.delete(&key(logout), None).await.expect("logout"));
    }
    for login in ["new-0001", "new-0002"] {
        let options = PutOptions::new(PutMode::Create)
            .owner(owner("carol"))
            .expires_at(later);
        source
            .put(&key(login), "fresh".into(), options)
            .await
            .expect("login");
    }
    // Bob's entries: k-0011, k-0022, k-0033, k-0044, k-0055.
    let revoked = source.delete_by_owner(&owner("bob")).await.expect("revoke");
    assert_eq!(revoked, 5);

    let expected = until_equal(&*source, &*dest, &following).await;
    assert_eq!(expected.len(), 60 - 2 - 5 + 2);
    assert_eq!(
        expected["k-0002"].1,
        Some(later.as_unix_millis()),
        "the touch arrived"
    );
    assert_eq!(expected["k-0004"].2.as_deref(), Some("dave"));
    assert_absent(
        &*dest,
        [
            "k-0003", "k-0005", "k-0011", "k-0022", "k-0033", "k-0044", "k-0055",
        ],
    )
    .await;

    let stopped = following.stop("INT").await;
    assert!(
        stopped.status.success(),
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        stopped.status,
        stopped.stdout,
        stopped.stderr
    );
    assert!(
        stopped
            .stderr
            .contains("storectl: SIGINT: running one last pass"),
        "{}",
        stopped.stderr
    );
    // One pass or two wrote the five changes and deleted the seven keys.
    assert!(stopped.stderr.contains(": written "), "{}", stopped.stderr);
    assert!(
        stopped.stdout.contains("written: 5, deleted: 7,"),
        "{}",
        stopped.stdout
    );
    assert!(stopped.stdout.contains("rejected: 0"), "{}", stopped.stdout);
    assert_eq!(contents(&*dest).await, contents(&*source).await);
    // The destination's owner index followed too.
    let listed = ok(&[&["list", "--owner", "dave"][..], &to.target()].concat());
    assert!(listed.contains("k-0004"), "{listed}");
    assert!(listed.contains("1 entries of owner dave"), "{listed}");
    let listed = ok(&[&["list", "--owner", "bob"][..], &to.target()].concat());
    assert!(listed.contains("0 entries of owner bob"), "{listed}");
}

/// Entries at the source before the writers start.
const SEEDED: usize = 200;

/// What one writer did at the source.
#[derive(Debug, Default)]
struct Activity {
    operations: u64,
    /// Keys it deleted (logouts and revoked owners); none is written again.
    logged_out: BTreeSet<String>,
    /// The latest expiry of a short session it wrote.
    short_until: Option<Expiry>,
}

/// Logs users in and out, updates and touches their sessions and revokes
/// owners, at the source, until `until`. Writer `id` works on the seeded
/// keys `k-NNNN` with `NNNN % writers == id` and on keys of its own, with
/// owners of its own, so what it deletes is never written again.
async fn writer(store: Arc<dyn Store>, id: usize, writers: usize, until: Instant) -> Activity {
    let mut rng = StdRng::seed_from_u64(rand::rng().random());
    let mut activity = Activity::default();
    let mut live: Vec<(String, Option<String>)> = (0..SEEDED)
        .filter(|i| i % writers == id)
        .map(|i| (format!("k-{i:04}"), None))
        .collect();
    let owners: Vec<String> = (0..16).map(|n| format!("user-{id}-{n}")).collect();
    let mut logins = 0;
    while Instant::now() < until {
        activity.operations += 1;
        let roll = rng.random_range(0..100);
        let pick = (!live.is_empty()).then(|| rng.random_range(0..live.len()));
        let expiry = match rng.random_range(0..5) {
            0 => {
                let short = in_from_now(Duration::from_millis(rng.random_range(300..1500)));
                activity.short_until = activity.short_until.max(Some(short));
                short
            }
            _ => in_from_now(Duration::from_secs(3600)),
        };
        let new_owner = owners[rng.random_range(0..owners.len())].clone();
        let value: Vec<u8> = (0..rng.random_range(1..200))
            .map(|_| rng.random())
            .collect();
        match (roll, pick) {
            (0..36, _) | (_, None) => {
                let name = format!("w{id}-{logins:05}");
                logins += 1;
                let options = PutOptions::new(PutMode::Create)
                    .owner(owner(&new_owner))
                    .expires_at(expiry);
                store
                    .put(&key(&name), value.into(), options)
                    .await
                    .expect("login");
                live.push((name, Some(new_owner)));
            }
            (36..60, Some(i)) => {
                let (name, _) = live.swap_remove(i);
                store.delete(&key(&name), None).await.expect("logout");
                activity.logged_out.insert(name);
            }
            (60..85, Some(i)) => {
                let options = PutOptions::new(PutMode::Upsert)
                    .owner(owner(&new_owner))
                    .expires_at(expiry);
                store
                    .put(&key(&live[i].0), value.into(), options)
                    .await
                    .expect("update");
                live[i].1 = Some(new_owner);
            }
            (85..98, Some(i)) => match store.touch(&key(&live[i].0), expiry).await {
                // A short session may have expired already.
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => panic!("touch: {e}"),
            },
            (_, Some(_)) => {
                let revoked = &owners[rng.random_range(0..owners.len())];
                store
                    .delete_by_owner(&owner(revoked))
                    .await
                    .expect("revoke");
                let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut live)
                    .into_iter()
                    .partition(|(_, o)| o.as_deref() == Some(revoked.as_str()));
                live = kept;
                activity.logged_out.extend(gone.into_iter().map(|(k, _)| k));
            }
        }
    }
    activity
}

/// Four writers change the source for 3 s, while the copy runs and then
/// while the follow runs; after they stop and `signal` stops the follow, the destination equals the source:
/// every key, value, expiry and owner, and no logged-out session.
async fn ends_equal_after_concurrent_sessions(from_kind: Kind, to_kind: Kind, signal: &str) {
    const WRITERS: usize = 4;
    let Some(from) = backend(from_kind).await else {
        return;
    };
    let Some(to) = backend(to_kind).await else {
        return;
    };
    let source = from.open().await;
    seed(&*source, SEEDED).await;
    // The writers start before the copy, so it copies entries that change
    // or go right after.
    let until = Instant::now() + Duration::from_secs(3);
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| tokio::spawn(writer(source.clone(), id, WRITERS, until)))
        .collect();
    let following = Following::start(&from, &to, &["--batch", "50"]).await;
    let mut operations = 0;
    let mut logged_out = BTreeSet::new();
    let mut short_until = None;
    for w in writers {
        let activity = w.await.expect("writer");
        operations += activity.operations;
        logged_out.extend(activity.logged_out);
        short_until = short_until.max(activity.short_until);
    }
    let stopped = following.stop(signal).await;
    assert!(
        stopped.status.success(),
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        stopped.status,
        stopped.stdout,
        stopped.stderr
    );
    assert!(
        stopped
            .stderr
            .contains(&format!("storectl: SIG{signal}: running one last pass")),
        "{}",
        stopped.stderr
    );
    eprintln!(
        "{operations} operations, {} logged out\n{}",
        logged_out.len(),
        stopped.stdout.trim()
    );
    // Short sessions expire at both ends at the same millisecond; wait
    // until none is left, so both reads below see the same live set.
    if let Some(short) = short_until {
        let left = short.saturating_duration_since(SystemClock.now());
        tokio::time::sleep(left + Duration::from_millis(200)).await;
    }
    let dest = to.open().await;
    let (at_source, at_dest) = (contents(&*source).await, contents(&*dest).await);
    assert!(
        at_source == at_dest,
        "the destination differs from the source:\n{}\nstderr:\n{}",
        differences(&at_source, &at_dest),
        stopped.stderr
    );
    assert!(!logged_out.is_empty());
    assert_absent(&*dest, logged_out.iter().map(String::as_str)).await;
}

/// A pass that fails because the source is unreachable (a retryable error)
/// is reported and run again; once the source is back, the follow catches
/// up with what changed meanwhile.
async fn runs_a_failed_pass_again(from_kind: Kind, to_kind: Kind) {
    let Some(from) = backend(from_kind).await else {
        return;
    };
    let Some(to) = backend(to_kind).await else {
        return;
    };
    let source = from.open().await;
    seed(&*source, 30).await;
    let rest = from.url.split_once("://").expect("a URL").1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let proxy = FaultProxy::start(host).await.expect("start the proxy");
    // The same namespace, through the proxy.
    let mut through = from.sibling();
    through.url = proxy.url(&from.url);
    through.namespace = from.namespace.clone();
    let mut following = Following::start(&through, &to, &[]).await;
    let dest = to.open().await;
    until_equal(&*source, &*dest, &following).await;

    proxy.set(Fault::Refuse);
    proxy.cut();
    assert!(source.delete(&key("k-0000"), None).await.expect("logout"));
    source
        .put(&key("k-0001"), "while away".into(), PutMode::Upsert.into())
        .await
        .expect("update");
    following
        .wait_for("storectl: warning: pass ", Duration::from_secs(30))
        .await;
    proxy.set(Fault::Pass);
    until_equal(&*source, &*dest, &following).await;
    assert_absent(&*dest, ["k-0000"]).await;

    let stopped = following.stop("TERM").await;
    assert!(
        stopped.status.success(),
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        stopped.status,
        stopped.stdout,
        stopped.stderr
    );
    assert!(
        stopped.stderr.contains("unavailable"),
        "the warning names the error: {}",
        stopped.stderr
    );
    assert!(
        !stopped.stdout.contains("(0 failed and run again)"),
        "{}",
        stopped.stdout
    );
    assert_eq!(contents(&*dest).await, contents(&*source).await);
}

/// An error that is not retryable (the destination refuses a write with a
/// plain backend error) ends the follow with exit code 1.
async fn stops_on_a_backend_error() {
    let Some(from) = backend(Kind::Sqlite).await else {
        return;
    };
    let to = from.sibling();
    let source = from.open().await;
    seed(&*source, 10).await;
    let following = Following::start(&from, &to, &[]).await;
    let pool = sqlite_pool(to.url.trim_start_matches("sqlite://")).await;
    let trigger = format!(
        "CREATE TRIGGER stop BEFORE INSERT ON \"{}\" WHEN NEW.key = 'boom' \
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
        to.namespace
    );
    sqlx_exec(&pool, &trigger).await;
    source
        .put(&key("boom"), "x".into(), PutMode::Create.into())
        .await
        .expect("put");
    let stopped = following.exit(CATCH_UP).await;
    assert_eq!(stopped.status.code(), Some(1), "{}", stopped.stderr);
    assert!(
        stopped
            .stderr
            .contains("storectl: error: cannot write to the destination"),
        "{}",
        stopped.stderr
    );
}

/// `--follow` runs until stopped and writes as it goes: no dry run, and no
/// state file (what it knows of the source is in memory only).
#[test]
fn copy_follow_with_dry_run_or_state_is_a_usage_error() {
    let copy = ["copy", "--from", "memory://", "--to", "sqlite://unused.db"];
    let err = fails(&[&copy[..], &["--follow", "--dry-run"]].concat(), 2);
    assert!(
        err.contains("the argument '--follow' cannot be used with '--dry-run'"),
        "{err}"
    );
    let err = fails(&[&copy[..], &["--dry-run", "--follow"]].concat(), 2);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = fails(
        &[&copy[..], &["--follow", "--state", "copy.state"]].concat(),
        2,
    );
    assert!(
        err.contains("the argument '--follow' cannot be used with '--state <FILE>'"),
        "{err}"
    );
    let err = fails(&[&copy[..], &["--interval", "2s"]].concat(), 2);
    assert!(err.contains("--follow"), "{err}");
    let err = fails(
        &[&copy[..], &["--follow", "--interval", "soon"]].concat(),
        2,
    );
    assert!(
        err.contains("invalid value 'soon' for '--interval"),
        "{err}"
    );
    assert!(!std::path::Path::new("unused.db").exists());
}

mod redis_to_postgres {
    use super::Kind::{Postgres, Redis};

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_propagates_changes_and_logouts() {
        super::propagates_changes_and_logouts(Redis, Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_ends_equal_after_concurrent_logins_and_logouts() {
        super::ends_equal_after_concurrent_sessions(Redis, Postgres, "INT").await;
    }
}

mod postgres_to_mongodb {
    use super::Kind::{MongoDb, Postgres};

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_propagates_changes_and_logouts() {
        super::propagates_changes_and_logouts(Postgres, MongoDb).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_ends_equal_after_concurrent_logins_and_logouts() {
        super::ends_equal_after_concurrent_sessions(Postgres, MongoDb, "INT").await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_runs_a_failed_pass_again() {
        super::runs_a_failed_pass_again(Postgres, MongoDb).await;
    }
}

mod sqlite_file_to_redis {
    use super::Kind::{Redis, Sqlite};

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_propagates_changes_and_logouts() {
        super::propagates_changes_and_logouts(Sqlite, Redis).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_ends_equal_after_concurrent_logins_and_logouts() {
        super::ends_equal_after_concurrent_sessions(Sqlite, Redis, "TERM").await;
    }
}

mod mysql_to_sqlite_file {
    use super::Kind::{MySql, Sqlite};

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_propagates_changes_and_logouts() {
        super::propagates_changes_and_logouts(MySql, Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_ends_equal_after_concurrent_logins_and_logouts() {
        super::ends_equal_after_concurrent_sessions(MySql, Sqlite, "INT").await;
    }
}

mod sqlite_file_to_sqlite_file {
    #[tokio::test(flavor = "multi_thread")]
    async fn copy_follow_stops_on_a_backend_error() {
        super::stops_on_a_backend_error().await;
    }
}
