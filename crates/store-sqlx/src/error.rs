//! Mapping sqlx errors onto [`store_core::Error`]: by sqlx error variant,
//! and for database errors by SQLSTATE (Postgres), result code (SQLite) or
//! error number (MySQL), never by message text.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use store_core::{Error, ErrorKind, Operation};

/// What a database error code means for the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeMeaning {
    pub(crate) kind: ErrorKind,
    pub(crate) message: &'static str,
}

impl CodeMeaning {
    pub(crate) const fn new(kind: ErrorKind, message: &'static str) -> Self {
        Self { kind, message }
    }
}

/// The pool a failed call waited on, for the pool-timeout message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolLimits {
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
}

/// A database error reduced to its code and primary message: the detail and
/// hint fields of a Postgres error can quote row values (for example the
/// key of a unique violation), so they are not kept.
#[derive(Debug)]
pub(crate) struct DatabaseError {
    code: String,
    message: String,
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl StdError for DatabaseError {}

/// How a dialect reads and understands its database's error codes.
#[derive(Debug, Clone, Copy)]
pub struct Codes {
    /// The code of a database error: SQLSTATE (Postgres), extended result
    /// code (SQLite), error number (MySQL).
    pub(crate) code: fn(&dyn sqlx::error::DatabaseError) -> String,
    /// What a code means for the store.
    pub(crate) meaning: fn(&str) -> CodeMeaning,
}

/// The code sqlx gives a database error (SQLSTATE, SQLite's result code).
pub(crate) fn sqlx_code(db: &dyn sqlx::error::DatabaseError) -> String {
    db.code().map(|c| c.into_owned()).unwrap_or_default()
}

/// Whether an I/O error is rustls refusing the server's certificate or
/// the handshake (sqlx passes those on as I/O errors): a setting to fix,
/// not a network failure to retry.
fn is_tls_refusal(e: &sqlx::Error) -> bool {
    #[cfg(feature = "tls")]
    if let sqlx::Error::Io(io) = e {
        return io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    }
    let _ = e;
    false
}

/// The store error for a sqlx error during `operation`. `codes` reads a
/// database error's code and maps it to a kind and message.
pub(crate) fn classify(
    e: sqlx::Error,
    backend: &'static str,
    operation: Operation,
    pool: PoolLimits,
    codes: Codes,
) -> Error {
    let err = match e {
        sqlx::Error::Database(db) => {
            let code = (codes.code)(&*db);
            let meaning = codes.meaning;
            let m = meaning(&code);
            let message = if code.is_empty() {
                m.message.to_owned()
            } else {
                format!("{} (code {code})", m.message)
            };
            let source = DatabaseError {
                code,
                message: db.message().to_owned(),
            };
            return Error::new(m.kind, message)
                .in_context(backend, operation)
                .with_source(source);
        }
        sqlx::Error::PoolTimedOut if operation == Operation::Connect => {
            return Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the database server did not accept a connection within {:?}",
                    pool.acquire_timeout
                ),
            )
            .in_context(backend, operation);
        }
        sqlx::Error::PoolTimedOut => {
            return Error::new(
                ErrorKind::Unavailable,
                format!(
                    "no database connection within {:?}: all {} connections of the pool \
                     are busy, or the server cannot be reached (raise max_connections or \
                     acquire_timeout if the server is up)",
                    pool.acquire_timeout, pool.max_connections
                ),
            )
            .in_context(backend, operation);
        }
        sqlx::Error::PoolClosed => {
            return Error::new(ErrorKind::Unavailable, "the connection pool was closed")
                .in_context(backend, operation)
                .with_retryable(false);
        }
        sqlx::Error::WorkerCrashed => Error::new(
            ErrorKind::Unavailable,
            "the database connection's worker thread stopped",
        ),
        e @ sqlx::Error::Io(_) if is_tls_refusal(&e) => Error::new(
            ErrorKind::Config,
            "the TLS handshake with the database failed: its certificate was refused (check \
             the CA, the host name and sslmode)",
        )
        .with_source(e),
        e @ sqlx::Error::Io(_) => Error::new(
            ErrorKind::Unavailable,
            "the connection to the database failed",
        )
        .with_source(e),
        e @ sqlx::Error::Tls(_) => Error::new(
            ErrorKind::Config,
            "the TLS handshake with the database failed (check the certificate and sslmode)",
        )
        .with_source(e),
        e @ sqlx::Error::Configuration(_) => Error::new(
            ErrorKind::Config,
            "invalid database URL or connection option",
        )
        .with_source(e),
        e @ sqlx::Error::Protocol(_) => Error::new(
            ErrorKind::Unavailable,
            "the database connection broke the wire protocol (a proxy or a server restart?)",
        )
        .with_source(e),
        e @ (sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }) => Error::new(
            ErrorKind::Encoding,
            "a row does not have the shape of a store table (was the table created by setup()?)",
        )
        .with_source(e),
        e @ sqlx::Error::InvalidArgument(_) => {
            Error::new(ErrorKind::InvalidInput, "the driver rejected an argument").with_source(e)
        }
        e => Error::new(ErrorKind::Backend, "the database driver failed").with_source(e),
    };
    err.in_context(backend, operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meaning(_: &str) -> CodeMeaning {
        CodeMeaning::new(ErrorKind::Backend, "x")
    }

    const CODES: Codes = Codes {
        code: sqlx_code,
        meaning,
    };

    const POOL: PoolLimits = PoolLimits {
        max_connections: 7,
        acquire_timeout: Duration::from_secs(3),
    };

    #[test]
    fn pool_timeout_is_unavailable_and_names_the_pool_size() {
        let e = classify(
            sqlx::Error::PoolTimedOut,
            "postgres",
            Operation::Get,
            POOL,
            CODES,
        );
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        assert!(e.message().contains("all 7 connections"), "{e}");
        assert!(e.message().contains("3s"), "{e}");
        assert_eq!(e.backend(), Some("postgres"));
        assert_eq!(e.operation(), Some(Operation::Get));
    }

    #[test]
    fn io_is_unavailable_and_closed_pool_is_not_retryable() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let e = classify(sqlx::Error::Io(io), "sqlite", Operation::Put, POOL, CODES);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        let e = classify(
            sqlx::Error::PoolClosed,
            "sqlite",
            Operation::Put,
            POOL,
            CODES,
        );
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(!e.is_retryable());
    }

    #[test]
    fn decode_failures_are_encoding_errors() {
        let e = classify(
            sqlx::Error::ColumnNotFound("version".into()),
            "sqlite",
            Operation::Get,
            POOL,
            CODES,
        );
        assert_eq!(e.kind(), ErrorKind::Encoding);
    }
}
