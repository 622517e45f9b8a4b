//! [`Store::scan`](store_core::Store::scan) of a `MongoStore`: the
//! collection's documents in `_id` order, a page at a time.
//!
//! The store writes every `_id` as a string, so a scan walks the string
//! `_id`s with `{_id: {$type: "string", $gt: <cursor key>}}` sorted on
//! `{_id: 1}` through the `_id` index, under MongoDB's simple binary
//! collation: strings compare by their UTF-8 bytes, as Rust compares
//! [`Key`]s. Documents with any other `_id` type (another program's) sort
//! outside the strings; the first page names them (up to
//! [`MAX_SCAN_LIMIT`]) in [`ScanPage::unreadable`], with one `find` of
//! their `_id`s only.
//!
//! Documents are read as raw BSON and decoded one by one, so a document
//! that cannot be decoded (another shape, wrong types, a string that is not
//! UTF-8) is named in `unreadable` and skipped; it never fails the scan.

use futures::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf, doc};
use mongodb::options::Collation;
use store_core::{
    Entry, Error, ErrorKind, Expiry, Key, MAX_SCAN_LIMIT, Operation, Result, ScanCursor, ScanPage,
};

use crate::BACKEND;
use crate::codec::{ID, entry_of, expiry_of};
use crate::error::classify;

const OP: Operation = Operation::Scan;

/// MongoDB's simple binary collation: strings compare by their UTF-8
/// bytes, whatever default collation the collection was created with.
fn simple() -> Collation {
    Collation::builder().locale("simple").build()
}

/// One page of a scan of `collection` after the `_id` `after` (from the
/// start when `None`): at most `limit` entries, expiry decided at `now`.
///
/// The page visits up to `limit` documents (live, expired or unreadable)
/// and ends after the last one, whose `_id` is where the next page resumes
/// ([`ScanCursor::after_key`]; a string `_id` that is not a valid [`Key`]
/// is still a position). The rare `_id` that cannot be a position (the
/// empty string, a string that is not UTF-8) cannot end a page: those
/// visited after the page's last position are left to the next page, and a
/// page that has visited `limit` documents without a position goes on to
/// the next one.
pub(crate) async fn page(
    collection: &Collection<Document>,
    after: Option<&str>,
    limit: usize,
    now: Expiry,
) -> Result<ScanPage> {
    let raw = collection.clone_with_type::<RawDocumentBuf>();
    let mut page = Page {
        limit,
        now,
        unreadable: Vec::new(),
        entries: Vec::new(),
        expired: 0,
        pending: Vec::new(),
        last: None,
        visited: 0,
        position: after.map(str::to_owned),
    };
    if after.is_none() {
        page.unreadable = foreign_ids(&raw).await?;
    }
    // One more than a page, to know whether another page follows.
    let fetch = limit.saturating_add(1);
    loop {
        let mut range = doc! { "$type": "string" };
        if let Some(position) = &page.position {
            range.insert("$gt", position.as_str());
        }
        let documents: Vec<RawDocumentBuf> = raw
            .find(doc! { ID: range })
            .sort(doc! { ID: 1 })
            .collation(simple())
            .limit(i64::try_from(fetch).unwrap_or(i64::MAX))
            .batch_size(u32::try_from(fetch).unwrap_or(u32::MAX))
            .await
            .map_err(|e| classify(e, OP))?
            .try_collect()
            .await
            .map_err(|e| classify(e, OP))?;
        let full = documents.len() >= fetch;
        let start = page.position.clone();
        for document in &documents {
            if let Some(last) = page.full() {
                // More documents follow: resume after the last position.
                let next = ScanCursor::after_key(&last);
                return Ok(page.finish(Some(next)));
            }
            page.visit(document);
        }
        if !full {
            return Ok(page.finish(None));
        }
        if page.position == start {
            // A whole batch of `_id`s that are not even UTF-8: the scan
            // cannot name a position after them.
            return Err(Error::new(
                ErrorKind::Encoding,
                "the scan cannot get past a run of documents whose _id is not valid UTF-8",
            )
            .in_context(BACKEND, OP));
        }
    }
}

/// The names of the documents whose `_id` is not a string, up to
/// [`MAX_SCAN_LIMIT`] of them: `_id`s only, through the `_id` index.
async fn foreign_ids(raw: &Collection<RawDocumentBuf>) -> Result<Vec<String>> {
    let documents: Vec<RawDocumentBuf> = raw
        .find(doc! { ID: { "$not": { "$type": "string" } } })
        .projection(doc! { ID: 1 })
        .sort(doc! { ID: 1 })
        .collation(simple())
        .limit(i64::try_from(MAX_SCAN_LIMIT).unwrap_or(i64::MAX))
        .await
        .map_err(|e| classify(e, OP))?
        .try_collect()
        .await
        .map_err(|e| classify(e, OP))?;
    Ok(documents.iter().map(|d| name_of(d)).collect())
}

/// A page being filled.
struct Page {
    limit: usize,
    now: Expiry,
    entries: Vec<(Key, Entry)>,
    expired: u64,
    unreadable: Vec<String>,
    /// Names of the documents visited after `last` whose `_id` cannot be
    /// a position.
    pending: Vec<String>,
    /// The last visited `_id` that can be a position: where the next page
    /// resumes.
    last: Option<String>,
    visited: usize,
    /// The last visited string `_id`: where the next query of this page
    /// goes on.
    position: Option<String>,
}

impl Page {
    /// The position the page ends after, once it has visited `limit`
    /// documents and one of them had a position.
    fn full(&self) -> Option<String> {
        if self.visited >= self.limit {
            self.last.clone()
        } else {
            None
        }
    }

    fn visit(&mut self, document: &RawDocument) {
        self.visited += 1;
        let id = document.get_str(ID).ok();
        if let Some(id) = id {
            self.position = Some(id.to_owned());
        }
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            self.pending.push(name_of(document));
            return;
        };
        self.unreadable.append(&mut self.pending);
        match Key::new(id) {
            Ok(key) => match decode(document, self.now) {
                Decoded::Live(entry) => self.entries.push((key, entry)),
                Decoded::Expired => self.expired += 1,
                Decoded::Unreadable => self.unreadable.push(id.to_owned()),
            },
            // Too long, or control characters: not written by a store.
            Err(_) => self.unreadable.push(id.to_owned()),
        }
        self.last = Some(id.to_owned());
    }

    /// The page; documents still pending are kept only on the last page
    /// (otherwise the next page visits them again).
    fn finish(mut self, next: Option<ScanCursor>) -> ScanPage {
        if next.is_none() {
            self.unreadable.append(&mut self.pending);
        }
        ScanPage::new(self.entries)
            .with_expired(self.expired)
            .with_unreadable(self.unreadable)
            .with_next(next)
    }
}

enum Decoded {
    Live(Entry),
    Expired,
    Unreadable,
}

/// A document as `get` reads it: expired when its expiry is at or before
/// `now` (whatever its other fields hold), else its entry.
fn decode(document: &RawDocument, now: Expiry) -> Decoded {
    let Ok(document) = Document::try_from(document) else {
        return Decoded::Unreadable;
    };
    match expiry_of(&document, OP) {
        Ok(Some(expires_at)) if expires_at.is_expired_at(now) => Decoded::Expired,
        Ok(_) => match entry_of(&document, OP) {
            Ok(entry) => Decoded::Live(entry),
            Err(_) => Decoded::Unreadable,
        },
        Err(_) => Decoded::Unreadable,
    }
}

/// How [`ScanPage::unreadable`] names a document: its `_id` when that is
/// a string, else the `_id`'s debug form (such as `Int32(42)`).
fn name_of(document: &RawDocument) -> String {
    let id = match document.get(ID) {
        Ok(Some(RawBsonRef::String(id))) => return id.to_owned(),
        Ok(Some(id)) => Bson::try_from(id).ok(),
        _ => None,
    };
    // A string that is not UTF-8, here or anywhere in the `_id`.
    let id = id.or_else(|| {
        mongodb::bson::from_slice_utf8_lossy::<Document>(document.as_bytes())
            .ok()
            .and_then(|mut d| d.remove(ID))
    });
    match id {
        Some(Bson::String(id)) => id,
        Some(id) => format!("{id:?}"),
        None => "<document without a readable _id>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{VALUE, entry_document};
    use store_core::Version;

    fn raw(document: &Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(document).unwrap()
    }

    #[test]
    fn names_and_decoding() {
        assert_eq!(name_of(&raw(&doc! { ID: "bad" })), "bad");
        assert_eq!(name_of(&raw(&doc! { ID: 42 })), "Int32(42)");
        assert_eq!(
            name_of(&raw(&doc! { "x": 1 })),
            "<document without a readable _id>"
        );
        let now = Expiry::from_unix_millis(1_700_000_000_000).unwrap();
        let key = Key::new("k").unwrap();
        let live = entry_document(&key, b"v", Version::from_u64(3), None, None);
        assert!(matches!(decode(&raw(&live), now), Decoded::Live(e) if &e.value[..] == b"v"));
        let expired = entry_document(&key, b"v", Version::from_u64(3), Some(now), None);
        assert!(matches!(decode(&raw(&expired), now), Decoded::Expired));
        let foreign = doc! { ID: "k", "v": 42 };
        assert!(matches!(decode(&raw(&foreign), now), Decoded::Unreadable));

        // Strings that are not UTF-8, in a field and in the `_id`.
        let bad_value = not_utf8("k", "value");
        assert!(matches!(decode(&bad_value, now), Decoded::Unreadable));
        assert_eq!(name_of(&bad_value), "k");
        let bad_id = not_utf8("value", ID);
        assert!(bad_id.get_str(ID).is_err());
        assert_eq!(name_of(&bad_id), "\u{fffd}\u{fffd}");
    }

    /// `{value: "v", <field>: <the bytes ff fe>}`, or `{_id: "k", value: <ff fe>}`.
    fn not_utf8(text: &str, field: &str) -> RawDocumentBuf {
        let mut body = Vec::new();
        let mut string = |name: &str, bytes: &[u8]| {
            body.push(0x02);
            body.extend_from_slice(name.as_bytes());
            body.push(0);
            body.extend_from_slice(&i32::try_from(bytes.len() + 1).unwrap().to_le_bytes());
            body.extend_from_slice(bytes);
            body.push(0);
        };
        let other = if field == ID { VALUE } else { ID };
        string(other, text.as_bytes());
        string(field, &[0xff, 0xfe]);
        body.push(0);
        let mut bytes = i32::try_from(body.len() + 4)
            .unwrap()
            .to_le_bytes()
            .to_vec();
        bytes.extend(body);
        RawDocumentBuf::from_bytes(bytes).unwrap()
    }
}
