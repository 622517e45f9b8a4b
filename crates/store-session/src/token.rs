//! [`TokenStore`]: typed per-user state, and a token refresh that runs once
//! however many requests and processes ask at the same time.
//!
//! About 700 lines (and its tests) on purpose: the refresh protocol (take
//! the lease, renew it, confirm it, write, release) is read as one piece.

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
/// In every case no token was written by this call.
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

    /// The clock that decides whether a token is fresh (default the system
    /// clock).
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
        let Some(entry) = self.store.get(&self.key("token", user)?).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&entry.value).map_err(|_| {
            Error::new(
                ErrorKind::Encoding,
                "the stored value is not of the expected type",
            )
            .with_operation(Operation::Decode)
        })?;
        Ok(Some(Versioned {
            value,
            version: entry.version,
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

    /// Deletes the user's value; returns whether there was one.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn delete(&self, user: &str) -> Result<bool> {
        self.store.delete(&self.key("token", user)?, None).await
    }
}

impl<T: Serialize + DeserializeOwned + Expiring + Clone + Send + Sync> TokenStore<T> {
    fn fresh(&self, value: &Option<Versioned<T>>, skew: Duration) -> Option<T> {
        let value = value.as_ref()?;
        let needed = self.clock.now().checked_add(skew).ok()?;
        (value.value.expires_at() > needed).then(|| value.value.clone())
    }

    /// The user's token, valid for at least `skew` more; refreshed with
    /// `refresh(current)` when it is not (or missing).
    ///
    /// However many callers ask at once, one refresh runs at a time:
    /// - in one process, callers for the same user wait for one refresh and
    ///   all get its token; if it fails, the callers that waited for it
    ///   fail too (`Unavailable`, retryable) instead of each trying again;
    /// - across processes (store objects on one backend), a lease entry
    ///   (`Create` with an expiry) lets exactly one refresh; the others
    ///   wait for its token. The holder renews the lease (compare-and-swap
    ///   on the lease's version) every third of the lease while its refresh
    ///   runs, so no other process starts a refresh however long it takes;
    ///   the lease is taken over only when the holder has stopped renewing
    ///   it for a whole lease ([`TokenStore::with_refresh_lease`]).
    /// - The holder confirms it still holds the lease (one more renewal)
    ///   before it writes, and writes the new token with compare-and-swap
    ///   against the one it refreshed, so a token written meanwhile is
    ///   never overwritten. A holder that lost its lease writes nothing
    ///   ([`RefreshError::LeaseLost`]).
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
        let current = self.get(user).await?;
        if let Some(token) = self.fresh(&current, skew) {
            return Ok(token);
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(user.to_owned()).or_default().clone()
        };
        let failures = flight.failures.load(Ordering::SeqCst);
        let result = {
            let _turn = flight.turn.lock().await;
            if flight.failures.load(Ordering::SeqCst) != failures {
                Err(RefreshError::Store(Error::new(
                    ErrorKind::Unavailable,
                    "the token refresh of a concurrent caller just failed; try again",
                )))
            } else {
                let result = self.refresh_once(user, skew, refresh).await;
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

    /// Holding this process's lock for `user`: take the lease, refresh,
    /// write, release; or wait for the process that holds the lease.
    async fn refresh_once<F, Fut, E>(
        &self,
        user: &str,
        skew: Duration,
        refresh: F,
    ) -> std::result::Result<T, RefreshError<E>>
    where
        F: FnOnce(Option<T>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let lease_key = self.key("lease", user)?;
        let mut pause = Duration::from_millis(10);
        // A live holder keeps the lease at most for the refresh timeout,
        // plus one lease after its last renewal if it then dies.
        let give_up = tokio::time::Instant::now() + self.refresh_timeout + self.lease * 2;
        loop {
            // Another caller of this process, or another process, may have
            // refreshed while we waited.
            let current = self.get(user).await?;
            if let Some(token) = self.fresh(&current, skew) {
                return Ok(token);
            }
            let taken_at = tokio::time::Instant::now();
            let until = self.clock.now().checked_add(self.lease)?;
            let holder = Lease::holder()?;
            let lease = self
                .store
                .put(
                    &lease_key,
                    holder.clone(),
                    PutOptions::new(PutMode::Create).expires_at(until),
                )
                .await;
            match lease {
                Ok(held) => {
                    let mut lease = Lease {
                        key: lease_key,
                        holder,
                        version: held.version,
                        renewed_at: taken_at,
                    };
                    // Read again, holding the lease: the previous holder
                    // may have written its token and let the lease go
                    // between the read above and this take.
                    let outcome = match self.get(user).await {
                        Ok(current) => match self.fresh(&current, skew) {
                            Some(token) => Ok(token),
                            None => {
                                self.refresh_holding(user, current, refresh, &mut lease)
                                    .await
                            }
                        },
                        Err(e) => Err(e.into()),
                    };
                    // Released only if still ours: a lease taken over by
                    // another process stays with it.
                    let _ = self.store.delete(&lease.key, Some(lease.version)).await;
                    return outcome;
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if tokio::time::Instant::now() >= give_up {
                        return Err(RefreshError::Store(Error::new(
                            ErrorKind::Unavailable,
                            "another process has held the token refresh lease for longer than \
                             a refresh may run",
                        )));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(e) => {
                    // The lease may have been taken though the answer was
                    // lost: give it back rather than make others wait.
                    if e.is_retryable() {
                        if let Ok(Some(entry)) = self.store.get(&lease_key).await {
                            if entry.value == holder {
                                let _ = self.store.delete(&lease_key, Some(entry.version)).await;
                            }
                        }
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// Holding the lease: runs the refresh while renewing the lease every
    /// third of it, confirms the lease once more, then writes the token.
    async fn refresh_holding<F, Fut, E>(
        &self,
        user: &str,
        current: Option<Versioned<T>>,
        refresh: F,
        lease: &mut Lease,
    ) -> std::result::Result<T, RefreshError<E>>
    where
        F: FnOnce(Option<T>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let expected = current.as_ref().map(|c| c.version);
        let deadline = tokio::time::Instant::now() + self.refresh_timeout;
        let every = self.lease / 3;
        let running = refresh(current.map(|c| c.value));
        tokio::pin!(running);
        let token = loop {
            tokio::select! {
                biased;
                out = &mut running => break out.map_err(RefreshError::Refresh)?,
                () = tokio::time::sleep_until(deadline) => {
                    return Err(RefreshError::TimedOut(self.refresh_timeout));
                }
                () = tokio::time::sleep(every) => {
                    // A renewal that failed for a passing reason is tried
                    // again at the next tick, while the lease still stands.
                    match self.renew(lease).await {
                        Err(RefreshError::Store(e)) if e.is_retryable() => {
                            if lease.renewed_at.elapsed() + every >= self.lease {
                                return Err(RefreshError::LeaseLost);
                            }
                        }
                        other => other?,
                    }
                }
            }
        };
        // The provider may have rotated its refresh token by now: a store
        // failure that passes must not lose the new one. Confirm the lease
        // and write, again after a passing failure, while the lease stands.
        let mut pause = Duration::from_millis(10);
        loop {
            match self.confirm_and_write(user, expected, &token, lease).await {
                Err(RefreshError::Store(e))
                    if e.is_retryable()
                        && lease.renewed_at.elapsed() + pause < self.lease * 2 / 3 =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    /// Confirms the lease (a renewal moves it a whole lease ahead, so no
    /// one can take it over before the write lands), then writes `token`
    /// with compare-and-swap against `expected`.
    async fn confirm_and_write<E>(
        &self,
        user: &str,
        expected: Option<Version>,
        token: &T,
        lease: &mut Lease,
    ) -> std::result::Result<T, RefreshError<E>> {
        self.renew(lease).await?;
        match self.update(user, expected, token).await {
            Ok(_) => Ok(token.clone()),
            // Written meanwhile by someone who did not take the lease (a
            // plain `set`): theirs stands.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::VersionMismatch | ErrorKind::AlreadyExists | ErrorKind::NotFound
                ) =>
            {
                match self.get(user).await? {
                    Some(stored) => Ok(stored.value),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Moves the lease a whole lease ahead, if it is still ours
    /// (compare-and-swap on its version; when that fails, the lease is ours
    /// still if it holds our holder id: an earlier renewal whose answer was
    /// lost). `LeaseLost` when another process took it over or it expired;
    /// `Store` for the store's errors.
    async fn renew<E>(&self, lease: &mut Lease) -> std::result::Result<(), RefreshError<E>> {
        let started = tokio::time::Instant::now();
        let until = self.clock.now().checked_add(self.lease)?;
        let renewed = self
            .store
            .put(
                &lease.key,
                lease.holder.clone(),
                PutOptions::new(PutMode::UpdateIf(lease.version)).expires_at(until),
            )
            .await;
        match renewed {
            Ok(written) => {
                lease.version = written.version;
                lease.renewed_at = started;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::VersionMismatch => {
                match self.store.get(&lease.key).await? {
                    Some(entry) if entry.value == lease.holder => {
                        lease.version = entry.version;
                        Ok(())
                    }
                    _ => Err(RefreshError::LeaseLost),
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Err(RefreshError::LeaseLost),
            Err(e) => Err(e.into()),
        }
    }
}

/// The refresh lease this process holds for one user.
struct Lease {
    key: Key,
    /// 16 random bytes that name this holder: the lease entry's value.
    holder: Bytes,
    version: Version,
    /// When the last successful renewal (or the take) was sent.
    renewed_at: tokio::time::Instant,
}

impl Lease {
    /// A fresh holder id.
    fn holder() -> Result<Bytes> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| {
            Error::new(
                ErrorKind::Backend,
                format!("the operating system's random source failed: {e}"),
            )
        })?;
        Ok(Bytes::copy_from_slice(&id))
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
        let tokens: TokenStore<Tok> = TokenStore::new(store, "p")
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
            let renewal =
                key.as_str().starts_with("lease:") && matches!(options.mode, PutMode::UpdateIf(_));
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

    /// A store whose takes of a lease reach the store 200 ms late.
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
            if key.as_str().starts_with("lease:") && options.mode == PutMode::Create {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            self.0.put(key, value, options).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lease_taken_after_another_refresh_finished_does_not_refresh_again() {
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
        let holder = {
            let (first, calls) = (first.clone(), calls.clone());
            tokio::spawn(async move {
                first
                    .get_fresh("u", Duration::from_secs(1), refresh(calls))
                    .await
            })
        };
        // The second process reads the stale token while the first
        // refreshes, then takes the lease after the first let it go.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let got = second
            .get_fresh("u", Duration::from_secs(1), refresh(calls.clone()))
            .await
            .unwrap();
        assert_eq!(holder.await.unwrap().unwrap().0, far);
        assert_eq!(got.0, far);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one refresh");
    }
}
