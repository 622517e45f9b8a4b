//! Checks for a backend's fault tests: what every call must do while its
//! server is down, and how the same store object comes back.
//!
//! A fault test stops or kills its own server (never the shared one), then:
//!
//! ```no_run
//! use std::time::Duration;
//! use store_conformance::faults;
//! use store_core::{Key, Owner};
//! # async fn f(store: &dyn store_core::Store) -> store_core::Result<()> {
//! let (key, owner) = (Key::new("k")?, Owner::new("alice")?);
//! // … the server is down:
//! faults::assert_every_operation_unavailable(store, &key, &owner).await;
//! // … the server is back:
//! let (entry, took) = faults::wait_for_recovery(store, &key, Duration::from_secs(30)).await;
//! println!("recovered after {took:?}: {}", entry.is_some());
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Clock, Entry, ErrorKind, Expiry, Key, Owner, PutMode, PutOptions, PutResult,
    Result, ScanCursor, ScanPage, Store, SystemClock, Version,
};

/// A fault at one kind of call of a real store: `get`, `put` and `list_by_owner`
/// can be replaced (a lost answer, a slow listing, a write split in two),
/// every other call goes to [`inner`](Self::inner). Wrap it in
/// [`Intercepted`] to use it as a [`Store`].
///
/// ```
/// use std::time::Duration;
/// use store_conformance::faults::{Intercept, Intercepted};
/// use store_core::{Entry, Key, Owner, Result, Store};
///
/// /// A store whose owner index answers 100 ms late.
/// #[derive(Debug)]
/// struct SlowIndex(store_memory::MemoryStore);
///
/// #[store_core::async_trait]
/// impl Intercept for SlowIndex {
///     fn inner(&self) -> &dyn Store {
///         &self.0
///     }
///     async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
///         tokio::time::sleep(Duration::from_millis(100)).await;
///         self.0.list_by_owner(owner).await
///     }
/// }
///
/// let store: std::sync::Arc<dyn Store> =
///     std::sync::Arc::new(Intercepted(SlowIndex(store_memory::MemoryStore::new())));
/// # let _ = store;
/// ```
#[async_trait]
pub trait Intercept: Send + Sync + fmt::Debug + 'static {
    /// The store every call goes to unless replaced.
    fn inner(&self) -> &dyn Store;

    /// `get`; forwarded unless replaced.
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        self.inner().get(key).await
    }

    /// `put`; forwarded unless replaced.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        self.inner().put(key, value, options).await
    }

    /// `list_by_owner`; forwarded unless replaced.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        self.inner().list_by_owner(owner).await
    }
}

/// The [`Store`] of an [`Intercept`]: its `get`, `put` and
/// `list_by_owner`, and the inner store's every other call.
#[derive(Debug)]
pub struct Intercepted<I>(pub I);

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<I: Intercept> Store for Intercepted<I> {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        self.0.get(key).await
    }
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        self.0.put(key, value, options).await
    }
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        self.0.inner().delete(key, if_version).await
    }
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        self.0.inner().touch(key, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64> {
        self.0.inner().delete_expired().await
    }
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        self.0.list_by_owner(owner).await
    }
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        self.0.inner().delete_by_owner(owner).await
    }
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        self.0.inner().scan(cursor, limit).await
    }
    fn capabilities(&self) -> Capabilities {
        self.0.inner().capabilities()
    }
}

/// Calls each operation of the contract once: `get`, `put` (an `Upsert`
/// owned by `owner`), `delete`, `touch` (an hour ahead of the system
/// clock), `delete_expired`, `list_by_owner`, `delete_by_owner` and
/// `scan` (a first page of 10), and returns each outcome with the
/// operation's name.
pub async fn call_every_operation(
    store: &dyn Store,
    key: &Key,
    owner: &Owner,
) -> Vec<(&'static str, Result<()>)> {
    time_every_operation(store, key, owner)
        .await
        .into_iter()
        .map(|(name, result, _)| (name, result))
        .collect()
}

/// As [`call_every_operation`], with how long each call took: for checking
/// that no call outlives a store's time bounds.
pub async fn time_every_operation(
    store: &dyn Store,
    key: &Key,
    owner: &Owner,
) -> Vec<(&'static str, Result<()>, Duration)> {
    let in_an_hour = SystemClock
        .now()
        .checked_add(Duration::from_secs(3600))
        .expect("an hour from now is a valid expiry");
    let opts = PutOptions::new(PutMode::Upsert).owner(owner.clone());
    type Call<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;
    let calls: Vec<(&'static str, Call<'_>)> = vec![
        ("get", Box::pin(async { store.get(key).await.map(|_| ()) })),
        (
            "put",
            Box::pin(async move {
                store
                    .put(key, Bytes::from_static(b"x"), opts)
                    .await
                    .map(|_| ())
            }),
        ),
        (
            "delete",
            Box::pin(async { store.delete(key, None).await.map(|_| ()) }),
        ),
        ("touch", Box::pin(store.touch(key, in_an_hour))),
        (
            "delete_expired",
            Box::pin(async { store.delete_expired().await.map(|_| ()) }),
        ),
        (
            "list_by_owner",
            Box::pin(async { store.list_by_owner(owner).await.map(|_| ()) }),
        ),
        (
            "delete_by_owner",
            Box::pin(async { store.delete_by_owner(owner).await.map(|_| ()) }),
        ),
        (
            "scan",
            Box::pin(async { store.scan(None, 10).await.map(|_| ()) }),
        ),
    ];
    let mut outcomes = Vec::with_capacity(calls.len());
    for (name, call) in calls {
        let started = Instant::now();
        let result = call.await;
        outcomes.push((name, result, started.elapsed()));
    }
    outcomes
}

/// Asserts that every operation of [`call_every_operation`] fails with a
/// retryable `Unavailable` error that names the store's backend: a server
/// that is down is never "not found", never a panic. The one exception is
/// `delete_expired` of a backend with
/// [`native_ttl`](store_core::Capabilities::native_ttl), which may succeed
/// as a no-op without reaching the server.
///
/// # Panics
/// When an operation succeeds or fails otherwise.
pub async fn assert_every_operation_unavailable(store: &dyn Store, key: &Key, owner: &Owner) {
    let caps = store.capabilities();
    let backend = caps.backend;
    for (operation, result) in call_every_operation(store, key, owner).await {
        let err = match result {
            // Where the server expires entries itself, `delete_expired` may
            // be a no-op that never reaches it.
            Ok(()) if operation == "delete_expired" && caps.native_ttl => continue,
            Ok(()) => panic!("{operation} succeeded while the server is down"),
            Err(err) => err,
        };
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{operation}: {err}");
        assert!(err.is_retryable(), "{operation}: not retryable: {err}");
        assert_eq!(err.backend(), Some(backend), "{operation}: {err}");
    }
}

/// Calls `get(key)` every 50 ms while it fails with `Unavailable`, and
/// returns its entry and how long it took to succeed.
///
/// # Panics
/// On any other error, or when `limit` passes without a success.
pub async fn wait_for_recovery(
    store: &dyn Store,
    key: &Key,
    limit: Duration,
) -> (Option<Entry>, Duration) {
    let started = Instant::now();
    loop {
        match store.get(key).await {
            Ok(entry) => return (entry, started.elapsed()),
            Err(e) if e.kind() == ErrorKind::Unavailable => {
                assert!(
                    started.elapsed() < limit,
                    "no recovery within {limit:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("unexpected error while the server comes back: {e}"),
        }
    }
}

/// Runs `delete_expired` from `purgers` tasks at once on clones of `store`
/// and returns how many entries they removed together: each expired entry
/// must be counted once, however the purgers' batches interleave.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = store_memory::MemoryStore::new();
/// assert_eq!(store_conformance::faults::purge_concurrently(&store, 4).await, 0);
/// # });
/// ```
///
/// # Panics
/// When a purge fails or its task panics.
pub async fn purge_concurrently<S: Store + Clone + 'static>(store: &S, purgers: usize) -> u64 {
    let tasks: Vec<_> = (0..purgers)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.delete_expired().await })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("a purge task").expect("a purge");
    }
    total
}
