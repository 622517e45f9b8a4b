//! Building a store [`Entry`] from the columns of a row, shared by both
//! databases.

use bytes::Bytes;
use store_core::{
    Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, Result, ScanCursor, ScanPage, Version,
};

/// The entry of one row. A row that no store could have written (an owner
/// or key outside the contract, an expiry outside its range) is an
/// `Encoding` error naming the column, never a panic and never a guess.
pub(crate) fn from_columns(
    backend: &'static str,
    operation: Operation,
    value: Vec<u8>,
    version: i64,
    expires_at_ms: Option<i64>,
    owner: Option<String>,
) -> Result<Entry> {
    let expires_at = expires_at_ms
        .map(Expiry::from_unix_millis)
        .transpose()
        .map_err(|_| bad_column(backend, operation, "expires_at"))?;
    let owner = owner
        .map(Owner::new)
        .transpose()
        .map_err(|_| bad_column(backend, operation, "owner"))?;
    Ok(Entry::new(Bytes::from(value), Version::from_i64(version))
        .with_expiry(expires_at)
        .with_owner(owner))
}

/// The key of a row returned by an owner listing.
pub(crate) fn key_column(backend: &'static str, operation: Operation, key: String) -> Result<Key> {
    Key::new(key).map_err(|_| bad_column(backend, operation, "key"))
}

/// A scan page from rows in key order (`key` text, decoded entry): live
/// entries returned, expired ones counted, undecodable ones named. A full
/// page (`limit` rows) goes on after its last key.
pub(crate) fn scan_page(rows: Vec<(String, Result<Entry>)>, now: Expiry, limit: usize) -> ScanPage {
    let next = if rows.len() >= limit {
        rows.last().map(|(k, _)| ScanCursor::after_key(k))
    } else {
        None
    };
    let mut entries = Vec::with_capacity(rows.len());
    let mut expired = 0;
    let mut unreadable = Vec::new();
    for (raw, entry) in rows {
        match (Key::new(raw.as_str()), entry) {
            (Ok(key), Ok(entry)) => {
                if entry.expires_at.is_some_and(|e| e.is_expired_at(now)) {
                    expired += 1;
                } else {
                    entries.push((key, entry));
                }
            }
            _ => unreadable.push(raw),
        }
    }
    ScanPage::new(entries)
        .with_expired(expired)
        .with_unreadable(unreadable)
        .with_next(next)
}

fn bad_column(backend: &'static str, operation: Operation, column: &str) -> Error {
    Error::new(
        ErrorKind::Encoding,
        format!("a stored row has an invalid {column} column (not written by this store?)"),
    )
    .in_context(backend, operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_an_entry_and_rejects_bad_columns() {
        let e = from_columns(
            "sqlite",
            Operation::Get,
            b"v".to_vec(),
            -1,
            Some(5),
            Some("o".into()),
        )
        .unwrap();
        assert_eq!(e.version, Version::from_u64(u64::MAX));
        assert_eq!(e.expires_at.unwrap().as_unix_millis(), 5);
        assert_eq!(e.owner.unwrap().as_str(), "o");

        let err = from_columns("sqlite", Operation::Get, vec![], 1, Some(-5), None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding);
        assert!(err.message().contains("expires_at"), "{err}");
        let err = from_columns(
            "sqlite",
            Operation::Get,
            vec![],
            1,
            None,
            Some(String::new()),
        )
        .unwrap_err();
        assert!(err.message().contains("owner"), "{err}");
        let err = key_column("sqlite", Operation::ListByOwner, "a\u{0}b".into()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding);
    }
}
