//! The [`Store`] trait and [`Capabilities`].

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::entry::{Entry, PutOptions, PutResult, Version};
use crate::error::Result;
use crate::key::{Key, MAX_KEY_LEN, Owner};
use crate::scan::{ScanCursor, ScanPage};
use crate::time::Expiry;

/// The default maximum value size of a store: 4 MiB (4,194,304 bytes).
pub const DEFAULT_MAX_VALUE_LEN: usize = 4 * 1024 * 1024;

/// Which clock decides whether an entry is expired.
///
/// ```
/// use store_core::{ClockSource, Store};
/// let store = store_memory::MemoryStore::new();
/// assert_eq!(store.capabilities().clock, ClockSource::Store);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClockSource {
    /// The store's own [`Clock`](crate::Clock), injectable for tests.
    Store,
    /// The database server's clock (for example Redis' native expiry).
    Server,
}

/// What a backend does natively, so callers and tests ask instead of guessing.
///
/// A flat `Copy` struct. Fields are public to read; backends build it with
/// [`Capabilities::new`] and set the fields that differ.
///
/// ```
/// use store_core::{Capabilities, ClockSource};
/// let mut caps = Capabilities::new("toy");
/// caps.native_ttl = true;
/// caps.clock = ClockSource::Server;
/// assert_eq!(caps.backend, "toy");
/// assert_eq!(caps.max_key_len, store_core::MAX_KEY_LEN);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The backend's short name, as used in errors (`"memory"`, `"redis"`).
    pub backend: &'static str,
    /// The server removes expired entries by itself, eventually (Redis on
    /// access and in its expiry cycle, MongoDB's TTL monitor about once a
    /// minute), so no purge has to be scheduled.
    ///
    /// [`Store::delete_expired`] is then optional housekeeping: it removes
    /// what the server has not removed yet and returns how many entries
    /// *it* removed, which may be fewer than have expired (the server got
    /// there first), and is 0 where the backend leaves it all to the server
    /// (Redis). MongoDB, for one, reports `native_ttl` and counts what it
    /// purges. Without `native_ttl`, expired entries stay stored (never
    /// visible) until `delete_expired`, or a purge the backend offers,
    /// removes them.
    pub native_ttl: bool,
    /// Conditional writes are atomic on the server (required by the contract).
    pub atomic_cas: bool,
    /// [`Store::list_by_owner`] and [`Store::delete_by_owner`] use an index.
    pub owner_index: bool,
    /// [`Store::scan`] returns keys in ascending byte order, each live entry
    /// exactly once and at most `limit` per page. Without it a scan returns
    /// every live entry at least once, in no order, in pages of about
    /// `limit` (Redis `SCAN`).
    pub ordered_scan: bool,
    /// The store spreads keys over several servers (for example Redis Cluster).
    pub cluster: bool,
    /// Other processes that connect to the same server see the same data.
    pub shared: bool,
    /// Which clock decides expiry.
    pub clock: ClockSource,
    /// The longest key accepted, in bytes.
    pub max_key_len: usize,
    /// The largest value accepted, in bytes.
    pub max_value_len: usize,
}

impl Capabilities {
    /// Capabilities of a conforming backend named `backend`: atomic
    /// conditional writes, an owner index and an ordered scan, no native
    /// TTL, not a cluster,
    /// not shared, the store's clock, [`MAX_KEY_LEN`] and
    /// [`DEFAULT_MAX_VALUE_LEN`].
    pub const fn new(backend: &'static str) -> Self {
        Self {
            backend,
            native_ttl: false,
            atomic_cas: true,
            owner_index: true,
            ordered_scan: true,
            cluster: false,
            shared: false,
            clock: ClockSource::Store,
            max_key_len: MAX_KEY_LEN,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
        }
    }
}

/// A key-value store for sessions and per-user state.
///
/// Every method is one atomic step on the backend. Entries whose expiry is at
/// or before now are invisible to every method, whether or not the backend
/// has deleted them yet. See the [crate docs](crate) for the whole contract.
///
/// Usable as `Arc<dyn Store>`; [`StoreExt`](crate::StoreExt) adds typed and
/// convenience calls to every store.
///
/// ```
/// use std::sync::Arc;
/// use store_core::{Key, PutMode, Store};
/// use store_memory::MemoryStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // Pick a backend at start-up; the rest of the app sees `dyn Store`.
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let key = Key::new("k")?;
/// store.put(&key, "v".into(), PutMode::Create.into()).await?;
/// assert!(store.delete(&key, None).await?);
/// assert!(store.get(&key).await?.is_none());
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Store: Send + Sync + Debug + 'static {
    /// Reads the live entry under `key`.
    ///
    /// # Behavior
    /// - `Ok(None)` for a key that is missing, deleted or expired, even if the
    ///   backend's own expiry sweeper has not run yet. Never stale data.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached, `Encoding` for a
    /// stored value the backend cannot decode, `Backend` otherwise.
    async fn get(&self, key: &Key) -> Result<Option<Entry>>;

    /// Writes `value` under `key` as `options.mode` allows, atomically, and
    /// returns the new version.
    ///
    /// # Behavior
    /// - `Upsert` writes whatever is there; `Create` only where no live entry
    ///   is (an expired one counts as absent); `Update` only over a live
    ///   entry, never recreating a missing one; `UpdateIf(v)` only over a live
    ///   entry whose version is `v`.
    /// - The whole entry is replaced: value, expiry and owner.
    /// - Each mode is one atomic step on the server, never a read and a write
    ///   in two round trips.
    /// - An expiry at or before now is rejected and nothing is written.
    ///
    /// # Errors
    /// `AlreadyExists` (`Create`), `NotFound` (`Update`, `UpdateIf`),
    /// `VersionMismatch` (`UpdateIf`), `InvalidInput` for a value over
    /// [`Capabilities::max_value_len`] or an expiry not in the future,
    /// `CapacityExceeded` where the store has a capacity, `Unavailable`,
    /// `Backend`. On any error the stored entry is unchanged.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult>;

    /// Deletes the live entry under `key`, if any; with `if_version`, only
    /// if the live entry has that version.
    ///
    /// # Behavior
    /// - Idempotent: returns whether a live entry was deleted; a missing or
    ///   expired key returns `Ok(false)`.
    ///
    /// # Errors
    /// `VersionMismatch` when `if_version` is given and the live entry has
    /// another version (nothing is deleted), `Unavailable`, `Backend`.
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool>;

    /// Moves the expiry of the live entry under `key` to `expires_at`
    /// without rewriting its value, owner or version. It may shorten or
    /// extend the expiry.
    ///
    /// # Errors
    /// `NotFound` when there is no live entry (an expired entry is never
    /// revived), `InvalidInput` for an expiry at or before now,
    /// `Unavailable`, `Backend`.
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()>;

    /// Removes expired entries of this store's namespace and returns how
    /// many this call removed.
    ///
    /// # Behavior
    /// - Works in bounded batches; safe to run concurrently from many
    ///   processes (each expired entry is counted once overall).
    /// - Where the backend expires natively ([`Capabilities::native_ttl`])
    ///   the server may have removed expired entries already; those are not
    ///   counted, so the count is at most the number expired. It is 0 where
    ///   the call leaves it all to the server: Redis does not even reach
    ///   the server. MongoDB removes and counts what its TTL monitor has not
    ///   removed yet.
    /// - Without native expiry, the count is every expired entry: schedule
    ///   this call (for example `storectl purge-expired` from cron).
    ///
    /// ```
    /// use std::time::Duration;
    /// use store_core::{Clock, Key, ManualClock, PutMode, PutOptions, Store};
    /// use store_memory::{MemoryConfig, MemoryStore};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let clock = ManualClock::starting_now();
    /// let store = MemoryStore::with_config(MemoryConfig::default().clock(clock.clone()))?;
    /// let soon = clock.now().checked_add(Duration::from_secs(1))?;
    /// let options = PutOptions::new(PutMode::Create).expires_at(soon);
    /// store.put(&Key::new("k")?, "v".into(), options).await?;
    /// clock.advance(Duration::from_secs(2));
    /// let removed = store.delete_expired().await?;
    /// if store.capabilities().native_ttl {
    ///     assert!(removed <= 1); // the server may have removed it already
    /// } else {
    ///     assert_eq!(removed, 1); // the memory store: every expired entry
    /// }
    /// assert_eq!(store.delete_expired().await?, 0);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// `Unavailable`, `Backend`.
    async fn delete_expired(&self) -> Result<u64>;

    /// Lists the live entries owned by `owner`, sorted by key, through an
    /// index (never a scan of the whole store).
    ///
    /// # Errors
    /// `Unavailable`, `Backend`, `Encoding`.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>>;

    /// Deletes every live entry owned by `owner` and returns how many it
    /// deleted. Entries of other owners are untouched.
    ///
    /// # Errors
    /// `Unavailable`, `Backend`.
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64>;

    /// Reads the live entries of this store's namespace, one page at a time:
    /// start with `cursor = None`, then pass each page's
    /// [`next`](ScanPage::next) until it is `None`.
    ///
    /// For whole-namespace jobs (backups, moving to another backend,
    /// statistics), not for request paths.
    ///
    /// # Behavior
    /// - Every entry that is live for the whole scan is returned; one
    ///   created, changed or deleted during the scan may or may not be.
    ///   Expired entries are never returned.
    /// - With [`Capabilities::ordered_scan`], pages are in ascending key
    ///   order, each entry comes exactly once, and a page holds at most
    ///   `limit` entries. Without it (Redis), an entry may come twice and a
    ///   page holds about `limit`.
    /// - A page may be empty while `next` is `Some`.
    /// - Each page is a bounded amount of work on the server; the cursor is
    ///   text that another store object (another process) of the same
    ///   backend and namespace can resume from.
    /// - Entries that cannot be decoded are named in
    ///   [`ScanPage::unreadable`] and skipped, never an error of the scan.
    ///
    /// # Errors
    /// `InvalidInput` for a `limit` outside 1 to
    /// [`MAX_SCAN_LIMIT`](crate::MAX_SCAN_LIMIT) or a cursor this backend
    /// did not make, `Unavailable`, `Backend`.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage>;

    /// What this backend does natively.
    fn capabilities(&self) -> Capabilities;
}

/// The future every `Store` method returns (the shape `#[async_trait]`
/// gives the trait's `async fn`s).
type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

// `Arc<S>` and `Box<S>` are stores: each call hands back the inner store's
// own future instead of boxing a second one around it, so a store held as
// `Arc<dyn Store>` costs one allocation per call, not two.
macro_rules! forward_store {
    ($($ty:ident)::+) => {
        #[deny(clippy::missing_trait_methods)]
        impl<S: Store + ?Sized> Store for $($ty)::+<S> {
            fn get<'s, 'k, 'f>(&'s self, key: &'k Key) -> Call<'f, Option<Entry>>
            where
                's: 'f,
                'k: 'f,
                Self: 'f,
            {
                (**self).get(key)
            }
            fn put<'s, 'k, 'f>(
                &'s self,
                key: &'k Key,
                value: Bytes,
                options: PutOptions,
            ) -> Call<'f, PutResult>
            where
                's: 'f,
                'k: 'f,
                Self: 'f,
            {
                (**self).put(key, value, options)
            }
            fn delete<'s, 'k, 'f>(
                &'s self,
                key: &'k Key,
                if_version: Option<Version>,
            ) -> Call<'f, bool>
            where
                's: 'f,
                'k: 'f,
                Self: 'f,
            {
                (**self).delete(key, if_version)
            }
            fn touch<'s, 'k, 'f>(&'s self, key: &'k Key, expires_at: Expiry) -> Call<'f, ()>
            where
                's: 'f,
                'k: 'f,
                Self: 'f,
            {
                (**self).touch(key, expires_at)
            }
            fn delete_expired<'s, 'f>(&'s self) -> Call<'f, u64>
            where
                's: 'f,
                Self: 'f,
            {
                (**self).delete_expired()
            }
            fn list_by_owner<'s, 'o, 'f>(&'s self, owner: &'o Owner) -> Call<'f, Vec<(Key, Entry)>>
            where
                's: 'f,
                'o: 'f,
                Self: 'f,
            {
                (**self).list_by_owner(owner)
            }
            fn delete_by_owner<'s, 'o, 'f>(&'s self, owner: &'o Owner) -> Call<'f, u64>
            where
                's: 'f,
                'o: 'f,
                Self: 'f,
            {
                (**self).delete_by_owner(owner)
            }
            fn scan<'s, 'c, 'f>(
                &'s self,
                cursor: Option<&'c ScanCursor>,
                limit: usize,
            ) -> Call<'f, ScanPage>
            where
                's: 'f,
                'c: 'f,
                Self: 'f,
            {
                (**self).scan(cursor, limit)
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
        }
    };
}

forward_store!(Arc);
forward_store!(Box);
