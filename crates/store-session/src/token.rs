//! [`TokenStore`]: typed per-user state, and a token refresh that runs once
//! however many requests and processes ask at the same time.
//!
//! About 800 lines (and its tests) on purpose: the refresh protocol (take
//! the lease, renew it, write, release) is read as one piece.
//!
//! The lease lives in the token's own entry: taking it is a compare-and-swap
//! against the token that was read, and writing the new token is a
//! compare-and-swap against the lease's last version, which both confirms
//! the lease and releases it. An uncontended refresh is thus three round
//! trips: the read, the take and the write.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use store_core::{
    Clock, Error, ErrorKind, Expiry, Key, Operation, PutMode, PutOptions, Result, Store,
    SystemClock, Version,
};

/// How long a user's refresh lease lives without being renewed, by
/// default: 30 seconds. The holder renews it every third of this while its
/// refresh runs; another process takes it over only once the holder has
/// stopped renewing it for this long (it crashed or hung).
pub const DEFAULT_REFRESH_LEASE: Duration = Duration::from_secs(30);

/// The shortest refresh lease: shorter values given to
/// [`TokenStore::with_refresh_lease`] are raised to it.
pub const MIN_REFRESH_LEASE: Duration = Duration::from_millis(100);

/// How long one refresh may run before it is abandoned, by default: 60
/// seconds.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(60);

/// A value that is valid until some time, such as an OAuth access token.
///
/// ```
/// use store_core::Expiry;
/// use store_session::Expiring;
///
/// struct Tokens { access: String, refresh: String, expires_at: Expiry }
/// impl Expiring for Tokens {
///     fn expires_at(&self) -> Expiry { self.expires_at }
/// }
/// ```
pub trait Expiring {
    /// When the value stops being valid.
    fn expires_at(&self) -> Expiry;
}

/// A value read from a [`TokenStore`], with the version to pass to a
/// conditional write.
#[derive(Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// The version of the stored entry.
    pub version: Version,
}

impl<T> fmt::Debug for Versioned<T> {
    /// Never shows the value: it may be a token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versioned")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Why [`TokenStore::get_fresh`] failed: the store, the refresh itself, or
/// the refresh lease.
///
/// In every case but one no token was written by this call: a `Store`
/// error of the final write may hide a write that landed though its answer
/// was lost, in which case the new token is stored.
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshError<E> {
    /// The store failed.
    Store(Error),
    /// The refresh function failed; nothing was written.
    Refresh(E),
    /// The refresh ran longer than the refresh timeout
    /// ([`TokenStore::with_refresh_timeout`]): it was abandoned, nothing was
    /// written and the lease was released.
    TimedOut(Duration),
    /// This caller's process lost the refresh lease while its refresh ran
    /// (it could not renew it for a whole lease, so another process may
    /// have taken over): the token it got, if any, was not written. Retry
    /// with `get_fresh`, which returns the token the new holder writes.
    LeaseLost,
}

impl<E> RefreshError<E> {
    /// Whether calling `get_fresh` again may succeed: a store error that is
    /// retryable, a timeout or a lost lease. A failed refresh is the refresh
    /// function's to judge, so it is `false`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use store_session::RefreshError;
    ///
    /// assert!(RefreshError::<std::io::Error>::LeaseLost.is_retryable());
    /// assert!(RefreshError::<std::io::Error>::TimedOut(Duration::from_secs(60)).is_retryable());
    /// assert!(!RefreshError::Refresh(std::io::Error::other("invalid_grant")).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Refresh(_) => false,
            Self::TimedOut(_) | Self::LeaseLost => true,
        }
    }
}

impl<E: fmt::Display> fmt::Display for RefreshError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "token store: {e}"),
            Self::Refresh(e) => write!(f, "token refresh: {e}"),
            Self::TimedOut(after) => write!(
                f,
                "token refresh: abandoned after {} ms (the refresh timeout); nothing was written",
                after.as_millis()
            ),
            Self::LeaseLost => f.write_str(
                "token refresh: the refresh lease was lost while the refresh ran; nothing was written",
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RefreshError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            Self::Refresh(e) => Some(e),
            Self::TimedOut(_) | Self::LeaseLost => None,
        }
    }
}

impl<E> From<Error> for RefreshError<E> {
    fn from(e: Error) -> Self {
        Self::Store(e)
    }
}

/// The callers of one user's refresh in this process: they take turns,
/// and share a failure.
#[derive(Default)]
struct Flight {
    turn: tokio::sync::Mutex<()>,
    /// How many refreshes failed: a caller that queued before a failure
    /// fails too, instead of trying again right after it.
    failures: AtomicU64,
}

/// Typed per-user state in a [`Store`], keyed by (namespace, user id),
/// stored as JSON: OAuth tokens, API keys, preferences.
///
/// Every write is awaited and its error returned. `Debug` never shows a
/// value.
///
/// ```
/// use std::sync::Arc;
/// use store_session::TokenStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let tokens: TokenStore<String> = TokenStore::new(Arc::new(store_memory::MemoryStore::new()), "github")?;
/// tokens.set("user-1", &"gho_secret".to_owned()).await?;
/// assert_eq!(tokens.get("user-1").await?.unwrap().value, "gho_secret");
/// assert!(tokens.delete("user-1").await?);
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
pub struct TokenStore<T> {
    store: Arc<dyn Store>,
    namespace: String,
    clock: Arc<dyn Clock>,
    lease: Duration,
    refresh_timeout: Duration,
    /// One lock per user with a refresh in flight in this process.
    flights: Arc<Mutex<HashMap<String, Arc<Flight>>>>,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for TokenStore<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            namespace: self.namespace.clone(),
            clock: self.clock.clone(),
            lease: self.lease,
            refresh_timeout: self.refresh_timeout,
            flights: self.flights.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> fmt::Debug for TokenStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync> TokenStore<T> {
    /// Typed state in `namespace` of `store` (for example `"github"`).
    ///
    /// # Errors
    /// `InvalidInput` for an empty namespace or one with `:`.
    pub fn new(store: Arc<dyn Store>, namespace: &str) -> Result<Self> {
        if namespace.is_empty() || namespace.contains(':') {
            return Err(Error::invalid_input(
                "a token namespace is non-empty and has no ':'",
            ));
        }
        Ok(Self {
            store,
            namespace: namespace.to_owned(),
            clock: Arc::new(SystemClock),
            lease: DEFAULT_REFRESH_LEASE,
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
            flights: Arc::default(),
            _value: PhantomData,
        })
    }

    /// The clock that decides whether a token is fresh and whether another
    /// process's refresh lease has run out (default the system clock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long a user's refresh lease lives without renewal (default
    /// [`DEFAULT_REFRESH_LEASE`], at least [`MIN_REFRESH_LEASE`]).
    ///
    /// The holder renews the lease every third of this while its refresh
    /// runs, however long the refresh takes (up to the refresh timeout).
    /// Another process takes the lease over only when the holder has not
    /// renewed it for a whole lease: the holder crashed, or hung so that
    /// its renewals stopped. A shorter lease lets another process take
    /// over sooner after a crash; it must stay well above the store's
    /// round-trip time and the clock difference between processes.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let store = std::sync::Arc::new(store_memory::MemoryStore::new());
    /// let tokens = store_session::TokenStore::<String>::new(store, "github")?
    ///     .with_refresh_lease(Duration::from_secs(10));
    /// # let _ = tokens;
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn with_refresh_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(MIN_REFRESH_LEASE);
        self
    }

    /// How long one refresh may run (default [`DEFAULT_REFRESH_TIMEOUT`]).
    /// A refresh still running then is abandoned (its future is dropped),
    /// nothing is written, the lease is released and the caller gets
    /// [`RefreshError::TimedOut`]; so a refresh that never ends cannot
    /// keep a user's lease forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let store = std::sync::Arc::new(store_memory::MemoryStore::new());
    /// let tokens = store_session::TokenStore::<String>::new(store, "github")?
    ///     .with_refresh_timeout(Duration::from_secs(20));
    /// # let _ = tokens;
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn with_refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = timeout;
        self
    }

    fn key(&self, kind: &str, user: &str) -> Result<Key> {
        Key::new(format!("{kind}:{}:{user}", self.namespace))
    }

    fn encode(value: &T) -> Result<Bytes> {
        serde_json::to_vec(value).map(Bytes::from).map_err(|e| {
            Error::new(ErrorKind::Encoding, format!("cannot encode the value: {e}"))
                .with_operation(Operation::Encode)
        })
    }

    /// The user's value and its version.
    ///
    /// # Errors
    /// `Encoding` when the stored value is not a `T`; the store's errors.
    pub async fn get(&self, user: &str) -> Result<Option<Versioned<T>>> {
        let stored = self.read_key(&self.key("token", user)?).await?;
        Ok(stored.and_then(|s| {
            s.token.map(|value| Versioned {
                value,
                version: s.version,
            })
        }))
    }

    /// The entry at `key`: the token (if any), its raw JSON and the
    /// refresh lease it carries (if any).
    async fn read_key(&self, key: &Key) -> Result<Option<Stored<T>>> {
        let Some(entry) = self.store.get(key).await? else {
            return Ok(None);
        };
        let (raw, lease) = match Held::split(&entry.value) {
            Some((held, raw)) => (raw, Some(held)),
            None => (entry.value, None),
        };
        let token = if raw.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&raw).map_err(|_| {
                Error::new(
                    ErrorKind::Encoding,
                    "the stored value is not of the expected type",
                )
                .with_operation(Operation::Decode)
            })?)
        };
        Ok(Some(Stored {
            version: entry.version,
            raw,
            token,
            lease,
        }))
    }

    /// Writes the user's value, whatever was there.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn set(&self, user: &str, value: &T) -> Result<Version> {
        let key = self.key("token", user)?;
        let written = self
            .store
            .put(&key, Self::encode(value)?, PutMode::Upsert.into())
            .await?;
        Ok(written.version)
    }

    /// Writes the user's value only if the stored one is still `expected`
    /// (compare-and-swap); `None` writes only where there is no value.
    ///
    /// A refresh in progress ([`TokenStore::get_fresh`]) counts as a write:
    /// its lease lives in the same entry, so during it this may fail with
    /// `VersionMismatch` (or `AlreadyExists` for a user without a token)
    /// though the token did not change. A write that lands wins over the
    /// refresh, whose token is then not written.
    ///
    /// # Errors
    /// `VersionMismatch` or `AlreadyExists` when someone wrote meanwhile,
    /// `NotFound` when it was deleted; the store's errors.
    pub async fn update(
        &self,
        user: &str,
        expected: Option<Version>,
        value: &T,
    ) -> Result<Version> {
        let mode = expected.map_or(PutMode::Create, PutMode::UpdateIf);
        let key = self.key("token", user)?;
        let written = self
            .store
            .put(&key, Self::encode(value)?, mode.into())
            .await?;
        Ok(written.version)
    }

    /// Deletes the user's value; returns whether there was an entry (which,
    /// while a refresh runs for a user without a token, is its lease). A
    /// refresh running meanwhile writes nothing.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn delete(&self, user: &str) -> Result<bool> {
        self.store.delete(&self.key("token", user)?, None).await
    }
}

impl<T: Serialize + DeserializeOwned + Expiring + Clone + Send + Sync> TokenStore<T> {
    fn fresh(&self, stored: &Option<Stored<T>>, skew: Duration) -> Option<T> {
        let token = stored.as_ref()?.token.as_ref()?;
        let needed = self.clock.now().checked_add(skew).ok()?;
        (token.expires_at() > needed).then(|| token.clone())
    }

    /// The user's token, valid for at least `skew` more; refreshed with
    /// `refresh(current)` when it is not (or missing).
    ///
    /// However many callers ask at once, one refresh runs at a time:
    /// - in one process, callers for the same user wait for one refresh and
    ///   all get its token; if it fails, the callers that waited for it
    ///   fail too (`Unavailable`, retryable) instead of each trying again;
    /// - across processes (store objects on one backend), a lease kept in
    ///   the token's entry lets exactly one refresh: it is taken by
    ///   compare-and-swap against the token that was read, so a process
    ///   that read a token someone refreshed meanwhile takes nothing; the
    ///   others wait for its token. The holder renews the lease
    ///   (compare-and-swap on the entry's version) every third of the lease
    ///   while its refresh runs, so no other process starts a refresh
    ///   however long it takes;
    ///   the lease is taken over only when the holder has stopped renewing
    ///   it for a whole lease ([`TokenStore::with_refresh_lease`]), judged
    ///   by each process's clock ([`TokenStore::with_clock`]).
    /// - The holder writes the new token with compare-and-swap against the
    ///   lease's last version, which confirms and releases the lease in one
    ///   write: a token or a lease written meanwhile is never overwritten,
    ///   and a holder whose lease was taken over writes nothing
    ///   ([`RefreshError::LeaseLost`]). An uncontended refresh is three
    ///   round trips of the store: the read, the take and the write.
    /// - While a refresh runs, the token's entry changes with each renewal:
    ///   [`TokenStore::update`] against a version read before may fail with
    ///   `VersionMismatch` though the token is the same; read it again.
    ///
    /// Refresh tokens that rotate are thus used once, with one exception no
    /// lease can close: a holder that dies (or hangs for a whole lease)
    /// after the provider accepted its refresh token and before the new
    /// token is written. The provider has rotated the token, the store
    /// still holds the old one, and the process that takes over after the
    /// lease presents the old refresh token again. Keep refresh calls
    /// short (an HTTP timeout well under the refresh timeout) to keep that
    /// window small.
    ///
    /// # Errors
    /// [`RefreshError::Refresh`] when `refresh` fails (nothing is written,
    /// the lease is released); [`RefreshError::TimedOut`] when it runs past
    /// the refresh timeout; [`RefreshError::LeaseLost`] when the lease could
    /// not be renewed; [`RefreshError::Store`] for the store's errors, or
    /// `Unavailable` when another process holds the lease longer than a
    /// refresh may run.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use store_core::{Clock, Expiry, SystemClock};
    /// use store_session::{Expiring, TokenStore};
    ///
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// struct Tokens { access: String, refresh: String, expires_at: i64 }
    /// impl Expiring for Tokens {
    ///     fn expires_at(&self) -> Expiry { Expiry::from_unix_millis(self.expires_at).unwrap() }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let tokens: TokenStore<Tokens> =
    ///     TokenStore::new(Arc::new(store_memory::MemoryStore::new()), "github")?;
    /// let fresh = tokens
    ///     .get_fresh("user-1", Duration::from_secs(60), |old| async move {
    ///         // Call the provider with `old`'s refresh token here.
    ///         let in_an_hour = SystemClock.now().as_unix_millis() + 3_600_000;
    ///         Ok::<_, std::io::Error>(Tokens {
    ///             access: "new-access".into(),
    ///             refresh: "new-refresh".into(),
    ///             expires_at: in_an_hour,
    ///         })
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(fresh.access, "new-access");
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_fresh<F, Fut, E>(
        &self,
        user: &str,
        skew: Duration,
        refresh: F,
    ) -> std::result::Result<T, RefreshError<E>>
    where
        F: FnOnce(Option<T>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let key = self.key("token", user)?;
        let current = self.read_key(&key).await?;
        if let Some(token) = self.fresh(&current, skew) {
            return Ok(token);
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(user.to_owned()).or_default().clone()
        };
        let failures = flight.failures.load(Ordering::SeqCst);
        let result = {
            // A caller that did not wait for another of this process goes
            // on from its own read; one that waited reads again.
            let (_turn, known) = match flight.turn.try_lock() {
                Ok(turn) => (turn, Some(current)),
                Err(_) => (flight.turn.lock().await, None),
            };
            if flight.failures.load(Ordering::SeqCst) != failures {
                Err(RefreshError::Store(Error::new(
                    ErrorKind::Unavailable,
                    "the token refresh of a concurrent caller just failed; try again",
                )))
            } else {
                let result = self.refresh_once(key, known, skew, refresh).await;
                if result.is_err() {
                    flight.failures.fetch_add(1, Ordering::SeqCst);
                }
                result
            }
        };
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(&flight) <= 2 {
            flights.remove(user);
        }
        result
    }

    /// Holding this process's lock for the user: take the lease, refresh,
    /// write; or wait for the process that holds the lease. `known` is the
    /// entry as this caller last read it, if that read is still current.
    async fn refresh_once<F, Fut, E>(
        &self,
        key: Key,
        mut known: Option<Option<Stored<T>>>,
        skew: Duration,
        refresh: F,
    ) -> std::result::Result<T, RefreshError<E>>
    where
        F: FnOnce(Option<T>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let mut pause = Duration::from_millis(10);
        // A live holder keeps the lease at most for the refresh timeout,
        // plus one lease after its last renewal if it then dies.
        let give_up = tokio::time::Instant::now() + self.refresh_timeout + self.lease * 2;
        loop {
            // Another caller of this process, or another process, may have
            // refreshed while we waited.
            let current = match known.take() {
                Some(current) => current,
                None => self.read_key(&key).await?,
            };
            if let Some(token) = self.fresh(&current, skew) {
                return Ok(token);
            }
            let now = self.clock.now();
            let held_by_another = current
                .as_ref()
                .and_then(|c| c.lease.as_ref())
                .is_some_and(|held| held.until_millis > now.as_unix_millis());
            if held_by_another {
                if tokio::time::Instant::now() >= give_up {
                    return Err(RefreshError::Store(Error::new(
                        ErrorKind::Unavailable,
                        "another process has held the token refresh lease for longer than \
                         a refresh may run",
                    )));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
                continue;
            }
            // Take the lease: compare-and-swap against what was read, so
            // a token refreshed since that read (or a lease taken) makes
            // the take fail instead of refreshing again.
            let taken_at = tokio::time::Instant::now();
            let until = now.checked_add(self.lease)?;
            let mut lease = Lease {
                key: key.clone(),
                holder: Lease::holder()?,
                version: Version::from_u64(0),
                renewed_at: taken_at,
                raw: current.as_ref().map(|c| c.raw.clone()).unwrap_or_default(),
            };
            let mode = current
                .as_ref()
                .map_or(PutMode::Create, |c| PutMode::UpdateIf(c.version));
            match self
                .store
                .put(&key, lease.entry(until), lease.options(mode, until))
                .await
            {
                Ok(taken) => {
                    lease.version = taken.version;
                    let old = current.and_then(|c| c.token);
                    return self.refresh_holding(old, skew, refresh, &mut lease).await;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::VersionMismatch | ErrorKind::AlreadyExists | ErrorKind::NotFound
                    ) =>
                {
                    // Written meanwhile: read again, after a pause that grows
                    // while others keep writing.
                    if tokio::time::Instant::now() >= give_up {
                        return Err(RefreshError::Store(Error::new(
                            ErrorKind::Unavailable,
                            "the token entry kept changing under every take of the refresh \
                             lease for longer than a refresh may run",
                        )));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(e) => {
                    // The lease may have been taken though the answer was
                    // lost: give it back rather than make others wait.
                    if e.is_retryable() {
                        if let Ok(Some(stored)) = self.read_key(&key).await {
                            if stored.lease.is_some_and(|h| h.holder == lease.holder) {
                                lease.version = stored.version;
                                self.release(&lease).await;
                            }
                        }
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// Holding the lease: runs the refresh while renewing the lease every
    /// third of it, then writes the token. A refresh that fails or runs out
    /// of time gives the lease back; once the refresh has returned a token
    /// the lease is never given back by hand, since the provider may have
    /// rotated its refresh token: the token is written, or the lease runs
    /// out.
    async fn refresh_holding<F, Fut, E>(
        &self,
        current: Option<T>,
        skew: Duration,
        refresh: F,
        lease: &mut Lease,
    ) -> std::result::Result<T, RefreshError<E>>
    where
        F: FnOnce(Option<T>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let deadline = tokio::time::Instant::now() + self.refresh_timeout;
        let every = self.lease / 3;
        let running = refresh(current);
        tokio::pin!(running);
        let outcome = loop {
            tokio::select! {
                biased;
                out = &mut running => break out.map_err(RefreshError::Refresh),
                () = tokio::time::sleep_until(deadline) => {
                    break Err(RefreshError::TimedOut(self.refresh_timeout));
                }
                () = tokio::time::sleep(every) => {
                    // A renewal that failed for a passing reason is tried
                    // again at the next tick, while the lease still stands.
                    match self.renew(lease).await {
                        Err(RefreshError::Store(e)) if e.is_retryable() => {
                            if lease.renewed_at.elapsed() + every >= self.lease {
                                break Err(RefreshError::LeaseLost);
                            }
                        }
                        Err(e) => break Err(e),
                        Ok(()) => {}
                    }
                }
            }
        };
        let token = match outcome {
            Ok(token) => token,
            Err(e) => {
                self.release(lease).await;
                return Err(e);
            }
        };
        // The write is a compare-and-swap against the lease, safe whenever
        // it lands: a failure that passes is retried for as long as a
        // refresh may run, so a store that comes back in that time does not
        // lose the new token.
        let give_up = tokio::time::Instant::now() + self.refresh_timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.write_holding(&token, skew, lease).await {
                Err(RefreshError::Store(e))
                    if e.is_retryable() && tokio::time::Instant::now() + pause < give_up =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    /// Writes `token` with compare-and-swap against the lease's version:
    /// it lands only if no one took the lease over or wrote meanwhile, and
    /// it releases the lease (the new entry holds none).
    async fn write_holding<E>(
        &self,
        token: &T,
        skew: Duration,
        lease: &mut Lease,
    ) -> std::result::Result<T, RefreshError<E>> {
        let value = Self::encode(token)?;
        for _ in 0..2 {
            let written = self
                .store
                .put(
                    &lease.key,
                    value.clone(),
                    PutMode::UpdateIf(lease.version).into(),
                )
                .await;
            let e = match written {
                Ok(_) => return Ok(token.clone()),
                Err(e) if matches!(e.kind(), ErrorKind::VersionMismatch | ErrorKind::NotFound) => e,
                Err(e) => return Err(e.into()),
            };
            match self.read_key(&lease.key).await? {
                // Deleted meanwhile: the deletion stands.
                None => return Err(e.into()),
                Some(stored) => match stored.lease {
                    // Still ours under a version whose answer was lost (a
                    // renewal's): write against that one.
                    Some(held) if held.holder == lease.holder => lease.version = stored.version,
                    Some(_) => return Err(RefreshError::LeaseLost),
                    // No lease: our lease ran out and another process
                    // refreshed (or gave up and put the old token back),
                    // or someone wrote without one (a plain `set`, or this
                    // very write whose answer was lost). Only a fresh token
                    // written while our lease stood is taken as the answer.
                    None if lease.renewed_at.elapsed() >= self.lease => {
                        return Err(RefreshError::LeaseLost);
                    }
                    None => {
                        let fresh = Some(stored);
                        return self.fresh(&fresh, skew).ok_or(RefreshError::LeaseLost);
                    }
                },
            }
        }
        Err(RefreshError::LeaseLost)
    }

    /// Moves the lease a whole lease ahead, if it is still ours
    /// (compare-and-swap on the entry's version; when that fails, the lease
    /// is ours still if the entry holds our holder id: an earlier renewal
    /// whose answer was lost). `LeaseLost` when another process took it
    /// over or the entry was written or deleted; `Store` for the store's
    /// errors.
    async fn renew<E>(&self, lease: &mut Lease) -> std::result::Result<(), RefreshError<E>> {
        // Twice at most: an earlier renewal that landed though its answer
        // was lost is found, and renewed once more from its version, so the
        // time of the last renewal is known again.
        for _ in 0..2 {
            let started = tokio::time::Instant::now();
            let until = self.clock.now().checked_add(self.lease)?;
            let renewed = self
                .store
                .put(
                    &lease.key,
                    lease.entry(until),
                    lease.options(PutMode::UpdateIf(lease.version), until),
                )
                .await;
            match renewed {
                Ok(written) => {
                    lease.version = written.version;
                    lease.renewed_at = started;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::VersionMismatch => {
                    match self.read_key(&lease.key).await? {
                        Some(stored) if stored.lease.is_some_and(|h| h.holder == lease.holder) => {
                            lease.version = stored.version;
                        }
                        _ => return Err(RefreshError::LeaseLost),
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(RefreshError::LeaseLost),
                Err(e) => return Err(e.into()),
            }
        }
        Err(RefreshError::LeaseLost)
    }

    /// Gives the lease back after a failed or abandoned refresh, if it is
    /// still ours: the entry as it was before the take (deleted when there
    /// was no token).
    async fn release(&self, lease: &Lease) {
        let _ = if lease.raw.is_empty() {
            self.store
                .delete(&lease.key, Some(lease.version))
                .await
                .map(drop)
        } else {
            self.store
                .put(
                    &lease.key,
                    lease.raw.clone(),
                    PutMode::UpdateIf(lease.version).into(),
                )
                .await
                .map(drop)
        };
    }
}

/// A token entry as read: its version, the token's JSON (empty when there
/// is none), the token, and the refresh lease it carries.
struct Stored<T> {
    version: Version,
    raw: Bytes,
    token: Option<T>,
    lease: Option<Held>,
}

/// The refresh lease a token entry carries: the holder's id and until
/// when (Unix milliseconds, on the holder's clock) it holds.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Held {
    holder: [u8; 16],
    until_millis: i64,
}

/// The first bytes of a token entry that carries a refresh lease. No JSON
/// text starts with a NUL byte, so an entry without a lease, which is the
/// token's JSON alone, can never be taken for one.
pub(crate) const LEASE_MAGIC: &[u8; 8] = b"\0lease1\0";

/// The magic, the holder id and the expiry of the lease.
const LEASE_HEADER: usize = LEASE_MAGIC.len() + 16 + 8;

impl Held {
    /// The lease and the token's JSON of an entry that carries a lease.
    fn split(value: &Bytes) -> Option<(Self, Bytes)> {
        if value.len() < LEASE_HEADER || !value.starts_with(LEASE_MAGIC) {
            return None;
        }
        let at = LEASE_MAGIC.len();
        let holder = value[at..at + 16].try_into().ok()?;
        let until_millis = i64::from_be_bytes(value[at + 16..LEASE_HEADER].try_into().ok()?);
        Some((
            Self {
                holder,
                until_millis,
            },
            value.slice(LEASE_HEADER..),
        ))
    }
}

/// The refresh lease this process holds for one user.
struct Lease {
    /// The token's key: the lease lives in its entry.
    key: Key,
    /// 16 random bytes that name this holder.
    holder: [u8; 16],
    /// The entry's version after the take or the last renewal.
    version: Version,
    /// When the last successful renewal (or the take) was sent.
    renewed_at: tokio::time::Instant,
    /// The token's JSON as it was when the lease was taken (empty for
    /// none): kept in the entry while the lease is held, and put back if
    /// the refresh fails.
    raw: Bytes,
}

impl Lease {
    /// A fresh holder id.
    fn holder() -> Result<[u8; 16]> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| {
            Error::new(
                ErrorKind::Backend,
                format!("the operating system's random source failed: {e}"),
            )
        })?;
        Ok(id)
    }

    /// The entry that holds the lease until `until`, with the token it
    /// was taken on.
    fn entry(&self, until: Expiry) -> Bytes {
        let mut value = Vec::with_capacity(LEASE_HEADER + self.raw.len());
        value.extend_from_slice(LEASE_MAGIC);
        value.extend_from_slice(&self.holder);
        value.extend_from_slice(&until.as_unix_millis().to_be_bytes());
        value.extend_from_slice(&self.raw);
        Bytes::from(value)
    }

    /// The options of a take or a renewal: an entry with no token expires
    /// with its lease, so a holder that dies leaves nothing behind; a token
    /// keeps living without an expiry, as written by `set`.
    fn options(&self, mode: PutMode, until: Expiry) -> PutOptions {
        let options = PutOptions::new(mode);
        if self.raw.is_empty() {
            options.expires_at(until)
        } else {
            options
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[derive(Clone, Serialize, serde::Deserialize)]
    struct Secret {
        token: String,
    }

    #[tokio::test]
    async fn values_never_show_in_debug_display_or_errors() {
        let store = Arc::new(store_memory::MemoryStore::new());
        let tokens: TokenStore<Secret> = TokenStore::new(store.clone(), "oauth").unwrap();
        let secret = Secret {
            token: "gho_TOPSECRET".into(),
        };
        tokens.set("u1", &secret).await.unwrap();
        let read = tokens.get("u1").await.unwrap().unwrap();
        let shown = format!("{read:?} {tokens:?}");
        assert!(!shown.contains("TOPSECRET"), "{shown}");

        // A stored value of another type: the error names no content.
        let other: TokenStore<u64> = TokenStore::new(store, "oauth").unwrap();
        let err = other.get("u1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encoding);
        assert!(!format!("{err} {err:?}").contains("TOPSECRET"), "{err:?}");

        let refresh: RefreshError<std::io::Error> = RefreshError::Store(err);
        assert!(refresh.to_string().starts_with("token store: "));
        assert!(TokenStore::<u64>::new(Arc::new(store_memory::MemoryStore::new()), "a:b").is_err());
    }
}

#[cfg(test)]
mod flight_tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[derive(Debug, Clone, Serialize, serde::Deserialize)]
    struct Tok(i64);

    impl Expiring for Tok {
        fn expires_at(&self) -> Expiry {
            Expiry::from_unix_millis(self.0).unwrap()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_refresh_fails_its_waiters_instead_of_repeating() {
        let store = Arc::new(store_memory::MemoryStore::new());
        let tokens: TokenStore<Tok> = TokenStore::new(store, "p").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (tokens, calls) = (tokens.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                tokens
                    .get_fresh("u", Duration::from_secs(1), |_| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Err::<Tok, _>(std::io::Error::other("provider down"))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap().is_err());
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one attempt for 20 callers"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refresh_past_the_timeout_is_abandoned_and_releases_the_lease() {
        let store = Arc::new(store_memory::MemoryStore::new());
        let tokens: TokenStore<Tok> = TokenStore::new(store.clone(), "p")
            .unwrap()
            .with_refresh_timeout(Duration::from_millis(200));
        let err = tokens
            .get_fresh("u", Duration::from_secs(1), |_| async {
                std::future::pending::<std::result::Result<Tok, std::io::Error>>().await
            })
            .await
            .unwrap_err();
        assert!(matches!(err, RefreshError::TimedOut(_)), "{err}");
        assert!(err.is_retryable());
        assert!(tokens.get("u").await.unwrap().is_none(), "nothing written");
        let key = Key::new("token:p:u").unwrap();
        assert!(store.get(&key).await.unwrap().is_none(), "no lease left");
        // The lease is free at once: the next refresh does not wait.
        let started = tokio::time::Instant::now();
        let far = store_core::SystemClock.now().as_unix_millis() + 3_600_000;
        let got = tokens
            .get_fresh("u", Duration::from_secs(1), |_| async move {
                Ok::<_, std::io::Error>(Tok(far))
            })
            .await
            .unwrap();
        assert_eq!(got.0, far);
        assert!(started.elapsed() < Duration::from_millis(150));
    }

    #[test]
    fn a_lease_below_the_minimum_is_raised() {
        let tokens: TokenStore<Tok> =
            TokenStore::new(Arc::new(store_memory::MemoryStore::new()), "p")
                .unwrap()
                .with_refresh_lease(Duration::ZERO);
        assert_eq!(tokens.lease, MIN_REFRESH_LEASE);
    }

    /// A store whose first renewal of a lease is applied but answered with
    /// `Unavailable`, as when a connection drops after the server ran it.
    #[derive(Debug)]
    struct LosesOneAnswer {
        inner: store_memory::MemoryStore,
        lost: std::sync::atomic::AtomicBool,
    }

    #[store_core::async_trait]
    impl store_conformance::faults::Intercept for LosesOneAnswer {
        fn inner(&self) -> &dyn Store {
            &self.inner
        }

        async fn put(
            &self,
            key: &Key,
            value: Bytes,
            options: PutOptions,
        ) -> Result<store_core::PutResult> {
            let renewal = key.as_str().starts_with("token:")
                && matches!(options.mode, PutMode::UpdateIf(_))
                && value.starts_with(LEASE_MAGIC);
            let written = self.inner.put(key, value, options).await?;
            if renewal && !self.lost.swap(true, Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Unavailable, "connection reset"));
            }
            Ok(written)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_renewal_whose_answer_was_lost_keeps_the_lease() {
        let store = Arc::new(store_conformance::faults::Intercepted(LosesOneAnswer {
            inner: store_memory::MemoryStore::new(),
            lost: Default::default(),
        }));
        let tokens: TokenStore<Tok> = TokenStore::new(store.clone(), "p")
            .unwrap()
            .with_refresh_lease(Duration::from_millis(300));
        let far = store_core::SystemClock.now().as_unix_millis() + 3_600_000;
        let got = tokens
            .get_fresh("u", Duration::from_secs(1), |_| async move {
                // Two renewals happen meanwhile; the first one's answer is lost.
                tokio::time::sleep(Duration::from_millis(250)).await;
                Ok::<_, std::io::Error>(Tok(far))
            })
            .await
            .unwrap();
        assert_eq!(got.0, far);
        assert!(store.0.lost.load(Ordering::SeqCst), "a renewal happened");
        assert_eq!(tokens.get("u").await.unwrap().unwrap().value.0, far);
    }

    /// A store whose takes of a lease (and renewals) reach the store 200 ms
    /// late.
    #[derive(Debug)]
    struct SlowLeaseTake(Arc<store_memory::MemoryStore>);

    #[store_core::async_trait]
    impl store_conformance::faults::Intercept for SlowLeaseTake {
        fn inner(&self) -> &dyn Store {
            &*self.0
        }

        async fn put(
            &self,
            key: &Key,
            value: Bytes,
            options: PutOptions,
        ) -> Result<store_core::PutResult> {
            if key.as_str().starts_with("token:") && value.starts_with(LEASE_MAGIC) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            self.0.put(key, value, options).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_take_that_lands_after_another_refresh_finished_is_refused() {
        let memory = Arc::new(store_memory::MemoryStore::new());
        let first: TokenStore<Tok> = TokenStore::new(memory.clone(), "p").unwrap();
        let slow = Arc::new(store_conformance::faults::Intercepted(SlowLeaseTake(
            memory,
        )));
        let second: TokenStore<Tok> = TokenStore::new(slow, "p").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let far = store_core::SystemClock.now().as_unix_millis() + 3_600_000;
        let refresh = move |calls: Arc<AtomicUsize>| {
            move |_| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, std::io::Error>(Tok(far))
            }
        };
        // The second process reads the missing token, and its take of the
        // lease reaches the store only after the first process, starting a
        // moment later, took the lease, refreshed and wrote.
        let late = {
            let (second, calls) = (second.clone(), calls.clone());
            tokio::spawn(async move {
                second
                    .get_fresh("u", Duration::from_secs(1), refresh(calls))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let got = first
            .get_fresh("u", Duration::from_secs(1), refresh(calls.clone()))
            .await
            .unwrap();
        assert_eq!(late.await.unwrap().unwrap().0, far);
        assert_eq!(got.0, far);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one refresh");
    }

    #[tokio::test]
    async fn a_failed_refresh_puts_the_old_token_back_as_it_was() {
        let store = Arc::new(store_memory::MemoryStore::new());
        let tokens: TokenStore<Tok> = TokenStore::new(store.clone(), "p").unwrap();
        tokens.set("u", &Tok(0)).await.unwrap();
        let key = Key::new("token:p:u").unwrap();
        let before = store.get(&key).await.unwrap().unwrap().value;
        let err = tokens
            .get_fresh("u", Duration::from_secs(1), |old| async move {
                assert_eq!(old.map(|t| t.0), Some(0));
                Err::<Tok, _>(std::io::Error::other("invalid_grant"))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, RefreshError::Refresh(_)), "{err}");
        let after = store.get(&key).await.unwrap().unwrap().value;
        assert_eq!(after, before, "the token's JSON alone, without the lease");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delete_during_a_refresh_wins() {
        let store = Arc::new(store_memory::MemoryStore::new());
        let tokens: TokenStore<Tok> = TokenStore::new(store.clone(), "p").unwrap();
        tokens.set("u", &Tok(0)).await.unwrap();
        let far = store_core::SystemClock.now().as_unix_millis() + 3_600_000;
        let other = tokens.clone();
        let err = tokens
            .get_fresh("u", Duration::from_secs(1), |_| async move {
                // The user logs out while the provider answers.
                assert!(other.delete("u").await.unwrap());
                Ok::<_, std::io::Error>(Tok(far))
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RefreshError::Store(e) if e.kind() == ErrorKind::NotFound),
            "{err}"
        );
        let key = Key::new("token:p:u").unwrap();
        assert!(
            store.get(&key).await.unwrap().is_none(),
            "nothing resurrected"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_set_during_a_refresh_wins_and_is_returned() {
        let store = Arc::new(store_memory::MemoryStore::new());
        let tokens: TokenStore<Tok> = TokenStore::new(store, "p").unwrap();
        tokens.set("u", &Tok(0)).await.unwrap();
        let far = store_core::SystemClock.now().as_unix_millis() + 3_600_000;
        let other = tokens.clone();
        let got = tokens
            .get_fresh("u", Duration::from_secs(1), |_| async move {
                // Another part of the application stores a token meanwhile.
                other.set("u", &Tok(far + 1)).await.unwrap();
                Ok::<_, std::io::Error>(Tok(far))
            })
            .await
            .unwrap();
        assert_eq!(got.0, far + 1, "the token set meanwhile");
        assert_eq!(tokens.get("u").await.unwrap().unwrap().value.0, far + 1);
    }
}
