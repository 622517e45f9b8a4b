//! Two processes' caches on one Redis store: with `RedisInvalidation`, a
//! write in one is seen by the other at once, not after `max_age`.

use std::time::{Duration, Instant};

use store_conformance::provision::{Service, service_url};
use store_core::{Key, Owner, PutMode, PutOptions, Store};
use store_layers::{Cache, CacheConfig, CachedStore, RedisInvalidation};
use store_redis::RedisStore;

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what} never happened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_one_process_invalidates_the_others() {
    let Some(url) = service_url(Service::Redis).await else {
        return;
    };
    let namespace = format!("inval{}", &store_conformance::random_namespace()[13..]);
    let channel = format!("{namespace}-cache");
    let mut processes = Vec::new();
    for _ in 0..2 {
        // A cache that would serve stale data for an hour without messages.
        let cache = Cache::new(CacheConfig::default().max_age(Duration::from_secs(3600)));
        RedisInvalidation::start(&url, &channel, &cache)
            .await
            .unwrap();
        let store = RedisStore::connect(&url)
            .await
            .unwrap()
            .with_namespace(&namespace)
            .unwrap();
        processes.push(CachedStore::new(store, cache));
    }
    let (a, b) = (&processes[0], &processes[1]);
    let k = Key::new("k").unwrap();
    let alice = Owner::new("alice").unwrap();
    a.put(
        &k,
        "one".into(),
        PutOptions::new(PutMode::Create).owner(alice.clone()),
    )
    .await
    .unwrap();
    assert_eq!(&b.get(&k).await.unwrap().unwrap().value[..], b"one"); // now cached in b

    a.put(
        &k,
        "two".into(),
        PutOptions::new(PutMode::Upsert).owner(alice.clone()),
    )
    .await
    .unwrap();
    wait_for("b seeing the update", async || {
        b.get(&k)
            .await
            .unwrap()
            .is_some_and(|e| &e.value[..] == b"two")
    })
    .await;

    a.delete(&k, None).await.unwrap();
    wait_for("b seeing the delete", async || {
        b.get(&k).await.unwrap().is_none()
    })
    .await;

    b.put(
        &k,
        "three".into(),
        PutOptions::new(PutMode::Create).owner(alice.clone()),
    )
    .await
    .unwrap();
    assert_eq!(&a.get(&k).await.unwrap().unwrap().value[..], b"three"); // cached in a
    assert_eq!(b.delete_by_owner(&alice).await.unwrap(), 1);
    wait_for("a seeing the revoke", async || {
        a.get(&k).await.unwrap().is_none()
    })
    .await;

    // A process's own writes do not empty its own cache.
    let hits = a.cache().stats().hits;
    a.put(&k, "mine".into(), PutMode::Create.into())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.get(&k).await.unwrap().unwrap();
    assert_eq!(a.cache().stats().hits, hits + 1);
}
