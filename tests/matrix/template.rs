//! `TemplateStore`, the backend to copy for a new one, with a manual clock:
//! one shared in-process "server" per test.

use std::sync::Arc;

use store_conformance::{TestBackend, TestClock};
use store_core::{ManualClock, Result, Store};
use store_template::{TemplateClient, TemplateConfig, TemplateStore};

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

async fn provision() -> Option<TemplateBackend> {
    Some(TemplateBackend {
        client: TemplateClient::default(),
        clock: ManualClock::starting_now(),
    })
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
