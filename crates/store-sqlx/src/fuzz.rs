//! Property-based tests of reading rows back, with hostile column values:
//! an entry is built exactly when every column is within the contract,
//! otherwise the row is an `Encoding` error naming the bad column; never
//! a panic.

use proptest::prelude::*;
use store_core::{Entry, ErrorKind, Expiry, Key, MAX_KEY_LEN, MAX_OWNER_LEN, Operation, Version};

use crate::entry::{from_columns, key_column, scan_page};

/// Text with control and multi-byte characters, sometimes long.
fn text() -> impl Strategy<Value = String> {
    let char = prop_oneof![
        6 => proptest::char::range(' ', '~'),
        2 => any::<char>(),
        1 => proptest::char::range('\u{0}', '\u{1f}'),
        1 => proptest::char::range('\u{7f}', '\u{9f}'),
    ];
    prop_oneof![
        prop::collection::vec(char, 0..20).prop_map(String::from_iter),
        (MAX_OWNER_LEN - 2..=MAX_KEY_LEN + 2).prop_map(|n| "x".repeat(n)),
    ]
}

fn millis() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -2i64..2,
        Expiry::MAX_UNIX_MILLIS - 2..Expiry::MAX_UNIX_MILLIS + 2,
        0..=Expiry::MAX_UNIX_MILLIS,
        Just(i64::MIN),
        Just(i64::MAX),
    ]
}

fn printable_within(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// `from_columns` accepts a row exactly when its expiry is absent or in
    /// range and its owner absent or a valid owner; the entry then holds
    /// the columns exactly (any `i64` version round-trips), else the error
    /// is `Encoding` naming the first bad column.
    #[test]
    fn rows_decode_exactly_or_name_the_bad_column(
        value in prop::collection::vec(any::<u8>(), 0..32),
        version in any::<i64>(),
        expires in prop::option::of(millis()),
        owner in prop::option::of(text()),
        postgres in any::<bool>(),
    ) {
        let backend = if postgres { "postgres" } else { "sqlite" };
        let expiry_ok = expires.is_none_or(|ms| (0..=Expiry::MAX_UNIX_MILLIS).contains(&ms));
        let owner_ok = owner.as_deref().is_none_or(|o| printable_within(o, MAX_OWNER_LEN));
        let got = from_columns(backend, Operation::Scan, value.clone(), version, expires, owner.clone());
        match got {
            Ok(entry) => {
                prop_assert!(expiry_ok && owner_ok);
                prop_assert_eq!(&entry.value[..], &value[..]);
                prop_assert_eq!(entry.version.as_i64(), version);
                prop_assert_eq!(entry.version, Version::from_i64(version));
                prop_assert_eq!(entry.expires_at.map(Expiry::as_unix_millis), expires);
                prop_assert_eq!(entry.owner.as_ref().map(|o| o.as_str().to_owned()), owner);
            }
            Err(e) => {
                prop_assert!(!(expiry_ok && owner_ok));
                prop_assert_eq!(e.kind(), ErrorKind::Encoding);
                prop_assert_eq!(e.backend(), Some(backend));
                prop_assert_eq!(e.operation(), Some(Operation::Scan));
                let column = if expiry_ok { "owner" } else { "expires_at" };
                prop_assert!(e.message().contains(column), "{}", e);
                // Never echoes the stored owner.
                if let Some(o) = owner.as_deref().filter(|o| o.len() > 12) {
                    prop_assert!(!e.to_string().contains(o));
                }
            }
        }
    }

    /// `key_column`: exactly the valid keys, else `Encoding` naming `key`.
    #[test]
    fn key_columns_decode_exactly(raw in text()) {
        match key_column("sqlite", Operation::ListByOwner, raw.clone()) {
            Ok(key) => {
                prop_assert!(printable_within(&raw, MAX_KEY_LEN));
                prop_assert_eq!(key.as_str(), raw.as_str());
            }
            Err(e) => {
                prop_assert!(!printable_within(&raw, MAX_KEY_LEN));
                prop_assert_eq!(e.kind(), ErrorKind::Encoding);
                prop_assert!(e.message().contains("key"));
            }
        }
    }

    /// `scan_page` over hostile rows: every row is exactly one of returned
    /// (valid key, decoded, live), counted as expired, or named unreadable
    /// (by its raw key text); a full page goes on after its last raw key.
    #[test]
    fn scan_pages_account_for_every_row(
        rows in prop::collection::vec(
            (text(), prop::option::of(millis()), prop::option::of(text())),
            0..12,
        ),
        now in 0..=Expiry::MAX_UNIX_MILLIS,
        limit in 1usize..14,
    ) {
        let now = Expiry::from_unix_millis(now).unwrap();
        let decoded: Vec<(String, store_core::Result<Entry>)> = rows
            .iter()
            .map(|(k, exp, owner)| {
                let entry = from_columns("sqlite", Operation::Scan, b"v".to_vec(), 1, *exp, owner.clone());
                (k.clone(), entry)
            })
            .collect();
        let mut want_live = Vec::new();
        let mut want_expired = 0u64;
        let mut want_unreadable = Vec::new();
        for (raw, entry) in &decoded {
            match (Key::new(raw), entry) {
                (Ok(_), Ok(e)) if e.expires_at.is_some_and(|x| x <= now) => want_expired += 1,
                (Ok(key), Ok(_)) => want_live.push(key),
                _ => want_unreadable.push(raw.clone()),
            }
        }
        let last = decoded.last().map(|(k, _)| k.clone());
        let full = decoded.len() >= limit;
        let page = scan_page(decoded, now, limit);
        let live: Vec<Key> = page.entries.iter().map(|(k, _)| k.clone()).collect();
        prop_assert_eq!(live, want_live);
        prop_assert_eq!(page.expired, want_expired);
        prop_assert_eq!(page.unreadable, want_unreadable);
        match (&page.next, full) {
            (Some(next), true) => prop_assert_eq!(next.key().ok(), last.as_deref().filter(|k| !k.is_empty())),
            (None, false) => {}
            (next, full) => prop_assert!(false, "next {next:?} for a full page: {full}"),
        }
    }
}
