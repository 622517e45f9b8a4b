//! [`TemplateConfig`]: how a [`TemplateStore`](crate::TemplateStore) is
//! built, its defaults and limits, and the check of the namespace.
//!
//! A real backend keeps here every setting of its own (pool size,
//! connection timeout, purge batch, ...) beside the ones every backend
//! has: `namespace`, `operation_timeout` and the clock. Identifier
//! validation goes here too: refuse, with a `Config` error, a namespace the
//! database cannot hold as a name (a table, a key prefix, a collection).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use store_core::{Clock, Result, SystemClock};

use crate::error;

/// The namespace of a store whose config sets none: `"store"`.
pub const DEFAULT_NAMESPACE: &str = "store";

/// The default [`TemplateConfig::operation_timeout`]: 10 seconds.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest namespace accepted, in bytes: 128.
pub const MAX_NAMESPACE_LEN: usize = 128;

/// Settings of a [`TemplateStore`](crate::TemplateStore).
///
/// ```
/// use std::time::Duration;
/// use store_core::ManualClock;
/// use store_template::{TemplateClient, TemplateConfig, TemplateStore};
///
/// let config = TemplateConfig::default()
///     .namespace("sessions")
///     .operation_timeout(Duration::from_secs(2))
///     .clock(ManualClock::starting_now());
/// let store = TemplateStore::with_config(TemplateClient::default(), config)?;
/// assert_eq!(store.namespace(), "sessions");
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Clone)]
pub struct TemplateConfig {
    pub(crate) namespace: String,
    pub(crate) operation_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }
}

impl TemplateConfig {
    /// The namespace the store reads and writes (default
    /// [`DEFAULT_NAMESPACE`]). Checked when the store is made: 1 to
    /// [`MAX_NAMESPACE_LEN`] bytes, no control characters.
    ///
    /// ```
    /// let config = store_template::TemplateConfig::default().namespace("tokens");
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The longest one store call may take before it fails with a
    /// retryable `Unavailable` (default [`DEFAULT_OPERATION_TIMEOUT`]).
    /// A write cut off by it may or may not have been applied.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = store_template::TemplateConfig::default().operation_timeout(Duration::from_secs(1));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The clock that decides expiry (default [`SystemClock`]; the
    /// conformance suite passes a `ManualClock`).
    ///
    /// ```
    /// use store_core::ManualClock;
    /// let config = store_template::TemplateConfig::default().clock(ManualClock::starting_now());
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Refuses settings no store can work with.
    pub(crate) fn validate(&self) -> Result<()> {
        validate_namespace(&self.namespace)?;
        if self.operation_timeout.is_zero() {
            return Err(error::config("operation_timeout must be above zero"));
        }
        Ok(())
    }
}

/// `Ok` for a namespace the database can hold: 1 to [`MAX_NAMESPACE_LEN`]
/// bytes without control characters. The error does not repeat the name.
pub(crate) fn validate_namespace(namespace: &str) -> Result<()> {
    if namespace.is_empty() || namespace.len() > MAX_NAMESPACE_LEN {
        return Err(error::config(format!(
            "a namespace must be 1 to {MAX_NAMESPACE_LEN} bytes long, got {}",
            namespace.len()
        )));
    }
    if namespace.chars().any(char::is_control) {
        return Err(error::config(
            "a namespace must not contain control characters",
        ));
    }
    Ok(())
}

impl fmt::Debug for TemplateConfig {
    /// Never print credentials here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateConfig")
            .field("namespace", &self.namespace)
            .field("operation_timeout", &self.operation_timeout)
            .field("clock", &self.clock)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_checked() {
        assert!(validate_namespace("conformance-0123456789abcdef").is_ok());
        assert!(validate_namespace("app:tenant2").is_ok());
        for bad in [
            String::new(),
            "a\nb".to_owned(),
            "x".repeat(MAX_NAMESPACE_LEN + 1),
        ] {
            let err = validate_namespace(&bad).unwrap_err();
            assert_eq!(err.kind(), store_core::ErrorKind::Config, "{bad:?}");
        }
        let zero = TemplateConfig::default().operation_timeout(Duration::ZERO);
        assert!(zero.validate().is_err());
    }
}
