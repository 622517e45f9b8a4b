//! Bad input and the values and keys that must round-trip.

use super::*;

/// Empty keys and owners are rejected with a message.
pub async fn empty_key_is_rejected(_fx: Fixture) {
    let e = expect_kind(Key::new(""), ErrorKind::InvalidInput, "empty key");
    assert!(e.message().contains("empty"), "{e}");
    expect_kind(Owner::new(""), ErrorKind::InvalidInput, "empty owner");
}

/// A key of `MAX_KEY_LEN` bytes (multi-byte characters included) works; one
/// byte more is rejected with a message naming the limit.
pub async fn max_length_key_works_and_longer_is_rejected(fx: Fixture) {
    let s = &**fx.store();
    let max = s.capabilities().max_key_len;
    assert_eq!(
        max, MAX_KEY_LEN,
        "every backend must accept keys of MAX_KEY_LEN bytes"
    );
    let long = format!("{}{}", "é".repeat((max - 2) / 2), "xx");
    assert_eq!(long.len(), max);
    let k = key(&long);
    ok(
        put(s, &k, b"v", PutMode::Create).await,
        "create with max-length key",
    );
    assert_eq!(value_of(s, &k).await.as_deref(), Some(&b"v"[..]));
    assert!(ok(s.delete(&k, None).await, "delete max-length key"));
    let e = expect_kind(
        Key::new(format!("{long}x")),
        ErrorKind::InvalidInput,
        "key over the limit",
    );
    assert!(
        e.message().contains(&max.to_string()),
        "message must name the limit: {e}"
    );
}

/// A value over `max_value_len` is rejected with a message naming the limit,
/// and nothing is written or overwritten.
pub async fn oversize_value_is_rejected(fx: Fixture) {
    let s = &**fx.store();
    let max = s.capabilities().max_value_len;
    assert!(
        max >= ONE_MIB,
        "max_value_len must be at least 1 MiB, is {max}"
    );
    let k = key("k");
    ok(put(s, &k, b"keep", PutMode::Create).await, "create");
    let big = Bytes::from(vec![7u8; max + 1]);
    for mode in [PutMode::Upsert, PutMode::Update] {
        let e = expect_kind(
            s.put(&k, big.clone(), mode.into()).await,
            ErrorKind::InvalidInput,
            "oversize value",
        );
        assert!(
            e.message().contains(&max.to_string()),
            "message must name the limit: {e}"
        );
    }
    expect_kind(
        s.put(&key("new"), big, PutMode::Create.into()).await,
        ErrorKind::InvalidInput,
        "oversize new value",
    );
    assert_eq!(value_of(s, &k).await.as_deref(), Some(&b"keep"[..]));
    assert!(get(s, &key("new")).await.is_none());
}

/// A value of exactly `max_value_len` bytes (when at most 16 MiB) is accepted.
pub async fn max_size_value_is_accepted(fx: Fixture) {
    let s = &**fx.store();
    let max = s.capabilities().max_value_len.min(16 * ONE_MIB);
    let k = key("k");
    let value = Bytes::from(vec![0xA5u8; max]);
    ok(
        s.put(&k, value, PutMode::Create.into()).await,
        "value at the limit",
    );
    assert_eq!(get(s, &k).await.expect("live").value.len(), max);
}

/// A 1 MiB value of varied bytes round-trips exactly.
pub async fn one_mib_value_roundtrips(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let value: Vec<u8> = (0..ONE_MIB).map(|i| (i * 31 % 251) as u8).collect();
    ok(
        s.put(&k, Bytes::from(value.clone()), PutMode::Create.into())
            .await,
        "create 1 MiB",
    );
    assert!(
        get(s, &k).await.expect("live").value[..] == value[..],
        "1 MiB value differs"
    );
}

/// Every byte value, NULs and invalid UTF-8 included, round-trips exactly.
pub async fn arbitrary_bytes_roundtrip(fx: Fixture) {
    let s = &**fx.store();
    let mut value: Vec<u8> = (0..=255u8).collect();
    value.extend_from_slice(&[0, 0, 0xff, 0xfe, 0xc3, 0x28, b'\\', b'"', b'\'', 0x80]);
    let k = key("bin");
    ok(
        s.put(&k, Bytes::from(value.clone()), PutMode::Create.into())
            .await,
        "create",
    );
    assert_eq!(value_of(s, &k).await, Some(value));
}

/// An empty value is a value: it round-trips and is not "missing".
pub async fn empty_value_roundtrips(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(put(s, &k, b"", PutMode::Create).await, "create empty");
    assert_eq!(value_of(s, &k).await, Some(Vec::new()));
    expect_kind(
        put(s, &k, b"", PutMode::Create).await,
        ErrorKind::AlreadyExists,
        "create over empty value",
    );
}

/// Keys with characters that servers treat specially (glob and hash-tag
/// characters, separators, quotes, spaces, non-ASCII) are distinct keys and
/// round-trip.
pub async fn special_character_keys_roundtrip(fx: Fixture) {
    let s = &**fx.store();
    let names = [
        "a:b", "a*", "a?", "[ab]", "{tag}x", "{tag}y", "a/b", "a\\b", "a b", "'q'", "\"dq\"", "%_",
        "🦀", "ключ", "a.b", "-", "$where", "_id",
    ];
    for (i, n) in names.iter().enumerate() {
        ok(
            s.put(&key(n), Bytes::from(i.to_string()), PutMode::Create.into())
                .await,
            n,
        );
    }
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            value_of(s, &key(n)).await,
            Some(i.to_string().into_bytes()),
            "key {n:?}"
        );
    }
    assert!(
        get(s, &key("a")).await.is_none(),
        "a glob must not match other keys"
    );
    assert!(ok(s.delete(&key("a*"), None).await, "delete a*"));
    assert!(
        get(s, &key("a:b")).await.is_some(),
        "deleting 'a*' must delete only that key"
    );
}

/// Keys differing only in case are different keys.
pub async fn keys_are_case_sensitive(fx: Fixture) {
    let s = &**fx.store();
    ok(
        put(s, &key("Key"), b"upper", PutMode::Create).await,
        "create Key",
    );
    ok(
        put(s, &key("key"), b"lower", PutMode::Create).await,
        "create key",
    );
    assert_eq!(
        value_of(s, &key("Key")).await.as_deref(),
        Some(&b"upper"[..])
    );
    assert_eq!(
        value_of(s, &key("key")).await.as_deref(),
        Some(&b"lower"[..])
    );
}

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_input {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            empty_key_is_rejected,
            max_length_key_works_and_longer_is_rejected,
            oversize_value_is_rejected,
            max_size_value_is_accepted,
            one_mib_value_roundtrips,
            arbitrary_bytes_roundtrip,
            empty_value_roundtrips,
            special_character_keys_roundtrip,
            keys_are_case_sensitive,
        }
    };
}
