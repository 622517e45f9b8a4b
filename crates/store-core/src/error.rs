//! The one error type every store returns.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a program can act on it.
///
/// Backends classify driver errors into these kinds from error codes and
/// driver error types, never from message text.
///
/// ```
/// use store_core::{Error, ErrorKind};
///
/// fn describe(e: &Error) -> &'static str {
///     match e.kind() {
///         ErrorKind::NotFound => "gone: log in again",
///         ErrorKind::VersionMismatch => "changed meanwhile: re-read and retry",
///         _ if e.is_retryable() => "try again later",
///         _ => "failed",
///     }
/// }
/// assert_eq!(describe(&Error::not_found()), "gone: log in again");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No live entry under the key (missing, deleted or expired).
    NotFound,
    /// A `Create` met a live entry under the key.
    AlreadyExists,
    /// A conditional write or delete named a version that is no longer current.
    VersionMismatch,
    /// The backend cannot do this operation or option.
    Unsupported,
    /// The input breaks a documented limit (empty or oversized key, oversized
    /// value, expiry out of range or not in the future, ...).
    InvalidInput,
    /// The store is misconfigured (malformed URL, bad table name, conflicting index).
    Config,
    /// A stored value could not be encoded or decoded (corrupt, foreign or
    /// tampered data, or a serde failure in the typed helpers).
    Encoding,
    /// The backend cannot be reached right now (connection refused, reset,
    /// timed out, pool exhausted). Retryable.
    Unavailable,
    /// The store is at its configured capacity and refused a new entry.
    CapacityExceeded,
    /// Any other failure reported by the backend.
    Backend,
}

impl ErrorKind {
    /// A short, stable, lower-case name for the kind, as used in `Display`.
    ///
    /// ```
    /// assert_eq!(store_core::ErrorKind::NotFound.as_str(), "not found");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not found",
            Self::AlreadyExists => "already exists",
            Self::VersionMismatch => "version mismatch",
            Self::Unsupported => "unsupported",
            Self::InvalidInput => "invalid input",
            Self::Config => "configuration error",
            Self::Encoding => "encoding error",
            Self::Unavailable => "unavailable",
            Self::CapacityExceeded => "capacity exceeded",
            Self::Backend => "backend error",
        }
    }

    /// Whether an error of this kind is retryable unless the backend says
    /// otherwise: only [`ErrorKind::Unavailable`].
    ///
    /// ```
    /// use store_core::ErrorKind;
    /// assert!(ErrorKind::Unavailable.is_retryable_by_default());
    /// assert!(!ErrorKind::VersionMismatch.is_retryable_by_default());
    /// ```
    pub const fn is_retryable_by_default(self) -> bool {
        matches!(self, Self::Unavailable)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operation during which an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`Store::get`](crate::Store::get).
    Get,
    /// [`Store::put`](crate::Store::put).
    Put,
    /// [`Store::delete`](crate::Store::delete).
    Delete,
    /// [`Store::touch`](crate::Store::touch).
    Touch,
    /// [`Store::delete_expired`](crate::Store::delete_expired).
    DeleteExpired,
    /// [`Store::list_by_owner`](crate::Store::list_by_owner).
    ListByOwner,
    /// [`Store::delete_by_owner`](crate::Store::delete_by_owner).
    DeleteByOwner,
    /// [`Store::scan`](crate::Store::scan).
    Scan,
    /// Building or connecting a store.
    Connect,
    /// Schema or index setup.
    Migrate,
    /// Validating input before any backend call (keys, owners, expiries).
    Validate,
    /// Encoding a typed value.
    Encode,
    /// Decoding a stored value.
    Decode,
}

impl Operation {
    /// A short, stable, snake-case name for the operation.
    ///
    /// ```
    /// assert_eq!(store_core::Operation::DeleteExpired.as_str(), "delete_expired");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Put => "put",
            Self::Delete => "delete",
            Self::Touch => "touch",
            Self::DeleteExpired => "delete_expired",
            Self::ListByOwner => "list_by_owner",
            Self::DeleteByOwner => "delete_by_owner",
            Self::Scan => "scan",
            Self::Connect => "connect",
            Self::Migrate => "migrate",
            Self::Validate => "validate",
            Self::Encode => "encode",
            Self::Decode => "decode",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The error every store operation returns.
///
/// It carries a [`kind`](Error::kind) to branch on, the backend name and the
/// [`Operation`], a message, whether a retry may succeed
/// ([`is_retryable`](Error::is_retryable)), and the underlying driver error as
/// [`source`](StdError::source).
///
/// Messages never contain keys' values, stored values, tokens or passwords.
///
/// ```
/// use store_core::{Error, ErrorKind, Operation};
///
/// let err = Error::new(ErrorKind::Unavailable, "connection refused")
///     .with_backend("redis")
///     .with_operation(Operation::Get);
/// assert_eq!(err.kind(), ErrorKind::Unavailable);
/// assert!(err.is_retryable());
/// assert_eq!(err.to_string(), "redis get: unavailable: connection refused");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    backend: Option<&'static str>,
    operation: Option<Operation>,
    message: Cow<'static, str>,
    retryable: bool,
    source: Option<BoxError>,
}

impl Error {
    /// A new error of `kind` with a message. Retryable is the kind's default.
    ///
    /// ```
    /// let e = store_core::Error::new(store_core::ErrorKind::Config, "bad table name");
    /// assert_eq!(e.message(), "bad table name");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                backend: None,
                operation: None,
                message: message.into(),
                retryable: kind.is_retryable_by_default(),
                source: None,
            }),
        }
    }

    /// Sets the backend name (for example `"redis"`).
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::Backend, "boom").with_backend("sqlite");
    /// assert_eq!(e.backend(), Some("sqlite"));
    /// ```
    #[must_use]
    pub fn with_backend(mut self, backend: &'static str) -> Self {
        self.inner.backend = Some(backend);
        self
    }

    /// Sets the operation.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind, Operation};
    /// let e = Error::new(ErrorKind::Backend, "boom").with_operation(Operation::Touch);
    /// assert_eq!(e.operation(), Some(Operation::Touch));
    /// ```
    #[must_use]
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.inner.operation = Some(operation);
        self
    }

    /// Fills in the backend and the operation where they are not set yet.
    ///
    /// Backends call this on errors coming from shared helpers (such as
    /// [`validate`](crate::validate)) so that every error names them.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind, Operation};
    /// let e = Error::new(ErrorKind::InvalidInput, "too long")
    ///     .with_operation(Operation::Validate)
    ///     .in_context("memory", Operation::Put);
    /// assert_eq!(e.backend(), Some("memory"));
    /// assert_eq!(e.operation(), Some(Operation::Validate));
    /// ```
    #[must_use]
    pub fn in_context(mut self, backend: &'static str, operation: Operation) -> Self {
        self.inner.backend.get_or_insert(backend);
        self.inner.operation.get_or_insert(operation);
        self
    }

    /// Keeps `source` as the underlying cause, returned by [`StdError::source`].
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// use std::error::Error as _;
    /// let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// let e = Error::new(ErrorKind::Unavailable, "cannot connect").with_source(io);
    /// assert!(e.source().is_some());
    /// ```
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Overrides whether a retry of the same operation may succeed.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::Backend, "serialization failure").with_retryable(true);
    /// assert!(e.is_retryable());
    /// ```
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.inner.retryable = retryable;
        self
    }

    /// The kind of failure.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// assert_eq!(Error::new(ErrorKind::NotFound, "gone").kind(), ErrorKind::NotFound);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The backend that produced the error, when known.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// assert_eq!(Error::new(ErrorKind::NotFound, "gone").backend(), None);
    /// ```
    pub fn backend(&self) -> Option<&'static str> {
        self.inner.backend
    }

    /// The operation during which the error happened, when known.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// assert_eq!(Error::new(ErrorKind::NotFound, "gone").operation(), None);
    /// ```
    pub fn operation(&self) -> Option<Operation> {
        self.inner.operation
    }

    /// The human-readable message, without backend, operation or source.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// assert_eq!(Error::new(ErrorKind::NotFound, "gone").message(), "gone");
    /// ```
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Whether retrying the same operation may succeed (a backend that was
    /// unreachable, a serialization failure). Conflicts such as
    /// [`ErrorKind::VersionMismatch`] are not retryable as they are: re-read first.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// assert!(!Error::new(ErrorKind::AlreadyExists, "taken").is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.inner.retryable
    }

    /// Shorthand for an [`ErrorKind::InvalidInput`] error raised while
    /// validating input.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind, Operation};
    /// let e = Error::invalid_input("key must not be empty");
    /// assert_eq!((e.kind(), e.operation()), (ErrorKind::InvalidInput, Some(Operation::Validate)));
    /// ```
    pub fn invalid_input(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidInput, message).with_operation(Operation::Validate)
    }

    /// Shorthand for an [`ErrorKind::NotFound`] error.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// assert_eq!(Error::not_found().kind(), ErrorKind::NotFound);
    /// ```
    pub fn not_found() -> Self {
        Self::new(ErrorKind::NotFound, "no live entry under this key")
    }

    /// Shorthand for an [`ErrorKind::AlreadyExists`] error.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// assert_eq!(Error::already_exists().kind(), ErrorKind::AlreadyExists);
    /// ```
    pub fn already_exists() -> Self {
        Self::new(
            ErrorKind::AlreadyExists,
            "a live entry already exists under this key",
        )
    }

    /// Shorthand for an [`ErrorKind::VersionMismatch`] error.
    ///
    /// ```
    /// # use store_core::{Error, ErrorKind};
    /// assert_eq!(Error::version_mismatch().kind(), ErrorKind::VersionMismatch);
    /// ```
    pub fn version_mismatch() -> Self {
        Self::new(
            ErrorKind::VersionMismatch,
            "the entry's current version differs from the expected one",
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.inner.backend, self.inner.operation) {
            (Some(b), Some(o)) => write!(f, "{b} {o}: ")?,
            (Some(b), None) => write!(f, "{b}: ")?,
            (None, Some(o)) => write!(f, "{o}: ")?,
            (None, None) => {}
        }
        write!(f, "{}: {}", self.inner.kind, self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("backend", &self.inner.backend)
            .field("operation", &self.inner.operation)
            .field("message", &self.inner.message)
            .field("retryable", &self.inner.retryable)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_backend_operation_kind_and_message() {
        let e = Error::already_exists()
            .with_backend("memory")
            .with_operation(Operation::Put);
        assert_eq!(
            e.to_string(),
            "memory put: already exists: a live entry already exists under this key"
        );
    }

    #[test]
    fn source_chain_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = Error::new(ErrorKind::Unavailable, "lost connection").with_source(io);
        let src = e.source().expect("source kept");
        assert_eq!(src.to_string(), "reset by peer");
    }

    #[test]
    fn error_is_small() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
