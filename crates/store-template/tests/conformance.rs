//! The whole conformance suite against `TemplateStore`, plus its fault
//! path: with the "server" down every call is `Unavailable`, and the same
//! store works again once it is back.

use std::sync::Arc;
use std::time::Duration;

use store_conformance::{TestBackend, TestClock, faults};
use store_core::{Key, ManualClock, Owner, PutMode, Result, Store};
use store_template::{TemplateClient, TemplateStore};

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
        let store = TemplateStore::new(self.client.clone(), namespace);
        Ok(Arc::new(store.with_clock(self.clock.clone())))
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
    let store = TemplateStore::new(client.clone(), "faults");
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
