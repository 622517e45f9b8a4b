//! Property-based tests of session ids and stored sessions with hostile
//! input: `SessionId::parse` accepts exactly what `generate` can produce
//! (43 characters of unpadded URL-safe base64 of 32 bytes), refuses the
//! rest as `InvalidInput` without echoing it, and a stored value that is
//! not a session record loads as `Encoding`, never a panic.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use store_core::{Clock, ErrorKind, Expiry, Operation, PutMode, PutOptions, Store, SystemClock};
use store_memory::MemoryStore;
use store_session::{SESSION_ID_LEN, SessionConfig, SessionId, Sessions};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The documented format, written out: 43 characters of the URL-safe
/// alphabet, the last one carrying only the final 4 bits of the 32 bytes
/// (its two low bits zero), as `generate` produces.
fn generated_format(text: &str) -> bool {
    let bytes = text.as_bytes();
    let index = |b: u8| ALPHABET.iter().position(|&a| a == b);
    bytes.len() == 43
        && bytes.iter().all(|&b| index(b).is_some())
        && index(bytes[42]).is_some_and(|i| i % 4 == 0)
}

fn id_like() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(ALPHABET.to_vec()).prop_map(char::from);
    let near = prop_oneof![
        8 => alphabet.clone(),
        1 => prop::sample::select(vec!['+', '/', '=', '.', ' ', '\0', 'é', '🦀']),
    ];
    prop_oneof![
        // Hostile text of any length.
        prop::collection::vec(any::<char>(), 0..50).prop_map(String::from_iter),
        // 43 characters of the alphabet: valid when the last one is.
        prop::collection::vec(alphabet.clone(), 43).prop_map(String::from_iter),
        // Close to the format: a wrong character or a wrong length.
        prop::collection::vec(near, 41..=45).prop_map(String::from_iter),
        // Padded, standard alphabet, whitespace around a valid id.
        prop::collection::vec(alphabet, 42).prop_map(|s| format!("{}=", String::from_iter(s))),
        "[A-Za-z0-9+/]{43}",
        Just(format!(" {}", "A".repeat(42))),
    ]
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// `parse` accepts exactly the generated format and keeps the text;
    /// anything else is `InvalidInput` whose message does not echo it.
    #[test]
    fn parse_accepts_exactly_the_generated_format(text in id_like()) {
        match SessionId::parse(&text) {
            Ok(id) => {
                prop_assert!(generated_format(&text), "accepted {text:?}");
                prop_assert_eq!(id.expose(), text.as_str());
                prop_assert_eq!(SessionId::parse(id.expose()).unwrap(), id.clone());
                let key = id.key();
                prop_assert!(key.as_str().starts_with("session:"));
                prop_assert_eq!(key.as_str().len(), "session:".len() + 43);
                prop_assert!(!key.as_str().contains(&text));
                prop_assert_eq!(format!("{id:?} {id}"), "SessionId(***) ***");
            }
            Err(e) => {
                prop_assert!(!generated_format(&text), "refused {text:?}: {e}");
                prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
                if text.len() >= 8 {
                    let shown = format!("{e} {e:?}");
                    prop_assert!(!shown.contains(&text), "{}", shown);
                }
            }
        }
    }

    /// A generated id round-trips; changing any one of its characters
    /// gives an id that is accepted exactly when still in the format, and
    /// then is another session (another key).
    #[test]
    fn generated_ids_roundtrip_and_one_character_changes_are_checked(
        at in 0usize..SESSION_ID_LEN,
        replacement in prop_oneof![
            prop::sample::select(ALPHABET.to_vec()).prop_map(char::from),
            any::<char>(),
        ],
    ) {
        let id = SessionId::generate().unwrap();
        prop_assert!(generated_format(id.expose()));
        let parsed = SessionId::parse(id.expose()).unwrap();
        prop_assert_eq!(&parsed, &id);
        prop_assert_eq!(parsed.key(), id.key());

        let mut chars: Vec<char> = id.expose().chars().collect();
        chars[at] = replacement;
        let changed: String = chars.into_iter().collect();
        match SessionId::parse(&changed) {
            Ok(other) => {
                prop_assert!(generated_format(&changed));
                if changed != id.expose() {
                    prop_assert_ne!(other.key(), id.key());
                }
            }
            Err(e) => {
                prop_assert!(!generated_format(&changed));
                prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
            }
        }
    }
}

/// A JSON value for a record field: an integer in or out of the expiry
/// range, or a value of another type.
fn millis_json(now: i64) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (now - 86_400_000..now + 86_400_000).prop_map(Value::from),
        1 => prop_oneof![
            Just(-1i64),
            Just(Expiry::MAX_UNIX_MILLIS),
            Just(Expiry::MAX_UNIX_MILLIS + 1),
            Just(i64::MIN),
            Just(i64::MAX),
        ].prop_map(Value::from),
        1 => Just(json!(u64::MAX)),
        1 => prop_oneof![
            Just(Value::Null),
            Just(json!(1.5)),
            Just(json!("1700000000000")),
            Just(json!([1])),
            Just(json!(true)),
        ],
    ]
}

/// A stored value: arbitrary bytes, or a JSON record whose fields may be
/// missing or of the wrong type.
fn stored(now: i64) -> impl Strategy<Value = (Vec<u8>, Option<(i64, i64)>)> {
    let data = prop_oneof![
        3 => prop::collection::btree_map("[a-z]{1,4}", prop_oneof![
            any::<i64>().prop_map(Value::from),
            "\\PC{0,6}".prop_map(Value::from),
            Just(Value::Null),
        ], 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => Just(json!([])),
        1 => Just(json!("data")),
    ];
    let record = (
        prop::option::of(millis_json(now)),
        prop::option::of(millis_json(now)),
        prop::option::of(data),
    )
        .prop_map(|(created, deadline, data)| {
            let mut record = serde_json::Map::new();
            for (name, value) in [
                ("created", &created),
                ("deadline", &deadline),
                ("data", &data),
            ] {
                if let Some(v) = value {
                    record.insert(name.to_owned(), v.clone());
                }
            }
            let in_range = |v: &Option<Value>| {
                v.as_ref()
                    .and_then(Value::as_i64)
                    .filter(|ms| (0..=Expiry::MAX_UNIX_MILLIS).contains(ms))
            };
            let valid = match (in_range(&created), in_range(&deadline), &data) {
                (Some(c), Some(d), Some(Value::Object(_))) => Some((c, d)),
                _ => None,
            };
            (serde_json::to_vec(&Value::Object(record)).unwrap(), valid)
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| (b, None)),
        record,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever is stored under a session's key: `load` gives the session
    /// when it is a record of a session that is not past its deadline,
    /// `None` when the record's deadline passed, and `Encoding` (operation
    /// `Decode`) for anything else; never a panic.
    #[test]
    fn hostile_stored_sessions_load_as_encoding_errors(
        (bytes, valid) in stored(SystemClock.now().as_unix_millis()),
    ) {
        block_on(async {
            let memory = MemoryStore::new();
            let sessions = Sessions::new(Arc::new(memory.clone()), SessionConfig::default());
            let id = SessionId::generate().unwrap();
            let expires = SystemClock.now().checked_add(Duration::from_secs(3_600)).unwrap();
            memory
                .put(&id.key(), bytes.clone().into(), PutOptions::new(PutMode::Create).expires_at(expires))
                .await
                .unwrap();
            let before = SystemClock.now().as_unix_millis();
            let loaded = sessions.load(&id).await;
            let after = SystemClock.now().as_unix_millis();
            match (loaded, valid) {
                (Ok(Some(session)), Some((created, deadline))) => {
                    prop_assert!(deadline > before);
                    prop_assert_eq!(session.created().as_unix_millis(), created);
                    prop_assert_eq!(session.deadline().as_unix_millis(), deadline);
                    prop_assert_eq!(session.id(), &id);
                }
                (Ok(None), Some((_, deadline))) => prop_assert!(deadline <= after),
                (Err(e), None) => {
                    prop_assert_eq!(e.kind(), ErrorKind::Encoding);
                    prop_assert_eq!(e.operation(), Some(Operation::Decode));
                    let shown = format!("{e:?}");
                    prop_assert!(!shown.contains(id.expose()));
                }
                (got, valid) => prop_assert!(false, "{got:?} for {valid:?}"),
            }
            Ok(())
        })?;
    }
}
