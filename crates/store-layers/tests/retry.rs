//! `RetryStore` against a store whose "server" goes down and comes back
//! (the template backend's switch), counting the calls that reach it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Entry, ErrorKind, Expiry, Key, Owner, PutMode, PutOptions, PutResult, Result,
    Store, Version,
};
use store_layers::{RetryPolicy, RetryStore};
use store_template::{TemplateClient, TemplateStore};

/// Counts the calls that reach the store below.
#[derive(Debug, Clone)]
struct Counted {
    inner: TemplateStore,
    calls: Arc<AtomicUsize>,
}

impl Counted {
    fn hit(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for Counted {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        self.hit();
        self.inner.get(key).await
    }
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        self.hit();
        self.inner.put(key, value, options).await
    }
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        self.hit();
        self.inner.delete(key, if_version).await
    }
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        self.hit();
        self.inner.touch(key, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64> {
        self.hit();
        self.inner.delete_expired().await
    }
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        self.hit();
        self.inner.list_by_owner(owner).await
    }
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        self.hit();
        self.inner.delete_by_owner(owner).await
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

fn setup(attempts: u32) -> (TemplateClient, Arc<AtomicUsize>, RetryStore<Counted>) {
    let client = TemplateClient::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Counted {
        inner: TemplateStore::new(client.clone(), "retry"),
        calls: calls.clone(),
    };
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
    assert!(calls.load(Ordering::SeqCst) > 2, "the read was retried");
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
        calls.store(0, Ordering::SeqCst);
        let err = store
            .put(&key(), "v".into(), mode.into())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        seen.push((name, calls.load(Ordering::SeqCst)));
    }
    calls.store(0, Ordering::SeqCst);
    store
        .delete(&key(), Some(Version::from_u64(1)))
        .await
        .unwrap_err();
    seen.push(("delete_if", calls.load(Ordering::SeqCst)));
    calls.store(0, Ordering::SeqCst);
    store.delete(&key(), None).await.unwrap_err();
    seen.push(("delete", calls.load(Ordering::SeqCst)));
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
    calls.store(0, Ordering::SeqCst);
    let err = store
        .put(&key(), "v".into(), PutMode::Update.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
