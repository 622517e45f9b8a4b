//! What the tests of the `storectl` binary share: the backends they run it
//! against (real servers from `STORE_TEST_*_URL`; with
//! `STORE_TEST_REQUIRE=1` a missing server fails the test), running it, and
//! reading a store's whole contents.

use std::collections::BTreeMap;
use std::sync::Arc;

use assert_cmd::Command;
use rand::Rng;
use store::{
    Bytes, Clock, Entry, Expiry, Key, OpenOptions, Owner, PutMode, PutOptions, ScanCursor, Store,
    SystemClock,
};
use store_conformance::provision::{Service, service_url};
use tempfile::TempDir;

/// One store the tests run the binary against.
pub(crate) struct Backend {
    pub(crate) url: String,
    pub(crate) namespace: String,
    /// Keeps a SQLite file's directory alive.
    _dir: Option<TempDir>,
}

/// A backend the tests can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Redis,
    Postgres,
    MongoDb,
    MySql,
}

/// A fresh namespace, so tests can share a server and run in parallel.
pub(crate) fn namespace() -> String {
    format!("ctl_{:012x}", rand::rng().random::<u64>() >> 16)
}

/// A fresh namespace of `kind`: a new SQLite file, or a test server's
/// URL (`None` when the server is missing and not required).
pub(crate) async fn backend(kind: Kind) -> Option<Backend> {
    let (url, dir) = match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("store.db").display());
            (url, Some(dir))
        }
        Kind::Redis => (service_url(Service::Redis).await?, None),
        Kind::Postgres => (service_url(Service::Postgres).await?, None),
        Kind::MongoDb => (service_url(Service::MongoDb).await?, None),
        Kind::MySql => (service_url(Service::MySql).await?, None),
    };
    Some(Backend {
        url,
        namespace: namespace(),
        _dir: dir,
    })
}

impl Backend {
    /// The same server in a fresh namespace.
    pub(crate) fn sibling(&self) -> Backend {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match self._dir {
            Some(_) => format!("sqlite://{}", dir.path().join("other.db").display()),
            None => self.url.clone(),
        };
        Backend {
            url,
            namespace: namespace(),
            _dir: Some(dir),
        }
    }

    /// Opens the namespace through the library.
    pub(crate) async fn open(&self) -> Arc<dyn Store> {
        let options = OpenOptions::default().namespace(&self.namespace);
        store::open_with(&self.url, options)
            .await
            .expect("open the test store")
    }

    /// The flags naming this store for a command.
    pub(crate) fn target(&self) -> [&str; 4] {
        ["--url", &self.url, "--namespace", &self.namespace]
    }
}

/// The `storectl` binary, without `STORE_URL` from the environment.
pub(crate) fn storectl() -> Command {
    let mut cmd = Command::cargo_bin("storectl").expect("the storectl binary");
    cmd.env_remove("STORE_URL");
    cmd
}

/// Runs `storectl args`, expects exit code 0, returns standard output.
pub(crate) fn ok(args: &[&str]) -> String {
    let out = storectl().args(args).output().expect("run storectl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "storectl {args:?} failed with {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `storectl args`, expects exit code `code`, returns standard error.
pub(crate) fn fails(args: &[&str], code: i32) -> String {
    let out = storectl().args(args).output().expect("run storectl");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "storectl {args:?}: wrong exit code\nstdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// What an entry is, apart from its version.
pub(crate) type Shape = (Vec<u8>, Option<i64>, Option<String>);

pub(crate) fn shape(e: &Entry) -> Shape {
    (
        e.value.to_vec(),
        e.expires_at.map(Expiry::as_unix_millis),
        e.owner.as_ref().map(|o| o.as_str().to_owned()),
    )
}

/// Every live entry of a store, by key.
pub(crate) async fn contents(store: &dyn Store) -> BTreeMap<String, Shape> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<ScanCursor> = None;
    loop {
        let page = store.scan(cursor.as_ref(), 500).await.expect("scan");
        assert!(page.unreadable.is_empty());
        for (k, e) in &page.entries {
            all.insert(k.as_str().to_owned(), shape(e));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Writes `n` entries `k-0000`…: owners `alice` (every 7th), `bob` (every
/// 11th, not alice's), none otherwise; expiry in about an hour with
/// arbitrary milliseconds on even entries, none on odd ones; random bytes.
pub(crate) async fn seed(store: &dyn Store, n: usize) -> BTreeMap<String, Shape> {
    let mut rng = rand::rng();
    let base = SystemClock.now().as_unix_millis() + 3_600_000;
    let mut written = BTreeMap::new();
    for i in 0..n {
        let key = format!("k-{i:04}");
        let len = rng.random_range(0..300);
        let value: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let owner = match i {
            _ if i % 7 == 0 => Some("alice"),
            _ if i % 11 == 0 => Some("bob"),
            _ => None,
        };
        let expiry = (i % 2 == 0).then(|| base + rng.random_range(0..100_000));
        let mut opts = PutOptions::new(PutMode::Create);
        opts.expires_at = expiry.map(|ms| Expiry::from_unix_millis(ms).expect("expiry"));
        opts.owner = owner.map(|o| Owner::new(o).expect("owner"));
        store
            .put(
                &Key::new(key.as_str()).expect("key"),
                Bytes::from(value.clone()),
                opts,
            )
            .await
            .expect("seed");
        written.insert(key, (value, expiry, owner.map(str::to_owned)));
    }
    written
}

/// `storectl copy` from one backend to another, naming the namespaces
/// with `from_flag` and `to_flag` (the aliases are part of the interface),
/// then `extra`.
pub(crate) fn copy_args<'a>(
    from: &'a Backend,
    from_flag: &'a str,
    to: &'a Backend,
    to_flag: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "copy",
        "--from",
        &from.url,
        from_flag,
        &from.namespace,
        "--to",
        &to.url,
        to_flag,
        &to.namespace,
    ];
    args.extend_from_slice(extra);
    args
}

/// A connection pool on a SQLite file, for what the store does not do
/// (triggers).
pub(crate) async fn sqlite_pool(file: &str) -> store::store_sqlx::sqlx::SqlitePool {
    store::store_sqlx::sqlx::SqlitePool::connect(&format!("sqlite://{file}"))
        .await
        .expect("open the SQLite file")
}

/// Runs one SQL statement.
pub(crate) async fn sqlx_exec(pool: &store::store_sqlx::sqlx::SqlitePool, sql: &str) {
    store::store_sqlx::sqlx::query(sql)
        .execute(pool)
        .await
        .expect("SQL");
}
