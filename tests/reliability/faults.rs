//! Each server backend behind a [`FaultProxy`]: a stalled server, cut
//! connections during conditional writes, refused connections.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use store::{BackendInfo, OpenOptions};
use store_conformance::faults::{time_every_operation, wait_for_recovery};
use store_conformance::provision::{TestUrl, test_url};
use store_conformance::proxy::{Fault, FaultProxy};
use store_core::{Bytes, ErrorKind, Key, Owner, PutMode, PutOptions, Store};
use store_layers::{RetryPolicy, RetryStore};

/// The time bound every store is given behind the proxy.
pub(crate) const TIMEOUT: Duration = Duration::from_millis(1000);

/// A backend of the registry under test.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backend(&'static BackendInfo);

impl Backend {
    /// The registry's backend of that name.
    pub(crate) fn named(name: &str) -> Self {
        Self(store::backend(name).unwrap_or_else(|| panic!("no backend {name} in the registry")))
    }

    pub(crate) fn name(self) -> &'static str {
        self.0.name
    }

    /// Whether the backend keeps its data in this process (no server, no
    /// file).
    pub(crate) fn in_process(self) -> bool {
        self.0.servers.is_empty() && !self.0.test_url.contains("{dir}")
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

/// Where a backend's stores connect, and what keeps a file backend's
/// directory alive.
pub(crate) struct Server {
    backend: Backend,
    at: TestUrl,
    namespace: String,
}

impl Server {
    /// The backend's test server, or `None` (skipped, or a failure under
    /// `STORE_TEST_REQUIRE=1`).
    pub(crate) async fn provision(backend: Backend) -> Option<Self> {
        Some(Self {
            backend,
            at: test_url(backend.0.test_url).await?,
            namespace: format!("rel_{:012x}", rand::rng().random::<u64>() >> 16),
        })
    }

    /// `host:port` of the server.
    fn host_port(&self) -> String {
        let rest = self.at.url.split_once("://").map_or("", |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        authority.rsplit('@').next().unwrap_or("").to_owned()
    }

    /// A store on the server at `url` (the server's own, or a proxy's), in
    /// this server's namespace, with every call bounded by [`TIMEOUT`].
    pub(crate) async fn open_at(&self, url: &str) -> Arc<dyn Store> {
        let mut url = url.to_owned();
        if self.backend.name() == "mongodb" {
            // Talk to the one server the URL names (behind a proxy, the
            // address it announces is not the proxy's), and give up on it
            // within the bound.
            let sep = if url.contains('?') { '&' } else { '?' };
            url.push_str(&format!(
                "{sep}directConnection=true&serverSelectionTimeoutMS=1000&connectTimeoutMS=1000"
            ));
        }
        let options = OpenOptions::default()
            .namespace(self.namespace.as_str())
            .operation_timeout(TIMEOUT);
        store::open_with(&url, options)
            .await
            .unwrap_or_else(|e| panic!("cannot open a {:?} store: {e}", self.backend))
    }

    /// The server's URL.
    pub(crate) fn url(&self) -> &str {
        &self.at.url
    }

    /// A store straight on the server.
    pub(crate) async fn open(&self) -> Arc<dyn Store> {
        self.open_at(&self.at.url.clone()).await
    }

    /// A proxy in front of the server, and a store through it.
    pub(crate) async fn proxied(&self) -> (FaultProxy, Arc<dyn Store>) {
        let proxy = FaultProxy::start(self.host_port())
            .await
            .expect("start the proxy");
        let store = self.open_at(&proxy.url(&self.at.url)).await;
        (proxy, store)
    }
}

fn key(s: &str) -> Key {
    Key::new(s).expect("key")
}

/// A stalled server (connections accepted, nothing answered): every
/// operation that reaches the server fails with a retryable `Unavailable`
/// within the time bound (two bounds for a two-round-trip Redis write),
/// then the same store object works again once the server answers.
pub(crate) async fn stalled_server(backend: Backend) {
    let Some(server) = Server::provision(backend).await else {
        return;
    };
    let (proxy, store) = server.proxied().await;
    let k = key("kept");
    let owner = Owner::new("alice").expect("owner");
    store
        .put(&k, "before the stall".into(), PutMode::Create.into())
        .await
        .expect("write before the stall");
    proxy.set(Fault::Stall);
    let caps = store.capabilities();
    let mut slowest = Duration::ZERO;
    let mut reached = 0;
    for (op, result, took) in time_every_operation(&*store, &key("other"), &owner).await {
        // Each call may take one bound per round trip (Redis sends a script
        // again when the server lost it: two round trips).
        assert!(
            took <= TIMEOUT * 2 + Duration::from_millis(500),
            "{op} on a stalled server took {took:?}; the bound is {TIMEOUT:?}"
        );
        match result {
            // Where the server expires entries itself, `delete_expired` is a
            // no-op that never reaches it.
            Ok(()) if op == "delete_expired" && caps.native_ttl => continue,
            Ok(()) => panic!("{op} succeeded on a stalled server"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Unavailable, "{op}: {e}");
                assert!(e.is_retryable(), "{op}: {e}");
                assert_eq!(e.backend(), Some(caps.backend), "{op}: {e}");
            }
        }
        slowest = slowest.max(took);
        reached += 1;
    }
    println!(
        "{backend:?}: {reached} calls on a stalled server failed with Unavailable, the slowest \
         in {slowest:?}"
    );
    proxy.set(Fault::Pass);
    let (entry, recovered) = wait_for_recovery(&*store, &k, Duration::from_secs(30)).await;
    println!("{backend:?}: recovered {recovered:?} after the stall ended");
    let entry = entry.expect("the entry written before the stall is still there");
    assert_eq!(&entry.value[..], b"before the stall");
    store
        .put(&key("after"), "x".into(), PutMode::Create.into())
        .await
        .expect("the same store writes again");
}

/// What one writer saw.
#[derive(Debug, Default)]
struct Seen {
    /// Increments the store acknowledged.
    acked: u64,
    /// Increments that failed with `Unavailable`: applied or not.
    unknown: u64,
    /// Keys whose `Create` was acknowledged.
    created: Vec<String>,
    /// Errors other than `Unavailable` and the expected conflicts.
    unexpected: Vec<String>,
}

/// A stream of compare-and-swap increments and creates from 8 tasks (half
/// of them through a `RetryStore`) while the proxy adds latency and cuts
/// every connection every 30 to 120 ms, for 3 s and at least 20 cuts. When
/// no write got through between two cuts (a connection that takes longer
/// to set up than the pause, as through a container's port mapping with
/// password authentication), the next pause is twice as long, up to 2 s,
/// so that the writes are tested and not only the cuts. Afterwards every acknowledged write
/// is present, every counter is at least its acknowledged increments and
/// at most those plus the ones whose outcome was unknown (so nothing was
/// applied twice), and the store has recovered by itself.
pub(crate) async fn cut_connections(backend: Backend) {
    let Some(server) = Server::provision(backend).await else {
        return;
    };
    let (proxy, store) = server.proxied().await;
    let retrying: Arc<dyn Store> = Arc::new(RetryStore::new(
        store.clone(),
        RetryPolicy::default().base_delay(Duration::from_millis(5)),
    ));
    let tasks = 8;
    for t in 0..tasks {
        store
            .put(
                &key(&format!("counter-{t}")),
                "0".into(),
                PutMode::Create.into(),
            )
            .await
            .expect("create the counters");
    }
    proxy.set(Fault::Latency(Duration::from_millis(2)));
    let run_for = Duration::from_secs(3);
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let cutter = {
        let started = Instant::now();
        let (stop, progress) = (stop.clone(), progress.clone());
        async move {
            let mut cuts = 0u32;
            let mut stretch = 1u64;
            let mut last = progress.load(Ordering::SeqCst);
            // At most a minute, whatever the writes do.
            while (started.elapsed() < run_for || cuts < 20)
                && started.elapsed() < Duration::from_secs(60)
            {
                let pause = (rand::rng().random_range(30..120) * stretch).min(2000);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                proxy.cut();
                cuts += 1;
                let now = progress.load(Ordering::SeqCst);
                stretch = if now == last {
                    (stretch * 2).min(64)
                } else {
                    1
                };
                last = now;
            }
            stop.store(true, Ordering::SeqCst);
            (proxy, cuts)
        }
    };
    let writers = (0..tasks).map(|t| {
        let s = if t % 2 == 0 {
            store.clone()
        } else {
            retrying.clone()
        };
        let (stop, progress) = (stop.clone(), progress.clone());
        tokio::spawn(async move { writer(&*s, t, &stop, &progress).await })
    });
    let (writers, (proxy, cuts)) = tokio::join!(futures::future::join_all(writers), cutter);
    proxy.set(Fault::Pass);
    let direct = server.open().await;
    let (mut acked, mut unknown, mut created) = (0, 0, 0);
    for (t, seen) in writers.into_iter().enumerate() {
        let seen = seen.expect("writer task");
        assert!(
            seen.unexpected.is_empty(),
            "unexpected errors: {:?}",
            seen.unexpected
        );
        let counter = direct
            .get(&key(&format!("counter-{t}")))
            .await
            .expect("read the counter")
            .expect("the counter exists");
        let counter: u64 = std::str::from_utf8(&counter.value)
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("a number");
        assert!(
            counter >= seen.acked && counter <= seen.acked + seen.unknown,
            "counter {t} is {counter}: {} acknowledged, {} unknown",
            seen.acked,
            seen.unknown
        );
        for k in &seen.created {
            let e = direct
                .get(&key(k))
                .await
                .expect("read")
                .expect("an acknowledged create");
            assert_eq!(&e.value[..], k.as_bytes());
        }
        acked += seen.acked;
        unknown += seen.unknown;
        created += seen.created.len();
    }
    println!(
        "{backend:?}: {cuts} cuts; {acked} increments acknowledged and present, {unknown} with \
         an unknown outcome; {created} creates acknowledged and present"
    );
    assert!(cuts >= 20, "only {cuts} cuts");
    assert!(
        acked + created as u64 > 0,
        "no write went through between the cuts"
    );
    let (_, recovered) =
        wait_for_recovery(&*store, &key("counter-0"), Duration::from_secs(30)).await;
    println!("{backend:?}: recovered {recovered:?} after the last cut");
}

async fn writer(s: &dyn Store, t: usize, stop: &AtomicBool, progress: &AtomicU64) -> Seen {
    let mut seen = Seen::default();
    let counter = key(&format!("counter-{t}"));
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let current = match s.get(&counter).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                seen.unexpected.push("the counter vanished".into());
                break;
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => continue,
            Err(e) => {
                seen.unexpected.push(e.to_string());
                continue;
            }
        };
        let n: u64 = std::str::from_utf8(&current.value)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX);
        let next = Bytes::from((n + 1).to_string());
        match s
            .put(&counter, next, PutMode::UpdateIf(current.version).into())
            .await
        {
            Ok(_) => {
                seen.acked += 1;
                progress.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => seen.unknown += 1,
            Err(e) => seen.unexpected.push(format!("increment: {e}")),
        }
        let name = format!("created-{t}-{i}");
        let opts = PutOptions::new(PutMode::Create).owner(Owner::new("bob").expect("owner"));
        match s.put(&key(&name), Bytes::from(name.clone()), opts).await {
            Ok(_) => {
                seen.created.push(name);
                progress.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => {}
            Err(e) => seen.unexpected.push(format!("create: {e}")),
        }
    }
    seen
}

/// Refused connections (every open one cut, new ones reset): each write
/// fails before anything reaches the server, and none of them is there
/// afterwards; the store then recovers by itself.
pub(crate) async fn refused_connections(backend: Backend) {
    let Some(server) = Server::provision(backend).await else {
        return;
    };
    let (proxy, store) = server.proxied().await;
    store
        .put(&key("warm"), "x".into(), PutMode::Create.into())
        .await
        .expect("a write before the fault");
    proxy.set(Fault::Refuse);
    proxy.cut();
    // The proxy closes its connections asynchronously: a call made at once
    // may still reach the server (its outcome then is unknown, not
    // "refused"). Reads until one fails show the cut has landed.
    let cut_at = Instant::now();
    while store.get(&key("warm")).await.is_ok() {
        assert!(
            cut_at.elapsed() < Duration::from_secs(10),
            "the cut never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut outcomes = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for i in 0..10 {
        let name = format!("refused-{i}");
        let started = Instant::now();
        let r = store
            .put(&key(&name), "x".into(), PutMode::Create.into())
            .await;
        slowest = slowest.max(started.elapsed());
        let kind = r.err().map(|e| e.kind());
        outcomes.insert(name, kind);
    }
    assert!(
        slowest <= TIMEOUT * 3,
        "a write to a server that refuses connections took {slowest:?}"
    );
    for (name, kind) in &outcomes {
        assert_eq!(*kind, Some(ErrorKind::Unavailable), "{name} while refused");
    }
    proxy.set(Fault::Pass);
    let (_, recovered) = wait_for_recovery(&*store, &key("warm"), Duration::from_secs(30)).await;
    let direct = server.open().await;
    for name in outcomes.keys() {
        assert!(
            direct.get(&key(name)).await.expect("read").is_none(),
            "{name} failed before sending, yet it is stored"
        );
    }
    println!(
        "{backend:?}: 10 refused writes failed (slowest {slowest:?}) and are absent; recovered \
         {recovered:?} after the fault"
    );
}
