//! Mapping the driver's errors onto [`store_core::Error`], by error kind and
//! server error code, never by message text.

use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};
use store_core::{Error, ErrorKind, Operation, Result};

use crate::BACKEND;

/// The store error for a driver error during `operation`; the driver error
/// is kept as the source.
pub(crate) fn classify(e: RedisError, operation: Operation) -> Error {
    let (kind, message) = kind_of(&e);
    Error::new(kind, message)
        .in_context(BACKEND, operation)
        .with_source(e)
}

fn kind_of(e: &RedisError) -> (ErrorKind, &'static str) {
    if e.is_timeout() {
        return (
            ErrorKind::Unavailable,
            "the Redis server did not answer in time",
        );
    }
    if e.is_connection_refusal() {
        return (
            ErrorKind::Unavailable,
            "the Redis server refused the connection",
        );
    }
    if e.is_io_error() || e.is_connection_dropped() {
        return (
            ErrorKind::Unavailable,
            "the connection to the Redis server failed",
        );
    }
    match e.kind() {
        RedisKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask
            | ServerErrorKind::ReadOnly,
        ) => (
            ErrorKind::Unavailable,
            "the Redis server cannot serve this key right now (loading, failover or resharding)",
        ),
        RedisKind::MasterNameNotFoundBySentinel => (
            ErrorKind::Unavailable,
            "no sentinel names a reachable master of that name (a failover in progress, \
             or a wrong master name)",
        ),
        RedisKind::ClusterConnectionNotFound => (
            ErrorKind::Unavailable,
            "no connection to the Redis Cluster node that serves this key",
        ),
        RedisKind::AuthenticationFailed => (
            ErrorKind::Config,
            "the Redis server rejected the credentials",
        ),
        RedisKind::Server(ServerErrorKind::NoPerm) => (
            ErrorKind::Config,
            "the Redis user lacks a permission this store needs (ACL)",
        ),
        RedisKind::InvalidClientConfig => (ErrorKind::Config, "invalid Redis client settings"),
        RedisKind::Parse | RedisKind::UnexpectedReturnType => (
            ErrorKind::Encoding,
            "the Redis server replied with data this store did not write",
        ),
        _ => match e.code() {
            Some("WRONGTYPE") => (
                ErrorKind::Encoding,
                "a key under this store's namespace holds a value of another type \
                 (not written by this store)",
            ),
            Some("NOAUTH" | "WRONGPASS") => (
                ErrorKind::Config,
                "the Redis server requires other credentials than the URL gives",
            ),
            Some("OOM") => (
                ErrorKind::CapacityExceeded,
                "the Redis server is out of memory (maxmemory reached)",
            ),
            Some("BUSY") => (
                ErrorKind::Unavailable,
                "the Redis server is busy running a script",
            ),
            _ => (ErrorKind::Backend, "the Redis server returned an error"),
        },
    }
}

/// An `Encoding` error for data under the store's namespace that this store
/// did not write. The key is not named: keys may be derived from secrets.
pub(crate) fn foreign(operation: Operation, what: &'static str) -> Error {
    Error::new(ErrorKind::Encoding, what).in_context(BACKEND, operation)
}

/// A reply of a store script (or of `GET`) that is not what this store's
/// scripts return.
pub(crate) fn bad_reply(op: Operation) -> Error {
    Error::new(
        ErrorKind::Backend,
        "unexpected reply from a store script (is the server Redis 7.0 or newer?)",
    )
    .in_context(BACKEND, op)
}

/// Names the backend and operation on an input-check error.
pub(crate) fn in_ctx<T>(r: Result<T>, op: Operation) -> Result<T> {
    r.map_err(|e| e.in_context(BACKEND, op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_retryable_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let e = classify(RedisError::from(io), Operation::Get);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        assert_eq!(e.backend(), Some("redis"));
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn parse_errors_are_encoding() {
        let e = RedisError::from((RedisKind::UnexpectedReturnType, "not a hash"));
        assert_eq!(classify(e, Operation::Get).kind(), ErrorKind::Encoding);
    }
}
