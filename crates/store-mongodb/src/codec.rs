//! Between store values and MongoDB documents: the stored document of one
//! entry, expiries as BSON dates, and reading an [`Entry`], its key, version
//! and expiry back from a document.
//!
//! ```text
//! { _id: <key: string>, value: <BinData 0>, version: <int64>,
//!   expires_at: <date, absent when the entry never expires>,
//!   owner: <string, absent when the entry has no owner> }
//! ```

use bytes::Bytes;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Document, doc};
use store_core::{Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, Result, Version};

use crate::BACKEND;

/// The field names of a stored entry.
pub(crate) const ID: &str = "_id";
pub(crate) const VALUE: &str = "value";
pub(crate) const VERSION: &str = "version";
pub(crate) const EXPIRES_AT: &str = "expires_at";
pub(crate) const OWNER: &str = "owner";

/// The document stored for an entry.
pub(crate) fn entry_document(
    key: &Key,
    value: &[u8],
    version: Version,
    expires_at: Option<Expiry>,
    owner: Option<&Owner>,
) -> Document {
    let mut document = doc! {
        ID: key.as_str(),
        VALUE: Binary { subtype: BinarySubtype::Generic, bytes: value.to_vec() },
        VERSION: version.as_i64(),
    };
    if let Some(expires_at) = expires_at {
        document.insert(EXPIRES_AT, date(expires_at));
    }
    if let Some(owner) = owner {
        document.insert(OWNER, owner.as_str());
    }
    document
}

/// An expiry as a BSON date: milliseconds since the epoch, exactly.
pub(crate) fn date(expiry: Expiry) -> DateTime {
    DateTime::from_millis(expiry.as_unix_millis())
}

/// The expiry of a stored document: `None` when it has none.
pub(crate) fn expiry_of(document: &Document, operation: Operation) -> Result<Option<Expiry>> {
    match document.get(EXPIRES_AT) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::DateTime(d)) => Expiry::from_unix_millis(d.timestamp_millis())
            .map(Some)
            .map_err(|_| bad_field(operation, EXPIRES_AT)),
        Some(_) => Err(bad_field(operation, EXPIRES_AT)),
    }
}

/// Whether a stored document is live at `now`. A document whose expiry
/// cannot be read counts as live, so that it surfaces as an `Encoding`
/// error when read instead of vanishing.
pub(crate) fn is_live(document: &Document, now: Expiry) -> bool {
    match expiry_of(document, Operation::Get) {
        Ok(Some(expires_at)) => !expires_at.is_expired_at(now),
        Ok(None) | Err(_) => true,
    }
}

/// The version of a stored document.
pub(crate) fn version_of(document: &Document, operation: Operation) -> Result<Version> {
    match document.get(VERSION) {
        Some(Bson::Int64(v)) => Ok(Version::from_i64(*v)),
        Some(Bson::Int32(v)) => Ok(Version::from_i64(i64::from(*v))),
        _ => Err(bad_field(operation, VERSION)),
    }
}

/// The entry of a stored document. A document no store could have written
/// (another type in a field, an owner outside the contract, an expiry out
/// of range) is an `Encoding` error naming the field, never a panic.
pub(crate) fn entry_of(document: &Document, operation: Operation) -> Result<Entry> {
    let value = match document.get(VALUE) {
        Some(Bson::Binary(b)) if b.subtype == BinarySubtype::Generic => b.bytes.clone(),
        _ => return Err(bad_field(operation, VALUE)),
    };
    let owner = match document.get(OWNER) {
        None | Some(Bson::Null) => None,
        Some(Bson::String(o)) => {
            Some(Owner::new(o.as_str()).map_err(|_| bad_field(operation, OWNER))?)
        }
        Some(_) => return Err(bad_field(operation, OWNER)),
    };
    Ok(
        Entry::new(Bytes::from(value), version_of(document, operation)?)
            .with_expiry(expiry_of(document, operation)?)
            .with_owner(owner),
    )
}

/// The key of a stored document.
pub(crate) fn key_of(document: &Document, operation: Operation) -> Result<Key> {
    match document.get(ID) {
        Some(Bson::String(k)) => Key::new(k.as_str()).map_err(|_| bad_field(operation, ID)),
        _ => Err(bad_field(operation, ID)),
    }
}

fn bad_field(operation: Operation, field: &str) -> Error {
    Error::new(
        ErrorKind::Encoding,
        format!("a stored document has an invalid {field} field (not written by this store?)"),
    )
    .in_context(BACKEND, operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_roundtrip_and_bad_fields_are_encoding_errors() {
        let key = Key::new("k").unwrap();
        let owner = Owner::new("alice").unwrap();
        let expiry = Expiry::from_unix_millis(1_700_000_000_123).unwrap();
        let document = entry_document(&key, b"v", Version::from_u64(7), Some(expiry), Some(&owner));
        let entry = entry_of(&document, Operation::Get).unwrap();
        assert_eq!(&entry.value[..], b"v");
        assert_eq!(entry.version, Version::from_u64(7));
        assert_eq!(entry.expires_at, Some(expiry));
        assert_eq!(entry.owner, Some(owner));
        assert_eq!(key_of(&document, Operation::Get).unwrap(), key);
        assert!(is_live(
            &document,
            Expiry::from_unix_millis(1_700_000_000_122).unwrap()
        ));
        assert!(!is_live(&document, expiry));

        let plain = entry_document(&key, b"", Version::from_u64(1), None, None);
        assert!(!plain.contains_key(EXPIRES_AT) && !plain.contains_key(OWNER));

        for (field, bad) in [
            (VALUE, Bson::String("text".into())),
            (VERSION, Bson::String("1".into())),
            (EXPIRES_AT, Bson::Int64(5)),
            (OWNER, Bson::String(String::new())),
            (OWNER, Bson::Int32(1)),
        ] {
            let mut d = document.clone();
            d.insert(field, bad);
            let e = entry_of(&d, Operation::Get).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Encoding);
            assert!(e.message().contains(field), "{e}");
        }
        let mut d = document.clone();
        d.insert(ID, 5);
        assert_eq!(
            key_of(&d, Operation::ListByOwner).unwrap_err().kind(),
            ErrorKind::Encoding
        );
        let far = doc! { EXPIRES_AT: DateTime::from_millis(i64::MAX) };
        assert!(expiry_of(&far, Operation::Get).is_err());
    }
}

/// Property-based tests of reading stored documents back, with hostile
/// documents: the expected field names holding values of any BSON type,
/// and arbitrary or damaged BSON bytes. Decoding never panics, builds an
/// entry exactly when every field is within the contract (then holding the
/// fields exactly), and is otherwise an `Encoding` error naming a bad
/// field.
#[cfg(test)]
mod fuzz {
    use mongodb::bson::oid::ObjectId;
    use mongodb::bson::spec::BinarySubtype;
    use mongodb::bson::{Binary, Bson, DateTime, Decimal128, Document, RawDocument, Timestamp};
    use proptest::prelude::*;
    use store_core::{
        ErrorKind, Expiry, Key, MAX_KEY_LEN, MAX_OWNER_LEN, Operation, Owner, Version,
    };

    use super::{
        EXPIRES_AT, ID, OWNER, VALUE, VERSION, entry_document, entry_of, expiry_of, is_live,
        key_of, version_of,
    };

    fn text() -> impl Strategy<Value = String> {
        let char = prop_oneof![
            6 => proptest::char::range(' ', '~'),
            2 => any::<char>(),
            1 => proptest::char::range('\u{0}', '\u{1f}'),
            1 => proptest::char::range('\u{7f}', '\u{9f}'),
        ];
        prop_oneof![
            4 => prop::collection::vec(char, 0..16).prop_map(String::from_iter),
            1 => (MAX_OWNER_LEN - 1..=MAX_OWNER_LEN + 1).prop_map(|n| "o".repeat(n)),
            1 => (MAX_KEY_LEN - 1..=MAX_KEY_LEN + 1).prop_map(|n| "k".repeat(n)),
        ]
    }

    fn millis() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            -2i64..2,
            Expiry::MAX_UNIX_MILLIS - 2..Expiry::MAX_UNIX_MILLIS + 2,
            0..=Expiry::MAX_UNIX_MILLIS,
        ]
    }

    /// A BSON value of any type (nested documents and arrays one level deep).
    fn scalar() -> impl Strategy<Value = Bson> {
        prop_oneof![
            any::<f64>().prop_map(Bson::Double),
            text().prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
            Just(Bson::Null),
            Just(Bson::Undefined),
            Just(Bson::MaxKey),
            Just(Bson::MinKey),
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            millis().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
            (any::<u32>(), any::<u32>())
                .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
            any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
            any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
            text().prop_map(Bson::Symbol),
            binary(),
        ]
    }

    fn binary() -> impl Strategy<Value = Bson> {
        (
            prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
            prop::collection::vec(any::<u8>(), 0..24),
        )
            .prop_map(|(subtype, bytes)| {
                Bson::Binary(Binary {
                    subtype: BinarySubtype::from(subtype),
                    bytes,
                })
            })
    }

    fn any_bson() -> impl Strategy<Value = Bson> {
        prop_oneof![
            6 => scalar(),
            1 => prop::collection::vec(scalar(), 0..3).prop_map(Bson::Array),
            1 => prop::collection::vec(("[a-z_]{1,6}", scalar()), 0..3)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    }

    /// A field that is absent, of the type the store writes (most of the
    /// time), or of any type.
    fn field(well_typed: BoxedStrategy<Bson>) -> impl Strategy<Value = Option<Bson>> {
        prop_oneof![
            1 => Just(None),
            3 => well_typed.prop_map(Some),
            2 => any_bson().prop_map(Some),
        ]
    }

    /// A document with the store's field names holding hostile values, plus
    /// sometimes a stray field.
    fn document() -> impl Strategy<Value = Document> {
        (
            field(text().prop_map(Bson::String).boxed()),
            field(binary().boxed()),
            field(
                prop_oneof![
                    any::<i64>().prop_map(Bson::Int64),
                    any::<i32>().prop_map(Bson::Int32)
                ]
                .boxed(),
            ),
            field(
                prop_oneof![
                    millis().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
                    Just(Bson::Null),
                ]
                .boxed(),
            ),
            field(prop_oneof![text().prop_map(Bson::String), Just(Bson::Null)].boxed()),
            prop::option::of(("[a-z]{1,8}", any_bson())),
        )
            .prop_map(|(id, value, version, expires_at, owner, extra)| {
                let mut d = Document::new();
                for (name, v) in [
                    (ID, id),
                    (VALUE, value),
                    (VERSION, version),
                    (EXPIRES_AT, expires_at),
                    (OWNER, owner),
                ] {
                    if let Some(v) = v {
                        d.insert(name, v);
                    }
                }
                if let Some((name, v)) = extra {
                    d.entry(name).or_insert(v);
                }
                d
            })
    }

    fn owner_ok(s: &str) -> bool {
        !s.is_empty() && s.len() <= MAX_OWNER_LEN && !s.chars().any(char::is_control)
    }

    /// The fields of a stored entry: value, version, expiry (ms), owner.
    type Fields = (Vec<u8>, u64, Option<i64>, Option<String>);

    /// What the documented layout accepts, field by field: the fields, or
    /// the names of the bad ones.
    fn reference(d: &Document) -> Result<Fields, Vec<&'static str>> {
        let mut bad = Vec::new();
        let value = match d.get(VALUE) {
            Some(Bson::Binary(b)) if b.subtype == BinarySubtype::Generic => Some(b.bytes.clone()),
            _ => {
                bad.push(VALUE);
                None
            }
        };
        let version = match d.get(VERSION) {
            Some(Bson::Int64(v)) => Some(*v as u64),
            Some(Bson::Int32(v)) => Some(i64::from(*v) as u64),
            _ => {
                bad.push(VERSION);
                None
            }
        };
        let expiry = match d.get(EXPIRES_AT) {
            None | Some(Bson::Null) => Some(None),
            Some(Bson::DateTime(t))
                if (0..=Expiry::MAX_UNIX_MILLIS).contains(&t.timestamp_millis()) =>
            {
                Some(Some(t.timestamp_millis()))
            }
            _ => {
                bad.push(EXPIRES_AT);
                None
            }
        };
        let owner = match d.get(OWNER) {
            None | Some(Bson::Null) => Some(None),
            Some(Bson::String(o)) if owner_ok(o) => Some(Some(o.clone())),
            _ => {
                bad.push(OWNER);
                None
            }
        };
        match (value, version, expiry, owner) {
            (Some(v), Some(n), Some(e), Some(o)) => Ok((v, n, e, o)),
            _ => Err(bad),
        }
    }

    /// Checks every decoding function on `d` against [`reference`].
    fn check(d: &Document) -> std::result::Result<(), TestCaseError> {
        let op = Operation::Scan;
        match (entry_of(d, op), reference(d)) {
            (Ok(entry), Ok((value, version, expiry, owner))) => {
                prop_assert_eq!(&entry.value[..], &value[..]);
                prop_assert_eq!(entry.version.as_u64(), version);
                prop_assert_eq!(entry.expires_at.map(Expiry::as_unix_millis), expiry);
                prop_assert_eq!(entry.owner.as_ref().map(|o| o.as_str().to_owned()), owner);
            }
            (Err(e), Err(bad)) => {
                prop_assert_eq!(e.kind(), ErrorKind::Encoding);
                prop_assert_eq!(e.backend(), Some(crate::BACKEND));
                prop_assert_eq!(e.operation(), Some(op));
                prop_assert!(
                    bad.iter()
                        .any(|f| e.message().contains(&format!("invalid {f} field"))),
                    "{} names none of {:?}",
                    e,
                    bad
                );
            }
            (Ok(entry), Err(bad)) => prop_assert!(false, "accepted bad {bad:?}: {entry:?}"),
            (Err(e), Ok(_)) => prop_assert!(false, "refused a good document: {e}"),
        }

        let key_ok = matches!(d.get(ID), Some(Bson::String(k)) if Key::new(k).is_ok());
        match key_of(d, op) {
            Ok(key) => {
                prop_assert!(key_ok);
                prop_assert_eq!(Some(key.as_str()), d.get_str(ID).ok());
            }
            Err(e) => {
                prop_assert!(!key_ok);
                prop_assert_eq!(e.kind(), ErrorKind::Encoding);
            }
        }

        // A document whose expiry cannot be read counts as live, so that it
        // surfaces as an error instead of vanishing.
        let now = Expiry::from_unix_millis(1_700_000_000_000).unwrap();
        let live = match expiry_of(d, op) {
            Ok(Some(e)) => e > now,
            Ok(None) => true,
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::Encoding);
                true
            }
        };
        prop_assert_eq!(is_live(d, now), live);
        if let Err(e) = version_of(d, op) {
            prop_assert_eq!(e.kind(), ErrorKind::Encoding);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// Documents with the store's field names and values of any type.
        #[test]
        fn hostile_documents_decode_exactly_or_are_encoding_errors(d in document()) {
            check(&d)?;
            // The same through the bytes the server sends.
            let bytes = mongodb::bson::to_vec(&d).unwrap();
            let raw = RawDocument::from_bytes(&bytes).unwrap();
            let again = Document::try_from(raw).unwrap();
            check(&again)?;
        }

        /// Arbitrary and damaged BSON bytes: whatever the BSON library makes of
        /// them, decoding its document follows the same rules.
        #[test]
        fn damaged_bson_bytes_never_panic(
            d in document(),
            noise in prop::collection::vec(any::<u8>(), 0..64),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            how in 0u8..3,
        ) {
            let mut bytes = mongodb::bson::to_vec(&d).unwrap();
            match how {
                0 => {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                1 => bytes.truncate(at.index(bytes.len())),
                _ => {
                    // Framed noise: a valid length prefix and terminator.
                    let len = u32::try_from(noise.len() + 5).unwrap();
                    bytes = [&len.to_le_bytes()[..], &noise, &[0]].concat();
                }
            }
            if let Ok(raw) = RawDocument::from_bytes(&bytes) {
                if let Ok(doc) = Document::try_from(raw) {
                    check(&doc)?;
                }
            }
            if let Ok(doc) = Document::from_reader(&mut &bytes[..]) {
                check(&doc)?;
            }
        }

        /// What the store writes reads back exactly, for any version, expiry,
        /// owner and value.
        #[test]
        fn stored_documents_roundtrip(
            key in text().prop_filter("a valid key", |k| Key::new(k).is_ok()),
            value in prop::collection::vec(any::<u8>(), 0..32),
            version in any::<u64>(),
            expiry in prop::option::of(0..=Expiry::MAX_UNIX_MILLIS),
            owner in prop::option::of(text().prop_filter("a valid owner", |o| owner_ok(o))),
        ) {
            let key = Key::new(&key).unwrap();
            let expiry = expiry.map(|ms| Expiry::from_unix_millis(ms).unwrap());
            let owner = owner.map(|o| Owner::new(o).unwrap());
            let d = entry_document(&key, &value, Version::from_u64(version), expiry, owner.as_ref());
            let bytes = mongodb::bson::to_vec(&d).unwrap();
            let d = Document::from_reader(&mut &bytes[..]).unwrap();
            let entry = entry_of(&d, Operation::Get).unwrap();
            prop_assert_eq!(&entry.value[..], &value[..]);
            prop_assert_eq!(entry.version, Version::from_u64(version));
            prop_assert_eq!(entry.expires_at, expiry);
            prop_assert_eq!(entry.owner, owner);
            prop_assert_eq!(key_of(&d, Operation::Get).unwrap(), key);
            check(&d)?;
        }
    }
}
