//! Conversion between store entries and their Redis representation: the
//! stored string of an entry (a 40-byte ASCII header, the owner, the value;
//! the layout is described in `query.rs`) and the flat replies of the owner
//! scripts.

use bytes::Bytes;
use redis::Value;
use store_core::{Entry, Expiry, Key, Operation, Owner, Result, Version};

use crate::error::{bad_reply, foreign};

/// The error text of a key holding another Redis type than a string.
pub(crate) const FOREIGN_TYPE: &str = "a key under this store's namespace holds a value of \
                                       another Redis type (not written by this store)";
/// The error text of a string without this store's header.
pub(crate) const FOREIGN_STRING: &str = "a value under this store's namespace lacks this \
                                         store's header (not written by this store)";

/// Length of the fixed header of a stored entry: `s1`, version (20
/// digits), expiry (15 digits or `-`), owner length (3 digits).
const HEADER_LEN: usize = 40;
const MAGIC: &[u8] = b"s1";
const NO_EXPIRY: &str = "---------------";

/// The version as its 20-digit header field.
pub(crate) fn version_field(v: Version) -> String {
    format!("{:020}", v.as_u64())
}

/// The expiry as its 15-digit header field.
pub(crate) fn expiry_field(expiry: Option<Expiry>) -> String {
    match expiry {
        Some(e) => format!("{:015}", e.as_unix_millis()),
        None => NO_EXPIRY.to_owned(),
    }
}

/// The header after the version: expiry, owner length, owner.
#[cfg(test)]
pub(crate) fn header_tail(expiry: Option<Expiry>, owner: &str) -> Vec<u8> {
    let mut tail = expiry_field(expiry).into_bytes();
    tail.extend_from_slice(format!("{:03}", owner.len()).as_bytes());
    tail.extend_from_slice(owner.as_bytes());
    tail
}

/// The stored string of an entry: header, owner, value.
pub(crate) fn encode_entry(
    version: Version,
    expiry: Option<Expiry>,
    owner: Option<&Owner>,
    value: &[u8],
) -> Vec<u8> {
    let mut blob = Vec::with_capacity(entry_len(owner, value));
    // Writing into a Vec cannot fail.
    let _ = write_entry(&mut blob, version, expiry, owner, value);
    blob
}

/// The length of an entry's stored string.
pub(crate) fn entry_len(owner: Option<&Owner>, value: &[u8]) -> usize {
    HEADER_LEN + owner.map_or(0, |o| o.as_str().len()) + value.len()
}

/// Writes the stored string of an entry (see [`encode_entry`]) to `out`,
/// such as straight into a command's buffer.
pub(crate) fn write_entry(
    out: &mut impl std::io::Write,
    version: Version,
    expiry: Option<Expiry>,
    owner: Option<&Owner>,
    value: &[u8],
) -> std::io::Result<()> {
    let owner = owner.map(Owner::as_str).unwrap_or("");
    let mut header = [0u8; HEADER_LEN];
    header[..2].copy_from_slice(MAGIC);
    put_digits(&mut header[2..22], version.as_u64());
    match expiry {
        // An expiry is within 0 ..= `Expiry::MAX_UNIX_MILLIS`: 15 digits.
        Some(e) => put_digits(&mut header[22..37], e.as_unix_millis().unsigned_abs()),
        None => header[22..37].copy_from_slice(NO_EXPIRY.as_bytes()),
    }
    // An owner is at most `MAX_OWNER_LEN` (256) bytes: 3 digits.
    put_digits(&mut header[37..40], owner.len() as u64);
    out.write_all(&header)?;
    out.write_all(owner.as_bytes())?;
    out.write_all(value)
}

/// `n` in decimal, right-aligned and zero-padded to fill `field` (the
/// highest digits are dropped if it does not fit, which the callers rule
/// out).
fn put_digits(field: &mut [u8], mut n: u64) {
    for d in field.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn digits<T: std::str::FromStr>(raw: &[u8]) -> Option<T> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// An entry from its stored string; the value is a zero-copy slice of it.
pub(crate) fn decode_entry(blob: Bytes, op: Operation) -> Result<Entry> {
    let not_ours = || foreign(op, FOREIGN_STRING);
    if blob.len() < HEADER_LEN || &blob[..2] != MAGIC {
        return Err(not_ours());
    }
    let version = digits::<u64>(&blob[2..22])
        .map(Version::from_u64)
        .ok_or_else(not_ours)?;
    let expiry = match &blob[22..37] {
        raw if raw == NO_EXPIRY.as_bytes() => None,
        raw => Some(
            digits::<i64>(raw)
                .and_then(|ms| Expiry::from_unix_millis(ms).ok())
                .ok_or_else(not_ours)?,
        ),
    };
    let owner_len = digits::<usize>(&blob[37..40]).ok_or_else(not_ours)?;
    let value_start = HEADER_LEN + owner_len;
    if blob.len() < value_start {
        return Err(not_ours());
    }
    let owner = match owner_len {
        0 => None,
        _ => Some(
            std::str::from_utf8(&blob[HEADER_LEN..value_start])
                .ok()
                .and_then(|s| Owner::new(s).ok())
                .ok_or_else(not_ours)?,
        ),
    };
    Ok(Entry::new(blob.slice(value_start..), version)
        .with_expiry(expiry)
        .with_owner(owner))
}

/// The flat (key, stored string) pairs of `LIST_OWNER`.
pub(crate) fn decode_owned(reply: Value) -> Result<Vec<(Key, Entry)>> {
    let op = Operation::ListByOwner;
    let Value::Array(items) = reply else {
        return Err(bad_reply(op));
    };
    if items.len() % 2 != 0 {
        return Err(bad_reply(op));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(blob)) = (it.next(), it.next()) {
        let (Value::BulkString(k), Value::BulkString(blob)) = (k, blob) else {
            return Err(bad_reply(op));
        };
        let key = std::str::from_utf8(&k)
            .ok()
            .and_then(|s| Key::new(s).ok())
            .ok_or_else(|| foreign(op, "an owner set holds a member that is not a valid key"))?;
        out.push((key, decode_entry(Bytes::from(blob), op)?));
    }
    Ok(out)
}

#[cfg(test)]
mod fuzz {
    //! Property-based tests of the stored-string format (the 40-byte header
    //! described in `query.rs`) with hostile bytes: decoding never panics,
    //! accepts exactly the documented format, refuses the rest as `Encoding`,
    //! and every accepted string is the canonical encoding of the entry it
    //! decodes to.

    use proptest::prelude::*;
    use store_core::ErrorKind;

    use super::*;
    use crate::BACKEND;

    /// The fields of a stored string: version, expiry (ms), owner, value.
    type Fields = (u64, Option<i64>, Option<String>, Vec<u8>);

    /// What the documented format accepts, written from `query.rs` without
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

        /// The string `put` sends is the documented format, byte for byte.
        #[test]
        fn put_encodes_the_documented_format(v in any::<u64>(), e in expiry(), o in owner(), val in value()) {
            let owner = o.as_deref().map(|o| Owner::new(o).unwrap());
            let sent = encode_entry(Version::from_u64(v), e, owner.as_ref(), &val);
            prop_assert_eq!(&sent, &encode(v, e, o.as_deref(), &val));
            check(&sent)?;
        }
    }
}
