//! Quickstart: the whole contract on the in-memory store.
//!
//! Run with `cargo run -p store-examples --example quickstart`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use store_core::{Clock, ErrorKind, Key, Owner, PutMode, PutOptions, Store, StoreExt, SystemClock};
use store_memory::MemoryStore;

#[derive(Debug, Serialize, Deserialize)]
struct Cart {
    items: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), store_core::Error> {
    let store = MemoryStore::new().with_namespace("quickstart")?;
    let alice = Owner::new("alice")?;
    let key = Key::new("session:alice:laptop")?;
    let in_30_min = SystemClock
        .now()
        .checked_add(Duration::from_secs(30 * 60))?;

    // 1. Create: insert only, never overwrite.
    let cart = Cart {
        items: vec!["book".into()],
    };
    let opts = PutOptions::new(PutMode::Create)
        .expires_at(in_30_min)
        .owner(alice.clone());
    let created = store.put_typed(&key, &cart, opts.clone()).await?;
    println!(
        "created {key} (version {}) expiring at {in_30_min}",
        created.version
    );
    let again = store.put_typed(&key, &cart, opts).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyExists);
    println!("a second create was refused: {again}");

    // 2. Get.
    let loaded = store.get_typed::<Cart>(&key).await?.expect("just created");
    println!("read {:?} at version {}", loaded.value, loaded.version);

    // 3. Compare-and-swap update: only if nobody wrote in between.
    let mut cart = loaded.value;
    cart.items.push("lamp".into());
    let cas = PutOptions::new(PutMode::UpdateIf(loaded.version))
        .expires_at(in_30_min)
        .owner(alice.clone());
    let updated = store.put_typed(&key, &cart, cas.clone()).await?;
    println!(
        "updated with UpdateIf({}) -> version {}",
        loaded.version, updated.version
    );
    let stale = store.put_typed(&key, &cart, cas).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::VersionMismatch);
    println!("a write with the stale version was refused: {stale}");

    // 4. Touch: slide the expiry without rewriting the value.
    let in_60_min = SystemClock
        .now()
        .checked_add(Duration::from_secs(60 * 60))?;
    store.touch(&key, in_60_min).await?;
    let touched = store.get(&key).await?.expect("still live");
    println!(
        "touched: expiry now {}, version unchanged: {}",
        touched.expires_at.expect("has an expiry"),
        touched.version == updated.version
    );

    // 5. Owner listing: every session of alice.
    let phone = Key::new("session:alice:phone")?;
    store
        .put(
            &phone,
            "{}".into(),
            PutOptions::new(PutMode::Create).owner(alice.clone()),
        )
        .await?;
    let sessions = store.list_by_owner(&alice).await?;
    let names: Vec<&str> = sessions.iter().map(|(k, _)| k.as_str()).collect();
    println!("alice has {} sessions: {names:?}", sessions.len());

    // 6. Delete: idempotent, and revoke-all through the owner index.
    println!("deleted {key}: {}", store.delete(&key, None).await?);
    println!("deleted {key} again: {}", store.delete(&key, None).await?);
    println!(
        "revoked the rest of alice's sessions: {}",
        store.delete_by_owner(&alice).await?
    );
    assert!(store.list_by_owner(&alice).await?.is_empty());
    println!("done: alice has no sessions left");
    Ok(())
}
