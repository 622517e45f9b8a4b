//! Tests of store-redis beyond the conformance suite, on real servers: a
//! server stopped and restarted under a live store, TLS with a certificate
//! made at test time, foreign data under the prefix, the owner index kept
//! clean, passwords kept out of every message, keys spread over a cluster.
//!
//! The shared servers come from `STORE_TEST_REDIS_URL` and
//! `STORE_TEST_REDIS_CLUSTER_URLS` (else a test container, see
//! `store_conformance::provision`). Tests that kill, restart or configure a
//! server (a password, TLS) start their own, where
//! [`container::own_server_in_container`] says:
//!
//! - native mode (`STORE_TEST_MODE=native`, or unset with a binary): a
//!   `redis-server` process on a free loopback port
//!   (`STORE_TEST_REDIS_SERVER`, else the one on `PATH`);
//! - container mode (`STORE_TEST_MODE=containers`, or unset without a
//!   binary and with a Docker daemon): a container of the Redis image
//!   (`STORE_TEST_REDIS_IMAGE`) running `redis-server` with the same flags,
//!   its ports published on free host ports; a kill is a SIGKILL of the
//!   container and a restart starts it again on the same ports; TLS
//!   certificates are copied in.
//!
//! With neither, the tests skip, or fail under `STORE_TEST_REQUIRE=1`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use store_conformance::container::{self, ServerContainer, ServerSpec};
use store_conformance::faults;
use store_conformance::provision::{self, Service};
use store_core::{Clock, Error, ErrorKind, Key, Owner, PutMode, PutOptions, Store, SystemClock};
use store_redis::{RedisConfig, RedisStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// The port `redis-server` listens on inside a container.
const CONTAINER_PORT: u16 = 6379;
/// The TLS port inside a container.
const CONTAINER_TLS_PORT: u16 = 6380;
/// Where TLS files are copied in a container.
const CONTAINER_TLS_DIR: &str = "/store-rs/tls";

/// A `redis-server` owned by one test: a host process on its own port and
/// directory, or a container (see the module documentation).
struct OwnServer {
    host: String,
    /// The plain port clients reach.
    port: u16,
    /// The TLS port clients reach and the PEM of the test CA that signed
    /// its certificate, when the server has one.
    tls: Option<(u16, Vec<u8>)>,
    running: Running,
}

enum Running {
    Host(Box<HostProcess>),
    Container(Box<ServerContainer>),
}

/// A `redis-server` process: its binary, directory and flags, and the
/// process while it runs.
struct HostProcess {
    binary: PathBuf,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl OwnServer {
    /// Starts `redis-server` with `args`, in a container or on the host;
    /// `None` (a skip) when neither is possible. With `tls`, a directory,
    /// the server also has a TLS port: a test CA and a certificate it
    /// signed for the host clients reach the server at
    /// ([`store_conformance::pki::write_test_pki`]) are written there, and
    /// clients need no certificate of their own.
    async fn start(test: &str, args: &[&str], tls: Option<&Path>) -> Option<Self> {
        let binary = redis_server_binary();
        if container::own_server_in_container(binary.is_some()).await {
            return Some(Self::start_container(args, tls).await);
        }
        let Some(binary) = binary else {
            return provision::skip(
                test,
                "no redis-server (set STORE_TEST_REDIS_SERVER or put it on PATH) \
                 and no container (STORE_TEST_MODE=containers with a Docker daemon)",
            );
        };
        let dir = std::env::temp_dir().join(format!(
            "store-redis-test-{}-{}",
            std::process::id(),
            store_conformance::random_namespace()
        ));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let mut tls_port = None;
        if let Some(tls) = tls {
            let ca = store_conformance::pki::write_test_pki(tls, &["127.0.0.1", "localhost"]);
            let port = free_port();
            let file = |name: &str| tls.join(name).to_string_lossy().into_owned();
            args.extend(tls_args(port, &file));
            tls_port = Some((port, ca));
        }
        let mut server = Self {
            host: "127.0.0.1".to_owned(),
            port: free_port(),
            tls: tls_port,
            running: Running::Host(Box::new(HostProcess {
                binary,
                dir,
                args,
                child: None,
            })),
        };
        server.restart().await;
        Some(server)
    }

    async fn start_container(args: &[&str], tls: Option<&Path>) -> Self {
        let mut spec = ServerSpec::new(Service::Redis)
            .args(["redis-server", "--port", &CONTAINER_PORT.to_string()])
            .args(["--bind", "0.0.0.0", "--protected-mode", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .args(args.iter().copied())
            .publish(CONTAINER_PORT)
            .ready_on_stdout("Ready to accept connections");
        let mut ca = None;
        if let Some(tls) = tls {
            let host = container::host(Service::Redis)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            ca = Some(store_conformance::pki::write_test_pki(
                tls,
                &["127.0.0.1", "localhost", &host],
            ));
            for name in ["server.pem", "server.key", "ca.pem"] {
                let contents = std::fs::read(tls.join(name))
                    .unwrap_or_else(|e| panic!("read {name} for the container: {e}"));
                // Readable by the image's `redis` user (the copy is root's).
                spec = spec.file(format!("{CONTAINER_TLS_DIR}/{name}"), contents, 0o644);
            }
            let file = |name: &str| format!("{CONTAINER_TLS_DIR}/{name}");
            spec = spec
                .args(tls_args(CONTAINER_TLS_PORT, &file))
                .publish(CONTAINER_TLS_PORT);
        }
        let container = ServerContainer::start(spec)
            .await
            .unwrap_or_else(|e| panic!("a redis-server container: {e}"));
        let server = Self {
            host: container.host().to_owned(),
            port: container.port(CONTAINER_PORT),
            tls: ca.map(|ca| (container.port(CONTAINER_TLS_PORT), ca)),
            running: Running::Container(Box::new(container)),
        };
        server.wait_until_answering().await;
        server
    }

    /// `host:port` of the plain port.
    fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn url(&self) -> String {
        format!("redis://{}/", self.addr())
    }

    /// Kills the server at once (SIGKILL), leaving its port to a restart.
    async fn kill(&mut self) {
        match &mut self.running {
            Running::Host(host) => {
                if let Some(mut child) = host.child.take() {
                    child.kill().await.expect("kill redis-server");
                }
            }
            Running::Container(container) => container
                .kill()
                .await
                .unwrap_or_else(|e| panic!("kill the redis-server container: {e}")),
        }
    }

    /// Starts the (killed) server again on the same ports and waits until
    /// it answers.
    async fn restart(&mut self) {
        match &mut self.running {
            Running::Host(host) => {
                let spawned = Command::new(&host.binary)
                    .arg("--port")
                    .arg(self.port.to_string())
                    .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(&host.dir)
                    .args(&host.args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("spawn redis-server");
                host.child = Some(spawned);
            }
            Running::Container(container) => container
                .start_again()
                .await
                .unwrap_or_else(|e| panic!("start the redis-server container again: {e}")),
        }
        self.wait_until_answering().await;
    }

    /// Waits until the plain port answers a `PING` (with `+PONG`, or an
    /// error when a password is required): an accepted connection alone
    /// proves nothing when a proxy publishes the port.
    async fn wait_until_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.answers_ping().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on {} within 30 s",
                self.addr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn answers_ping(&self) -> bool {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .ok()?;
            stream.write_all(b"PING\r\n").await.ok()?;
            let mut first = [0u8; 1];
            let n = stream.read(&mut first).await.ok()?;
            (n == 1 && matches!(first[0], b'+' | b'-')).then_some(())
        };
        tokio::time::timeout(Duration::from_secs(1), attempt)
            .await
            .ok()
            .flatten()
            .is_some()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let Running::Host(host) = &mut self.running {
            if let Some(child) = host.child.as_mut() {
                let _ = child.start_kill();
            }
            let _ = std::fs::remove_dir_all(&host.dir);
        }
    }
}

/// The flags of a TLS port `port` serving the files `file` names.
fn tls_args(port: u16, file: &dyn Fn(&str) -> String) -> Vec<String> {
    vec![
        "--tls-port".to_owned(),
        port.to_string(),
        "--tls-cert-file".to_owned(),
        file("server.pem"),
        "--tls-key-file".to_owned(),
        file("server.key"),
        "--tls-ca-cert-file".to_owned(),
        file("ca.pem"),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
    ]
}

fn redis_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STORE_TEST_REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Writes "after" under `k` until the restarted server takes it (each
/// failure meanwhile must be `Unavailable`; 30 s at most), then reads it
/// back with the version the write returned.
async fn recovers_after_restart(store: &RedisStore, k: &Key, opts: &PutOptions) {
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(30);
    let version = loop {
        match store.put(k, "after".into(), opts.clone()).await {
            Ok(v) => break v.version,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
                assert!(Instant::now() < deadline, "no recovery after restart: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    eprintln!("recovery took {:?}", restarted.elapsed());
    let entry = store
        .get(k)
        .await
        .expect("get after restart")
        .expect("entry");
    assert_eq!(&entry.value[..], b"after");
    assert_eq!(entry.version, version);
}

fn key(s: &str) -> Key {
    Key::new(s).expect("valid key")
}

fn owner(s: &str) -> Owner {
    Owner::new(s).expect("valid owner")
}

fn in_secs(secs: u64) -> store_core::Expiry {
    SystemClock
        .now()
        .checked_add(Duration::from_secs(secs))
        .expect("expiry in range")
}

/// Every way an error can be shown: Display, Debug and the source chain.
fn all_text(e: &Error) -> String {
    let mut text = format!("{e} {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    text
}

/// A raw connection to the shared test server, and a store on it in a fresh
/// prefix.
async fn shared() -> Option<(RedisStore, redis::aio::MultiplexedConnection)> {
    let url = provision::service_url(Service::Redis).await?;
    let store = RedisStore::connect(&url)
        .await
        .expect("connect")
        .with_namespace(store_conformance::random_namespace())
        .expect("namespace");
    let raw = redis::Client::open(url.as_str())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection");
    Some((store, raw))
}

async fn raw_cmd<T: redis::FromRedisValue>(
    raw: &mut redis::aio::MultiplexedConnection,
    args: &[&str],
) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(raw).await.expect("raw command")
}

mod redis_single {
    use super::*;

    /// The server is killed while a store is in use: every call fails with
    /// a retryable `Unavailable` (never "not found", never a panic). After a
    /// restart on the same port the same store object works again (the
    /// restarted server has forgotten the scripts: they are sent again).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_server_stopped_then_restarted() {
        let Some(mut server) = OwnServer::start("redis", &[], None).await else {
            return;
        };
        let config = RedisConfig::default()
            .connection_timeout(Duration::from_millis(200))
            .operation_timeout(Duration::from_millis(200))
            .reconnect_retries(1);
        let store = RedisStore::connect_with(&server.url(), config)
            .await
            .expect("connect");
        let k = key("session");
        let alice = owner("alice");
        let opts = PutOptions::new(PutMode::Upsert).owner(alice.clone());
        store
            .put(&k, "before".into(), opts.clone())
            .await
            .expect("put");
        assert!(store.get(&k).await.expect("get").is_some());

        server.kill().await;
        let t0 = Instant::now();
        for _round in 0..2 {
            faults::assert_every_operation_unavailable(&store, &k, &alice).await;
        }

        eprintln!("down phase took {:?}", t0.elapsed());
        server.restart().await;
        recovers_after_restart(&store, &k, &opts).await;
        assert_eq!(store.list_by_owner(&alice).await.expect("list").len(), 1);
    }

    /// With the default config, a killed server makes every `get`, `put`
    /// and `touch` fail with a retryable `Unavailable` within the
    /// operation timeout (5 s, as the connection timeout), although the
    /// reconnect schedule (6 attempts, backoff from 100 ms) lasts longer: a
    /// call waits for the reconnection no longer than that. After a restart on the same port the same store
    /// object works again by itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_server_down_every_call_fails_within_the_connection_timeout() {
        let Some(mut server) = OwnServer::start("redis", &[], None).await else {
            return;
        };
        let store = RedisStore::connect(&server.url()).await.expect("connect");
        let k = key("session");
        let opts = PutOptions::new(PutMode::Upsert);
        store
            .put(&k, "before".into(), opts.clone())
            .await
            .expect("put");

        server.kill().await;
        let bound = store_redis::DEFAULT_TIMEOUT + Duration::from_secs(1);
        let mut calls = Vec::new();
        for _round in 0..2 {
            let started = Instant::now();
            let got = store.get(&k).await.map(|_| ());
            calls.push(("get", got, started.elapsed()));
            let started = Instant::now();
            let put = store.put(&k, "down".into(), opts.clone()).await.map(|_| ());
            calls.push(("put", put, started.elapsed()));
            let started = Instant::now();
            let touched = store.touch(&k, in_secs(60)).await;
            calls.push(("touch", touched, started.elapsed()));
        }
        let times: Vec<String> = calls
            .iter()
            .map(|(name, _, took)| format!("{name} {took:.2?}"))
            .collect();
        eprintln!("calls while the server is down: {}", times.join(", "));
        for (name, result, took) in calls {
            let e = result.expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Unavailable, "{name}: {e}");
            assert!(e.is_retryable(), "{name}: {e}");
            assert!(
                took < bound,
                "{name} took {took:?} to fail, more than {bound:?} (all calls: {})",
                times.join(", ")
            );
        }

        server.restart().await;
        recovers_after_restart(&store, &k, &opts).await;
        store
            .touch(&k, in_secs(60))
            .await
            .expect("touch after restart");
    }

    /// Everything the store writes lives under its prefix.
    #[tokio::test]
    async fn redis_keys_stay_inside_the_prefix() {
        let Some(server) = OwnServer::start("redis", &[], None).await else {
            return;
        };
        let store = RedisStore::connect(&server.url())
            .await
            .expect("connect")
            .with_namespace("app:sessions")
            .expect("namespace");
        let bob = owner("bob");
        for i in 0..20 {
            let opts = PutOptions::new(PutMode::Create)
                .expires_at(in_secs(60))
                .owner(bob.clone());
            store
                .put(&key(&format!("k{i}")), "v".into(), opts)
                .await
                .expect("put");
        }
        store.touch(&key("k1"), in_secs(120)).await.expect("touch");
        store.delete(&key("k2"), None).await.expect("delete");
        store.list_by_owner(&bob).await.expect("list");
        let mut raw = redis::Client::open(server.url().as_str())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("raw");
        let keys: Vec<String> = raw_cmd(&mut raw, &["KEYS", "*"]).await;
        assert!(!keys.is_empty());
        for k in &keys {
            assert!(
                k.starts_with("app:sessions:{0}:"),
                "{k} is outside the prefix"
            );
        }
    }

    /// A server that requires a password: a wrong one is a `Config` error,
    /// and neither it nor the right one appears in any error or `Debug`.
    #[tokio::test]
    async fn redis_passwords_never_shown() {
        let Some(server) =
            OwnServer::start("redis", &["--requirepass", "hunter2-right"], None).await
        else {
            return;
        };
        let wrong = format!("redis://default:hunter2-wrong@{}/", server.addr());
        let e = RedisStore::connect(&wrong)
            .await
            .expect_err("wrong password");
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(!all_text(&e).contains("hunter2"), "{}", all_text(&e));

        let right = format!("redis://default:hunter2-right@{}/", server.addr());
        let store = RedisStore::connect(&right).await.expect("right password");
        let shown = format!("{store:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        store
            .put(&key("k"), "v".into(), PutOptions::default())
            .await
            .expect("put");

        let missing = server.url();
        let e = RedisStore::connect(&missing)
            .await
            .expect_err("no password");
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");

        let closed = format!("redis://u:hunter2-closed@127.0.0.1:{}/", free_port());
        let e = RedisStore::connect(&closed).await.expect_err("closed port");
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(!all_text(&e).contains("hunter2"), "{}", all_text(&e));

        let bad = "redis://u:hunter2-bad@127.0.0.1:notaport/";
        let e = RedisStore::connect(bad).await.expect_err("bad url");
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(!all_text(&e).contains("hunter2"), "{}", all_text(&e));
        for bad in [
            "redis://u:hunter2/x?y@127.0.0.1/",
            "u:hunter2@127.0.0.1:6379",
            "redis:/u:hunter2@h",
        ] {
            let e = RedisStore::connect(bad).await.expect_err(bad);
            assert!(!all_text(&e).contains("hunter2"), "{}", all_text(&e));
        }
        let e = RedisStore::connect("http://x:hunter2@h/")
            .await
            .expect_err("not redis");
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(!all_text(&e).contains("hunter2"), "{}", all_text(&e));
    }

    /// `rediss://` against a server whose certificate was made by a CA
    /// generated here: it works when that CA is trusted and is refused
    /// when it is not.
    #[tokio::test]
    async fn redis_tls_with_a_test_ca() {
        let dir = std::env::temp_dir().join(format!(
            "store-redis-tls-{}",
            store_conformance::random_namespace()
        ));
        std::fs::create_dir_all(&dir).expect("tls dir");
        let Some(server) = OwnServer::start("redis", &[], Some(&dir)).await else {
            return;
        };
        let (tls_port, ca_pem) = server.tls.clone().expect("a TLS port");
        let url = format!("rediss://{}:{tls_port}/", server.host);
        let store = RedisStore::connect_with(&url, RedisConfig::default().tls_root_cert(ca_pem))
            .await
            .expect("TLS connection with the test CA trusted");
        let k = key("over-tls");
        store
            .put(&k, "secret".into(), PutOptions::new(PutMode::Create))
            .await
            .expect("put over TLS");
        let entry = store.get(&k).await.expect("get over TLS").expect("entry");
        assert_eq!(&entry.value[..], b"secret");

        let config = RedisConfig::default()
            .connection_timeout(Duration::from_secs(2))
            .reconnect_retries(0);
        let untrusted = RedisStore::connect_with(&url, config).await;
        assert!(
            untrusted.is_err(),
            "a certificate from an unknown CA was accepted"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Data under the prefix that this store did not write is an `Encoding`
    /// error for that key only, for every call that reads it (`get`,
    /// `touch`, the conditional writes) and leaves it as it is; other keys
    /// keep working. The namespace belongs to the store: a plain write or
    /// delete of that key replaces or removes whatever is there.
    #[tokio::test]
    async fn redis_foreign_values_are_encoding_errors() {
        let Some((store, mut raw)) = shared().await else {
            return;
        };
        let base = format!("{}:{{0}}:e:", store.namespace());
        let _: () = raw_cmd(&mut raw, &["SET", &format!("{base}string"), "plain"]).await;
        let _: () = raw_cmd(&mut raw, &["HSET", &format!("{base}hash"), "name", "x"]).await;
        let bad_version = format!("s1{}{}000", "x".repeat(20), "-".repeat(15));
        let _: () = raw_cmd(&mut raw, &["SET", &format!("{base}badver"), &bad_version]).await;
        store
            .put(&key("fine"), "ok".into(), PutOptions::default())
            .await
            .expect("put next to foreign data");
        let some_version = store_core::Version::from_u64(7);
        for name in ["string", "hash", "badver"] {
            let k = key(name);
            let e = store.get(&k).await.expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Encoding, "{name}: {e}");
            if name == "badver" {
                // The scripts check the header's shape, not its digits.
                continue;
            }
            for (op, r) in [
                (
                    "put(UpdateIf)",
                    store
                        .put(
                            &k,
                            "v".into(),
                            PutOptions::new(PutMode::UpdateIf(some_version)),
                        )
                        .await
                        .map(|_| ()),
                ),
                ("touch", store.touch(&k, in_secs(60)).await),
                (
                    "delete(version)",
                    store.delete(&k, Some(some_version)).await.map(|_| ()),
                ),
            ] {
                let e = r.expect_err(op);
                assert_eq!(e.kind(), ErrorKind::Encoding, "{name} {op}: {e}");
            }
            let e = store
                .put(&k, "v".into(), PutOptions::new(PutMode::Create))
                .await
                .expect_err("create over foreign data");
            assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{name}: {e}");
        }
        let kept: String = raw_cmd(&mut raw, &["GET", &format!("{base}string")]).await;
        assert_eq!(
            kept, "plain",
            "foreign data must not be changed by a failed call"
        );
        let kind: String = raw_cmd(&mut raw, &["TYPE", &format!("{base}hash")]).await;
        assert_eq!(kind, "hash");
        assert!(store.get(&key("fine")).await.expect("get").is_some());
        // A plain write replaces it; a plain delete removes it.
        store
            .put(&key("string"), "mine".into(), PutOptions::default())
            .await
            .expect("upsert over foreign data");
        let entry = store.get(&key("string")).await.expect("get").expect("some");
        assert_eq!(&entry.value[..], b"mine");
        assert!(store.delete(&key("hash"), None).await.expect("delete"));
        let exists: i64 = raw_cmd(&mut raw, &["EXISTS", &format!("{base}hash")]).await;
        assert_eq!(exists, 0);
    }

    /// The owner sets: keys with an expiry in `x:<owner>`, which expires
    /// no earlier than its members (writes and touches raise it), keys
    /// without one in `p:<owner>`, which does not expire. Stale members
    /// (deleted, re-owned, expired entries) are removed when an owner call
    /// or a cleaning meets them; a conditional delete removes its member at
    /// once; sets written by earlier versions (`o:<owner>`) are still read
    /// and revoked.
    #[tokio::test]
    async fn redis_owner_sets_stay_clean() {
        let Some((store, mut raw)) = shared().await else {
            return;
        };
        let set = |kind: &str, o: &str| format!("{}:{{0}}:{kind}:{o}", store.namespace());
        let members = |raw: &mut redis::aio::MultiplexedConnection, name: String| {
            let mut raw = raw.clone();
            async move {
                let mut m: Vec<String> = raw_cmd(&mut raw, &["SMEMBERS", &name]).await;
                m.sort();
                m
            }
        };
        let (ann, ben) = (owner("ann"), owner("ben"));
        let owned = |o: &Owner, secs: u64| {
            PutOptions::new(PutMode::Upsert)
                .owner(o.clone())
                .expires_at(in_secs(secs))
        };
        for (k, secs) in [("a", 60), ("b", 60), ("c", 600)] {
            store
                .put(&key(k), "1".into(), owned(&ann, secs))
                .await
                .expect(k);
        }
        let ttl: i64 = raw_cmd(&mut raw, &["PTTL", &set("x", "ann")]).await;
        assert!(
            ttl > 590_000,
            "the set lives as long as its longest member: {ttl}"
        );

        store.delete(&key("a"), None).await.expect("delete");
        store
            .put(&key("b"), "2".into(), owned(&ben, 60))
            .await
            .expect("re-own");
        assert_eq!(
            members(&mut raw, set("x", "ann")).await,
            ["a", "b", "c"],
            "stale members stay until met"
        );
        let listed = store.list_by_owner(&ann).await.expect("list");
        assert_eq!(listed.len(), 1, "only c is ann's: {listed:?}");
        assert_eq!(members(&mut raw, set("x", "ann")).await, ["c"]);

        // A conditional delete drops its member at once.
        let g = store
            .put(&key("g"), "1".into(), owned(&ann, 60))
            .await
            .expect("g");
        assert!(
            store
                .delete(&key("g"), Some(g.version))
                .await
                .expect("del g")
        );
        assert_eq!(members(&mut raw, set("x", "ann")).await, ["c"]);

        // An entry that expires natively leaves a stale member until found.
        let soon = SystemClock
            .now()
            .checked_add(Duration::from_millis(150))
            .expect("soon");
        let opts = PutOptions::new(PutMode::Upsert)
            .owner(ben.clone())
            .expires_at(soon);
        store.put(&key("d"), "1".into(), opts).await.expect("d");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listed = store.list_by_owner(&ben).await.expect("list");
        assert_eq!(listed.len(), 1, "only b is live");
        assert_eq!(
            members(&mut raw, set("x", "ben")).await,
            ["b"],
            "the expired member was removed"
        );

        assert_eq!(store.delete_by_owner(&ann).await.expect("revoke"), 1);
        let exists: i64 = raw_cmd(&mut raw, &["EXISTS", &set("x", "ann")]).await;
        assert_eq!(exists, 0);

        // Without an expiry, the key goes to the set that does not expire.
        store
            .put(
                &key("e"),
                "1".into(),
                PutOptions::new(PutMode::Upsert).owner(ben.clone()),
            )
            .await
            .expect("no expiry");
        assert_eq!(members(&mut raw, set("p", "ben")).await, ["e"]);
        let ttl: i64 = raw_cmd(&mut raw, &["PTTL", &set("p", "ben")]).await;
        assert_eq!(ttl, -1, "an entry without expiry keeps its owner set");
        let ttl: i64 = raw_cmd(&mut raw, &["PTTL", &set("x", "ben")]).await;
        assert!(ttl <= 60_000, "x:ben is not extended by e: {ttl}");
        store
            .put(&key("e"), "2".into(), owned(&ben, 300))
            .await
            .expect("mortal");
        let ttl: i64 = raw_cmd(&mut raw, &["PTTL", &set("x", "ben")]).await;
        assert!(
            (290_000..=300_000).contains(&ttl),
            "the set expires with e: {ttl}"
        );
        store.touch(&key("e"), in_secs(900)).await.expect("touch e");
        let ttl: i64 = raw_cmd(&mut raw, &["PTTL", &set("x", "ben")]).await;
        assert!(ttl > 890_000, "touch extends the set: {ttl}");
        let listed = store.list_by_owner(&ben).await.expect("list");
        assert_eq!(listed.len(), 2, "b and e, once each: {listed:?}");

        // A set reaching 32 members is cleaned: 31 written, 30 deleted, one
        // more written leaves 2.
        let cat = owner("cat");
        for i in 0..31 {
            store
                .put(&key(&format!("cat{i}")), "1".into(), owned(&cat, 60))
                .await
                .expect("cat");
        }
        for i in 0..30 {
            store
                .delete(&key(&format!("cat{i}")), None)
                .await
                .expect("delete cat");
        }
        let n: i64 = raw_cmd(&mut raw, &["SCARD", &set("x", "cat")]).await;
        assert_eq!(n, 31, "deletes leave stale members");
        store
            .put(&key("cat31"), "1".into(), owned(&cat, 60))
            .await
            .expect("cat31");
        assert_eq!(
            members(&mut raw, set("x", "cat")).await,
            ["cat30", "cat31"],
            "the 32nd member cleaned the set"
        );

        // A set of an earlier version of this store (`o:`) is still read,
        // raised by touch, and revoked.
        let dan = owner("dan");
        store
            .put(&key("h"), "1".into(), owned(&dan, 60))
            .await
            .expect("h");
        let _: () = raw_cmd(&mut raw, &["RENAME", &set("x", "dan"), &set("o", "dan")]).await;
        store.touch(&key("h"), in_secs(700)).await.expect("touch h");
        let ttl: i64 = raw_cmd(&mut raw, &["PTTL", &set("o", "dan")]).await;
        assert!(ttl > 690_000, "touch raises the old set too: {ttl}");
        let listed = store.list_by_owner(&dan).await.expect("list dan");
        assert_eq!(listed.len(), 1);
        assert_eq!(store.delete_by_owner(&dan).await.expect("revoke dan"), 1);
        let exists: i64 = raw_cmd(&mut raw, &["EXISTS", &set("o", "dan")]).await;
        assert_eq!(exists, 0);
    }

    /// `delete_expired` is a no-op on Redis, and capabilities say why.
    #[tokio::test]
    async fn redis_expiry_is_native() {
        let Some((store, _raw)) = shared().await else {
            return;
        };
        let caps = store.capabilities();
        assert!(caps.native_ttl && caps.shared && !caps.cluster);
        assert_eq!(caps.clock, store_core::ClockSource::Server);
        assert_eq!(store.delete_expired().await.expect("no-op"), 0);
    }
}

mod redis_cluster {
    use super::*;

    /// A cluster store spreads one namespace over several masters and still
    /// lists and revokes an owner's entries across all of them.
    #[tokio::test]
    async fn redis_cluster_spreads_keys_and_revokes_everywhere() {
        let Some(urls) = provision::service_url(Service::RedisCluster).await else {
            return;
        };
        let nodes: Vec<&str> = urls.split(',').map(str::trim).collect();
        let store = RedisStore::connect_cluster(nodes.iter().copied())
            .await
            .expect("connect")
            .with_namespace(store_conformance::random_namespace())
            .expect("namespace");
        assert!(store.capabilities().cluster);
        let carol = owner("carol");
        for i in 0..64 {
            let opts = PutOptions::new(PutMode::Create).owner(carol.clone());
            store
                .put(&key(&format!("s{i}")), "v".into(), opts)
                .await
                .expect("put");
        }
        let mut holding = 0;
        for node in &nodes {
            let mut raw = redis::Client::open(*node)
                .expect("client")
                .get_multiplexed_async_connection()
                .await
                .expect("node connection");
            let (_, keys): (String, Vec<String>) = redis::cmd("SCAN")
                .arg(0)
                .arg("MATCH")
                .arg(format!("{}:*", store.namespace()))
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut raw)
                .await
                .expect("scan");
            if !keys.is_empty() {
                holding += 1;
            }
        }
        assert!(
            holding >= 2,
            "one namespace should spread over masters, got {holding}"
        );
        assert_eq!(store.list_by_owner(&carol).await.expect("list").len(), 64);
        assert_eq!(store.delete_by_owner(&carol).await.expect("revoke"), 64);
        assert!(store.list_by_owner(&carol).await.expect("list").is_empty());
    }
}
