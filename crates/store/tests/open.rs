//! `store::open` against the real servers of the test setup: each scheme
//! opens its backend, in the namespace given, ready to use.

use store::{Key, OpenOptions, PutMode};
use store_conformance::provision::{Service, service_url};

async fn roundtrip(url: &str, backend: &str) {
    let namespace = format!("open_{}", &store_conformance::random_namespace()[13..]);
    let store = store::open_with(url, OpenOptions::default().namespace(namespace.clone()))
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
    assert_eq!(store.capabilities().backend, backend);
    let key = Key::new("k").unwrap();
    store
        .put(&key, "v".into(), PutMode::Create.into())
        .await
        .unwrap();
    let again = store::open_with(url, OpenOptions::default().namespace(namespace))
        .await
        .unwrap();
    assert_eq!(&again.get(&key).await.unwrap().unwrap().value[..], b"v");
}

#[tokio::test]
async fn open_redis() {
    if let Some(url) = service_url(Service::Redis).await {
        roundtrip(&url, "redis").await;
    }
}

#[tokio::test]
async fn open_postgres() {
    if let Some(url) = service_url(Service::Postgres).await {
        roundtrip(&url, "postgres").await;
    }
}

#[tokio::test]
async fn open_mongodb() {
    if let Some(url) = service_url(Service::MongoDb).await {
        roundtrip(&url, "mongodb").await;
    }
}

/// Every backend of the registry opens at its test URL, by its scheme, and
/// stores a value; a backend with a server or a file keeps it for a store
/// opened again at the same URL.
#[tokio::test]
async fn every_registry_backend_opens_at_its_test_url() {
    for backend in store::BACKENDS.iter().filter(|b| b.enabled) {
        let Some(at) = store_conformance::provision::test_url(backend.test_url).await else {
            continue;
        };
        let persistent = !backend.servers.is_empty() || at.dir.is_some();
        if persistent {
            roundtrip(&at.url, backend.name).await;
            continue;
        }
        let store = store::open(&at.url)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.name));
        assert_eq!(store.capabilities().backend, backend.name);
        let key = Key::new("k").unwrap();
        store
            .put(&key, "v".into(), PutMode::Create.into())
            .await
            .unwrap();
        assert_eq!(&store.get(&key).await.unwrap().unwrap().value[..], b"v");
    }
}
