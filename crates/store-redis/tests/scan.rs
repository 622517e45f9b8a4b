//! `RedisStore::scan` on real servers: the scan behaviours of the
//! conformance suite on a single server (one bucket and several) and on a
//! cluster, foreign data under the prefix, thousands of entries over
//! several buckets read in small pages, and the cursors of each mode.
//!
//! The servers come from `STORE_TEST_REDIS_URL` and
//! `STORE_TEST_REDIS_CLUSTER_URLS`; without them the tests skip, or fail
//! under `STORE_TEST_REQUIRE=1`.

#![cfg(feature = "cluster")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::try_join_all;
use store_conformance::provision::{Service, service_url};
use store_conformance::{TestBackend, TestClock, random_namespace};
use store_core::{
    Clock, Entry, ErrorKind, Key, Operation, Owner, PutMode, PutOptions, Result, ScanCursor, Store,
    SystemClock,
};
use store_redis::{RedisConfig, RedisStore};

/// Stores on one shared connection, each test in its own prefix.
#[derive(Debug)]
struct Backend {
    root: RedisStore,
}

#[store_core::async_trait]
impl TestBackend for Backend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(self.root.with_namespace(namespace)?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Real
    }
}

/// A store on the single test server with `buckets`, in a fresh prefix.
async fn single(buckets: u16) -> Option<RedisStore> {
    let url = service_url(Service::Redis).await?;
    let store = RedisStore::connect_with(&url, RedisConfig::default().buckets(buckets))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Redis server: {e}"))
        .with_namespace(random_namespace())
        .expect("namespace");
    Some(store)
}

/// A store on the single test server with `buckets` and the scan index,
/// in a fresh prefix.
async fn single_indexed(buckets: u16) -> Option<RedisStore> {
    let url = service_url(Service::Redis).await?;
    let config = RedisConfig::default().buckets(buckets).scan_index(true);
    let store = RedisStore::connect_with(&url, config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Redis server: {e}"))
        .with_namespace(random_namespace())
        .expect("namespace");
    Some(store)
}

/// A store on the test cluster (16 buckets), in a fresh prefix.
async fn cluster() -> Option<RedisStore> {
    cluster_with(RedisConfig::default()).await
}

/// A store on the test cluster with the scan index, in a fresh prefix.
async fn cluster_indexed() -> Option<RedisStore> {
    cluster_with(RedisConfig::default().scan_index(true)).await
}

async fn cluster_with(config: RedisConfig) -> Option<RedisStore> {
    let urls = service_url(Service::RedisCluster).await?;
    let store = RedisStore::connect_cluster_with(urls.split(',').map(str::trim), config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Redis Cluster: {e}"))
        .with_namespace(random_namespace())
        .expect("namespace");
    assert!(store.buckets() > 1);
    Some(store)
}

/// The scan behaviours of the conformance suite on `$backend`, an
/// `Option<RedisStore>`.
macro_rules! scan_behaviours {
    ($backend:expr) => {
        store_conformance::conformance_tests!(
            async { $backend.map(|root| super::Backend { root }) };
            scan
        );
    };
}

mod redis_single {
    scan_behaviours!(super::single(1).await);
}

mod redis_single_buckets {
    scan_behaviours!(super::single(7).await);
}

mod redis_cluster {
    scan_behaviours!(super::cluster().await);
}

mod redis_single_indexed {
    scan_behaviours!(super::single_indexed(1).await);
}

mod redis_single_buckets_indexed {
    scan_behaviours!(super::single_indexed(7).await);
}

mod redis_cluster_indexed {
    scan_behaviours!(super::cluster_indexed().await);
}

/// Everything a whole scan returned.
#[derive(Default)]
struct Scanned {
    entries: BTreeMap<String, Entry>,
    returned: usize,
    unreadable: BTreeSet<String>,
    pages: usize,
    largest_page: usize,
}

/// Scans `store` to the end in pages of `limit`, each page from a cursor
/// saved as text.
async fn scan_all(store: &RedisStore, limit: usize) -> Scanned {
    let mut seen = Scanned::default();
    let mut cursor: Option<ScanCursor> = None;
    loop {
        let page = store.scan(cursor.as_ref(), limit).await.expect("scan");
        assert_eq!(page.expired, 0, "Redis hides expired keys");
        seen.pages += 1;
        seen.largest_page = seen.largest_page.max(page.entries.len());
        seen.returned += page.entries.len();
        for (key, entry) in page.entries {
            if let Some(before) = seen.entries.insert(key.as_str().to_owned(), entry.clone()) {
                assert_eq!(before, entry, "a key returned twice must be the same entry");
            }
        }
        seen.unreadable.extend(page.unreadable);
        let Some(next) = page.next else {
            return seen;
        };
        let tag = if next.as_str().starts_with("ri:") {
            "ri:"
        } else if store.capabilities().cluster {
            "rc:"
        } else {
            "r:"
        };
        assert!(next.as_str().starts_with(tag), "{next:?}");
        cursor = Some(ScanCursor::new(next.to_string()));
        assert!(seen.pages < 100_000, "the scan does not end");
    }
}

/// Writes `count` entries `k-<n>` (every third owned by `ann`).
async fn fill(store: &RedisStore, count: usize) -> BTreeSet<String> {
    let ann = Owner::new("ann").expect("owner");
    let names: Vec<String> = (0..count).map(|i| format!("k-{i:05}")).collect();
    for chunk in names.chunks(200) {
        try_join_all(chunk.iter().enumerate().map(|(i, name)| {
            let mut opts = PutOptions::new(PutMode::Create);
            if i % 3 == 0 {
                opts = opts.owner(ann.clone());
            }
            let key = Key::new(name).expect("key");
            async move { store.put(&key, name.clone().into(), opts).await }
        }))
        .await
        .expect("fill");
    }
    names.into_iter().collect()
}

/// 2,100 entries over several buckets, read in pages of 100: every key
/// comes back with its value, pages stay about the limit, and the scan
/// ends.
async fn thousands_in_small_pages(store: RedisStore) {
    assert!(store.buckets() > 1, "several buckets");
    assert!(!store.capabilities().ordered_scan);
    let written = fill(&store, 2_100).await;
    let seen = scan_all(&store, 100).await;
    let keys: BTreeSet<String> = seen.entries.keys().cloned().collect();
    assert_eq!(
        keys.len(),
        written.len(),
        "every key, found in {} pages",
        seen.pages
    );
    assert_eq!(keys, written);
    for (key, entry) in &seen.entries {
        assert_eq!(&entry.value[..], key.as_bytes());
    }
    assert!(seen.unreadable.is_empty(), "{:?}", seen.unreadable);
    assert!(seen.pages >= 10, "pages of about 100: {} pages", seen.pages);
    assert!(
        seen.largest_page <= 1_000,
        "a page of {} entries is far over the limit",
        seen.largest_page
    );
    eprintln!(
        "{} entries ({} returned) in {} pages, largest {}",
        keys.len(),
        seen.returned,
        seen.pages,
        seen.largest_page
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_scan_reads_thousands_over_buckets_in_pages() {
    if let Some(store) = single(8).await {
        thousands_in_small_pages(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_scan_reads_thousands_over_buckets_in_pages() {
    if let Some(store) = cluster().await {
        thousands_in_small_pages(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_indexed_scan_reads_thousands_over_buckets_in_pages() {
    if let Some(store) = single_indexed(8).await {
        thousands_in_small_pages(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_indexed_scan_reads_thousands_over_buckets_in_pages() {
    if let Some(store) = cluster_indexed().await {
        thousands_in_small_pages(store).await;
    }
}

/// A raw connection to the single test server.
async fn raw_single() -> redis::aio::MultiplexedConnection {
    let url = service_url(Service::Redis).await.expect("url");
    redis::Client::open(url.as_str())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection")
}

/// With 50,000 keys of another program in the database, a scan of a
/// namespace of 20 entries takes a page or two with the index, and
/// hundreds without it (`SCAN` visits every key of the database). Runs in
/// logical database 9 of the test server, so that the other tests' scans
/// do not walk those keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_indexed_scan_costs_in_proportion_to_the_namespace() {
    let Some(url) = service_url(Service::Redis).await else {
        return;
    };
    let (scheme, rest) = url.split_once("://").expect("test URL");
    let host = rest.split('/').next().unwrap_or(rest);
    let url = format!("{scheme}://{host}/9");
    let namespace = random_namespace();
    let connect = |config: RedisConfig| {
        let url = url.clone();
        let namespace = namespace.clone();
        async move {
            RedisStore::connect_with(&url, config.namespace(namespace))
                .await
                .expect("connect")
        }
    };
    let indexed = connect(RedisConfig::default().scan_index(true)).await;
    let plain = connect(RedisConfig::default()).await;
    let mut raw = redis::Client::open(url.as_str())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection");
    // Foreign keys that go away by themselves after the test.
    let other = random_namespace();
    for chunk in 0..10 {
        let mut pipe = redis::pipe();
        for i in 0..5_000 {
            pipe.cmd("SET")
                .arg(format!("{other}:{chunk}:{i}"))
                .arg("x")
                .arg("PX")
                .arg(120_000)
                .ignore();
        }
        pipe.query_async::<()>(&mut raw)
            .await
            .expect("foreign keys");
    }
    let mut written = BTreeSet::new();
    for i in 0..20 {
        let key = format!("k{i}");
        let mut opts = PutOptions::new(PutMode::Create);
        if i % 2 == 0 {
            opts = opts.expires_at(
                store_core::Expiry::from_unix_millis(
                    SystemClock.now().as_unix_millis() + 3_600_000,
                )
                .expect("expiry"),
            );
        }
        indexed
            .put(&Key::new(&key).expect("key"), "v".into(), opts)
            .await
            .expect("put");
        written.insert(key);
    }
    let with_index = scan_all(&indexed, 100).await;
    let keys: BTreeSet<String> = with_index.entries.keys().cloned().collect();
    assert_eq!(keys, written);
    assert!(
        with_index.pages <= 2,
        "the index is read in {} pages",
        with_index.pages
    );
    let without = scan_all(&plain, 100).await;
    let keys: BTreeSet<String> = without.entries.keys().cloned().collect();
    assert_eq!(keys, written);
    assert!(
        without.pages >= 100,
        "SCAN walks the database: {} pages",
        without.pages
    );
    eprintln!(
        "20 entries among 50,000 other keys: {} page(s) with the index, {} without",
        with_index.pages, without.pages
    );
}

/// Entries whose expiry moves to an earlier window (or to none) while a
/// scan is under way are still returned: they stay in the sets they were
/// in until those expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_indexed_scan_keeps_entries_whose_expiry_moves() {
    let Some(store) = single_indexed(3).await else {
        return;
    };
    let in_ms = |ms: i64| {
        store_core::Expiry::from_unix_millis(SystemClock.now().as_unix_millis() + ms)
            .expect("expiry")
    };
    let mut written = BTreeSet::new();
    for i in 0..300 {
        let key = format!("k{i:03}");
        let opts = PutOptions::new(PutMode::Create).expires_at(in_ms(7_200_000));
        store
            .put(&Key::new(&key).expect("key"), "v".into(), opts)
            .await
            .expect("put");
        written.insert(key);
    }
    let mut seen = BTreeSet::new();
    let mut cursor: Option<ScanCursor> = None;
    let mut pages = 0;
    loop {
        let page = store.scan(cursor.as_ref(), 10).await.expect("scan");
        pages += 1;
        seen.extend(page.entries.into_iter().map(|(k, _)| k.as_str().to_owned()));
        if pages == 1 {
            // Every entry moves: most to an expiry 90 s ahead (a window that
            // ends before the one being read), some to no expiry.
            for (i, key) in written.iter().enumerate() {
                let key = Key::new(key).expect("key");
                if i % 5 == 0 {
                    store
                        .put(&key, "w".into(), PutOptions::new(PutMode::Update))
                        .await
                        .expect("update");
                } else {
                    store.touch(&key, in_ms(90_000)).await.expect("touch");
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10_000, "the scan does not end");
    }
    assert_eq!(seen, written, "every entry, in {pages} pages");
}

/// `build_scan_index` indexes what a store without the index wrote; an
/// indexed scan finds it only then.
#[tokio::test]
async fn redis_build_scan_index_indexes_earlier_entries() {
    let Some(indexed) = single_indexed(4).await else {
        return;
    };
    let plain = single(4)
        .await
        .expect("server")
        .with_namespace(indexed.namespace())
        .expect("namespace");
    let written = fill(&plain, 50).await;
    let later = Key::new("with-expiry").expect("key");
    let expiry = store_core::Expiry::from_unix_millis(SystemClock.now().as_unix_millis() + 60_000)
        .expect("expiry");
    plain
        .put(&later, "v".into(), PutOptions::default().expires_at(expiry))
        .await
        .expect("put");
    assert!(scan_all(&indexed, 100).await.entries.is_empty());
    assert_eq!(indexed.build_scan_index().await.expect("build"), 51);
    let keys: BTreeSet<String> = scan_all(&indexed, 100).await.entries.into_keys().collect();
    let mut expected = written;
    expected.insert("with-expiry".to_owned());
    assert_eq!(keys, expected);
    // Running it again changes nothing.
    assert_eq!(plain.build_scan_index().await.expect("again"), 51);
    assert_eq!(scan_all(&indexed, 100).await.entries.len(), 51);
}

/// The set of indexed entries without an expiry loses its members on
/// every kind of delete, and a scan removes the ones a store without the
/// index left behind.
#[tokio::test]
async fn redis_indexed_deletes_clean_the_persistent_set() {
    let Some(store) = single_indexed(1).await else {
        return;
    };
    let plain = single(1)
        .await
        .expect("server")
        .with_namespace(store.namespace())
        .expect("namespace");
    let mut raw = raw_single().await;
    let set = format!("{}:{{0}}:i:p", store.namespace());
    let ann = Owner::new("ann").expect("owner");
    let mut versions = Vec::new();
    for i in 0..5 {
        let mut opts = PutOptions::default();
        if i == 4 {
            opts = opts.owner(ann.clone());
        }
        let key = Key::new(format!("k{i}")).expect("key");
        versions.push(
            store
                .put(&key, "v".into(), opts)
                .await
                .expect("put")
                .version,
        );
    }
    let members = |raw: &mut redis::aio::MultiplexedConnection| {
        let mut raw = raw.clone();
        let set = set.clone();
        async move {
            redis::cmd("SCARD")
                .arg(&set)
                .query_async::<u64>(&mut raw)
                .await
                .expect("scard")
        }
    };
    assert_eq!(members(&mut raw).await, 5);
    let key = |i: usize| Key::new(format!("k{i}")).expect("key");
    assert!(store.delete(&key(0), None).await.expect("delete"));
    assert!(
        store
            .delete(&key(1), Some(versions[1]))
            .await
            .expect("delete")
    );
    assert_eq!(store.delete_by_owner(&ann).await.expect("by owner"), 1);
    assert_eq!(members(&mut raw).await, 2);
    // A delete by a store without the index leaves a stale member, which
    // the next indexed scan removes.
    assert!(plain.delete(&key(2), None).await.expect("delete"));
    assert_eq!(members(&mut raw).await, 2);
    let keys: BTreeSet<String> = scan_all(&store, 10).await.entries.into_keys().collect();
    assert_eq!(keys, ["k3".to_owned()].into_iter().collect());
    assert_eq!(members(&mut raw).await, 1);
}

/// Plants data this store did not write, and names that only look like
/// its own, beside good entries: the good entries all come back, the
/// foreign values are named in `unreadable`, other names are passed over.
async fn foreign_data_is_unreadable<C>(store: RedisStore, raw: &mut C)
where
    C: redis::aio::ConnectionLike + Send,
{
    let prefix = store.namespace().to_owned();
    let name = |bucket: u16, key: &str| format!("{prefix}:{{{bucket}}}:e:{key}");
    // An owner whose set's name matches the `SCAN` pattern.
    let odd = Owner::new("x}:e:y").expect("owner");
    let mut good = BTreeSet::new();
    for i in 0..30 {
        let key = format!("good-{i}");
        let opts = PutOptions::new(PutMode::Create).owner(odd.clone());
        store
            .put(&Key::new(&key).expect("key"), "v".into(), opts)
            .await
            .expect("put");
        good.insert(key);
    }
    let set_name = name(0, "bad");
    let plain_name = name(0, "plain");
    let short_name = name(0, "short");
    let misplaced = name(store.buckets() + 3, "elsewhere");
    let query = |args: &[&str]| {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd
    };
    for args in [
        vec!["SADD", set_name.as_str(), "x"],
        vec!["SET", plain_name.as_str(), "no header at all, just text"],
        vec!["SET", short_name.as_str(), "s1"],
        vec!["SET", misplaced.as_str(), "v"],
    ] {
        let _: redis::Value = query(&args).query_async(raw).await.expect("plant");
    }
    let seen = scan_all(&store, 7).await;
    let keys: BTreeSet<String> = seen.entries.keys().cloned().collect();
    assert_eq!(keys, good, "every good entry, and nothing else");
    let expected: BTreeSet<String> = [set_name, plain_name, short_name, misplaced]
        .into_iter()
        .collect();
    assert_eq!(seen.unreadable, expected);
    // The planted data is left as it was.
    let kind: String = query(&["TYPE", &name(0, "bad")])
        .query_async(raw)
        .await
        .expect("type");
    assert_eq!(kind, "set");
    assert_eq!(store.list_by_owner(&odd).await.expect("list").len(), 30);
}

#[tokio::test]
async fn redis_scan_names_foreign_values_in_unreadable() {
    let Some(store) = single(1).await else {
        return;
    };
    let url = service_url(Service::Redis).await.expect("url");
    let mut raw = redis::Client::open(url.as_str())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection");
    foreign_data_is_unreadable(store, &mut raw).await;
}

#[tokio::test]
async fn redis_cluster_scan_names_foreign_values_in_unreadable() {
    let Some(store) = cluster().await else {
        return;
    };
    let urls = service_url(Service::RedisCluster).await.expect("urls");
    let nodes: Vec<&str> = urls.split(',').map(str::trim).collect();
    let mut raw = redis::cluster::ClusterClient::new(nodes)
        .expect("cluster client")
        .get_async_connection()
        .await
        .expect("raw cluster connection");
    foreign_data_is_unreadable(store, &mut raw).await;
}

/// Glob characters in the prefix match themselves only.
#[tokio::test]
async fn redis_scan_prefix_with_glob_characters() {
    let Some(base) = single(1).await else {
        return;
    };
    let ns = random_namespace();
    let store = base
        .with_namespace(format!("{ns}*?[a]\\"))
        .expect("namespace");
    let near = base
        .with_namespace(format!("{ns}xy[a]\\"))
        .expect("namespace");
    for s in [&store, &near] {
        for i in 0..5 {
            let key = Key::new(format!("k{i}")).expect("key");
            s.put(&key, "v".into(), PutOptions::default())
                .await
                .expect("put");
        }
    }
    near.put(
        &Key::new("only-near").expect("key"),
        "v".into(),
        PutOptions::default(),
    )
    .await
    .expect("put");
    assert_eq!(scan_all(&store, 3).await.entries.len(), 5);
    assert_eq!(scan_all(&near, 3).await.entries.len(), 6);
}

/// Each mode refuses the cursors of the other and anything else it did not
/// make, as `InvalidInput` of the scan.
#[tokio::test]
async fn redis_scan_refuses_cursors_of_the_other_mode() {
    let mut stores = Vec::new();
    stores.extend(single(1).await.map(|s| (s, "rc:127.0.0.1:6379:0")));
    stores.extend(cluster().await.map(|s| (s, "r:0")));
    for (store, other) in stores {
        for token in [other, "k:abc", "r:-1", "rc:h:1:x", "r:1 2", ""] {
            let e = store
                .scan(Some(&ScanCursor::new(token)), 10)
                .await
                .expect_err(token);
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{token:?}: {e}");
            assert_eq!(e.operation(), Some(Operation::Scan));
            assert_eq!(e.backend(), Some("redis"));
        }
        let page = store.scan(None, 10).await.expect("first page");
        assert!(page.entries.is_empty());
    }
}

/// A cluster cursor saved as text resumes on a new connection to the
/// cluster (as another process would), in the middle of a node and after
/// the scan moved on to another node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_scan_resumes_on_a_new_connection() {
    let Some(first) = cluster().await else {
        return;
    };
    let written = fill(&first, 300).await;
    let mut keys = BTreeSet::new();
    let mut nodes = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        // A new store object on a new connection for every page.
        let urls = service_url(Service::RedisCluster).await.expect("urls");
        let store = RedisStore::connect_cluster(urls.split(',').map(str::trim))
            .await
            .expect("connect")
            .with_namespace(first.namespace())
            .expect("namespace");
        let token = cursor.take().map(ScanCursor::new);
        let page = store.scan(token.as_ref(), 20).await.expect("scan");
        pages += 1;
        keys.extend(page.entries.into_iter().map(|(k, _)| k.as_str().to_owned()));
        let Some(next) = page.next else {
            break;
        };
        let (address, _) = next.as_str().rsplit_once(':').expect("node cursor");
        nodes.insert(address.to_owned());
        cursor = Some(next.to_string());
        assert!(pages < 10_000, "the scan does not end");
    }
    assert_eq!(keys, written);
    assert!(nodes.len() >= 3, "every primary is scanned: {nodes:?}");
}

/// `?scan_index=true` in the URL turns the index on (as `storectl` and
/// `store::open` users give it): writes fill index sets, scans read them.
#[tokio::test]
async fn redis_url_parameter_turns_the_scan_index_on() {
    let Some(url) = service_url(Service::Redis).await else {
        return;
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let namespace = random_namespace();
    let store = RedisStore::connect_with(
        &format!("{url}{sep}scan_index=true"),
        RedisConfig::default().namespace(namespace.clone()),
    )
    .await
    .expect("connect");
    let expiry = store_core::Expiry::from_unix_millis(SystemClock.now().as_unix_millis() + 60_000)
        .expect("expiry");
    for (key, opts) in [
        ("a", PutOptions::default().expires_at(expiry)),
        ("b", PutOptions::default()),
    ] {
        store
            .put(&Key::new(key).expect("key"), "v".into(), opts)
            .await
            .expect("put");
    }
    let mut raw = raw_single().await;
    let mut sets: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, names): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{namespace}:{{0}}:i:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut raw)
            .await
            .expect("scan");
        sets.extend(names);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    sets.sort();
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(sets[1].ends_with(":i:p"), "{sets:?}");
    let page = store.scan(None, 1).await.expect("scan");
    assert!(
        page.next
            .as_ref()
            .is_some_and(|c| c.as_str().starts_with("ri:")),
        "{:?}",
        page.next
    );
    assert_eq!(scan_all(&store, 10).await.entries.len(), 2);
    let e = RedisStore::connect(&format!("{url}{sep}scan_index=maybe"))
        .await
        .expect_err("a bad value");
    assert_eq!(e.kind(), ErrorKind::Config);
}
