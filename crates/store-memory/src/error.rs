//! The errors memory reports itself: a bad configuration, a full store,
//! and the backend/operation context added to validation errors. There is
//! no driver whose errors need classifying, and a poisoned lock is not an
//! error here (see [`unpoison`]).

use std::borrow::Cow;
use std::sync::PoisonError;

use store_core::{Error, ErrorKind, Operation};

use crate::BACKEND;

/// The guard of a lock, poisoned or not.
pub(crate) fn unpoison<G>(r: std::result::Result<G, PoisonError<G>>) -> G {
    // Every critical section leaves the tables consistent before it can
    // panic, so a poisoned lock still guards valid data.
    r.unwrap_or_else(PoisonError::into_inner)
}

/// Adds this backend and `op` to an error.
pub(crate) fn ctx(op: Operation) -> impl FnOnce(Error) -> Error {
    move |e| e.in_context(BACKEND, op)
}

/// A `Config` error from building or opening a store.
pub(crate) fn config(message: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Config, message)
        .with_backend(BACKEND)
        .with_operation(Operation::Connect)
}

/// A write of a new key refused because the store holds `capacity`
/// entries even after purging the expired ones.
pub(crate) fn capacity_exceeded(capacity: usize) -> Error {
    Error::new(
        ErrorKind::CapacityExceeded,
        format!(
            "the memory store holds its capacity of {capacity} entries (expired entries were purged first)"
        ),
    )
    .with_backend(BACKEND)
    .with_operation(Operation::Put)
}
