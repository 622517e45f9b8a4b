//! Failovers under a live store: the master of a Sentinel group killed, and
//! a master of a Redis Cluster (one replica per master) killed while tasks
//! write. Each test starts its own group on fixed ports below the ephemeral
//! range, so killing one of its servers disturbs no other test; where the
//! group runs is [`container::own_server_in_container`]'s choice:
//!
//! - native mode (`STORE_TEST_MODE=native`, or unset with `redis-server`):
//!   `scripts/services.sh` on this machine, its servers on loopback, a
//!   master killed with SIGKILL to its PID;
//! - container mode (`STORE_TEST_MODE=containers`, or unset without
//!   `redis-server` and with a Docker daemon): the same script inside one
//!   container of the Redis image ([`container::redis_group`]: same ports,
//!   published 1:1, nodes announcing `127.0.0.1`), a master killed with
//!   SIGKILL inside the container ([`RedisGroup::kill_server`]).
//!
//! With neither, the tests skip, or fail under `STORE_TEST_REQUIRE=1`.
//!
//! What is checked: every failure during the switch is a retryable
//! `Unavailable`; the same store object works again by itself, on the
//! promoted replica; every entry acknowledged more than [`REPLICATION_WINDOW`]
//! before the kill is still there with its value. Entries acknowledged in
//! the last moments before the kill may be lost, because Redis replicates
//! asynchronously: the tests count and print them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store_conformance::container::{self, RedisGroup};
use store_conformance::provision::{self, Service};
use store_core::{Clock, ErrorKind, Key, PutMode, PutOptions, Store, SystemClock};
use store_redis::{RedisConfig, RedisStore};

/// How long before the kill an acknowledged write may still be lost: the
/// replication lag a loaded loopback replica can have.
const REPLICATION_WINDOW: Duration = Duration::from_secs(2);

/// How long the store may take to work again after the kill.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);

/// A Redis group of `scripts/services.sh`: on the host (stopped by the
/// script, by PID, on drop) or in a container (removed on drop).
enum Services {
    Host {
        script: Child,
        exports: HashMap<String, String>,
    },
    Container(Box<RedisGroup>),
}

impl Services {
    /// Starts the group `service` (`Service::RedisCluster` with `replicas`
    /// replicas per master, or `Service::RedisSentinel`) on ports from
    /// `base`, and waits until it exports `wanted` (the variable holding
    /// the servers' URL); `None` (a skip) when neither `redis-server` nor a
    /// container is available.
    async fn start(
        test: &str,
        service: Service,
        base: u16,
        replicas: u16,
        wanted: &str,
    ) -> Option<Self> {
        let has_binary = redis_server_on_path();
        if container::own_server_in_container(has_binary).await {
            let group = container::redis_group(service, base, replicas)
                .await
                .unwrap_or_else(|e| panic!("a {} container: {e}", service.name()));
            assert!(
                group.var(wanted).is_some(),
                "the {} container did not export {wanted}",
                service.name()
            );
            return Some(Self::Container(Box::new(group)));
        }
        if !has_binary {
            return provision::skip(
                test,
                "no redis-server (set STORE_TEST_REDIS_SERVER or put it on PATH) \
                 and no container (STORE_TEST_MODE=containers with a Docker daemon)",
            );
        }
        let (what, port_var) = match service {
            Service::RedisCluster => ("redis-cluster", "STORE_REDIS_CLUSTER_PORT"),
            _ => ("redis-sentinel", "STORE_REDIS_SENTINEL_PORT"),
        };
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh");
        let mut command = Command::new("bash");
        command
            .arg(script)
            .arg(what)
            .env_remove("SERVICES_DIR")
            .env_remove("STORE_TEST_REDIS_CLUSTER_URLS")
            .env_remove("STORE_TEST_REDIS_SENTINEL_URL")
            .env(port_var, base.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if service == Service::RedisCluster {
            command.env("STORE_REDIS_CLUSTER_REPLICAS", replicas.to_string());
        }
        let mut script = command.spawn().expect("run scripts/services.sh");
        let stdout = script.stdout.take().expect("the script's stdout");
        let mut exports = HashMap::new();
        // The script prints its exports once every server is up, then waits.
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read the script's output");
            if let Some((name, value)) =
                line.strip_prefix("export ").and_then(|l| l.split_once('='))
            {
                exports.insert(name.to_owned(), value.to_owned());
            }
            if exports.contains_key(wanted) {
                break;
            }
        }
        Some(Self::Host { script, exports })
    }

    fn var(&self, name: &str) -> &str {
        match self {
            Self::Host { exports, .. } => exports.get(name).map(String::as_str),
            Self::Container(group) => group.var(name),
        }
        .unwrap_or_else(|| panic!("the services script did not export {name}"))
    }

    /// Kills the group's server on `port` with SIGKILL, as a crash would.
    async fn kill_server(&self, port: u16) {
        match self {
            Self::Host { .. } => kill_host_server(port).await,
            Self::Container(group) => group
                .kill_server(port)
                .await
                .unwrap_or_else(|e| panic!("kill the server on port {port}: {e}")),
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if let Self::Host { script, .. } = self {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(script.id().to_string())
                .status();
            let _ = script.wait();
        }
    }
}

fn redis_server_on_path() -> bool {
    if std::env::var_os("STORE_TEST_REDIS_SERVER").is_some() {
        return true;
    }
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file())
    })
}

/// A raw connection to one server, outside the store.
async fn raw(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the server")
}

/// Kills the host's server on `port` with SIGKILL, as a crash would.
async fn kill_host_server(port: u16) {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut raw(port).await)
        .await
        .expect("INFO server");
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .expect("process_id in INFO")
        .trim()
        .to_owned();
    let status = Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid}");
}

/// Acknowledged writes, each with the time its acknowledgement arrived.
#[derive(Default)]
struct Acked(Mutex<Vec<(Key, String, Instant)>>);

/// What the writers saw.
#[derive(Default)]
struct Seen {
    acked: Acked,
    failures: Mutex<Vec<ErrorKind>>,
}

/// Writes fresh keys with `tasks` tasks until `stop`, recording every
/// acknowledged write and the kind of every failure.
fn write_under_load(
    store: &RedisStore,
    tasks: usize,
    seen: &Arc<Seen>,
    stop: &Arc<tokio::sync::Notify>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..tasks)
        .map(|t| {
            let (store, seen, stop) = (store.clone(), seen.clone(), stop.clone());
            tokio::spawn(async move {
                let stopped = stop.notified();
                tokio::pin!(stopped);
                for i in 0u64.. {
                    let key = Key::new(format!("t{t}-{i}")).expect("key");
                    let value = format!("value {t}-{i}");
                    let expires = SystemClock
                        .now()
                        .checked_add(Duration::from_secs(600))
                        .expect("expiry in range");
                    let opts = PutOptions::new(PutMode::Create).expires_at(expires);
                    let put = store.put(&key, value.clone().into(), opts);
                    tokio::select! {
                        _ = &mut stopped => return,
                        result = put => match result {
                            Ok(_) => seen.acked.0.lock().unwrap().push((key, value, Instant::now())),
                            Err(e) => {
                                seen.failures.lock().unwrap().push(e.kind());
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        },
                    }
                }
            })
        })
        .collect()
}

/// Waits until `probes` writes in a row succeed (from `since`, within
/// [`RECOVERY_LIMIT`]), and returns how long that took.
async fn recovered(store: &RedisStore, since: Instant, probes: usize) -> Duration {
    let mut in_a_row = 0;
    let mut n = 0u64;
    while in_a_row < probes {
        assert!(
            since.elapsed() < RECOVERY_LIMIT,
            "the store did not work again within {RECOVERY_LIMIT:?} of the kill"
        );
        n += 1;
        let key = Key::new(format!("probe-{n}")).expect("key");
        match store.put(&key, "probe".into(), PutOptions::default()).await {
            Ok(_) => in_a_row += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Unavailable, "during the failover: {e}");
                assert!(e.is_retryable(), "{e}");
                in_a_row = 0;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    since.elapsed()
}

/// Reads back every acknowledged entry: those acknowledged more than
/// [`REPLICATION_WINDOW`] before `killed_at` must be there with their
/// value; returns (checked, lost).
async fn check_acknowledged(store: &RedisStore, seen: &Seen, killed_at: Instant) -> (usize, usize) {
    let acked = std::mem::take(&mut *seen.acked.0.lock().unwrap());
    let mut lost = 0;
    for (key, value, at) in &acked {
        let entry = store.get(key).await.expect("read back");
        match entry {
            Some(e) => assert_eq!(e.value, value.as_bytes(), "{key:?}"),
            None => {
                assert!(
                    *at + REPLICATION_WINDOW > killed_at,
                    "{key:?}, acknowledged {:?} before the kill, was lost",
                    killed_at.saturating_duration_since(*at)
                );
                lost += 1;
            }
        }
    }
    (acked.len(), lost)
}

fn fast_config() -> RedisConfig {
    RedisConfig::default()
        .namespace(store_conformance::random_namespace())
        .operation_timeout(Duration::from_secs(1))
        .connection_timeout(Duration::from_secs(1))
}

mod redis_sentinel {
    use super::*;

    /// The master of a Sentinel group (one replica, three sentinels) is
    /// killed while 4 tasks write: calls fail with a retryable
    /// `Unavailable` during the switch, then the same store works on the
    /// promoted replica, and every entry acknowledged before the switch
    /// (bar the replication window) is there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_sentinel_master_killed_the_store_follows_the_new_master() {
        let test = "redis_sentinel_master_killed_the_store_follows_the_new_master";
        let Some(services) = Services::start(
            test,
            Service::RedisSentinel,
            29101,
            0,
            "STORE_TEST_REDIS_SENTINEL_URL",
        )
        .await
        else {
            return;
        };
        let url = services.var("STORE_TEST_REDIS_SENTINEL_URL").to_owned();
        let store = RedisStore::connect_with(&url, fast_config())
            .await
            .expect("connect through the sentinels");
        let sentinel_port: u16 = url["redis+sentinel://127.0.0.1:".len()..]
            .split(',')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the first sentinel's port");
        let master_port = || async move {
            let (_, port): (String, u16) = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg("store-test")
                .query_async(&mut raw(sentinel_port).await)
                .await
                .expect("ask a sentinel for the master");
            port
        };
        let old_master = master_port().await;

        let seen = Arc::new(Seen::default());
        let stop = Arc::new(tokio::sync::Notify::new());
        let writers = write_under_load(&store, 4, &seen, &stop);
        tokio::time::sleep(Duration::from_secs(2)).await;
        services.kill_server(old_master).await;
        let killed_at = Instant::now();
        let took = recovered(&store, killed_at, 50).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.notify_waiters();
        for w in writers {
            w.await.expect("writer");
        }

        let new_master = master_port().await;
        assert_ne!(new_master, old_master, "the sentinels promoted the replica");
        let failures = std::mem::take(&mut *seen.failures.lock().unwrap());
        assert!(
            !failures.is_empty(),
            "writes to a killed master should have failed for a while"
        );
        assert!(
            failures.iter().all(|k| *k == ErrorKind::Unavailable),
            "every failure during the switch is Unavailable: {failures:?}"
        );
        let (checked, lost) = check_acknowledged(&store, &seen, killed_at).await;
        assert!(checked > 100, "the writers made progress: {checked}");
        println!(
            "sentinel failover: master {old_master} killed, store working on {new_master} after \
             {took:?}; {} writes failed (all Unavailable); {checked} acknowledged entries \
             checked, {lost} lost by asynchronous replication",
            failures.len()
        );
    }
}

mod redis_sentinel_acks {
    use super::*;

    /// `wait_for_replicas` on the test Sentinel group (one replica): asking
    /// for one acknowledgement, writes succeed and are on the replica when
    /// they return; asking for two, a write fails with `Unavailable`
    /// saying it was applied on the master, and it was.
    #[tokio::test]
    async fn redis_sentinel_wait_for_replicas_acknowledges_or_says_so() {
        let Some(url) = provision::service_url(Service::RedisSentinel).await else {
            return;
        };
        let config = fast_config().wait_for_replicas(1, Duration::from_millis(500));
        let store = RedisStore::connect_with(&url, config)
            .await
            .expect("connect through the sentinels");
        let k = Key::new("acked").expect("key");
        store
            .put(&k, "on the replica".into(), PutOptions::default())
            .await
            .expect("acknowledged by the replica");
        let replica: u16 = {
            let sentinel: u16 = url["redis+sentinel://127.0.0.1:".len()..]
                .split(',')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("the first sentinel's port");
            let replicas: Vec<std::collections::HashMap<String, String>> = redis::cmd("SENTINEL")
                .arg("replicas")
                .arg("store-test")
                .query_async(&mut raw(sentinel).await)
                .await
                .expect("SENTINEL replicas");
            replicas[0]["port"].parse().expect("port")
        };
        let on_replica: usize = redis::cmd("DBSIZE")
            .query_async(&mut raw(replica).await)
            .await
            .expect("DBSIZE");
        assert!(on_replica > 0);
        store.delete(&k, None).await.expect("delete, acknowledged");

        let config = fast_config().wait_for_replicas(2, Duration::from_millis(100));
        let store = RedisStore::connect_with(&url, config)
            .await
            .expect("connect through the sentinels");
        let e = store
            .put(&k, "on the master".into(), PutOptions::default())
            .await
            .expect_err("only one replica can acknowledge");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        assert!(
            e.to_string()
                .contains("applied on the Redis master but acknowledged by 1 of 2"),
            "{e}"
        );
        let entry = store
            .get(&k)
            .await
            .expect("get")
            .expect("applied on the master");
        assert_eq!(entry.value, "on the master".as_bytes());

        let bad = fast_config().wait_for_replicas(1, Duration::from_secs(5));
        let e = RedisStore::connect_with(&url, bad)
            .await
            .expect_err("timeout too long");
        assert_eq!(e.kind(), ErrorKind::Config);
    }
}

mod redis_cluster {
    use super::*;

    /// A master of a 3-master Redis Cluster with one replica each is killed
    /// while 8 tasks write: the store (opened from a `redis+cluster://` URL)
    /// works again by itself once the replica is promoted, and every entry
    /// acknowledged before the kill (bar the replication window) is there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_cluster_master_killed_under_load_the_store_recovers() {
        let test = "redis_cluster_master_killed_under_load_the_store_recovers";
        let Some(services) = Services::start(
            test,
            Service::RedisCluster,
            30101,
            1,
            "STORE_TEST_REDIS_CLUSTER_URLS",
        )
        .await
        else {
            return;
        };
        let nodes = services.var("STORE_TEST_REDIS_CLUSTER_URLS").to_owned();
        let hosts: Vec<&str> = nodes
            .split(',')
            .map(|n| n.trim_start_matches("redis://").trim_end_matches('/'))
            .collect();
        let url = format!("redis+cluster://{}/", hosts.join(","));
        let store = RedisStore::connect_with(&url, fast_config())
            .await
            .expect("connect through the cluster URL");
        assert!(store.capabilities().cluster);

        // The master to kill: one that serves slots and has a replica.
        let first_port: u16 = hosts[0].rsplit(':').next().unwrap().parse().unwrap();
        let cluster_nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut raw(first_port).await)
            .await
            .expect("CLUSTER NODES");
        let victim: u16 = cluster_nodes
            .lines()
            .find(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("master")))
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|addr| addr.split('@').next())
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("a master in CLUSTER NODES");

        let seen = Arc::new(Seen::default());
        let stop = Arc::new(tokio::sync::Notify::new());
        let writers = write_under_load(&store, 8, &seen, &stop);
        tokio::time::sleep(Duration::from_secs(2)).await;
        services.kill_server(victim).await;
        let killed_at = Instant::now();
        // Fresh keys spread over the 16 buckets: 100 successes in a row
        // reach the killed master's slots too.
        let took = recovered(&store, killed_at, 100).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.notify_waiters();
        for w in writers {
            w.await.expect("writer");
        }

        let failures = std::mem::take(&mut *seen.failures.lock().unwrap());
        assert!(
            failures.iter().all(|k| *k == ErrorKind::Unavailable),
            "every failure during the failover is Unavailable: {failures:?}"
        );
        let (checked, lost) = check_acknowledged(&store, &seen, killed_at).await;
        assert!(checked > 100, "the writers made progress: {checked}");
        println!(
            "cluster failover: master {victim} killed, every bucket writable again after \
             {took:?}; {} writes failed (all Unavailable); {checked} acknowledged entries \
             checked, {lost} lost by asynchronous replication",
            failures.len()
        );
    }
}
