//! Property-based tests of `EncryptedStore` with hostile stored bytes:
//! whatever the backend holds under a key, reading it through the layer is
//! the plaintext that was written through the layer or an `Encoding`
//! error for that key alone, never a panic and never other bytes.

use bytes::Bytes;
use proptest::prelude::*;
use store_core::{ErrorKind, Key, Owner, PutMode, PutOptions, Store};
use store_layers::{ENVELOPE_OVERHEAD, EncryptedStore, Keyring};
use store_memory::MemoryStore;

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn store() -> EncryptedStore<MemoryStore> {
    let keyring = Keyring::new(1, [0x11; 32]).with_key(2, [0x22; 32]).unwrap();
    EncryptedStore::new(MemoryStore::new(), keyring)
}

/// Bytes a backend may hold: anything, or something that passes the
/// envelope's outer checks (magic, a key id in the keyring, enough length)
/// so that the AEAD itself has to refuse it.
fn planted() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..120),
        (
            prop::sample::select(vec![1u32, 2, 3, u32::MAX]),
            prop::collection::vec(any::<u8>(), 0..120),
        )
            .prop_map(|(id, rest)| [&b"se1"[..], &id.to_be_bytes(), &rest].concat()),
        prop::collection::vec(any::<u8>(), ENVELOPE_OVERHEAD - 2..ENVELOPE_OVERHEAD + 2)
            .prop_map(|rest| [&b"se1\0\0\0\x02"[..], &rest].concat()),
    ]
}

/// Ways to damage a real envelope.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(prop::sample::Index),
    FlipBit(prop::sample::Index, u8),
    Append(Vec<u8>),
    MoveToOtherKey,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Damage::Truncate),
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Damage::FlipBit(i, b)),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(Damage::Append),
        Just(Damage::MoveToOtherKey),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary bytes planted in the backend under one key: `get` and
    /// `list_by_owner` are `Encoding` errors, `scan` names the key as
    /// unreadable, and another key written through the layer still
    /// decrypts everywhere; the planted bytes are left as they were.
    #[test]
    fn planted_bytes_are_encoding_errors_for_that_key_only(
        garbage in planted(),
        plaintext in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        block_on(async {
            let store = store();
            let alice = Owner::new("alice").unwrap();
            let (victim, other) = (key("victim"), key("other"));
            store
                .put(&other, Bytes::from(plaintext.clone()), PutOptions::new(PutMode::Create).owner(alice.clone()))
                .await
                .unwrap();
            store
                .inner()
                .put(&victim, Bytes::from(garbage.clone()), PutOptions::new(PutMode::Create).owner(alice.clone()))
                .await
                .unwrap();

            let err = store.get(&victim).await.expect_err("garbage decrypted");
            prop_assert_eq!(err.kind(), ErrorKind::Encoding);
            prop_assert_eq!(err.backend(), Some("memory"));

            let err = store.list_by_owner(&alice).await.expect_err("garbage listed");
            prop_assert_eq!(err.kind(), ErrorKind::Encoding);

            let page = store.scan(None, 10).await.unwrap();
            prop_assert_eq!(page.unreadable, vec!["victim".to_owned()]);
            prop_assert_eq!(page.entries.len(), 1);
            prop_assert_eq!(&page.entries[0].0, &other);
            prop_assert_eq!(&page.entries[0].1.value[..], &plaintext[..]);

            let read = store.get(&other).await.unwrap().unwrap();
            prop_assert_eq!(&read.value[..], &plaintext[..]);
            let raw = store.inner().get(&victim).await.unwrap().unwrap();
            prop_assert_eq!(&raw.value[..], &garbage[..]);
            Ok(())
        })?;
    }

    /// A real envelope, truncated, with one bit flipped, with bytes
    /// appended, or moved under another key, is refused as `Encoding`;
    /// the undamaged envelope put back decrypts to the plaintext.
    #[test]
    fn damaged_envelopes_are_refused(
        plaintext in prop::collection::vec(any::<u8>(), 0..64),
        name in "[a-z]{1,12}",
        damage in damage(),
    ) {
        block_on(async {
            let store = store();
            let k = key(&name);
            store.put(&k, Bytes::from(plaintext.clone()), PutMode::Create.into()).await.unwrap();
            let raw = store.inner().get(&k).await.unwrap().unwrap().value;
            prop_assert_eq!(raw.len(), plaintext.len() + ENVELOPE_OVERHEAD);

            let mut bad = raw.to_vec();
            let mut target = k.clone();
            match &damage {
                Damage::Truncate(i) => bad.truncate(i.index(raw.len())),
                Damage::FlipBit(i, bit) => bad[i.index(raw.len())] ^= 1 << bit,
                Damage::Append(extra) => bad.extend_from_slice(extra),
                Damage::MoveToOtherKey => target = key(&format!("{name}-moved")),
            }
            store.inner().put(&target, Bytes::from(bad), PutMode::Upsert.into()).await.unwrap();
            let err = store.get(&target).await.expect_err("damaged envelope decrypted");
            prop_assert_eq!(err.kind(), ErrorKind::Encoding, "{:?}", damage);

            store.inner().put(&k, raw, PutMode::Upsert.into()).await.unwrap();
            let read = store.get(&k).await.unwrap().unwrap();
            prop_assert_eq!(&read.value[..], &plaintext[..]);
            Ok(())
        })?;
    }
}
