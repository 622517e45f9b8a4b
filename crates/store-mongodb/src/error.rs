//! Turning driver errors into [`store_core::Error`]s: from the driver's
//! error kinds and the server's numeric codes, never from message text.

use std::fmt;

use mongodb::error::{Error as DriverError, ErrorKind as DriverKind, WriteFailure};
use store_core::{Error, ErrorKind, Operation};

use crate::BACKEND;

/// The server's duplicate key error.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

/// The numeric code the server sent with an error, if it sent one.
pub(crate) fn server_code(e: &DriverError) -> Option<i32> {
    match e.kind.as_ref() {
        DriverKind::Command(c) => Some(c.code),
        DriverKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        DriverKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

/// What a server error code means for a caller.
fn code_meaning(code: i32) -> (ErrorKind, &'static str) {
    use ErrorKind::*;
    match code {
        DUPLICATE_KEY => (AlreadyExists, "the key already exists (duplicate key)"),
        // HostUnreachable, HostNotFound, NetworkTimeout, SocketException
        6 | 7 | 89 | 9001 => (Unavailable, "the server could not be reached"),
        // ShutdownInProgress, InterruptedAtShutdown, InterruptedDueToReplStateChange
        91 | 11600 | 11602 => (Unavailable, "the server is shutting down or changing state"),
        // NotWritablePrimary, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary, PrimarySteppedDown
        10107 | 13435 | 13436 | 189 => (Unavailable, "no writable primary is available"),
        // MaxTimeMSExpired, ExceededTimeLimit
        50 | 262 => (Unavailable, "the server did not finish in time"),
        // WriteConcernFailed, WriteConflict, LockTimeout
        64 | 112 | 24 => (
            Unavailable,
            "the write conflicted or could not be confirmed in time",
        ),
        // Unauthorized, AuthenticationFailed
        13 | 18 => (
            Config,
            "the server refused the credentials or the permission",
        ),
        // IndexOptionsConflict, IndexKeySpecsConflict, IndexAlreadyExists
        85 | 86 | 68 => (
            Config,
            "an index of the same name or keys exists with other options",
        ),
        // InvalidNamespace
        73 => (Config, "the database or collection name is not valid"),
        // BSONObjectTooLarge, document too large
        10334 | 17419 => (InvalidInput, "the server refused the document"),
        _ => (Backend, "the server reported an error"),
    }
}

/// A server error reduced to its code and code name. The server's message
/// can quote the document or key it was about, so it is not kept.
#[derive(Debug, Clone)]
pub(crate) struct ServerError {
    code: i32,
    code_name: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code_name {
            Some(name) if !name.is_empty() => write!(f, "server error {} ({name})", self.code),
            _ => write!(f, "server error {}", self.code),
        }
    }
}

impl std::error::Error for ServerError {}

fn code_name(e: &DriverError) -> Option<String> {
    match e.kind.as_ref() {
        DriverKind::Command(c) => Some(c.code_name.clone()),
        DriverKind::Write(WriteFailure::WriteError(w)) => w.code_name.clone(),
        DriverKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code_name.clone()),
        _ => None,
    }
}

/// Classifies a driver error for `operation`.
pub(crate) fn classify(e: DriverError, operation: Operation) -> Error {
    let labelled_retryable =
        e.contains_label("RetryableWriteError") || e.contains_label("TransientTransactionError");
    if let Some(code) = server_code(&e) {
        let (kind, message) = code_meaning(code);
        let source = ServerError {
            code,
            code_name: code_name(&e),
        };
        let mut err = Error::new(kind, message)
            .in_context(BACKEND, operation)
            .with_source(source);
        if labelled_retryable {
            err = err.with_retryable(true);
        }
        return err;
    }
    let (kind, message) = match e.kind.as_ref() {
        DriverKind::ServerSelection { .. } => (
            ErrorKind::Unavailable,
            "no server was available within the server selection timeout",
        ),
        DriverKind::Io(_) => (
            ErrorKind::Unavailable,
            "the connection to the server failed",
        ),
        DriverKind::ConnectionPoolCleared { .. } => (
            ErrorKind::Unavailable,
            "the connection pool was cleared after a network error",
        ),
        DriverKind::DnsResolve { .. } => (
            ErrorKind::Unavailable,
            "the server's host name could not be resolved",
        ),
        DriverKind::Shutdown => (ErrorKind::Unavailable, "the client was shut down"),
        DriverKind::Authentication { .. } => {
            (ErrorKind::Config, "authentication with the server failed")
        }
        DriverKind::InvalidArgument { .. } | DriverKind::InvalidTlsConfig { .. } => {
            (ErrorKind::Config, "the connection settings are not valid")
        }
        DriverKind::IncompatibleServer { .. } => (
            ErrorKind::Config,
            "the server's version is not supported by the driver",
        ),
        DriverKind::BsonDeserialization(_) | DriverKind::InvalidResponse { .. } => (
            ErrorKind::Encoding,
            "a reply from the server could not be decoded",
        ),
        _ => (ErrorKind::Backend, "the MongoDB driver reported an error"),
    };
    let mut err = Error::new(kind, message)
        .in_context(BACKEND, operation)
        .with_source(e);
    if labelled_retryable {
        err = err.with_retryable(true);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(code_meaning(11000).0, ErrorKind::AlreadyExists);
        assert_eq!(code_meaning(9001).0, ErrorKind::Unavailable);
        assert_eq!(code_meaning(10107).0, ErrorKind::Unavailable);
        assert_eq!(code_meaning(18).0, ErrorKind::Config);
        assert_eq!(code_meaning(85).0, ErrorKind::Config);
        assert_eq!(code_meaning(10334).0, ErrorKind::InvalidInput);
        assert_eq!(code_meaning(1).0, ErrorKind::Backend);
        let shown = ServerError {
            code: 11000,
            code_name: Some("DuplicateKey".into()),
        };
        assert_eq!(shown.to_string(), "server error 11000 (DuplicateKey)");
    }
}
