//! Tests of `MongoStore` beyond the conformance suite, on real servers: the
//! stored document shape and exact dates, `setup` (concurrent, and
//! against conflicting indexes), versions across store objects, the
//! duplicate-key race of concurrent upserts and creates, exact counts of
//! purges (one beside `native_ttl`, and concurrent ones), corrupt
//! documents, bad settings, an unreachable server, a server killed and
//! restarted under a live store, and `scan` (the suite's scan behaviours,
//! foreign documents, 2,500 entries in pages).
//!
//! Where the servers come from:
//!
//! - The shared server, which every test but the three below uses:
//!   `STORE_TEST_MONGODB_URL` when set (the test command's native mode sets
//!   it to the server `scripts/services.sh` runs); otherwise a container of
//!   `STORE_TEST_MONGODB_IMAGE` that `provision::service_url` starts or
//!   reuses (container mode, with the `store-conformance/testcontainers`
//!   feature and a Docker daemon).
//! - The servers of the tests that own theirs (killed and restarted,
//!   standalone, TLS), each on its own port and storage: native mode
//!   (`STORE_TEST_MODE=native`, or unset with a binary) starts a process of
//!   the binary in `STORE_TEST_MONGODB_SERVER` (the MongoDB wire-compatible
//!   `secantusd-rs` that `scripts/services.sh` builds); container mode
//!   (`STORE_TEST_MODE=containers`, or unset without that binary but with
//!   a Docker daemon) starts a container of `STORE_TEST_MONGODB_IMAGE`
//!   ([`container::ServerContainer`]), listening on 0.0.0.0 inside, its port
//!   published. The standalone test runs the image's own command, so
//!   mongod's official image serves it too; the TLS test passes
//!   secantusd-rs's TLS options (the certificates copied in) and the
//!   killed-and-restarted test runs secantusd-rs as a replica set, so both
//!   need an image holding secantusd-rs, as `store-rs/mongodb:secantus`
//!   (`scripts/images.sh`) does.
//!
//! Without a server the tests skip, or fail under `STORE_TEST_REQUIRE=1`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use store_conformance::container::{self, ServerContainer, ServerSpec};
use store_conformance::faults;
use store_conformance::provision::{self, Service};
use store_conformance::{TestBackend, TestClock};
use store_core::{
    Clock, ErrorKind, Key, ManualClock, Owner, PutMode, PutOptions, PutResult, ScanCursor, Store,
    SystemClock,
};
use store_mongodb::mongodb::bson::spec::BinarySubtype;
use store_mongodb::mongodb::bson::{Binary, Bson, DateTime, Document, RawDocumentBuf, doc};
use store_mongodb::mongodb::options::{Collation, CollationStrength, IndexOptions};
use store_mongodb::mongodb::{Client, IndexModel};
use store_mongodb::{MongoConfig, MongoStore, OWNER_INDEX, TTL_INDEX};

const DATABASE: &str = "store_crate_test";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &store_conformance::random_namespace()["conformance-".len()..]
    )
}

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

async fn shared_url() -> Option<String> {
    provision::service_url(Service::MongoDb).await
}

/// `url` with its path naming `database`: the database a store opens.
fn in_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path.find('?').map_or("", |i| &path[i..]);
    format!("{scheme}://{authority}/{database}{query}")
}

/// A store on the collection `collection` of the database `database` at `url`.
async fn connect(
    url: &str,
    database: &str,
    collection: &str,
    config: MongoConfig,
) -> store_core::Result<MongoStore> {
    let url = in_database(url, database);
    MongoStore::connect_with(&url, config.namespace(collection)).await
}

/// A store on a fresh collection of the shared server.
async fn fresh(url: &str, config: MongoConfig) -> MongoStore {
    let store = connect(url, DATABASE, &unique("coll"), config)
        .await
        .expect("connect to the shared server");
    store.setup().await.expect("setup");
    store
}

#[tokio::test]
async fn mongodb_documents_have_the_documented_shape_and_exact_dates() {
    let Some(url) = shared_url().await else {
        return;
    };
    let store = fresh(&url, MongoConfig::default()).await;
    let expiry = SystemClock
        .now()
        .checked_add(Duration::from_millis(3_600_123))
        .unwrap();
    let opts = PutOptions::new(PutMode::Create)
        .expires_at(expiry)
        .owner(Owner::new("alice").unwrap());
    let written = store.put(&key("a"), "v".into(), opts).await.unwrap();
    store
        .put(&key("b"), "w".into(), PutMode::Create.into())
        .await
        .unwrap();

    let raw = store
        .collection()
        .find_one(doc! { "_id": "a" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.get_str("_id").unwrap(), "a");
    assert_eq!(
        raw.get("value"),
        Some(&Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: b"v".to_vec()
        }))
    );
    assert_eq!(
        raw.get("version"),
        Some(&Bson::Int64(written.version.as_i64()))
    );
    let stored = raw.get_datetime("expires_at").unwrap();
    assert_eq!(stored.timestamp_millis(), expiry.as_unix_millis());
    assert_eq!(raw.get_str("owner").unwrap(), "alice");
    let plain = store
        .collection()
        .find_one(doc! { "_id": "b" })
        .await
        .unwrap()
        .unwrap();
    let mut fields: Vec<&str> = plain.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["_id", "value", "version"]);
    assert_eq!(
        store.get(&key("a")).await.unwrap().unwrap().expires_at,
        Some(expiry)
    );

    let debug = format!("{store:?}");
    assert!(
        debug.contains("MongoStore") && !debug.contains("mongodb://"),
        "{debug}"
    );

    // The server's duplicate key message quotes the key; the error keeps
    // only the code.
    let secret = key("sid-3b1f0c9e7a");
    store
        .put(&secret, "v".into(), PutMode::Create.into())
        .await
        .unwrap();
    let err = store
        .put(&secret, "v".into(), PutMode::Create.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let mut shown = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        shown.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!shown.contains("3b1f0c9e7a"), "{shown}");
    assert!(shown.contains("11000"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_setup_concurrently_on_a_new_collection() {
    let Some(url) = shared_url().await else {
        return;
    };
    let name = unique("idx");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (url, name) = (url.clone(), name.clone());
            tokio::spawn(async move {
                let store = connect(&url, DATABASE, &name, MongoConfig::default()).await?;
                store.setup().await?;
                store.setup().await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every setup succeeds");
    }
    let store = connect(&url, DATABASE, &name, MongoConfig::default())
        .await
        .unwrap();
    let indexes: Vec<IndexModel> = store
        .collection()
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut found: Vec<(String, String)> = indexes
        .iter()
        .map(|i| {
            let options = i.options.clone().unwrap_or_default();
            let name = options.name.unwrap_or_default();
            let extra = match (options.expire_after, options.partial_filter_expression) {
                (Some(ttl), _) => format!("{} ttl {}", i.keys, ttl.as_secs()),
                (None, Some(filter)) => format!("{} partial {filter}", i.keys),
                (None, None) => i.keys.to_string(),
            };
            (name, extra)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("_id_".to_owned(), r#"{ "_id": 1 }"#.to_owned()),
            (
                TTL_INDEX.to_owned(),
                r#"{ "expires_at": 1 } ttl 0"#.to_owned()
            ),
            (
                OWNER_INDEX.to_owned(),
                r#"{ "owner": 1, "_id": 1 } partial { "owner": { "$exists": true } }"#.to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn mongodb_conflicting_indexes_are_config_errors_naming_them() {
    let Some(url) = shared_url().await else {
        return;
    };
    let cases = [
        (
            "a TTL of an hour under the store's name",
            IndexModel::builder()
                .keys(doc! { "expires_at": 1 })
                .options(
                    IndexOptions::builder()
                        .name(TTL_INDEX.to_owned())
                        .expire_after(Duration::from_secs(3600))
                        .build(),
                )
                .build(),
            [TTL_INDEX, "3600"],
        ),
        (
            "another library's TTL index on the same field",
            IndexModel::builder()
                .keys(doc! { "expires_at": 1 })
                .options(
                    IndexOptions::builder()
                        .name("expires_1".to_owned())
                        .expire_after(Duration::from_secs(60))
                        .build(),
                )
                .build(),
            ["expires_1", "expires_at"],
        ),
        (
            "the owner index's name on other fields",
            IndexModel::builder()
                .keys(doc! { "user": 1 })
                .options(IndexOptions::builder().name(OWNER_INDEX.to_owned()).build())
                .build(),
            [OWNER_INDEX, "user"],
        ),
    ];
    for (what, foreign, words) in cases {
        let store = connect(&url, DATABASE, &unique("conflict"), MongoConfig::default())
            .await
            .unwrap();
        store.collection().create_index(foreign).await.unwrap();
        let before = index_names(&store).await;
        let err = store.setup().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{what}: {err}");
        for word in words {
            assert!(err.message().contains(word), "{what}: {err}");
        }
        assert_eq!(
            index_names(&store).await,
            before,
            "{what}: nothing may change"
        );
    }
}

async fn index_names(store: &MongoStore) -> Vec<String> {
    let models: Vec<IndexModel> = store
        .collection()
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut names: Vec<String> = models
        .into_iter()
        .filter_map(|m| m.options.and_then(|o| o.name))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_versions_are_unique_across_store_objects() {
    let Some(url) = shared_url().await else {
        return;
    };
    let name = unique("versions");
    let mut stores = Vec::new();
    for block in [1, 3, 3, 10] {
        // Small blocks, so the stores reserve many times while racing.
        let config = MongoConfig::default().version_block(block);
        let store = connect(&url, DATABASE, &name, config).await.unwrap();
        stores.push(Arc::new(store));
    }
    // Each store object: one task writing in sequence, three concurrently.
    let mut sequential = Vec::new();
    let mut concurrent = Vec::new();
    for (s, store) in stores.iter().enumerate() {
        for t in 0..4 {
            let store = store.clone();
            let task = tokio::spawn(async move {
                let mut versions = Vec::new();
                for i in 0..30 {
                    let k = key(&format!("k{}", i % 5));
                    let r = store
                        .put(&k, format!("{s}.{t}").into(), PutMode::Upsert.into())
                        .await
                        .unwrap();
                    versions.push(r.version);
                }
                versions
            });
            if t == 0 {
                sequential.push(task);
            } else {
                concurrent.push(task);
            }
        }
    }
    let mut all = Vec::new();
    for task in sequential {
        let versions = task.await.unwrap();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "versions grow within one store object: {versions:?}"
        );
        all.extend(versions);
    }
    for task in concurrent {
        all.extend(task.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), 480, "every write got its own version");

    // A new store object (a restarted process) continues past them.
    let again = connect(&url, DATABASE, &name, MongoConfig::default())
        .await
        .unwrap();
    let next = again
        .put(&key("k0"), "x".into(), PutMode::Upsert.into())
        .await
        .unwrap();
    assert!(all.iter().all(|v| *v < next.version));
}

/// 8 tasks writing `k` with `mode` at once; their results.
async fn race(
    store: &Arc<MongoStore>,
    k: &Key,
    mode: PutMode,
) -> Vec<store_core::Result<PutResult>> {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move { store.put(&k, format!("{i}").into(), mode.into()).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_concurrent_upserts_and_creates_on_new_keys() {
    let Some(url) = shared_url().await else {
        return;
    };
    let clock = ManualClock::starting_now();
    let store = Arc::new(fresh(&url, MongoConfig::default().clock(clock.clone())).await);
    for round in 0..20 {
        // 8 upserts of one new key: none may surface the duplicate key race.
        let k = key(&format!("up{round}"));
        for result in race(&store, &k, PutMode::Upsert).await {
            result.expect("an upsert never fails");
        }

        // 8 creates over an expired document: exactly one winner.
        let k = key(&format!("cr{round}"));
        let soon = clock.now().checked_add(Duration::from_secs(1)).unwrap();
        store
            .put(
                &k,
                "old".into(),
                PutOptions::new(PutMode::Create).expires_at(soon),
            )
            .await
            .unwrap();
        clock.advance(Duration::from_secs(2));
        let mut winners = 0;
        for result in race(&store, &k, PutMode::Create).await {
            match result {
                Ok(_) => winners += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
        let value = store.get(&k).await.unwrap().unwrap().value;
        assert_ne!(&value[..], b"old");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_concurrent_purges_count_each_document_once() {
    let Some(url) = shared_url().await else {
        return;
    };
    // A day ahead of the server's clock, so that its TTL monitor removes
    // none of the documents the purges must count (writing 2,500 may take
    // longer than their second, on a loaded machine or in a container).
    let clock = day_ahead();
    let config = MongoConfig::default().clock(clock.clone()).purge_batch(100);
    let store = fresh(&url, config).await;
    let soon = clock.now().checked_add(Duration::from_secs(1)).unwrap();
    let documents: Vec<Document> = (0..2500)
        .map(|i| {
            doc! {
                "_id": format!("e{i:04}"),
                "value": Binary { subtype: BinarySubtype::Generic, bytes: vec![1] },
                "version": i64::from(i),
                "expires_at": DateTime::from_millis(soon.as_unix_millis()),
            }
        })
        .collect();
    store.collection().insert_many(documents).await.unwrap();
    store
        .put(&key("live"), "v".into(), PutMode::Create.into())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    let total = store_conformance::faults::purge_concurrently(&store, 4).await;
    assert_eq!(total, 2500);
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        1
    );
    assert!(store.get(&key("live")).await.unwrap().is_some());
}

/// `Capabilities::native_ttl` means the server removes expired entries by
/// itself (the TTL monitor); `delete_expired` is then optional and counts
/// what it removed, here every expired document, since the store's clock
/// runs a day ahead of the server's and the TTL monitor cannot get there
/// first.
#[tokio::test]
async fn mongodb_reports_native_ttl_and_delete_expired_counts_what_it_purges() {
    let Some(url) = shared_url().await else {
        return;
    };
    let clock = day_ahead();
    let store = fresh(&url, MongoConfig::default().clock(clock.clone())).await;
    assert!(store.capabilities().native_ttl, "the TTL index expires");
    let soon = clock.now().checked_add(Duration::from_secs(1)).unwrap();
    for k in ["a", "b", "c"] {
        let options = PutOptions::new(PutMode::Create).expires_at(soon);
        store.put(&key(k), "v".into(), options).await.unwrap();
    }
    store
        .put(&key("live"), "v".into(), PutMode::Create.into())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.delete_expired().await.unwrap(), 3);
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        1,
        "only the live document is left"
    );
    assert!(store.get(&key("live")).await.unwrap().is_some());
}

#[tokio::test]
async fn mongodb_corrupt_documents_are_encoding_errors_for_that_key_only() {
    let Some(url) = shared_url().await else {
        return;
    };
    let store = fresh(&url, MongoConfig::default()).await;
    let value = || Binary {
        subtype: BinarySubtype::Generic,
        bytes: b"v".to_vec(),
    };
    let corrupt = [
        doc! { "_id": "text-value", "value": "not bytes", "version": 1_i64 },
        doc! { "_id": "text-version", "value": value(), "version": "1" },
        doc! { "_id": "text-expiry", "value": value(), "version": 1_i64, "expires_at": "tomorrow" },
        doc! { "_id": "far-expiry", "value": value(), "version": 1_i64,
        "expires_at": DateTime::from_millis(i64::MAX) },
        doc! { "_id": "number-owner", "value": value(), "version": 1_i64, "owner": 7 },
        doc! { "_id": "uuid-value", "value": Binary { subtype: BinarySubtype::Uuid, bytes: vec![0; 16] },
        "version": 1_i64 },
        // connect-mongo's shape: a session under another layout.
        doc! { "_id": "foreign", "expires": DateTime::now(), "session": "{\"cookie\":{}}" },
    ];
    for d in corrupt.clone() {
        store.collection().insert_one(d).await.unwrap();
    }
    store
        .put(&key("good"), "fine".into(), PutMode::Create.into())
        .await
        .unwrap();
    for d in &corrupt {
        let k = key(d.get_str("_id").unwrap());
        let err = store.get(&k).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding, "{k:?}: {err}");
        assert!(err.message().contains("field"), "{err}");
    }
    assert_eq!(
        &store.get(&key("good")).await.unwrap().unwrap().value[..],
        b"fine"
    );

    // A document with a key no store writes, under an owner: the listing
    // fails with Encoding; other owners still list.
    store
        .collection()
        .insert_one(doc! { "_id": 42, "value": value(), "version": 1_i64, "owner": "mallory" })
        .await
        .unwrap();
    let mallory = Owner::new("mallory").unwrap();
    let err = store.list_by_owner(&mallory).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encoding, "{err}");
    let alice = Owner::new("alice").unwrap();
    store
        .put(
            &key("a1"),
            "x".into(),
            PutOptions::new(PutMode::Create).owner(alice.clone()),
        )
        .await
        .unwrap();
    assert_eq!(store.list_by_owner(&alice).await.unwrap().len(), 1);
    // Corrupt documents can still be deleted and overwritten.
    assert!(store.delete(&key("text-value"), None).await.unwrap());
    store
        .put(&key("text-version"), "new".into(), PutMode::Upsert.into())
        .await
        .unwrap();
    assert_eq!(
        &store
            .get(&key("text-version"))
            .await
            .unwrap()
            .unwrap()
            .value[..],
        b"new"
    );
}

#[tokio::test]
async fn mongodb_bad_names_uris_and_settings_are_config_errors() {
    let url = provision::env_url(Service::MongoDb)
        .unwrap_or_else(|| "mongodb://127.0.0.1:27017/".to_owned());
    let app = in_database(&url, "app");
    let sessions = || MongoConfig::default().namespace("sessions");
    let cases = [
        ("http://localhost/app".to_owned(), sessions()),
        ("mongodb://".to_owned(), sessions()),
        (in_database(&url, "a.b"), sessions()),
        (
            app.clone(),
            MongoConfig::default().namespace("system.users"),
        ),
        (
            app.clone(),
            MongoConfig::default().namespace("sessions.versions"),
        ),
        (app.clone(), MongoConfig::default().namespace("a$b")),
        (app.clone(), sessions().max_value_len(64 << 20)),
        (app.clone(), sessions().purge_batch(0)),
    ];
    for (uri, config) in cases {
        let shown = format!("{config:?}");
        let err = MongoStore::connect_with(&uri, config).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{uri} {shown}: {err}");
    }
}

#[tokio::test]
async fn mongodb_unreachable_server_is_unavailable_without_the_password() {
    let started = Instant::now();
    let err =
        MongoStore::connect("mongodb://app:s3cret@127.0.0.1:9/app?serverSelectionTimeoutMS=300")
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(err.message().contains("app:***@127.0.0.1:9"), "{err}");
}

/// A server of the test's own, on its own port and storage directory: a
/// process of the binary in `STORE_TEST_MONGODB_SERVER`, or a container
/// (see the module documentation).
struct OwnServer {
    /// A directory of the test's on this machine: the server's
    /// configuration and data (as a process) and the files `start_with`'s
    /// `prepare` wrote (TLS certificates, which the client reads too).
    dir: PathBuf,
    /// The host to connect to.
    host: String,
    /// The port the server answers on, on this machine.
    port: u16,
    standalone: bool,
    /// Command-line options naming a file in `dir` (TLS files).
    files: Vec<(&'static str, &'static str)>,
    runs: Runs,
}

/// Where an [`OwnServer`] runs.
enum Runs {
    /// A process on this machine, storing in `dir/data`.
    Process {
        bin: PathBuf,
        child: Option<std::process::Child>,
    },
    /// A container, storing in its `/data/db`: kept across a kill, so the
    /// data is too.
    Container(Box<ServerContainer>),
}

/// The port secantusd-rs listens on inside the image (its entrypoint's).
const IMAGE_PORT: u16 = 27017;
/// Where `start_with`'s files go in a container.
const CONTAINER_FILES: &str = "/etc/secantus";
/// What a replica-set server in a container prints on stdout (its own
/// line, once it listens).
const LISTENING: &str = "secantusd-rs listening on";
/// What the wrapper of a replica-set server in a container prints on
/// stdout when the server is gone, before its status.
const EXITED: &str = "secantusd-rs exited with status";

/// A replica-set secantusd-rs in a container, on port `$1` inside as
/// outside: its hello advertises `0.0.0.0:$1`, which the driver then
/// connects to (this machine's loopback, so the Docker daemon must be a
/// local one). Not as PID 1, so that a
/// `kill -KILL` from inside reaches it (the container's init ignores
/// SIGKILL from its own namespace). The container ends with the server and
/// says how the server ended.
const REPLICA_SET_WRAPPER: &str = r#"
port=$1
shift
secantusd-rs --config /etc/secantus/secantusd.toml --host 0.0.0.0 --port "$port" \
  --storage-path /data/db --log-file-max 8MB --cache-size 64M --sync-on-commit "$@" &
pid=$!
echo "$pid" >/tmp/secantusd-rs.pid
trap 'kill -INT "$pid" 2>/dev/null' INT TERM
while :; do
  wait "$pid"
  rc=$?
  kill -0 "$pid" 2>/dev/null || break
done
echo "secantusd-rs exited with status $rc"
exit "$rc"
"#;

impl OwnServer {
    /// Starts a server that presents itself as a one-node replica set, or
    /// with `standalone` as a standalone server (no retryable writes, no
    /// transactions).
    async fn start(test: &str, standalone: bool) -> Option<Self> {
        Self::start_with(test, standalone, |_| Vec::new()).await
    }

    /// A server whose `prepare` writes files into its directory and
    /// returns the command-line options naming them (option, file name),
    /// before it starts.
    async fn start_with(
        test: &str,
        standalone: bool,
        prepare: impl FnOnce(&std::path::Path) -> Vec<(&'static str, &'static str)>,
    ) -> Option<Self> {
        let bin = std::env::var_os("STORE_TEST_MONGODB_SERVER")
            .map(PathBuf::from)
            .filter(|p| p.is_file());
        let in_container = container::own_server_in_container(bin.is_some()).await;
        if !in_container && bin.is_none() {
            return provision::skip(
                test,
                "no MongoDB-compatible server binary (set STORE_TEST_MONGODB_SERVER; \
                 scripts/services.sh builds secantusd-rs) and no Docker daemon for a \
                 container of STORE_TEST_MONGODB_IMAGE",
            );
        }
        let dir = std::env::temp_dir().join(unique("store-mongodb-own"));
        std::fs::create_dir_all(&dir).unwrap();
        let files = prepare(&dir);
        if in_container {
            let (c, inside) = Self::container(&dir, standalone, &files).await;
            let server = Self {
                host: c.host().to_owned(),
                port: c.port(inside),
                dir,
                standalone,
                files,
                runs: Runs::Container(Box::new(c)),
            };
            if server.files.is_empty() {
                server.wait_until_answering().await;
            }
            return Some(server);
        }
        std::fs::write(dir.join("secantusd.toml"), "").unwrap();
        let port = container::free_port().unwrap();
        let mut server = Self {
            dir,
            host: "127.0.0.1".to_owned(),
            port,
            standalone,
            files,
            runs: Runs::Process {
                bin: bin.expect("a binary"),
                child: None,
            },
        };
        server.spawn();
        Some(server)
    }

    /// A container of the MongoDB image, `files` copied in. Standalone:
    /// the image's own command (secantusd-rs with `--standalone`, or
    /// mongod), `files`' options passed on (secantusd-rs's). A replica
    /// set: [`REPLICA_SET_WRAPPER`], which needs an image holding
    /// secantusd-rs (mongod would need `--replSet` and an initiation).
    /// Returns it and the port the server listens on inside.
    async fn container(
        dir: &std::path::Path,
        standalone: bool,
        files: &[(&'static str, &'static str)],
    ) -> (ServerContainer, u16) {
        let mut spec = ServerSpec::new(Service::MongoDb);
        let mut options = Vec::new();
        for (option, name) in files {
            let path = dir.join(name);
            let contents = std::fs::read(&path).unwrap();
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&path).unwrap().permissions(),
            ) & 0o777;
            let inside = format!("{CONTAINER_FILES}/{name}");
            spec = spec.file(inside.clone(), contents, mode);
            options.extend([(*option).to_owned(), inside]);
        }
        let (spec, inside) = if standalone {
            let spec = spec
                .args(options)
                .publish(IMAGE_PORT)
                .ready_on_stdout("Waiting for connections");
            (spec, IMAGE_PORT)
        } else {
            let port = container::free_port().unwrap();
            let spec = spec
                .entrypoint("bash")
                .args(["-c", REPLICA_SET_WRAPPER, "wrapper"])
                .arg(port.to_string())
                .args(options)
                .publish_same(port)
                .ready_on_stdout(LISTENING);
            (spec, port)
        };
        let c = ServerContainer::start(spec)
            .await
            .unwrap_or_else(|e| panic!("a MongoDB server in a container: {e}"));
        (c, inside)
    }

    /// Waits until the server in a container answers `hello` through its
    /// published port, as a process's does once it listens: its first
    /// answer may take longer than the tests' 500 ms timeouts on a loaded
    /// machine (the address translation, the storage opening).
    async fn wait_until_answering(&self) {
        let url = format!(
            "mongodb://{}:{}/?directConnection=true&serverSelectionTimeoutMS=2000",
            self.host, self.port
        );
        let client = Client::with_uri_str(&url).await.unwrap();
        let started = Instant::now();
        loop {
            match client
                .database("admin")
                .run_command(doc! { "hello": 1 })
                .await
            {
                Ok(_) => return,
                Err(e) => assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the server in its container does not answer at {url}: {e}"
                ),
            }
        }
    }

    fn url(&self) -> String {
        format!(
            "mongodb://{}:{}/?serverSelectionTimeoutMS=500&connectTimeoutMS=500",
            self.host, self.port
        )
    }

    /// Starts the server process, or the container again (with its data),
    /// and waits until the server listens.
    async fn run(&mut self) {
        if let Runs::Container(c) = &self.runs {
            let before = c.stdout().await.unwrap().matches(LISTENING).count();
            c.start_again().await.unwrap();
            let started = Instant::now();
            while c.stdout().await.unwrap().matches(LISTENING).count() == before {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the server did not listen: {}",
                    c.stdout().await.unwrap()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return;
        }
        self.spawn();
    }

    /// The server process (native mode).
    fn spawn(&mut self) {
        let Runs::Process { bin, child } = &mut self.runs else {
            unreachable!("a container is started by start_with");
        };
        let mut command = std::process::Command::new(&*bin);
        if self.standalone {
            command.arg("--standalone");
        }
        for (option, name) in &self.files {
            command.arg(option).arg(self.dir.join(name));
        }
        let spawned = command
            .arg("--config")
            .arg(self.dir.join("secantusd.toml"))
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--storage-path")
            .arg(self.dir.join("data"))
            .args(["--log-file-max", "8MB", "--cache-size", "64M"])
            // Acknowledged writes reach the disk before the reply, so a
            // kill -9 loses none (as with mongod's journal and `j: true`).
            .arg("--sync-on-commit")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the server");
        *child = Some(spawned);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once, as a crash or `kill -9` would: SIGKILL to
    /// the server's process (in a container: from inside it, then the
    /// container, stopped, keeps its data for [`OwnServer::run`]).
    async fn kill(&mut self) {
        match &mut self.runs {
            Runs::Process { child, .. } => {
                if let Some(mut child) = child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            Runs::Container(c) => {
                let kills = c.stdout().await.unwrap().matches(EXITED).count();
                // The container ends with its server, which may end this
                // command before it reports: what counts is the status
                // the wrapper prints.
                let sent = c
                    .exec(&["bash", "-c", "kill -KILL \"$(cat /tmp/secantusd-rs.pid)\""])
                    .await;
                let started = Instant::now();
                let status = loop {
                    let out = c.stdout().await.unwrap();
                    let statuses: Vec<String> = out
                        .lines()
                        .filter_map(|l| l.strip_prefix(EXITED))
                        .map(|s| s.trim().to_owned())
                        .collect();
                    if let Some(status) = statuses.get(kills) {
                        break status.clone();
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "the server did not die (exec: {sent:?}): {out}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                assert_eq!(status, "137", "the server must die of SIGKILL");
                // The wrapper exits after saying so: until the container
                // has stopped (at once if it has).
                c.kill().await.unwrap();
            }
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // A container is removed when dropped.
        if let Runs::Process { child, .. } = &mut self.runs
            && let Some(mut child) = child.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A replica-set server killed (SIGKILL to its process; in a container
/// from inside it, the container stopping with it) under live stores, then
/// started again on the same port and storage (the same container): every
/// operation is `Unavailable` meanwhile, within the server selection
/// timeout, and the acknowledged write before the kill survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_server_killed_and_restarted_under_a_live_store() {
    let Some(mut server) = OwnServer::start("mongodb_server_killed_and_restarted", false).await
    else {
        return;
    };
    let store = connect(&server.url(), "app", "sessions", MongoConfig::default())
        .await
        .unwrap();
    store.setup().await.unwrap();
    let owner = Owner::new("u1").unwrap();
    let opts = || PutOptions::new(PutMode::Upsert).owner(Owner::new("u1").unwrap());
    store
        .put(&key("before"), "kept".into(), opts())
        .await
        .unwrap();

    // A store that must reserve versions for every write.
    let config = MongoConfig::default().version_block(1);
    let tiny = Arc::new(connect(&server.url(), "app", "tiny", config).await.unwrap());
    tiny.put(&key("t"), "v".into(), PutMode::Upsert.into())
        .await
        .unwrap();

    server.kill().await;
    // 16 writers that all need a version reservation: they share one
    // attempt and fail together within the server selection timeout
    // (500 ms), instead of one after the other (16 × 500 ms).
    let started = Instant::now();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let tiny = tiny.clone();
            tokio::spawn(async move {
                tiny.put(&key(&format!("w{i}")), "v".into(), PutMode::Upsert.into())
                    .await
            })
        })
        .collect();
    for writer in writers {
        let err = writer.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.is_retryable(), "{err}");
    }
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "writers waited {waited:?}");
    for _round in 0..2 {
        let started = Instant::now();
        faults::assert_every_operation_unavailable(&store, &key("before"), &owner).await;
        let err = store.setup().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        // Eight calls, each bounded by the 500 ms server selection timeout.
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    server.run().await;
    let (entry, took) =
        faults::wait_for_recovery(&store, &key("before"), Duration::from_secs(30)).await;
    eprintln!("recovered {took:?} after the restart");
    assert_eq!(
        &entry.expect("the write before the kill survived").value[..],
        b"kept"
    );
    store
        .put(&key("after"), "new".into(), opts())
        .await
        .unwrap();
    assert_eq!(store.list_by_owner(&owner).await.unwrap().len(), 2);
    let later = SystemClock
        .now()
        .checked_add(Duration::from_secs(60))
        .unwrap();
    store.touch(&key("after"), later).await.unwrap();
}

#[tokio::test]
async fn mongodb_new_uses_the_callers_client() {
    let Some(url) = shared_url().await else {
        return;
    };
    let client = Client::with_uri_str(&url).await.unwrap();
    let name = unique("new");
    let config = MongoConfig::default().namespace(&name);
    let default = MongoStore::new(client.database(DATABASE));
    assert_eq!(default.namespace(), store_mongodb::DEFAULT_NAMESPACE);
    let store = MongoStore::with_config(client.database(DATABASE), config).unwrap();
    assert_eq!(store.namespace(), name);
    store.setup().await.unwrap();
    let r = store
        .put(&key("k"), "v".into(), PutMode::Create.into())
        .await
        .unwrap();
    let other = store.with_namespace(format!("{name}_other")).unwrap();
    assert_eq!(other.namespace(), format!("{name}_other"));
    assert!(other.get(&key("k")).await.unwrap().is_none());
    assert_eq!(
        store.get(&key("k")).await.unwrap().unwrap().version,
        r.version
    );
    let counters = client
        .database(DATABASE)
        .collection::<Document>(&format!("{name}.versions"));
    assert_eq!(counters.count_documents(doc! {}).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_works_on_a_standalone_server() {
    let Some(server) = OwnServer::start("mongodb_works_on_a_standalone_server", true).await else {
        return;
    };
    let client = Client::with_uri_str(server.url()).await.unwrap();
    let hello = client
        .database("admin")
        .run_command(doc! { "hello": 1 })
        .await
        .unwrap();
    assert!(
        !hello.contains_key("setName"),
        "the server must present itself as standalone: {hello}"
    );
    let store = Arc::new(
        connect(&server.url(), "app", "sessions", MongoConfig::default())
            .await
            .unwrap(),
    );
    store.setup().await.unwrap();
    let k = key("k");
    let created = store
        .put(&k, "0".into(), PutMode::Create.into())
        .await
        .unwrap();
    let err = store
        .put(&k, "x".into(), PutMode::Create.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    store.put(&k, "1".into(), created.into()).await.unwrap();
    let err = store.put(&k, "2".into(), created.into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VersionMismatch);
    // 8 tasks × 10 compare-and-swap increments: none lost, none doubled.
    store
        .put(&k, "0".into(), PutMode::Upsert.into())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    loop {
                        let entry = store.get(&k).await.unwrap().unwrap();
                        let n: u32 = std::str::from_utf8(&entry.value).unwrap().parse().unwrap();
                        let next = PutOptions::new(PutMode::UpdateIf(entry.version));
                        match store.put(&k, (n + 1).to_string().into(), next).await {
                            Ok(_) => break,
                            Err(e) if e.kind() == ErrorKind::VersionMismatch => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(&store.get(&k).await.unwrap().unwrap().value[..], b"80");
    assert!(store.delete(&k, None).await.unwrap());
}

// ---------------------------------------------------------------- scan

/// Opens each namespace as a collection of its own with the store's
/// indexes, on a manual clock a day ahead of the real one (as the matrix
/// row does), so the server's TTL monitor never removes a document a test
/// still counts.
#[derive(Debug)]
struct ScanBackend {
    root: MongoStore,
    clock: ManualClock,
}

#[async_trait::async_trait]
impl TestBackend for ScanBackend {
    async fn open(&self, namespace: &str) -> store_core::Result<Arc<dyn Store>> {
        let store = self.root.with_namespace(namespace)?;
        store.setup().await?;
        Ok(Arc::new(store))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

/// A manual clock a day ahead of the real one.
fn day_ahead() -> ManualClock {
    ManualClock::new(
        SystemClock
            .now()
            .checked_add(Duration::from_secs(24 * 3600))
            .unwrap(),
    )
}

async fn scan_backend(url: &str) -> ScanBackend {
    let clock = day_ahead();
    let config = MongoConfig::default().clock(clock.clone());
    let root = connect(url, DATABASE, &unique("root"), config)
        .await
        .expect("connect to the shared server");
    ScanBackend { root, clock }
}

/// The conformance suite's scan behaviours, also runnable while the
/// workspace matrix does not build.
mod scan_conformance {
    use super::*;

    store_conformance::conformance_tests!(
        async {
            let url = shared_url().await?;
            Some(scan_backend(&url).await)
        };
        scan
    );
}

/// What a whole scan returned.
#[derive(Debug, Default)]
struct Scan {
    entries: Vec<(Key, store_core::Entry)>,
    expired: u64,
    unreadable: Vec<String>,
    pages: usize,
}

/// Scans `store` to the end in pages of `limit`, checking that no page
/// holds more than `limit` entries.
async fn scan_all(store: &MongoStore, limit: usize) -> Scan {
    let mut seen = Scan::default();
    let mut cursor: Option<ScanCursor> = None;
    loop {
        let page = store.scan(cursor.as_ref(), limit).await.unwrap();
        assert!(
            page.entries.len() <= limit,
            "a page of {} entries exceeds the limit {limit}",
            page.entries.len()
        );
        seen.pages += 1;
        assert!(seen.pages < 100_000, "the scan does not end");
        seen.entries.extend(page.entries);
        seen.expired += page.expired;
        seen.unreadable.extend(page.unreadable);
        match page.next {
            // Saved as text and read back, as another process would.
            Some(next) => cursor = Some(ScanCursor::new(next.to_string())),
            None => return seen,
        }
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// `{_id: id, value: <a string whose bytes are not UTF-8>}`.
fn not_utf8(id: &str) -> RawDocumentBuf {
    let mut body = vec![0x02];
    body.extend_from_slice(b"_id\0");
    body.extend_from_slice(&i32::try_from(id.len() + 1).unwrap().to_le_bytes());
    body.extend_from_slice(id.as_bytes());
    body.push(0);
    body.push(0x02);
    body.extend_from_slice(b"value\0");
    body.extend_from_slice(&3_i32.to_le_bytes());
    body.extend_from_slice(&[0xff, 0xfe, 0]);
    body.push(0);
    let mut bytes = i32::try_from(body.len() + 4)
        .unwrap()
        .to_le_bytes()
        .to_vec();
    bytes.extend(body);
    RawDocumentBuf::from_bytes(bytes).unwrap()
}

#[tokio::test]
async fn mongodb_scan_names_foreign_documents_and_returns_the_good_ones_in_order() {
    let Some(url) = shared_url().await else {
        return;
    };
    let clock = day_ahead();
    let store = fresh(&url, MongoConfig::default().clock(clock.clone())).await;
    let expiry = clock.now().checked_add(Duration::from_secs(1)).unwrap();
    for (name, value) in [("a", "1"), ("c", "3"), ("e", "5"), ("é", "7")] {
        store
            .put(&key(name), value.into(), PutMode::Create.into())
            .await
            .unwrap();
    }
    store
        .put(
            &key("d-expired"),
            "gone".into(),
            PutOptions::new(PutMode::Create).expires_at(expiry),
        )
        .await
        .unwrap();
    let long = "l".repeat(600);
    let object_id = store_mongodb::mongodb::bson::oid::ObjectId::new();
    let foreign = [
        doc! { "_id": "bad", "v": 42 },
        doc! { "_id": "b-types", "value": "text", "version": "1" },
        doc! { "_id": "cc-expiry", "value": Binary { subtype: BinarySubtype::Generic,
        bytes: b"x".to_vec() }, "version": 1_i64, "expires_at": "tomorrow" },
        doc! { "_id": 42, "value": "x" },
        doc! { "_id": object_id, "value": "x" },
        doc! { "_id": { "nested": 1 }, "value": "x" },
        doc! { "_id": "", "value": "x" },
        doc! { "_id": long.as_str(), "value": "x" },
        doc! { "_id": "ctl\u{1}", "value": "x" },
    ];
    store.collection().insert_many(foreign).await.unwrap();
    // A string that is not UTF-8, as another driver could write it (a
    // server that checks UTF-8, such as secantusd-rs, refuses it).
    let not_utf8_stored = store
        .collection()
        .clone_with_type::<RawDocumentBuf>()
        .insert_one(not_utf8("not-utf8"))
        .await
        .is_ok();
    clock.advance(Duration::from_secs(2));

    let mut expected_unreadable = vec![
        "bad".to_owned(),
        "b-types".to_owned(),
        "cc-expiry".to_owned(),
        format!("{:?}", Bson::Int32(42)),
        format!("{:?}", Bson::ObjectId(object_id)),
        format!("{:?}", Bson::Document(doc! { "nested": 1 })),
        String::new(),
        long.clone(),
        "ctl\u{1}".to_owned(),
    ];
    if not_utf8_stored {
        expected_unreadable.push("not-utf8".to_owned());
    }
    expected_unreadable.sort();
    assert!(expected_unreadable.iter().any(|n| n == "Int32(42)"));
    for limit in [1, 2, 3, 5, 100] {
        let seen = scan_all(&store, limit).await;
        let keys: Vec<&str> = seen.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "c", "e", "é"], "limit {limit}");
        let values: Vec<&[u8]> = seen.entries.iter().map(|(_, e)| &e.value[..]).collect();
        assert_eq!(values, [b"1", b"3", b"5", b"7"], "limit {limit}");
        assert_eq!(seen.expired, 1, "limit {limit}");
        assert_eq!(
            sorted(seen.unreadable),
            expected_unreadable,
            "limit {limit}"
        );
    }

    // Errors of a scan name the backend and the operation.
    for (cursor, limit) in [
        (None, 0),
        (None, store_core::MAX_SCAN_LIMIT + 1),
        (Some(ScanCursor::new("r:1")), 10),
    ] {
        let err = store.scan(cursor.as_ref(), limit).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_eq!(err.backend(), Some("mongodb"), "{err}");
        assert_eq!(err.operation(), Some(store_core::Operation::Scan), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_scan_of_2500_entries_in_pages_of_300() {
    let Some(url) = shared_url().await else {
        return;
    };
    let store = fresh(&url, MongoConfig::default()).await;
    // ASCII, Latin-1, other planes and emoji: MongoDB's simple collation
    // orders strings by their UTF-8 bytes, as Rust orders keys.
    let prefixes = [
        "a",
        "B",
        "z",
        "~",
        " ",
        "é",
        "É",
        "\u{a0}",
        "Ω",
        "日本",
        "😀",
        "\u{fffd}",
        "\u{10fffd}",
    ];
    let names: Vec<String> = (0..2500)
        .map(|i| format!("{}{i}", prefixes[i % prefixes.len()]))
        .collect();
    futures::stream::iter(names.clone())
        .map(|name| {
            let store = store.clone();
            async move {
                store
                    .put(&key(&name), name.clone().into(), PutMode::Create.into())
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let mut expected = names;
    expected.sort();

    let seen = scan_all(&store, 300).await;
    let keys: Vec<String> = seen
        .entries
        .iter()
        .map(|(k, _)| k.as_str().to_owned())
        .collect();
    assert_eq!(keys.len(), 2500);
    assert_eq!(keys, expected, "every key once, in byte order");
    for (k, e) in &seen.entries {
        assert_eq!(&e.value[..], k.as_str().as_bytes());
    }
    // 8 full pages and a last one of 100: no extra empty page.
    assert_eq!(seen.pages, 9);
    assert_eq!(seen.expired, 0);
    assert!(seen.unreadable.is_empty(), "{:?}", seen.unreadable);
}

#[tokio::test]
async fn mongodb_scan_is_in_byte_order_under_a_collection_default_collation() {
    let Some(url) = shared_url().await else {
        return;
    };
    let client = Client::with_uri_str(&url).await.unwrap();
    let db = client.database(DATABASE);
    let name = unique("collated");
    // Case-insensitive: "a" < "B" < "c" under it; "B" < "a" < "c" in bytes.
    db.create_collection(&name)
        .collation(
            Collation::builder()
                .locale("en")
                .strength(CollationStrength::Secondary)
                .build(),
        )
        .await
        .unwrap();
    let config = MongoConfig::default().namespace(&name);
    let store = MongoStore::with_config(db, config).unwrap();
    for k in ["a", "B", "c", "Ä", "D"] {
        store
            .put(&key(k), k.into(), PutMode::Create.into())
            .await
            .unwrap();
    }
    for limit in [1, 2, 10] {
        let seen = scan_all(&store, limit).await;
        let keys: Vec<&str> = seen.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["B", "D", "a", "c", "Ä"], "limit {limit}");
    }
}

/// TLS: a server with a certificate for `localhost` from a test CA. With
/// `tls=true` and that CA (`tlsCAFile`) the store works. A certificate the
/// driver refuses (an unknown CA) leaves it without a server: the driver
/// reports that as a server selection timeout, so the store gives a
/// retryable `Unavailable` (it cannot tell it from a server that is down
/// without reading the message), still without the password. In a
/// container the server's certificate and key are copied in; the client
/// reads the CA from this machine, as in native mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_tls_with_a_test_ca() {
    let Some(server) = OwnServer::start_with("mongodb_tls", true, |dir| {
        store_conformance::pki::write_test_pki(dir, &["localhost"]);
        vec![
            ("--tls-cert-file", "server.pem"),
            ("--tls-key-file", "server.key"),
        ]
    })
    .await
    else {
        return;
    };
    let url = |ca: &str| {
        format!(
            "mongodb://app:tls-secret@localhost:{}/app?tls=true&tlsCAFile={}&\
             directConnection=true&serverSelectionTimeoutMS=1000&authSource=admin",
            server.port,
            server.dir.join(ca).display()
        )
    };
    let plain = |ca: &str| {
        url(ca)
            .replace("app:tls-secret@", "")
            .replace("&authSource=admin", "")
    };
    let store = MongoStore::connect_with(&plain("ca.pem"), MongoConfig::default().namespace("tls"))
        .await
        .unwrap();
    store.setup().await.unwrap();
    store_conformance::pki::assert_round_trip(&store).await;

    // The server speaks TLS only: without it there is no server either.
    let clear = format!(
        "mongodb://localhost:{}/app?directConnection=true&serverSelectionTimeoutMS=1000",
        server.port
    );
    let without = MongoStore::connect_with(&clear, MongoConfig::default().namespace("tls")).await;
    let err = match without {
        Ok(store) => store.get(&key("k")).await.unwrap_err(),
        Err(err) => err,
    };
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");

    let refused = MongoStore::connect_with(&url("other-ca.pem"), MongoConfig::default()).await;
    let err = match refused {
        Ok(store) => store.get(&key("k")).await.unwrap_err(),
        Err(err) => err,
    };
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("tls-secret"), "{shown}");
}
