//! storectl on the Redis topologies beyond one server: a Redis Cluster
//! through a `redis+cluster://` URL and the master of a Sentinel group
//! through a `redis+sentinel://` URL, in `--url`, `--from` and `--to`.
//!
//! The servers come from `STORE_TEST_REDIS_CLUSTER_URLS` and
//! `STORE_TEST_REDIS_SENTINEL_URL`; without them the tests skip, or fail
//! under `STORE_TEST_REQUIRE=1`.

use assert_cmd::Command;
use std::sync::Arc;

use store::{Key, Owner, PutMode, PutOptions, Store, open_with};
use store_conformance::provision::{Service, service_url};

/// The test cluster's nodes as one `redis+cluster://` URL.
async fn cluster_url() -> Option<String> {
    let nodes = service_url(Service::RedisCluster).await?;
    let hosts: Vec<&str> = nodes
        .split(',')
        .map(|n| {
            n.trim()
                .trim_start_matches("redis://")
                .trim_end_matches('/')
        })
        .collect();
    Some(format!("redis+cluster://{}/", hosts.join(",")))
}

fn storectl(args: &[&str]) -> String {
    let out = Command::cargo_bin("storectl")
        .expect("the storectl binary")
        .args(args)
        .output()
        .expect("run storectl");
    assert!(
        out.status.success(),
        "storectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Writes `n` entries, every third one owned by `alice`.
async fn seed(store: &dyn Store, n: usize) {
    for i in 0..n {
        let mut opts = PutOptions::new(PutMode::Create);
        if i % 3 == 0 {
            opts = opts.owner(Owner::new("alice").expect("owner"));
        }
        let key = Key::new(format!("k-{i:03}")).expect("key");
        store
            .put(&key, format!("value {i}").into(), opts)
            .await
            .expect("seed");
    }
}

async fn opened(url: &str, namespace: &str) -> Arc<dyn Store> {
    let options = store::OpenOptions::default().namespace(namespace);
    open_with(url, options).await.expect("open")
}

mod redis_cluster {
    use super::*;

    /// `stats`, `list` and `revoke` on a cluster URL see every master.
    #[tokio::test]
    async fn redis_cluster_url_in_stats_list_and_revoke() {
        let Some(url) = cluster_url().await else {
            return;
        };
        let ns = store_conformance::random_namespace();
        let store = opened(&url, &ns).await;
        assert!(store.capabilities().cluster);
        seed(&*store, 30).await;
        let t = ["--url", &url, "--namespace", &ns];
        let stats = storectl(&[&["stats", "--json"][..], &t].concat());
        assert!(stats.contains("\"live\": 30"), "{stats}");
        let listed = storectl(&[&["list", "--owner", "alice", "--json"][..], &t].concat());
        assert_eq!(listed.lines().count(), 10, "{listed}");
        storectl(&[&["revoke", "--owner", "alice"][..], &t].concat());
        let owner = Owner::new("alice").expect("owner");
        assert!(store.list_by_owner(&owner).await.expect("list").is_empty());
    }
}

mod redis_sentinel {
    use super::*;

    /// `copy` from a Sentinel group's master to a Redis Cluster, then
    /// `stats` on both URLs.
    #[tokio::test]
    async fn redis_sentinel_url_copied_to_a_cluster_url() {
        let Some(from) = service_url(Service::RedisSentinel).await else {
            return;
        };
        let Some(to) = cluster_url().await else {
            return;
        };
        let ns = store_conformance::random_namespace();
        let source = opened(&from, &ns).await;
        seed(&*source, 25).await;
        let copied = storectl(&[
            "copy",
            "--from",
            &from,
            "--to",
            &to,
            "--from-namespace",
            &ns,
            "--to-namespace",
            &ns,
        ]);
        assert!(copied.contains("25"), "{copied}");
        for url in [&from, &to] {
            let stats = storectl(&["stats", "--json", "--url", url, "--namespace", &ns]);
            assert!(stats.contains("\"live\": 25"), "{url}: {stats}");
        }
        let destination = opened(&to, &ns).await;
        let entry = destination
            .get(&Key::new("k-007").expect("key"))
            .await
            .expect("get")
            .expect("copied");
        assert_eq!(entry.value, "value 7".as_bytes());
        let owner = Owner::new("alice").expect("owner");
        assert_eq!(
            destination.list_by_owner(&owner).await.expect("list").len(),
            9
        );
    }
}
