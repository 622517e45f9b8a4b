//! Round trips per single-key operation, counted by a proxy between the
//! store and its server: every burst of client bytes after a server reply
//! is one. The floor is one per call; the SQL stores keep the connection
//! of a call for the next one, so the ping sqlx's pool sends when a
//! connection goes back to it is not sent between calls; MongoDB adds one
//! `$inc` per block of versions. A second round trip per call would exceed
//! every allowance.

use std::time::Duration;

use store_core::{Bytes, Clock, Expiry, Key, PutMode, PutOptions, Store, SystemClock, Version};

use crate::faults::{Backend, Server};

/// Calls per count.
const CALLS: u64 = 20;

#[derive(Clone, Copy, Debug)]
enum Call {
    GetPresent,
    GetMissing,
    Upsert,
    UpdateIf,
    Update,
    Create,
    Touch,
    Delete,
}

fn key(prefix: &str, i: u64) -> Key {
    Key::new(format!("{prefix}{i}")).expect("key")
}

fn later() -> Expiry {
    SystemClock
        .now()
        .checked_add(Duration::from_secs(600))
        .expect("expiry")
}

/// Makes call `i` of kind `call`, checking its outcome.
async fn make(store: &dyn Store, call: Call, i: u64, versions: &mut [Version]) {
    let value = Bytes::from_static(&[7; 200]);
    let at = i as usize;
    match call {
        Call::GetPresent => assert!(store.get(&key("k", i)).await.unwrap().is_some()),
        Call::GetMissing => assert!(store.get(&key("absent", i)).await.unwrap().is_none()),
        Call::Upsert => {
            let options = PutOptions::new(PutMode::Upsert).expires_at(later());
            versions[at] = store
                .put(&key("k", i), value, options)
                .await
                .unwrap()
                .version;
        }
        Call::UpdateIf => {
            let options = PutOptions::new(PutMode::UpdateIf(versions[at])).expires_at(later());
            versions[at] = store
                .put(&key("k", i), value, options)
                .await
                .unwrap()
                .version;
        }
        Call::Update => {
            let options = PutOptions::new(PutMode::Update).expires_at(later());
            versions[at] = store
                .put(&key("k", i), value, options)
                .await
                .unwrap()
                .version;
        }
        Call::Create => {
            let options = PutOptions::new(PutMode::Create).expires_at(later());
            store.put(&key("new", i), value, options).await.unwrap();
        }
        Call::Touch => store.touch(&key("k", i), later()).await.unwrap(),
        Call::Delete => assert!(store.delete(&key("new", i), None).await.unwrap()),
    }
}

pub(crate) async fn single_key_operations(backend: Backend) {
    let Some(server) = Server::provision(backend).await else {
        return;
    };
    let (proxy, store) = server.proxied().await;
    let store: &dyn Store = store.as_ref();
    let mut versions = vec![Version::from_u64(0); CALLS as usize + 1];
    for i in 0..=CALLS {
        make(store, Call::Upsert, i, &mut versions).await;
    }
    let mut counts = Vec::new();
    for call in [
        Call::GetPresent,
        Call::GetMissing,
        Call::Upsert,
        Call::UpdateIf,
        Call::Update,
        Call::Create,
        Call::Touch,
        Call::Delete,
    ] {
        // One warm-up call (key CALLS), then the counted ones; a pause on
        // each side (shorter than the 250 ms after which a SQL store gives
        // an unused connection back to its pool, with sqlx's ping).
        let settle = || tokio::time::sleep(Duration::from_millis(100));
        make(store, call, CALLS, &mut versions).await;
        settle().await;
        let before = proxy.round_trips();
        for i in 0..CALLS {
            make(store, call, i, &mut versions).await;
        }
        settle().await;
        let made = proxy.round_trips() - before;
        counts.push(format!("{call:?}: {made}"));
        let write = !matches!(call, Call::GetPresent | Call::GetMissing);
        // What each backend may add to one round trip per call: on
        // PostgreSQL and MySQL, the store gives its connection back to the
        // pool every 250 ms even while busy, so a count that takes longer
        // (a loaded machine) may include one such return: the ping, and a
        // connection the pool opens meanwhile (its handshake and its first
        // use of the statement), about 6 round trips. 20 calls at two round
        // trips each would still exceed it. MongoDB may reserve a block of
        // versions (one `$inc`) during a count of writes.
        let allowed = match backend.name() {
            "postgres" | "mysql" => 0..=12,
            "mongodb" if write => 0..=1,
            _ => 0..=0,
        };
        assert!(
            made.checked_sub(CALLS)
                .is_some_and(|extra| allowed.contains(&extra)),
            "{backend:?} {call:?}: {made} round trips for {CALLS} calls; so far: {counts:?}"
        );
    }
    eprintln!(
        "{backend:?}, round trips per {CALLS} calls: {}",
        counts.join(", ")
    );
}
