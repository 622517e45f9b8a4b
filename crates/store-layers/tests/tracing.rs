//! `TracedStore`'s events, captured: levels by outcome, and never a key,
//! an owner or a value.

use store_conformance::logs::CapturedLog;
use store_core::{Key, Owner, PutMode, PutOptions, Store};
use store_layers::TracedStore;
use store_template::{TemplateClient, TemplateStore};

#[tokio::test]
async fn events_carry_outcomes_at_their_level_and_no_secrets() {
    let captured = CapturedLog::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());

    let client = TemplateClient::default();
    let store = TracedStore::new(
        TemplateStore::new(client.clone())
            .with_namespace("t")
            .unwrap(),
    );
    let sid = Key::new("sid-SECRETSESSIONID").unwrap();
    let owner = Owner::new("user-SECRETOWNER").unwrap();
    let opts = PutOptions::new(PutMode::Create).owner(owner.clone());
    store
        .put(&sid, "value-SECRETVALUE".into(), opts)
        .await
        .unwrap();
    store.get(&sid).await.unwrap();
    store
        .put(&sid, "x".into(), PutMode::Create.into())
        .await
        .unwrap_err();
    store.list_by_owner(&owner).await.unwrap();
    client.set_down(true);
    store.get(&sid).await.unwrap_err();

    let out = captured.text();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "one event per call:\n{out}");
    assert!(
        lines[0].contains("DEBUG")
            && lines[0].contains("operation=\"put\"")
            && lines[0].contains("mode=\"create\"")
            && lines[0].contains("outcome=\"ok\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("operation=\"get\"") && lines[1].contains("outcome=\"ok\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("DEBUG") && lines[2].contains("outcome=\"already exists\""),
        "{}",
        lines[2]
    );
    assert!(
        lines[4].contains("ERROR")
            && lines[4].contains("outcome=\"unavailable\"")
            && lines[4].contains("retryable=true"),
        "{}",
        lines[4]
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains("backend=\"template\"") && l.contains("micros=")),
        "{out}"
    );
    assert!(
        !out.contains("SECRET"),
        "a key, owner or value leaked:\n{out}"
    );
}
