//! Versions that are never handed out twice, at one extra round trip per
//! block of writes.
//!
//! Each collection has a counter document in the collection
//! `<collection>.versions`. A store reserves a block of versions by
//! incrementing it (`findAndModify` with `$inc`, one atomic step), then hands
//! the block out in memory. Two stores never get the same block, so a
//! version identifies one write of one store object forever, also after the
//! key is deleted and created again: a compare-and-swap can never match a
//! write it did not see. Versions grow within one store object; across
//! processes they are unique but not ordered.

use std::sync::Mutex;

use mongodb::Collection;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use store_core::{Error, ErrorKind, Operation, Result, Version};

use crate::MONGODB;
use crate::error::{DUPLICATE_KEY, classify, server_code};

/// The `_id` of the counter document.
const COUNTER_ID: &str = "counter";
/// The counter document's field: the last version reserved.
const LAST: &str = "last";

/// The suffix of the counter collection's name.
pub(crate) const SUFFIX: &str = ".versions";

/// The block of versions a store hands out, and how to get the next one.
#[derive(Debug)]
pub(crate) struct Versions {
    counters: Collection<Document>,
    block: u32,
    /// The next version to hand out and the end of the block (exclusive).
    range: Mutex<(i64, i64)>,
    /// Held while a new block is reserved, so concurrent writers wait for
    /// one reservation instead of each making their own.
    refill: tokio::sync::Mutex<()>,
}

impl Versions {
    pub(crate) fn new(counters: Collection<Document>, block: u32) -> Self {
        Self {
            counters,
            block,
            range: Mutex::new((0, 0)),
            refill: tokio::sync::Mutex::new(()),
        }
    }

    fn take(&self) -> Option<Version> {
        let mut range = self.range.lock().unwrap_or_else(|e| e.into_inner());
        if range.0 < range.1 {
            let v = range.0;
            range.0 += 1;
            return Some(Version::from_i64(v));
        }
        None
    }

    /// The next unused version; reserves a new block when this one is
    /// used up.
    pub(crate) async fn next(&self, operation: Operation) -> Result<Version> {
        if let Some(v) = self.take() {
            return Ok(v);
        }
        let _refill = self.refill.lock().await;
        if let Some(v) = self.take() {
            return Ok(v);
        }
        let last = self.reserve(operation).await?;
        let first = last - i64::from(self.block) + 1;
        let mut range = self.range.lock().unwrap_or_else(|e| e.into_inner());
        *range = (first + 1, last + 1);
        Ok(Version::from_i64(first))
    }

    /// Adds a block to the counter and returns the last version of it.
    async fn reserve(&self, operation: Operation) -> Result<i64> {
        let mut attempts = 0;
        let counter = loop {
            attempts += 1;
            let result = self
                .counters
                .find_one_and_update(
                    doc! { "_id": COUNTER_ID },
                    doc! { "$inc": { LAST: i64::from(self.block) } },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match result {
                Ok(counter) => break counter,
                // Two first reservations racing to create the counter: the
                // loser's retry increments the winner's document.
                Err(e) if server_code(&e) == Some(DUPLICATE_KEY) && attempts < 3 => continue,
                Err(e) => return Err(classify(e, operation)),
            }
        };
        let last = match counter.as_ref().and_then(|c| c.get(LAST)) {
            Some(Bson::Int64(last)) => *last,
            Some(Bson::Int32(last)) => i64::from(*last),
            _ => {
                return Err(Error::new(
                    ErrorKind::Encoding,
                    format!(
                        "the version counter in {} is not a 64-bit integer",
                        self.counters.name()
                    ),
                )
                .in_context(MONGODB, operation));
            }
        };
        if last < i64::from(self.block) || last > i64::MAX / 2 {
            return Err(Error::new(
                ErrorKind::Backend,
                format!(
                    "the version counter in {} holds {last}, outside the range this store \
                     hands out",
                    self.counters.name()
                ),
            )
            .in_context(MONGODB, operation));
        }
        Ok(last)
    }
}
