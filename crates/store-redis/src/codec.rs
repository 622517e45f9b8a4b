//! Property-based tests of the stored-string format (the 40-byte header of
//! `scripts.rs`) and of scan cursor tokens, with hostile bytes: decoding
//! never panics, accepts exactly the documented format, refuses the rest
//! as `Encoding`, and every accepted string is the canonical encoding of
//! the entry it decodes to.

use proptest::prelude::*;

use super::*;
use crate::cursor;

/// The fields of a stored string: version, expiry (ms), owner, value.
type Fields = (u64, Option<i64>, Option<String>, Vec<u8>);

/// What the documented format accepts, written from `scripts.rs` without
/// the decoder's helpers: `s1`, 20 digits of a `u64` version, 15 digits
/// of an expiry in range or 15 `-`, 3 digits of owner length, the owner
/// (a valid `Owner`), the value. `None` for anything else.
fn reference(blob: &[u8]) -> Option<Fields> {
    let all_digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    let number = |b: &[u8]| b.iter().fold(0u128, |n, d| n * 10 + u128::from(d - b'0'));
    if blob.len() < 40 || &blob[..2] != b"s1" {
        return None;
    }
    let (version, expiry, olen) = (&blob[2..22], &blob[22..37], &blob[37..40]);
    if !all_digits(version) || number(version) > u128::from(u64::MAX) {
        return None;
    }
    let expiry = if expiry == b"---------------" {
        None
    } else if all_digits(expiry) && number(expiry) <= 253_402_300_799_999 {
        Some(i64::try_from(number(expiry)).unwrap())
    } else {
        return None;
    };
    if !all_digits(olen) {
        return None;
    }
    let olen = usize::try_from(number(olen)).unwrap();
    let owner_bytes = blob.get(40..40 + olen)?;
    let owner = if olen == 0 {
        None
    } else {
        let text = std::str::from_utf8(owner_bytes).ok()?;
        let printable = !text.chars().any(|c| c.is_control());
        if olen > store_core::MAX_OWNER_LEN || !printable {
            return None;
        }
        Some(text.to_owned())
    };
    Some((
        u64::try_from(number(version)).unwrap(),
        expiry,
        owner,
        blob[40 + olen..].to_vec(),
    ))
}

/// The string `put` stores for an entry.
fn encode(version: u64, expiry: Option<Expiry>, owner: Option<&str>, value: &[u8]) -> Vec<u8> {
    let mut blob = MAGIC.to_vec();
    blob.extend_from_slice(version_field(Version::from_u64(version)).as_bytes());
    blob.extend_from_slice(&header_tail(expiry, owner.unwrap_or("")));
    blob.extend_from_slice(value);
    blob
}

/// Decodes `blob` and checks the result against [`reference`]: `Ok` with
/// the same fields, re-encoding to the same bytes, or `Encoding` in the
/// context of `redis` and the operation.
fn check(blob: &[u8]) -> std::result::Result<(), TestCaseError> {
    let got = decode_entry(Bytes::copy_from_slice(blob), Operation::Get);
    match (got, reference(blob)) {
        (Ok(entry), Some((version, expiry, owner, value))) => {
            prop_assert_eq!(entry.version.as_u64(), version);
            prop_assert_eq!(entry.expires_at.map(Expiry::as_unix_millis), expiry);
            prop_assert_eq!(entry.owner.as_ref().map(|o| o.as_str().to_owned()), owner);
            prop_assert_eq!(&entry.value[..], &value[..]);
            let again = encode(
                entry.version.as_u64(),
                entry.expires_at,
                entry.owner.as_ref().map(Owner::as_str),
                &entry.value,
            );
            prop_assert_eq!(again, blob.to_vec(), "not the canonical encoding");
        }
        (Err(e), None) => {
            prop_assert_eq!(e.kind(), ErrorKind::Encoding);
            prop_assert_eq!(e.backend(), Some(BACKEND));
            prop_assert_eq!(e.operation(), Some(Operation::Get));
        }
        (Ok(entry), None) => prop_assert!(false, "accepted a malformed string: {entry:?}"),
        (Err(e), Some(_)) => prop_assert!(false, "refused a well-formed string: {e}"),
    }
    Ok(())
}

fn expiry() -> impl Strategy<Value = Option<Expiry>> {
    prop::option::of(
        prop_oneof![
            0..=Expiry::MAX_UNIX_MILLIS,
            Just(0),
            Just(Expiry::MAX_UNIX_MILLIS)
        ]
        .prop_map(|ms| Expiry::from_unix_millis(ms).unwrap()),
    )
}

/// Valid owners, from one byte to `MAX_OWNER_LEN`, with multi-byte
/// characters.
fn owner() -> impl Strategy<Value = Option<String>> {
    let char = prop_oneof![
        4 => proptest::char::range('!', '~'),
        1 => prop::sample::select(vec!['é', '€', '🦀', ' ', '{', '}', '\u{fffd}']),
    ];
    let long = (250usize..=256).prop_map(|n| "o".repeat(n));
    prop::option::of(prop_oneof![
        prop::collection::vec(char, 1..40).prop_map(String::from_iter),
        long,
    ])
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

/// A stored string, well-formed or not: a header built from fields and
/// then damaged in one of several ways.
fn damaged() -> impl Strategy<Value = Vec<u8>> {
    let junk = |len: usize| {
        prop::collection::vec(prop::sample::select(b"0123456789-+ a\xff".to_vec()), len)
    };
    let digits = |n: u128, len: usize| format!("{n:0len$}").into_bytes();
    // Each field valid, at a boundary or malformed.
    let version_field = prop_oneof![
        3 => any::<u64>().prop_map(move |v| digits(u128::from(v), 20)),
        1 => prop::sample::select(vec![u128::from(u64::MAX), u128::from(u64::MAX) + 1, 99_999_999_999_999_999_999])
            .prop_map(move |v| digits(v, 20)),
        1 => junk(20),
    ];
    let max = Expiry::MAX_UNIX_MILLIS as u128;
    let expiry_field = prop_oneof![
        3 => (0..=max).prop_map(move |e| digits(e, 15)),
        1 => prop::sample::select(vec![0, max, max + 1, 999_999_999_999_999]).prop_map(move |e| digits(e, 15)),
        1 => (max + 1..=999_999_999_999_999).prop_map(move |e| digits(e, 15)),
        1 => Just(b"---------------".to_vec()),
        1 => Just(b"--------------1".to_vec()),
        1 => junk(15),
    ];
    // The owner-length field and the owner: matching or not, within the
    // limit or past it, printable or not, UTF-8 or not.
    let owner_field = prop_oneof![
        2 => (0usize..=40).prop_map(|n| (n, "o".repeat(n).into_bytes())),
        2 => (store_core::MAX_OWNER_LEN - 2..=store_core::MAX_OWNER_LEN + 3)
            .prop_map(|n| (n, "o".repeat(n).into_bytes())),
        1 => (0usize..20, prop::collection::vec(any::<u8>(), 0..20)),
        1 => prop::sample::select(vec!["tab\there", "é", "\u{85}x", "🦀"])
            .prop_map(|o| (o.len(), o.as_bytes().to_vec())),
        1 => (0usize..=999).prop_map(|n| (n, Vec::new())),
    ]
    .prop_map(move |(n, bytes)| [digits(n as u128, 3), bytes].concat());
    let owner_field = prop_oneof![4 => owner_field, 1 => junk(3)];
    let forged = (
        prop_oneof![
            6 => Just(b"s1".to_vec()),
            1 => prop::sample::select(vec![b"s2".to_vec(), b"S1".to_vec(), b"1s".to_vec()]),
        ],
        version_field,
        expiry_field,
        owner_field,
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(magic, v, e, o, rest)| [magic, v, e, o, rest].concat());
    let mutated = (
        any::<u64>(),
        expiry(),
        owner(),
        value(),
        any::<prop::sample::Index>(),
        any::<u8>(),
    )
        .prop_map(|(v, e, o, val, at, byte)| {
            let mut blob = encode(v, e, o.as_deref(), &val);
            let i = at.index(blob.len());
            blob[i] = byte;
            blob
        });
    let truncated = (
        any::<u64>(),
        expiry(),
        owner(),
        value(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(v, e, o, val, at)| {
            let mut blob = encode(v, e, o.as_deref(), &val);
            blob.truncate(at.index(blob.len()));
            blob
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        forged,
        mutated,
        truncated,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Any bytes: no panic; `Ok` exactly for the documented format (and
    /// then canonical), else `Encoding`.
    #[test]
    fn any_stored_string_decodes_exactly_per_the_format(blob in damaged()) {
        check(&blob)?;
    }

    /// A header built from any version, expiry, owner and value decodes
    /// to exactly those, and the value is a slice of the stored string.
    #[test]
    fn well_formed_strings_roundtrip(v in any::<u64>(), e in expiry(), o in owner(), val in value()) {
        let blob = Bytes::from(encode(v, e, o.as_deref(), &val));
        prop_assert_eq!(blob.len(), HEADER_LEN + o.as_ref().map_or(0, String::len) + val.len());
        let entry = decode_entry(blob.clone(), Operation::ListByOwner).unwrap();
        prop_assert_eq!(entry.version, Version::from_u64(v));
        prop_assert_eq!(entry.expires_at, e);
        prop_assert_eq!(entry.owner.as_ref().map(Owner::as_str), o.as_deref());
        prop_assert_eq!(&entry.value[..], &val[..]);
        if !val.is_empty() {
            // Zero-copy: the value points into the stored string.
            let start = blob.as_ptr() as usize + blob.len() - val.len();
            prop_assert_eq!(entry.value.as_ptr() as usize, start);
        }
        check(&blob)?;
    }

    /// Single-server scan cursors: `r:` and a `u64` in decimal digits,
    /// nothing else; tokens made by the store parse back.
    #[test]
    fn single_server_cursor_tokens(token in prop_oneof![
        "\\PC{0,24}",
        "r:[0-9]{0,22}",
        "r:[0-9+ -]{0,6}",
        any::<u64>().prop_map(|n| format!("r:{n}")),
    ], n in any::<u64>()) {
        let parsed = cursor::parse_single(&ScanCursor::new(token.clone()));
        let expected = token
            .strip_prefix("r:")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u128>().ok())
            .and_then(|d| u64::try_from(d).ok());
        prop_assert_eq!(parsed, expected);
        prop_assert_eq!(cursor::parse_single(&cursor::single(n)), Some(n));
    }
}

#[cfg(feature = "cluster")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Cluster cursor tokens: any text is parsed or refused without a
    /// panic; tokens made by the store (hosts with `:`, IPv6, multi-byte
    /// characters) parse back exactly.
    #[test]
    fn cluster_cursor_tokens(
        token in prop_oneof!["\\PC{0,30}", "rc:[^\\x00]{0,10}:[0-9]{0,6}:[0-9]{0,21}"],
        host in "[^\\p{Cc}]{1,20}",
        port in any::<u16>(),
        n in any::<u64>(),
    ) {
        if let Some((node, c)) = cursor::parse_cluster(&ScanCursor::new(token.clone())) {
            prop_assert!(token.starts_with("rc:") && !node.host.is_empty());
            let remade = cursor::cluster(&node, c);
            prop_assert_eq!(cursor::parse_cluster(&remade), Some((node, c)));
        }
        let node = cursor::Node { host, port };
        prop_assert_eq!(cursor::parse_cluster(&cursor::cluster(&node, n)), Some((node, n)));
    }
}
