//! `EncryptedStore` beyond the conformance suite (which the matrix runs
//! through it): no plaintext at rest, rotation, tampering, values moved
//! between keys, and foreign values.

use bytes::Bytes;
use store_core::{ErrorKind, Key, Owner, PutMode, PutOptions, Store};
use store_layers::{EncryptedStore, Keyring};
use store_memory::MemoryStore;

const SECRET: &[u8] = b"refresh_token=rt-0123456789abcdef";

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_backend_never_holds_the_plaintext() {
    let store = EncryptedStore::new(
        MemoryStore::new(),
        Keyring::new(1, Keyring::generate_key().unwrap()),
    );
    let alice = Owner::new("alice").unwrap();
    for i in 0..50 {
        let opts = PutOptions::new(PutMode::Upsert).owner(alice.clone());
        store
            .put(&key(&format!("k{i}")), Bytes::from_static(SECRET), opts)
            .await
            .unwrap();
    }
    for (k, raw) in store.inner().list_by_owner(&alice).await.unwrap() {
        assert!(!contains(&raw.value, SECRET), "{k:?} holds the plaintext");
        assert!(!contains(&raw.value, b"refresh_token"));
    }
    // Same plaintext, different ciphertexts (fresh nonces).
    let a = store.inner().get(&key("k0")).await.unwrap().unwrap().value;
    let b = store.inner().get(&key("k1")).await.unwrap().unwrap().value;
    assert_ne!(a, b);
    let listed = store.list_by_owner(&alice).await.unwrap();
    assert_eq!(listed.len(), 50);
    assert!(listed.iter().all(|(_, e)| &e.value[..] == SECRET));
}

#[tokio::test]
async fn rotation_without_downtime() {
    let backend = MemoryStore::new();
    let (k1, k2) = (
        Keyring::generate_key().unwrap(),
        Keyring::generate_key().unwrap(),
    );
    let old = EncryptedStore::new(backend.clone(), Keyring::new(1, k1));
    old.put(
        &key("s"),
        Bytes::from_static(SECRET),
        PutMode::Create.into(),
    )
    .await
    .unwrap();

    // Key 2 added: old values still read, new writes use key 2.
    let both = EncryptedStore::new(
        backend.clone(),
        Keyring::new(1, k1).with_key(2, k2).unwrap(),
    );
    assert_eq!(
        &both.get(&key("s")).await.unwrap().unwrap().value[..],
        SECRET
    );
    both.put(
        &key("s"),
        Bytes::from_static(SECRET),
        PutMode::Upsert.into(),
    )
    .await
    .unwrap();
    let raw = backend.get(&key("s")).await.unwrap().unwrap().value;
    assert_eq!(
        &raw[3..7],
        &2u32.to_be_bytes(),
        "rewritten with the newest key"
    );

    // Key 1 dropped: the rewritten value reads, one left on key 1 does not.
    old.put(
        &key("stale"),
        Bytes::from_static(SECRET),
        PutMode::Create.into(),
    )
    .await
    .unwrap();
    let new_only = EncryptedStore::new(
        backend,
        Keyring::new(1, k1)
            .with_key(2, k2)
            .unwrap()
            .without_key(1)
            .unwrap(),
    );
    assert_eq!(
        &new_only.get(&key("s")).await.unwrap().unwrap().value[..],
        SECRET
    );
    let err = new_only.get(&key("stale")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encoding);
    assert!(err.message().contains("key id 1"), "{err}");
}

#[tokio::test]
async fn tampered_moved_and_foreign_values_are_encoding_errors() {
    let backend = MemoryStore::new();
    let store = EncryptedStore::new(
        backend.clone(),
        Keyring::new(7, Keyring::generate_key().unwrap()),
    );
    store
        .put(
            &key("a"),
            Bytes::from_static(SECRET),
            PutMode::Create.into(),
        )
        .await
        .unwrap();
    let raw = backend.get(&key("a")).await.unwrap().unwrap().value;

    // Every single flipped bit is caught.
    for i in 0..raw.len() {
        let mut bad = raw.to_vec();
        bad[i] ^= 0x01;
        backend
            .put(&key("t"), Bytes::from(bad), PutMode::Upsert.into())
            .await
            .unwrap();
        let err = store.get(&key("t")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding, "byte {i}");
    }
    // A ciphertext copied under another key does not decrypt there.
    backend
        .put(&key("b"), raw.clone(), PutMode::Create.into())
        .await
        .unwrap();
    assert_eq!(
        store.get(&key("b")).await.unwrap_err().kind(),
        ErrorKind::Encoding
    );
    // Plaintext written around the layer is never returned as a value.
    for foreign in [&b""[..], b"plain text", SECRET, b"se1"] {
        backend
            .put(
                &key("f"),
                Bytes::copy_from_slice(foreign),
                PutMode::Upsert.into(),
            )
            .await
            .unwrap();
        let err = store.get(&key("f")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding);
        assert!(!err.to_string().contains("plain text"), "{err}");
    }
    // The good key still reads.
    assert_eq!(
        &store.get(&key("a")).await.unwrap().unwrap().value[..],
        SECRET
    );
}

#[tokio::test]
async fn keys_never_show_and_limits_account_for_the_envelope() {
    let key_bytes = [0xAB; 32];
    let store = EncryptedStore::new(MemoryStore::new(), Keyring::new(1, key_bytes));
    let shown = format!("{store:?}");
    assert!(
        !shown.contains("171") && !shown.to_lowercase().contains("ab, ab"),
        "{shown}"
    );
    let caps = store.capabilities();
    assert_eq!(
        caps.max_value_len + store_layers::ENVELOPE_OVERHEAD,
        store.inner().capabilities().max_value_len
    );
    let too_big = Bytes::from(vec![0; caps.max_value_len + 1]);
    let err = store
        .put(&key("big"), too_big, PutMode::Upsert.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let fits = Bytes::from(vec![0; caps.max_value_len]);
    store
        .put(&key("max"), fits, PutMode::Upsert.into())
        .await
        .unwrap();
    assert!(Keyring::new(1, key_bytes).with_key(1, key_bytes).is_err());
    assert!(Keyring::new(1, key_bytes).without_key(1).is_err());
}
