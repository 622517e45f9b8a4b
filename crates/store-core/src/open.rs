//! Opening a backend from a URL: [`Open`] and [`OpenOptions`].
//!
//! Every backend crate implements [`Open`] for its store type, with the
//! same options, so `store::open(url)` and the test suites open any backend
//! the same way.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::redact::redact_url;
use crate::store::Store;

/// The options every backend understands when opened from a URL.
///
/// Each is optional; a backend without the notion ignores it (memory has no
/// table to create and no server to wait for). Build it with the setters;
/// backends read the fields.
///
/// ```
/// use std::time::Duration;
/// let options = store_core::OpenOptions::default()
///     .namespace("sessions")
///     .setup(false)
///     .purge_batch(500)
///     .operation_timeout(Duration::from_secs(2));
/// assert_eq!(options.namespace.as_deref(), Some("sessions"));
/// assert!(!options.setup);
/// assert_eq!(options.purge_batch, Some(500));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenOptions {
    /// The store's namespace: key prefix (memory, Redis), table (SQL) or
    /// collection (MongoDB); `None` for the backend's own default.
    pub namespace: Option<String>,
    /// Whether opening creates the table or the indexes (default `true`).
    pub setup: bool,
    /// Expired entries per statement of `delete_expired`, where the backend
    /// works in batches; `None` for the backend's default.
    pub purge_batch: Option<u32>,
    /// The bound on one store call; `None` for the backend's default.
    pub operation_timeout: Option<Duration>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            setup: true,
            purge_batch: None,
            operation_timeout: None,
        }
    }
}

impl OpenOptions {
    /// The store's namespace: key prefix (memory, Redis), table (SQL) or
    /// collection (MongoDB). Default: the backend's own (`store`,
    /// `store_entries`). An invalid name is a `Config` error from
    /// [`Open::open`].
    ///
    /// ```
    /// let options = store_core::OpenOptions::default().namespace("sessions");
    /// assert_eq!(options.namespace.as_deref(), Some("sessions"));
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Whether to create the table (SQL) or the indexes (MongoDB) when
    /// opening: default `true`, and idempotent.
    ///
    /// ```
    /// let options = store_core::OpenOptions::default().setup(false);
    /// assert!(!options.setup);
    /// ```
    #[must_use]
    pub fn setup(mut self, setup: bool) -> Self {
        self.setup = setup;
        self
    }

    /// How many expired entries each statement of
    /// [`Store::delete_expired`] removes where the backend works in batches
    /// (SQL, MongoDB). A value out of the backend's range is a `Config`
    /// error from [`Open::open`].
    ///
    /// ```
    /// let options = store_core::OpenOptions::default().purge_batch(500);
    /// assert_eq!(options.purge_batch, Some(500));
    /// ```
    #[must_use]
    pub fn purge_batch(mut self, rows: u32) -> Self {
        self.purge_batch = Some(rows);
        self
    }

    /// The longest one store call may wait for its server before it fails
    /// with a retryable `Unavailable`: the same setting as each backend
    /// config's `operation_timeout`. Default: the backend's own.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = store_core::OpenOptions::default().operation_timeout(Duration::from_secs(1));
    /// assert_eq!(options.operation_timeout, Some(Duration::from_secs(1)));
    /// ```
    #[must_use]
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }
}

/// A store that can be opened from a URL: what `store::open` calls, and
/// what the test suites use to reach every backend the same way.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use store_core::{Open, OpenOptions, Store};
/// use store_memory::MemoryStore;
/// assert!(MemoryStore::SCHEMES.contains(&"memory"));
/// let options = OpenOptions::default().namespace("sessions");
/// let store = MemoryStore::open("memory://", &options).await?;
/// assert_eq!(store.capabilities().backend, MemoryStore::NAME);
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Open: Store + Sized + 'static {
    /// The backend's name, as in errors and [`Capabilities::backend`](crate::Capabilities::backend).
    const NAME: &'static str;

    /// The URL schemes this backend opens, lowercase, without `:`; the
    /// first is the canonical one.
    const SCHEMES: &'static [&'static str];

    /// Opens a store at `url` with `options`, creating its table or
    /// indexes when [`OpenOptions::setup`](OpenOptions::setup()) says so.
    ///
    /// # Errors
    /// `Config` for a URL or an option the backend refuses (the URL shown
    /// with its secrets masked); `Unavailable` when the server does not
    /// answer.
    async fn open(url: &str, options: &OpenOptions) -> Result<Self>;
}

/// `Ok` when `url`'s scheme is one of `schemes` (any case); otherwise the
/// `Config` error every backend gives for a URL that is not its own, with
/// the URL's secrets masked.
///
/// ```
/// use store_core::{ErrorKind, check_scheme};
/// assert!(check_scheme("Redis://h", "redis", &["redis", "rediss"]).is_ok());
/// let err = check_scheme("http://u:secret@h", "redis", &["redis", "rediss"]).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Config);
/// assert!(err.message().contains("use redis:// or rediss://"), "{err}");
/// assert!(!err.to_string().contains("secret"));
/// ```
///
/// # Errors
/// `Config`, in the context of `backend` and [`Operation::Connect`].
pub fn check_scheme(url: &str, backend: &'static str, schemes: &[&str]) -> Result<()> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme);
    if scheme.is_some_and(|s| schemes.iter().any(|known| known.eq_ignore_ascii_case(s))) {
        return Ok(());
    }
    let choices: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
    let message = format!(
        "{} is not a {backend} URL: use {}",
        redact_url(url),
        choices.join(" or ")
    );
    Err(Error::new(ErrorKind::Config, message).in_context(backend, Operation::Connect))
}
