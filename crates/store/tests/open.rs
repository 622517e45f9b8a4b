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
