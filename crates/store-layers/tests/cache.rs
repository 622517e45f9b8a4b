//! `CachedStore`: hits never reach the store, every write does, expiry and
//! bounds hold, and two caches on one store still have one winner per race.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::Counted;
use store_core::{Clock, ErrorKind, Key, ManualClock, PutMode, PutOptions, Store};
use store_layers::{Cache, CacheConfig, CacheStats, CachedStore};
use store_memory::{MemoryConfig, MemoryStore};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn setup(config: CacheConfig, clock: &ManualClock) -> (Counted, CachedStore<Counted>, MemoryStore) {
    let backend = MemoryStore::with_config(MemoryConfig::default().clock(clock.clone())).unwrap();
    let counted = Counted::new(Arc::new(backend.clone()));
    let store = CachedStore::new(counted.clone(), Cache::new(config.clock(clock.clone())));
    (counted, store, backend)
}

#[tokio::test]
async fn hits_skip_the_store_and_every_write_reaches_it() {
    let clock = ManualClock::starting_now();
    let (counted, store, _) = setup(
        CacheConfig::default().max_age(Duration::from_secs(3600)),
        &clock,
    );
    let k = key("k");
    let created = store
        .put(&k, "v1".into(), PutMode::Create.into())
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(&store.get(&k).await.unwrap().unwrap().value[..], b"v1");
    }
    assert_eq!(counted.count("get"), 0, "hits never reach the store");
    assert_eq!(store.cache().stats(), CacheStats { hits: 5, misses: 0 });

    // Every put mode reaches the store, and the cache follows.
    let updated = store.put(&k, "v2".into(), created.into()).await.unwrap();
    store
        .put(&k, "v3".into(), PutMode::Update.into())
        .await
        .unwrap();
    let err = store.put(&k, "x".into(), updated.into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VersionMismatch);
    let err = store
        .put(&k, "x".into(), PutMode::Create.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(counted.count("put"), 5);
    assert_eq!(&store.get(&k).await.unwrap().unwrap().value[..], b"v3");

    // A delete reaches the store and empties the cache for that key.
    assert!(store.delete(&k, None).await.unwrap());
    assert!(store.get(&k).await.unwrap().is_none());
    assert_eq!(counted.count("delete"), 1);
    assert_eq!(
        counted.count("get"),
        2,
        "the failed puts and the delete dropped the key"
    );
}

#[tokio::test]
async fn cached_entries_never_outlive_their_expiry() {
    let clock = ManualClock::starting_now();
    let (_, store, _) = setup(
        CacheConfig::default().max_age(Duration::from_secs(3600)),
        &clock,
    );
    let k = key("k");
    let soon = clock.now().checked_add(Duration::from_secs(1)).unwrap();
    store
        .put(
            &k,
            "v".into(),
            PutOptions::new(PutMode::Create).expires_at(soon),
        )
        .await
        .unwrap();
    assert!(store.get(&k).await.unwrap().is_some());
    clock.advance(Duration::from_secs(1));
    assert!(
        store.get(&k).await.unwrap().is_none(),
        "expired exactly at its expiry"
    );
}

#[tokio::test]
async fn the_cache_stays_within_its_bounds() {
    let clock = ManualClock::starting_now();
    let config = CacheConfig::default().max_entries(10).max_bytes(1000);
    let (counted, store, _) = setup(config, &clock);
    for i in 0..100 {
        store
            .put(
                &key(&format!("k{i}")),
                vec![b'x'; 50].into(),
                PutMode::Upsert.into(),
            )
            .await
            .unwrap();
    }
    // The 10 most recent are cached, the rest are read from the store.
    counted.reset();
    for i in 90..100 {
        store.get(&key(&format!("k{i}"))).await.unwrap().unwrap();
    }
    assert_eq!(counted.count("get"), 0);
    store.get(&key("k0")).await.unwrap().unwrap();
    assert_eq!(counted.count("get"), 1);
    // A value over the byte bound is never cached.
    store
        .put(&key("big"), vec![0; 2000].into(), PutMode::Upsert.into())
        .await
        .unwrap();
    store.get(&key("big")).await.unwrap().unwrap();
    assert_eq!(counted.count("get"), 2);
}

#[tokio::test]
async fn another_process_write_is_seen_after_max_age() {
    let clock = ManualClock::starting_now();
    let (_, mine, backend) = setup(
        CacheConfig::default().max_age(Duration::from_millis(100)),
        &clock,
    );
    let theirs = CachedStore::new(
        backend,
        Cache::new(CacheConfig::default().clock(clock.clone())),
    );
    let k = key("k");
    mine.put(&k, "old".into(), PutMode::Create.into())
        .await
        .unwrap();
    theirs
        .put(&k, "new".into(), PutMode::Update.into())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(&mine.get(&k).await.unwrap().unwrap().value[..], b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_through_two_caches_have_one_winner() {
    let clock = ManualClock::starting_now();
    let backend = MemoryStore::with_config(MemoryConfig::default().clock(clock.clone())).unwrap();
    let caches: Vec<CachedStore<MemoryStore>> = (0..2)
        .map(|_| {
            CachedStore::new(
                backend.clone(),
                Cache::new(CacheConfig::default().clock(clock.clone())),
            )
        })
        .collect();
    for round in 0..20 {
        let k = key(&format!("k{round}"));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (store, k) = (caches[i % 2].clone(), k.clone());
            tasks.push(tokio::spawn(async move {
                store.put(&k, "v".into(), PutMode::Create.into()).await
            }));
        }
        let mut winners = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => winners += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists),
            }
        }
        assert_eq!(winners, 1, "create round {round}");
        // Both caches now read the same version; one UpdateIf wins.
        let seen = [
            caches[0].get(&k).await.unwrap().unwrap().version,
            caches[1].get(&k).await.unwrap().unwrap().version,
        ];
        assert_eq!(seen[0], seen[1]);
        let a = caches[0]
            .put(&k, "a".into(), PutMode::UpdateIf(seen[0]).into())
            .await;
        let b = caches[1]
            .put(&k, "b".into(), PutMode::UpdateIf(seen[1]).into())
            .await;
        assert!(a.is_ok() != b.is_ok(), "exactly one UpdateIf wins");
    }
}

/// Two writes of one key reach the store in one order and finish in the
/// other: the cache must not keep the value the store replaced.
#[tokio::test]
async fn overlapping_writes_never_leave_a_replaced_value_cached() {
    let clock = ManualClock::starting_now();
    let (counted, store, backend) = setup(
        CacheConfig::default().max_age(Duration::from_secs(3600)),
        &clock,
    );
    let store = Arc::new(store);
    let k = key("k");
    let (first, second): (&'static [u8], &'static [u8]) = (b"first", b"second");
    let gate = counted.hold_put_of(b"first");
    let slow = {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move {
            store
                .put(&k, Bytes::from_static(first), PutMode::Upsert.into())
                .await
        })
    };
    // The first put is applied below and held; the second is applied
    // after it and finishes first.
    while counted.count("put") < 1 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    store
        .put(&k, Bytes::from_static(second), PutMode::Upsert.into())
        .await
        .unwrap();
    gate.notify_one();
    slow.await.unwrap().unwrap();
    assert_eq!(&backend.get(&k).await.unwrap().unwrap().value[..], second);
    assert_eq!(
        &store.get(&k).await.unwrap().unwrap().value[..],
        second,
        "the cache kept the value the store replaced"
    );

    // A delete overlapping a put: the same holds for an absent key.
    let gate = counted.hold_put_of(b"again");
    let slow = {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move {
            store
                .put(&k, Bytes::from_static(b"again"), PutMode::Upsert.into())
                .await
        })
    };
    while counted.count("put") < 3 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.delete(&k, None).await.unwrap());
    gate.notify_one();
    slow.await.unwrap().unwrap();
    assert!(backend.get(&k).await.unwrap().is_none());
    assert!(
        store.get(&k).await.unwrap().is_none(),
        "the cache brought back a deleted key"
    );
}
