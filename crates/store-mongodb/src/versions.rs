//! Versions that are never handed out twice, without a round trip per write.
//!
//! Each collection has a counter document in the collection
//! `<collection>.versions`. A store reserves a block of versions by
//! incrementing it (`findAndModify` with `$inc`, one atomic step), then hands
//! the block out in memory. Two stores never get the same block, so a
//! version identifies one write of one store object forever, also after the
//! key is deleted and created again: a compare-and-swap can never match a
//! write it did not see. Versions grow within one store object; across
//! processes they are unique but not ordered.
//!
//! The next block is reserved when half of the current one is used, by the
//! write that crosses the half, while the other writers go on with the rest
//! of the current block; so writers wait for a reservation only when a whole
//! half block is used up during one round trip. All writers that need the
//! same reservation share it, and share its error: with the server down,
//! each fails once within its timeout, none waits for the others' attempts.

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
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

/// A reservation in flight: the last version of the new block.
type Reservation = Shared<BoxFuture<'static, std::result::Result<i64, Arc<Error>>>>;

#[derive(Default)]
struct Blocks {
    /// The next version to hand out and the end of the block (exclusive).
    current: (i64, i64),
    /// A block reserved ahead, used when `current` runs out.
    spare: Option<(i64, i64)>,
    pending: Option<Reservation>,
}

impl Blocks {
    fn take(&mut self) -> Option<i64> {
        if self.current.0 >= self.current.1 {
            self.current = self.spare.take()?;
        }
        let v = self.current.0;
        self.current.0 += 1;
        Some(v)
    }
}

/// The blocks of versions a store hands out, and how to get more.
pub(crate) struct Versions {
    counters: Collection<Document>,
    block: u32,
    blocks: Mutex<Blocks>,
}

impl std::fmt::Debug for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Versions")
            .field("counters", &self.counters.name())
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

impl Versions {
    pub(crate) fn new(counters: Collection<Document>, block: u32) -> Self {
        Self {
            counters,
            block,
            blocks: Mutex::new(Blocks::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Blocks> {
        self.blocks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next unused version.
    pub(crate) async fn next(&self, operation: Operation) -> Result<Version> {
        loop {
            let (taken, wait) = {
                let mut blocks = self.lock();
                let taken = blocks.take();
                let low = blocks.spare.is_none()
                    && blocks.current.1 - blocks.current.0 <= i64::from(self.block / 2);
                let wait = if taken.is_none() {
                    // Nothing left: wait for the reservation in flight, or
                    // start one.
                    Some(
                        blocks
                            .pending
                            .get_or_insert_with(|| self.reservation(operation))
                            .clone(),
                    )
                } else if low && blocks.pending.is_none() {
                    // Half used: this writer reserves the next block; the
                    // others go on with the rest of this one.
                    let reservation = self.reservation(operation);
                    blocks.pending = Some(reservation.clone());
                    Some(reservation)
                } else {
                    None
                };
                (taken, wait)
            };
            if let Some(reservation) = wait {
                let result = reservation.clone().await;
                self.install(&reservation, &result);
                if let Err(e) = result {
                    // A version taken before the reservation failed is still
                    // good: only a writer that has none fails.
                    if taken.is_none() {
                        return Err(Error::new(e.kind(), e.message().to_owned())
                            .in_context(MONGODB, operation)
                            .with_retryable(e.is_retryable())
                            .with_source(e));
                    }
                }
            }
            if let Some(v) = taken {
                return Ok(Version::from_i64(v));
            }
        }
    }

    /// Puts a finished reservation's block in place, once: the first
    /// writer back from it does, the others find it gone from `pending`.
    fn install(&self, reservation: &Reservation, result: &std::result::Result<i64, Arc<Error>>) {
        let mut blocks = self.lock();
        if !blocks
            .pending
            .as_ref()
            .is_some_and(|p| p.ptr_eq(reservation))
        {
            return;
        }
        blocks.pending = None;
        if let Ok(last) = *result {
            let block = (last - i64::from(self.block) + 1, last + 1);
            if blocks.current.0 >= blocks.current.1 {
                blocks.current = block;
            } else {
                blocks.spare = Some(block);
            }
        }
    }

    fn reservation(&self, operation: Operation) -> Reservation {
        let (counters, block) = (self.counters.clone(), self.block);
        async move { reserve(&counters, block, operation).await.map_err(Arc::new) }
            .boxed()
            .shared()
    }
}

/// Adds a block to the counter and returns the last version of it.
async fn reserve(counters: &Collection<Document>, block: u32, operation: Operation) -> Result<i64> {
    let mut attempts = 0;
    let last = loop {
        attempts += 1;
        let result = counters
            .find_one_and_update(
                doc! { "_id": COUNTER_ID },
                doc! { "$inc": { LAST: i64::from(block) } },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        // Two first reservations racing to create the counter can end in a
        // duplicate key error, or (on some wire-compatible servers) in no
        // document returned. Trying again is safe: a block is used only
        // once its last version is known; a lost one is a gap.
        let retry = attempts < 5;
        match result {
            Ok(Some(counter)) => match counter.get(LAST) {
                Some(Bson::Int64(last)) => break *last,
                Some(Bson::Int32(last)) => break i64::from(*last),
                _ => {
                    return Err(Error::new(
                        ErrorKind::Encoding,
                        format!(
                            "the version counter in {} is not a 64-bit integer",
                            counters.name()
                        ),
                    )
                    .in_context(MONGODB, operation));
                }
            },
            Ok(None) if retry => continue,
            Err(e) if server_code(&e) == Some(DUPLICATE_KEY) && retry => continue,
            Ok(None) => {
                return Err(Error::new(
                    ErrorKind::Backend,
                    format!(
                        "reserving versions in {} returned no counter document",
                        counters.name()
                    ),
                )
                .in_context(MONGODB, operation));
            }
            Err(e) => return Err(classify(e, operation)),
        }
    };
    if last < i64::from(block) || last > i64::MAX / 2 {
        return Err(Error::new(
            ErrorKind::Backend,
            format!(
                "the version counter in {} holds {last}, outside the range this store hands out",
                counters.name()
            ),
        )
        .in_context(MONGODB, operation));
    }
    Ok(last)
}
