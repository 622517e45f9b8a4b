//! `RetryStore` against a store whose "server" goes down and comes back
//! (the template backend's switch), counting the calls that reach it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Counted;
use store_core::{ErrorKind, Key, PutMode, Store, Version};
use store_layers::{RetryPolicy, RetryStore};
use store_template::{TemplateClient, TemplateStore};

fn setup(attempts: u32) -> (TemplateClient, Counted, RetryStore<Counted>) {
    let client = TemplateClient::default();
    let counted = Counted::new(Arc::new(
        TemplateStore::new(client.clone())
            .with_namespace("retry")
            .unwrap(),
    ));
    let calls = counted.clone();
    let policy = RetryPolicy::default()
        .attempts(attempts)
        .base_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(20));
    (client, calls, RetryStore::new(counted, policy))
}

fn key() -> Key {
    Key::new("k").unwrap()
}

#[tokio::test]
async fn a_read_outlasts_a_short_outage() {
    let (client, calls, store) = setup(50);
    store
        .put(&key(), "v".into(), PutMode::Create.into())
        .await
        .unwrap();
    client.set_down(true);
    let back = {
        let client = client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.set_down(false);
        })
    };
    let entry = store.get(&key()).await.unwrap().unwrap();
    back.await.unwrap();
    assert_eq!(&entry.value[..], b"v");
    assert!(calls.total() > 2, "the read was retried");
}

#[tokio::test]
async fn only_calls_safe_to_repeat_are_retried() {
    let (client, calls, store) = setup(3);
    client.set_down(true);
    let mut seen = Vec::new();
    for (name, mode) in [
        ("create", PutMode::Create),
        ("update_if", PutMode::UpdateIf(Version::from_u64(1))),
        ("upsert", PutMode::Upsert),
        ("update", PutMode::Update),
    ] {
        calls.reset();
        let err = store
            .put(&key(), "v".into(), mode.into())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        seen.push((name, calls.total()));
    }
    calls.reset();
    store
        .delete(&key(), Some(Version::from_u64(1)))
        .await
        .unwrap_err();
    seen.push(("delete_if", calls.total()));
    calls.reset();
    store.delete(&key(), None).await.unwrap_err();
    seen.push(("delete", calls.total()));
    assert_eq!(
        seen,
        [
            ("create", 1),
            ("update_if", 1),
            ("upsert", 3),
            ("update", 3),
            ("delete_if", 1),
            ("delete", 3)
        ]
    );

    // A refusal is an answer, not a failure: never retried.
    client.set_down(false);
    calls.reset();
    let err = store
        .put(&key(), "v".into(), PutMode::Update.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(calls.total(), 1);
}
