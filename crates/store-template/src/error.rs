//! Errors: the driver's errors turned into store errors ([`classify`]),
//! and the `Config` errors of building a store.

use std::borrow::Cow;

use store_core::{Error, ErrorKind, Operation};

use crate::BACKEND;

/// Turns a driver error into a store error. A real backend matches on the
/// driver's error codes and kinds here, never on message text: a network
/// failure or timeout is `Unavailable` (retryable), refused credentials
/// are `Config`, undecodable data is `Encoding`, anything else `Backend`.
/// Keep the driver error as the source unless its message can quote user
/// data (keys, values); then keep only its code.
pub(crate) fn classify(source: std::io::Error, operation: Operation) -> Error {
    let kind = match source.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::ConnectionRefused => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Backend,
    };
    Error::new(kind, "the server reported an error")
        .in_context(BACKEND, operation)
        .with_source(source)
}

/// A `Config` error from building or opening a store. Never put a URL in
/// `message` unmasked: use `store_core::redact_url`.
pub(crate) fn config(message: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Config, message).in_context(BACKEND, Operation::Connect)
}
