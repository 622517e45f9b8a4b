//! Behaviour specific to `MemoryStore`: purge task, capacity, namespaces, opening from a URL.
//! The shared contract is proven by the conformance suite in `tests/`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use store_core::{Clock, ErrorKind, Key, ManualClock, Owner, PutMode, PutOptions, Store};
use store_memory::{MemoryConfig, MemoryStore};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn store_with(clock: &ManualClock, config: MemoryConfig) -> MemoryStore {
    MemoryStore::with_config(config.clock(clock.clone())).unwrap()
}

async fn put_expiring(store: &MemoryStore, k: &str, clock: &ManualClock, secs: u64) {
    let exp = clock.now().checked_add(Duration::from_secs(secs)).unwrap();
    let opts = PutOptions::new(PutMode::Create)
        .expires_at(exp)
        .owner(Owner::new("o").unwrap());
    store
        .put(&key(k), Bytes::from_static(b"v"), opts)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn purge_task_frees_expired_entries_of_every_namespace() {
    let clock = ManualClock::starting_now();
    let a = store_with(&clock, MemoryConfig::default());
    let b = a.with_namespace("other").unwrap();
    put_expiring(&a, "a", &clock, 1).await;
    put_expiring(&b, "b", &clock, 1).await;
    put_expiring(&a, "live", &clock, 3600).await;
    let task = a.spawn_purge_task(Duration::from_secs(10)).unwrap();
    clock.advance(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_secs(20)).await; // paused time: instant
    // Both expired entries are gone from the maps: a second purge finds nothing.
    assert_eq!(a.purge_all_expired(), 0);
    assert!(a.get(&key("live")).await.unwrap().is_some());
    assert!(!task.is_finished());
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn purge_task_stops_when_the_store_is_dropped() {
    let store = MemoryStore::new();
    let other_handle = store.with_namespace("x").unwrap();
    let task = store.spawn_purge_task(Duration::from_secs(3600)).unwrap();
    drop(store);
    tokio::task::yield_now().await;
    assert!(
        !task.is_finished(),
        "a handle on the same data is still alive"
    );
    drop(other_handle);
    tokio::time::timeout(Duration::from_secs(1), task.join())
        .await
        .expect("the task must end once the last handle is dropped");
}

#[tokio::test]
async fn purge_task_needs_a_positive_interval() {
    let err = MemoryStore::new()
        .spawn_purge_task(Duration::ZERO)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn purge_task_outside_a_runtime_is_a_config_error() {
    let err = MemoryStore::new()
        .spawn_purge_task(Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn capacity_refuses_new_keys_with_a_typed_error() {
    let clock = ManualClock::starting_now();
    let store = store_with(&clock, MemoryConfig::default().capacity(2));
    store
        .put(&key("a"), "1".into(), PutMode::Create.into())
        .await
        .unwrap();
    store
        .put(&key("b"), "2".into(), PutMode::Create.into())
        .await
        .unwrap();
    let err = store
        .put(&key("c"), "3".into(), PutMode::Create.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded);
    assert!(err.message().contains("capacity of 2 entries"), "{err}");
    assert!(store.get(&key("c")).await.unwrap().is_none());
    // Overwriting an existing key needs no new slot.
    store
        .put(&key("a"), "9".into(), PutMode::Update.into())
        .await
        .unwrap();
    // Deleting frees a slot.
    assert!(store.delete(&key("b"), None).await.unwrap());
    store
        .put(&key("c"), "3".into(), PutMode::Create.into())
        .await
        .unwrap();
}

#[tokio::test]
async fn capacity_purges_expired_entries_before_refusing() {
    let clock = ManualClock::starting_now();
    let store = store_with(&clock, MemoryConfig::default().capacity(2));
    put_expiring(&store, "old1", &clock, 1).await;
    put_expiring(&store.with_namespace("ns2").unwrap(), "old2", &clock, 1).await;
    clock.advance(Duration::from_secs(1));
    store
        .put(&key("new1"), "1".into(), PutMode::Create.into())
        .await
        .unwrap();
    store
        .put(&key("new2"), "2".into(), PutMode::Create.into())
        .await
        .unwrap();
    let err = store
        .put(&key("new3"), "3".into(), PutMode::Create.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded);
}

#[tokio::test]
async fn zero_capacity_and_zero_value_limit_are_config_errors() {
    for config in [
        MemoryConfig::default().capacity(0),
        MemoryConfig::default().max_value_len(0),
    ] {
        let err = MemoryStore::with_config(config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}

#[tokio::test]
async fn configured_value_limit_is_enforced_and_reported() {
    let store = MemoryStore::with_config(MemoryConfig::default().max_value_len(8)).unwrap();
    assert_eq!(store.capabilities().max_value_len, 8);
    store
        .put(
            &key("k"),
            Bytes::from_static(b"12345678"),
            PutMode::Create.into(),
        )
        .await
        .unwrap();
    let err = store
        .put(
            &key("k"),
            Bytes::from_static(b"123456789"),
            PutMode::Upsert.into(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message().contains("maximum for this store is 8 bytes"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_many_keys_with_one_shard_and_many() {
    for shards in [1, 64] {
        let store = MemoryStore::with_config(MemoryConfig::default().shards(shards)).unwrap();
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    let k = key(&format!("{t}:{i}"));
                    store
                        .put(&k, Bytes::from(format!("{i}")), PutMode::Create.into())
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for t in 0..8 {
            for i in (0..200).step_by(37) {
                let e = store.get(&key(&format!("{t}:{i}"))).await.unwrap().unwrap();
                assert_eq!(e.value, Bytes::from(format!("{i}")));
            }
        }
    }
}

#[test]
fn debug_shows_configuration_not_contents() {
    let store = MemoryStore::new().with_namespace("sessions").unwrap();
    let shown = format!("{store:?}");
    assert!(
        shown.contains("sessions") && shown.contains("shards: 64"),
        "{shown}"
    );
}

#[tokio::test]
async fn open_takes_memory_urls_and_the_namespace_option() {
    use store_core::{Open, OpenOptions};
    let options = OpenOptions::default().namespace("ns").setup(true);
    let store = MemoryStore::open("MEMORY://ignored/path?x=1", &options)
        .await
        .unwrap();
    assert_eq!(store.namespace(), "ns");
    let default = MemoryStore::open("memory:", &OpenOptions::default())
        .await
        .unwrap();
    assert_eq!(default.namespace(), "");
    for url in ["redis://u:secret@h/", "memory", ""] {
        let err = MemoryStore::open(url, &options).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
