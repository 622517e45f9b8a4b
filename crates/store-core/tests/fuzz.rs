//! Property-based tests with hostile input: keys, owners, expiries, URL
//! redaction and scan cursors never panic, accept exactly what the
//! documentation allows, reject the rest as `InvalidInput`, and round-trip.

use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use store_core::{
    ErrorKind, Expiry, Key, MAX_KEY_LEN, MAX_OWNER_LEN, Operation, Owner, ScanCursor, redact_url,
};

/// A control character (Unicode category Cc): C0, DEL and C1. Written out
/// here instead of calling `char::is_control`, so the test does not share
/// the implementation's definition.
fn is_cc(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// The documented rule for keys and owners: non-empty, at most `max` bytes
/// of UTF-8, no control character.
fn documented_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(is_cc)
}

/// Any char, with control characters and multi-byte characters common.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        3 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\u{0}', '\u{1f}'),
        1 => proptest::char::range('\u{7f}', '\u{9f}'),
        1 => prop::sample::select(vec!['é', '€', '🦀', '\u{200b}', '\u{feff}', '\u{2028}', '\u{fffd}']),
    ]
}

fn hostile_string(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(hostile_char(), 0..=max_chars).prop_map(String::from_iter)
}

/// Printable strings whose length in bytes is within a few bytes of `max`,
/// made of 1- to 4-byte characters, sometimes with a control character.
fn near_limit(max: usize) -> impl Strategy<Value = String> {
    let tail = prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec!['k', 'é', '€', '🦀', ' ']),
            1 => proptest::char::range('\u{0}', '\u{1f}'),
        ],
        0..8,
    );
    (max - 10..=max, tail).prop_map(|(n, tail)| {
        let mut s = "k".repeat(n);
        s.extend(tail);
        s
    })
}

/// Printable text with one character from either side of the control
/// ranges' bounds put in at any place.
fn one_boundary_char() -> impl Strategy<Value = String> {
    let boundary = prop::sample::select(vec![
        '\u{0}', '\u{1f}', ' ', '~', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{a0}', '\u{ad}',
        '\u{200b}', '\u{2028}', '\u{feff}',
    ]);
    ("[!-~]{0,12}", boundary, any::<prop::sample::Index>()).prop_map(|(base, c, at)| {
        let mut chars: Vec<char> = base.chars().collect();
        chars.insert(at.index(chars.len() + 1), c);
        chars.into_iter().collect()
    })
}

fn key_candidates() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_string(40),
        one_boundary_char(),
        near_limit(MAX_KEY_LEN),
        hostile_string(600)
    ]
}

fn owner_candidates() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_string(40),
        one_boundary_char(),
        near_limit(MAX_OWNER_LEN),
        hostile_string(300)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// `Key::new` accepts exactly the documented strings; an accepted key
    /// round-trips through every conversion and serde; a refused one is
    /// `InvalidInput` from validation, naming the limit when too long.
    #[test]
    fn key_accepts_exactly_the_documented_strings(s in key_candidates()) {
        let expected = documented_ok(&s, MAX_KEY_LEN);
        match Key::new(&s) {
            Ok(key) => {
                prop_assert!(expected, "accepted {s:?}");
                prop_assert_eq!(key.as_str(), s.as_str());
                prop_assert_eq!(key.to_string(), s.clone());
                prop_assert_eq!(Key::from_str(&s).unwrap(), key.clone());
                prop_assert_eq!(Key::try_from(s.clone()).unwrap(), key.clone());
                let json = serde_json::to_string(&key).unwrap();
                prop_assert_eq!(serde_json::from_str::<Key>(&json).unwrap(), key);
            }
            Err(e) => {
                prop_assert!(!expected, "refused {s:?}: {e}");
                prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
                prop_assert_eq!(e.operation(), Some(Operation::Validate));
                if s.len() > MAX_KEY_LEN {
                    prop_assert!(e.message().contains("512"), "{}", e.message());
                }
                // serde refuses the same string.
                let json = serde_json::to_string(&s).unwrap();
                prop_assert!(serde_json::from_str::<Key>(&json).is_err());
            }
        }
    }

    /// `Owner::new`: the same rules with its own limit.
    #[test]
    fn owner_accepts_exactly_the_documented_strings(s in owner_candidates()) {
        let expected = documented_ok(&s, MAX_OWNER_LEN);
        match Owner::new(&s) {
            Ok(owner) => {
                prop_assert!(expected, "accepted {s:?}");
                prop_assert_eq!(owner.as_str(), s.as_str());
                prop_assert_eq!(Owner::from_str(&s).unwrap(), owner.clone());
                let json = serde_json::to_string(&owner).unwrap();
                prop_assert_eq!(serde_json::from_str::<Owner>(&json).unwrap(), owner);
            }
            Err(e) => {
                prop_assert!(!expected, "refused {s:?}: {e}");
                prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
                if s.len() > MAX_OWNER_LEN {
                    prop_assert!(e.message().contains("256"), "{}", e.message());
                }
            }
        }
    }

    /// `Expiry::from_unix_millis` accepts exactly `0 ..= MAX_UNIX_MILLIS`
    /// and round-trips through milliseconds, `SystemTime` and serde.
    #[test]
    fn expiry_accepts_exactly_its_range(ms in prop_oneof![
        any::<i64>(),
        -3i64..3,
        Expiry::MAX_UNIX_MILLIS - 3..Expiry::MAX_UNIX_MILLIS + 3,
        0..=Expiry::MAX_UNIX_MILLIS,
        Just(i64::MIN),
        Just(i64::MAX),
    ]) {
        let in_range = (0..=253_402_300_799_999).contains(&ms);
        match Expiry::from_unix_millis(ms) {
            Ok(e) => {
                prop_assert!(in_range, "accepted {ms}");
                prop_assert_eq!(e.as_unix_millis(), ms);
                let st = e.to_system_time();
                prop_assert_eq!(st, UNIX_EPOCH + Duration::from_millis(ms as u64));
                prop_assert_eq!(Expiry::from_system_time(st).unwrap(), e);
                let json = serde_json::to_string(&e).unwrap();
                prop_assert_eq!(json.clone(), ms.to_string());
                prop_assert_eq!(serde_json::from_str::<Expiry>(&json).unwrap(), e);
                // Display is RFC 3339 with milliseconds, between the bounds.
                let shown = e.to_string();
                prop_assert_eq!(shown.len(), 24, "{}", shown);
                prop_assert!(shown.as_str() >= "1970-01-01T00:00:00.000Z");
                prop_assert!(shown.as_str() <= "9999-12-31T23:59:59.999Z");
            }
            Err(err) => {
                prop_assert!(!in_range, "refused {ms}");
                prop_assert_eq!(err.kind(), ErrorKind::InvalidInput);
                prop_assert!(err.message().contains("9999-12-31T23:59:59.999Z"));
                prop_assert!(serde_json::from_str::<Expiry>(&ms.to_string()).is_err());
            }
        }
    }

    /// `checked_add` and `checked_sub` never panic, succeed exactly when
    /// the result (whole milliseconds) stays in range, and compute it.
    #[test]
    fn checked_add_and_sub_are_exact(
        start in prop_oneof![0..=Expiry::MAX_UNIX_MILLIS, Just(0), Just(Expiry::MAX_UNIX_MILLIS)],
        secs in prop_oneof![any::<u64>(), 0u64..1_000, Just(u64::MAX)],
        nanos in prop_oneof![0u32..1_000_000_000, Just(999_999_999u32), Just(0u32)],
    ) {
        let e = Expiry::from_unix_millis(start).unwrap();
        let d = Duration::new(secs, nanos);
        let add_ms = d.as_millis() as i128;
        let max = i128::from(Expiry::MAX_UNIX_MILLIS);

        let sum = i128::from(start) + add_ms;
        match e.checked_add(d) {
            Ok(r) => {
                prop_assert!(sum <= max);
                prop_assert_eq!(i128::from(r.as_unix_millis()), sum);
            }
            Err(err) => {
                prop_assert!(sum > max, "refused {start} + {d:?}");
                prop_assert_eq!(err.kind(), ErrorKind::InvalidInput);
            }
        }

        let diff = i128::from(start) - add_ms;
        match e.checked_sub(d) {
            Ok(r) => {
                prop_assert!(diff >= 0);
                prop_assert_eq!(i128::from(r.as_unix_millis()), diff);
            }
            Err(err) => {
                prop_assert!(diff < 0, "refused {start} - {d:?}");
                prop_assert_eq!(err.kind(), ErrorKind::InvalidInput);
            }
        }
    }

    /// `redact_url` never panics on any text, and text without `://` is
    /// `(not a URL)`.
    #[test]
    fn redact_url_never_panics(s in prop_oneof![
        hostile_string(80),
        prop::collection::vec(
            prop::sample::select(vec![
                ":", "/", "//", "://", "@", "?", "#", "&", "=", ":@", "pass", "password", "token",
                "é", "🦀", "\u{0}", "a", "h", "***",
            ]),
            0..24,
        ).prop_map(|parts| parts.concat()),
    ]) {
        let out = redact_url(&s);
        if !s.contains("://") {
            prop_assert_eq!(out, "(not a URL)");
        }
    }

    /// For `scheme://user:PASSWORD@host[:port][/path]` (no `@` after the
    /// host) the output is the URL with exactly the password replaced by
    /// `***`, whatever the password holds (`@`, `:`, spaces, control or
    /// multi-byte characters).
    #[test]
    fn redact_url_hides_the_user_info_password(
        scheme in "[a-z][a-z0-9+.-]{0,10}",
        user in hostile_without(&[':', '/', '?', '#'], 12),
        password in hostile_without(&['/', '?', '#'], 24).prop_filter("non-empty", |p| !p.is_empty()),
        host in hostile_without(&['@', '/', '?', '#'], 16),
        path in prop::option::of(hostile_without(&['?', '#', '@'], 16)),
    ) {
        let path = path.map(|p| format!("/{p}")).unwrap_or_default();
        let url = format!("{scheme}://{user}:{password}@{host}{path}");
        let out = redact_url(&url);
        let expected = format!("{scheme}://{user}:***@{host}{path}");
        prop_assert_eq!(&out, &expected);
        if !expected.contains(&password) {
            prop_assert!(!out.contains(&password));
        }
    }

    /// Query parameters: the values of exactly the documented secret names
    /// are masked, the others and the fragment are kept, and the user-info
    /// password is masked too.
    #[test]
    fn redact_url_hides_secret_query_parameters(
        password in hostile_without(&['/', '?', '#'], 12).prop_filter("non-empty", |p| !p.is_empty()),
        params in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "pass", "PASS", "passwd", "password", "db_password", "client_secret",
                    "access_token", "Token", "authMechanismProperties", "db", "tls", "x", "passage",
                ]),
                hostile_without(&['&', '#', '@'], 10),
            ),
            0..5,
        ),
        fragment in prop::option::of(hostile_without(&['@'], 8)),
    ) {
        let query: Vec<String> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let masked: Vec<String> = params
            .iter()
            .map(|(n, v)| {
                let lower = n.to_ascii_lowercase();
                let secret = matches!(lower.as_str(), "pass" | "passwd" | "authmechanismproperties")
                    || ["password", "secret", "token"].iter().any(|p| lower.contains(p));
                if secret { format!("{n}=***") } else { format!("{n}={v}") }
            })
            .collect();
        let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
        let url = format!("redis://app:{password}@h:1/0?{}{fragment}", query.join("&"));
        let expected = format!("redis://app:***@h:1/0?{}{fragment}", masked.join("&"));
        prop_assert_eq!(redact_url(&url), expected);
    }

    /// A password holding unescaped `/`, `?`, `#`, `@` or `:` (which end the
    /// authority early or look like the end of the user info), followed by
    /// any path, query and fragment: no piece of it is left in the output,
    /// which still starts with `scheme://user:***@`.
    #[test]
    fn redact_url_hides_passwords_that_break_the_url(
        scheme in "[a-z][a-z0-9+.-]{0,10}",
        user in "[A-Za-z0-9._~-]{0,8}",
        segments in prop::collection::vec("[A-Za-z][A-Za-z0-9]{5,7}", 1..4),
        separators in prop::collection::vec(
            prop::sample::select(vec!["/", "?", "#", "@", ":", "//", "/?", "@/", "%2F", " "]),
            3,
        ),
        host in "[a-z0-9.-]{1,12}(:[0-9]{1,5})?",
        tail in prop::option::of(hostile_string(16)),
    ) {
        let mut password = segments[0].clone();
        for (i, segment) in segments.iter().enumerate().skip(1) {
            password.push_str(separators[i]);
            password.push_str(segment);
        }
        let tail = tail.map(|t| format!("/{t}")).unwrap_or_default();
        let url = format!("{scheme}://{user}:{password}@{host}{tail}");
        let out = redact_url(&url);
        let prefix = format!("{scheme}://{user}:***@");
        prop_assert!(out.starts_with(&prefix), "{out}");
        prop_assert!(!out.contains(&password), "{out}");
        for segment in &segments {
            prop_assert!(!out.contains(segment.as_str()), "{segment} in {out}");
        }
    }

    /// `ScanCursor::key` never panics: `Ok` exactly for `k:` and a
    /// non-empty rest (which it returns), else `InvalidInput` for `Scan`;
    /// `after_key` round-trips.
    #[test]
    fn scan_cursor_key_is_exact(s in prop_oneof![
        hostile_string(20),
        hostile_string(20).prop_map(|s| format!("k:{s}")),
        Just("k:".to_owned()),
        Just("k".to_owned()),
    ]) {
        let cursor = ScanCursor::new(s.clone());
        prop_assert_eq!(cursor.as_str(), s.as_str());
        match cursor.key() {
            Ok(k) => {
                prop_assert!(s.starts_with("k:") && s.len() > 2);
                prop_assert_eq!(k, &s[2..]);
            }
            Err(e) => {
                prop_assert!(!(s.starts_with("k:") && s.len() > 2));
                prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
                prop_assert_eq!(e.operation(), Some(Operation::Scan));
            }
        }
        if !s.is_empty() {
            let made = ScanCursor::after_key(&s);
            prop_assert_eq!(made.key().unwrap(), s.as_str());
            let resumed = ScanCursor::new(made.to_string());
            prop_assert_eq!(resumed.key().unwrap(), s.as_str());
        }
    }
}

/// Hostile strings without any of `excluded`.
fn hostile_without(excluded: &'static [char], max_chars: usize) -> impl Strategy<Value = String> {
    hostile_string(max_chars)
        .prop_map(move |s| s.chars().filter(|c| !excluded.contains(c)).collect())
}
