//! The whole conformance suite against `TemplateStore`, plus its fault
//! path: with the "server" down every call is `Unavailable`, and the same
//! store works again once it is back.

use std::sync::Arc;
use std::time::Duration;

use store_conformance::{TestBackend, TestClock, faults};
use store_core::{Key, ManualClock, Owner, PutMode, Result, Store};
use store_template::{TemplateClient, TemplateConfig, TemplateStore};

/// One shared "server" per test, with a manual clock: the suite moves
/// time instantly. A real backend connects to the server named by an
/// environment variable here (`store_conformance::provision`).
#[derive(Debug)]
struct TemplateBackend {
    client: TemplateClient,
    clock: ManualClock,
}

#[async_trait::async_trait]
impl TestBackend for TemplateBackend {
    async fn open(&self, namespace: &str) -> Result<Arc<dyn Store>> {
        let config = TemplateConfig::default()
            .namespace(namespace)
            .clock(self.clock.clone());
        Ok(Arc::new(TemplateStore::with_config(
            self.client.clone(),
            config,
        )?))
    }

    fn clock(&self) -> TestClock {
        TestClock::Manual(self.clock.clone())
    }
}

mod template {
    use super::*;

    store_conformance::conformance_tests!(async {
        Some(TemplateBackend {
            client: TemplateClient::default(),
            clock: ManualClock::starting_now(),
        })
    });
}

#[tokio::test]
async fn template_server_down_then_back() {
    let client = TemplateClient::default();
    let store = TemplateStore::new(client.clone())
        .with_namespace("faults")
        .unwrap();
    let (key, owner) = (Key::new("k").unwrap(), Owner::new("alice").unwrap());
    store
        .put(&key, "v".into(), PutMode::Create.into())
        .await
        .unwrap();
    client.set_down(true);
    faults::assert_every_operation_unavailable(&store, &key, &owner).await;
    client.set_down(false);
    let (entry, _) = faults::wait_for_recovery(&store, &key, Duration::from_secs(5)).await;
    assert_eq!(&entry.unwrap().value[..], b"v");
}

#[tokio::test]
async fn open_takes_template_urls_and_the_shared_options() {
    use store_core::{ErrorKind, Open, OpenOptions};
    let options = OpenOptions::default()
        .namespace("opened")
        .operation_timeout(Duration::from_secs(1));
    let store = TemplateStore::open("template://anything", &options)
        .await
        .unwrap();
    assert_eq!(store.namespace(), "opened");
    assert_eq!(store.capabilities().backend, TemplateStore::NAME);
    // Each URL opens a client of its own.
    let other = TemplateStore::open("template://anything", &options)
        .await
        .unwrap();
    let key = Key::new("k").unwrap();
    store
        .put(&key, "v".into(), PutMode::Create.into())
        .await
        .unwrap();
    assert!(other.get(&key).await.unwrap().is_none());
    for url in ["memory://", "template", "ftp://u:secret@h/"] {
        let err = TemplateStore::open(url, &options).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    let bad = OpenOptions::default().namespace("");
    let err = TemplateStore::open("template://", &bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}
