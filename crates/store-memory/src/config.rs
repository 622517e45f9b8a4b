//! [`MemoryConfig`]: how a [`MemoryStore`](crate::MemoryStore) is built.

use std::fmt;
use std::sync::Arc;

use store_core::{Clock, DEFAULT_MAX_VALUE_LEN, Result, SystemClock};

use crate::error;

/// The default number of shards: 64.
pub const DEFAULT_SHARDS: usize = 64;

/// Settings of a [`MemoryStore`](crate::MemoryStore).
///
/// ```
/// use store_core::ManualClock;
/// use store_memory::{MemoryConfig, MemoryStore};
///
/// let clock = ManualClock::starting_now();
/// let store = MemoryStore::with_config(
///     MemoryConfig::default()
///         .namespace("sessions")
///         .capacity(10_000)
///         .clock(clock.clone()),
/// )?;
/// assert_eq!(store.namespace(), "sessions");
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// The namespace of the first store handle; others come from
    /// [`MemoryStore::with_namespace`](crate::MemoryStore::with_namespace).
    /// Any string, default `""`.
    pub namespace: String,
    /// How many independently locked shards hold the entries (rounded up to
    /// a power of two, at least 1). Default [`DEFAULT_SHARDS`].
    pub shards: usize,
    /// The most entries (live or expired but not yet purged, over all
    /// namespaces) the store holds; a write of a new key beyond it purges
    /// expired entries once and then fails with
    /// [`ErrorKind::CapacityExceeded`](store_core::ErrorKind::CapacityExceeded).
    /// Default `None`: unbounded.
    pub capacity: Option<usize>,
    /// The largest value accepted, in bytes. Default
    /// [`DEFAULT_MAX_VALUE_LEN`] (4 MiB).
    pub max_value_len: usize,
    /// The clock that decides expiry. Default [`SystemClock`].
    pub clock: Arc<dyn Clock>,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            shards: DEFAULT_SHARDS,
            capacity: None,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            clock: Arc::new(SystemClock),
        }
    }
}

impl MemoryConfig {
    /// Sets [`MemoryConfig::namespace`].
    ///
    /// ```
    /// let config = store_memory::MemoryConfig::default().namespace("sessions");
    /// assert_eq!(config.namespace, "sessions");
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets [`MemoryConfig::shards`].
    ///
    /// ```
    /// let config = store_memory::MemoryConfig::default().shards(8);
    /// assert_eq!(config.shards, 8);
    /// ```
    #[must_use]
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Sets [`MemoryConfig::capacity`].
    ///
    /// ```
    /// let config = store_memory::MemoryConfig::default().capacity(1000);
    /// assert_eq!(config.capacity, Some(1000));
    /// ```
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets [`MemoryConfig::max_value_len`].
    ///
    /// ```
    /// let config = store_memory::MemoryConfig::default().max_value_len(1024);
    /// assert_eq!(config.max_value_len, 1024);
    /// ```
    #[must_use]
    pub fn max_value_len(mut self, max_value_len: usize) -> Self {
        self.max_value_len = max_value_len;
        self
    }

    /// Sets [`MemoryConfig::clock`].
    ///
    /// ```
    /// use store_core::ManualClock;
    /// let config = store_memory::MemoryConfig::default().clock(ManualClock::starting_now());
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

impl MemoryConfig {
    /// Refuses limits no store can work with: a zero
    /// [`max_value_len`](MemoryConfig::max_value_len) or
    /// [`capacity`](MemoryConfig::capacity). Every namespace is accepted.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_value_len == 0 {
            return Err(error::config("max_value_len must be at least 1 byte"));
        }
        if self.capacity == Some(0) {
            return Err(error::config(
                "capacity must be at least 1 entry (or None for unbounded)",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for MemoryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryConfig")
            .field("namespace", &self.namespace)
            .field("shards", &self.shards)
            .field("capacity", &self.capacity)
            .field("max_value_len", &self.max_value_len)
            .field("clock", &self.clock)
            .finish()
    }
}
