//! Failures and the exit codes they map to.

use std::fmt;
use std::process::ExitCode;

use store::{Error, ErrorKind, Operation};

/// Exit code of a failed operation: the server is unreachable, the backend
/// reported an error, or a copy's check found differences. Often worth a
/// retry.
pub(crate) const EXIT_FAILED: u8 = 1;

/// Exit code of bad usage or configuration: a bad flag or URL, a missing
/// table, an invalid input file. A retry fails the same way.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Why a command stopped.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
    hint: Option<String>,
    /// Whether the same operation may succeed later (a store error the
    /// backend calls retryable).
    retryable: bool,
}

impl Failure {
    /// A failed operation (exit code 1).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_FAILED,
            message: message.into(),
            hint: None,
            retryable: false,
        }
    }

    /// Bad usage or configuration (exit code 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
            hint: None,
            retryable: false,
        }
    }

    /// Adds a line telling the operator what to do.
    #[must_use]
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A store error while doing `what`: configuration and input errors
    /// exit with 2, everything else with 1. Store errors never contain a
    /// password.
    pub(crate) fn store(what: &str, e: &Error) -> Self {
        let message = format!("{what}: {e}");
        let failure = match e.kind() {
            ErrorKind::Config if e.operation() == Some(Operation::Connect) => {
                Self::usage(message).hint("check the URL: scheme, host, credentials and database")
            }
            ErrorKind::Config => Self::usage(message).hint(
                "check the namespace; if the table or indexes do not exist yet, run \
                 `storectl migrate-schema`",
            ),
            ErrorKind::InvalidInput | ErrorKind::Unsupported => Self::usage(message),
            ErrorKind::Unavailable => {
                Self::failed(message).hint("the server did not answer; try again later")
            }
            _ => Self::failed(message),
        };
        Self {
            retryable: e.is_retryable(),
            ..failure
        }
    }

    /// Whether the operation may succeed when tried again: the store error
    /// it came from is retryable ([`Error::is_retryable`]).
    pub(crate) fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// Names which store the failure is about (`source`, `destination`).
    #[must_use]
    pub(crate) fn prefixed(mut self, which: &str) -> Self {
        self.message = format!("{which}: {}", self.message);
        self
    }

    /// Prints the failure to standard error and returns its exit code.
    pub(crate) fn report(&self) -> ExitCode {
        eprintln!("storectl: error: {}", self.message);
        if let Some(hint) = &self.hint {
            eprintln!("storectl: hint: {hint}");
        }
        ExitCode::from(self.code)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What every command returns.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;
