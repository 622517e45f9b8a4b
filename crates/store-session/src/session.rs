//! [`Sessions`]: web sessions on any [`Store`].
//!
//! A little over 600 lines: the session type, its options and every
//! operation on it, each with its documented example.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use store_core::{
    Clock, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, PutMode, PutOptions, Result,
    Store, SystemClock, Version,
};

use crate::id::SessionId;

/// How long a session lives without a request, by default: 30 minutes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How long a session lives at most, whatever its activity, by default:
/// 12 hours.
pub const DEFAULT_ABSOLUTE_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The least time between two expiry refreshes of one session by
/// [`Sessions::load`], by default: 60 seconds.
pub const DEFAULT_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The longest user agent a session records, in bytes.
pub const MAX_USER_AGENT_LEN: usize = 256;

/// How many fresh ids `create` and `cycle_id` try when an id is taken.
const ID_ATTEMPTS: u32 = 3;

/// Settings of [`Sessions`].
///
/// ```
/// use std::time::Duration;
/// let config = store_session::SessionConfig::default()
///     .idle_timeout(Duration::from_secs(900))
///     .absolute_lifetime(Duration::from_secs(8 * 3600))
///     .touch_interval(Duration::from_secs(30));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct SessionConfig {
    idle_timeout: Duration,
    absolute_lifetime: Duration,
    touch_interval: Duration,
    clock: Arc<dyn Clock>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            absolute_lifetime: DEFAULT_ABSOLUTE_LIFETIME,
            touch_interval: DEFAULT_TOUCH_INTERVAL,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .field("touch_interval", &self.touch_interval)
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// A session expires this long after its last refresh (default
    /// [`DEFAULT_IDLE_TIMEOUT`]).
    ///
    /// ```
    /// let c = store_session::SessionConfig::default().idle_timeout(std::time::Duration::from_secs(600));
    /// # let _ = c;
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// A session expires this long after it was created, whatever its
    /// activity; nothing extends it (default [`DEFAULT_ABSOLUTE_LIFETIME`]).
    ///
    /// ```
    /// let c = store_session::SessionConfig::default().absolute_lifetime(std::time::Duration::from_secs(3600));
    /// # let _ = c;
    /// ```
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }

    /// [`Sessions::load`] refreshes a session's expiry only when it would
    /// move by at least this much, so most reads do not write (default
    /// [`DEFAULT_TOUCH_INTERVAL`]; zero refreshes on every load).
    ///
    /// ```
    /// let c = store_session::SessionConfig::default().touch_interval(std::time::Duration::ZERO);
    /// # let _ = c;
    /// ```
    pub fn touch_interval(mut self, interval: Duration) -> Self {
        self.touch_interval = interval;
        self
    }

    /// The clock that decides expiry (default the system clock); give the
    /// store's clock in tests.
    ///
    /// ```
    /// let c = store_session::SessionConfig::default().clock(store_core::ManualClock::starting_now());
    /// # let _ = c;
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

/// What is stored for a session: its data and its two deadlines.
#[derive(Serialize, Deserialize)]
struct Record {
    /// Creation time, ms since the epoch.
    created: i64,
    /// The absolute deadline, ms since the epoch.
    deadline: i64,
    /// When this id was issued to its current owner (created, cycled, or
    /// saved with a new owner), ms since the epoch; `created` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owned_since: Option<i64>,
    /// When the session was last saved, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    saved: Option<i64>,
    /// The user agent of the request that created it, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    data: Map<String, Value>,
}

impl Record {
    /// When this id was issued to its current owner.
    fn owned_since(&self) -> i64 {
        self.owned_since.unwrap_or(self.created)
    }
}

/// One loaded session: its id, data, owner and deadlines.
///
/// Change the data with [`insert`](Self::insert) and
/// [`remove`](Self::remove), then [`Sessions::save`] it.
/// `Debug` shows neither the id nor the data.
#[derive(Clone)]
pub struct Session {
    id: SessionId,
    data: Map<String, Value>,
    owner: Option<Owner>,
    version: Version,
    created: Expiry,
    deadline: Expiry,
    expires_at: Expiry,
    /// When this id was issued to its current owner.
    owned_since: Expiry,
    /// `set_owner` changed the owner since the last load or save.
    owner_changed: bool,
    /// When it was last saved (created, saved or cycled).
    saved: Expiry,
    user_agent: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("fields", &self.data.len())
            .field("owner", &self.owner.is_some())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session's id, for the cookie (see [`SessionId::expose`]).
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The user the session belongs to, if any.
    pub fn owner(&self) -> Option<&Owner> {
        self.owner.as_ref()
    }

    /// Sets or clears the user the session belongs to; takes effect at the
    /// next [`Sessions::save`]. After a login, prefer
    /// [`Sessions::cycle_id`] as well, so that an id known before the login
    /// stops working.
    pub fn set_owner(&mut self, owner: Option<Owner>) {
        if owner != self.owner {
            self.owner = owner;
            self.owner_changed = true;
        }
    }

    /// When the session expires unless it is used again.
    pub fn expires_at(&self) -> Expiry {
        self.expires_at
    }

    /// When the session expires at the latest.
    pub fn deadline(&self) -> Expiry {
        self.deadline
    }

    /// When the session was created.
    pub fn created(&self) -> Expiry {
        self.created
    }

    /// The user agent (browser, device) the session was created from, as
    /// given to [`set_user_agent`](Self::set_user_agent); shown in "my
    /// sessions" lists.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// Records the user agent (the `User-Agent` header) the session is used
    /// from, cut to [`MAX_USER_AGENT_LEN`] bytes; stored at the next save.
    /// The axum layer sets it when it creates a session.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let mut session = sessions.create(None).await?;
    /// session.set_user_agent(Some("Mozilla/5.0 (X11; Linux x86_64)"));
    /// sessions.save(&mut session).await?;
    /// assert_eq!(session.user_agent(), Some("Mozilla/5.0 (X11; Linux x86_64)"));
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn set_user_agent(&mut self, user_agent: Option<&str>) {
        self.user_agent = user_agent.map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT_LEN);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].chars().filter(|c| !c.is_control()).collect()
        });
    }

    /// A field of the data, decoded; `None` when missing or of another type.
    pub fn get<T: DeserializeOwned>(&self, field: &str) -> Option<T> {
        self.data
            .get(field)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Sets a field of the data.
    ///
    /// # Errors
    /// `Encoding` when `value` cannot be serialized to JSON.
    pub fn insert<T: Serialize>(&mut self, field: &str, value: &T) -> Result<()> {
        let value = serde_json::to_value(value).map_err(|e| {
            Error::new(
                ErrorKind::Encoding,
                format!("cannot encode field {field:?}: {e}"),
            )
            .with_operation(Operation::Encode)
        })?;
        self.data.insert(field.to_owned(), value);
        Ok(())
    }

    /// Removes a field of the data; returns whether it was there.
    pub fn remove(&mut self, field: &str) -> bool {
        self.data.remove(field).is_some()
    }
}

/// A live session as listed for its owner: a non-secret handle (the hashed
/// key), never the id, and what a "my sessions" page shows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionInfo {
    /// Pass to [`Sessions::revoke`]. Not usable as a cookie.
    pub handle: Key,
    /// When the session was created.
    pub created: Expiry,
    /// When it was last used, as precisely as the touch interval allows:
    /// the later of its last save and its last expiry refresh.
    pub last_seen: Expiry,
    /// When it expires unless used again.
    pub expires_at: Option<Expiry>,
    /// The user agent it was created from, when recorded.
    pub user_agent: Option<String>,
    /// Whether it is the session that asked for the list (set by
    /// [`Sessions::list_for_session`] and the axum layer; `false` from
    /// [`Sessions::list_for`]).
    pub current: bool,
}

/// Web sessions on any [`Store`]: create, load (with a throttled idle
/// refresh), save without resurrecting, cycle the id, flush, and list or
/// revoke a user's sessions.
///
/// ```
/// use std::sync::Arc;
/// use store_core::Owner;
/// use store_session::{SessionConfig, Sessions};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let sessions = Sessions::new(Arc::new(store_memory::MemoryStore::new()), SessionConfig::default());
/// let mut session = sessions.create(None).await?;
/// session.insert("cart", &vec!["book"])?;
/// sessions.save(&mut session).await?;
///
/// let loaded = sessions.load(session.id()).await?.expect("live");
/// assert_eq!(loaded.get::<Vec<String>>("cart"), Some(vec!["book".to_owned()]));
///
/// sessions.flush(session.id()).await?;
/// assert!(sessions.load(session.id()).await?.is_none());
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Sessions {
    store: Arc<dyn Store>,
    config: SessionConfig,
}

impl Sessions {
    /// Sessions in `store` with `config`.
    pub fn new(store: Arc<dyn Store>, config: SessionConfig) -> Self {
        Self { store, config }
    }

    fn now(&self) -> Expiry {
        self.config.clock.now()
    }

    fn after(&self, from: Expiry, by: Duration) -> Expiry {
        from.checked_add(by).unwrap_or(Expiry::MAX)
    }

    /// The expiry a session used at `now` gets: the idle timeout, capped by
    /// the absolute deadline.
    fn idle_expiry(&self, now: Expiry, deadline: Expiry) -> Expiry {
        self.after(now, self.config.idle_timeout).min(deadline)
    }

    fn encode(session: &Session) -> Result<Bytes> {
        let record = Record {
            created: session.created.as_unix_millis(),
            deadline: session.deadline.as_unix_millis(),
            owned_since: Some(session.owned_since.as_unix_millis()),
            saved: Some(session.saved.as_unix_millis()),
            user_agent: session.user_agent.clone(),
            data: session.data.clone(),
        };
        serde_json::to_vec(&record).map(Bytes::from).map_err(|e| {
            Error::new(
                ErrorKind::Encoding,
                format!("cannot encode the session: {e}"),
            )
        })
    }

    fn decode(id: &SessionId, entry: Entry) -> Result<Session> {
        let bad = || {
            Error::new(
                ErrorKind::Encoding,
                "a stored session is not a session record",
            )
            .with_operation(Operation::Decode)
        };
        let record: Record = serde_json::from_slice(&entry.value).map_err(|_| bad())?;
        let created = Expiry::from_unix_millis(record.created).map_err(|_| bad())?;
        let deadline = Expiry::from_unix_millis(record.deadline).map_err(|_| bad())?;
        let owned_since = Expiry::from_unix_millis(record.owned_since()).map_err(|_| bad())?;
        let saved =
            Expiry::from_unix_millis(record.saved.unwrap_or(record.created)).map_err(|_| bad())?;
        Ok(Session {
            id: id.clone(),
            data: record.data,
            owner: entry.owner,
            version: entry.version,
            created,
            deadline,
            expires_at: entry.expires_at.unwrap_or(deadline),
            owned_since,
            owner_changed: false,
            saved,
            user_agent: record.user_agent,
        })
    }

    /// Writes `session` under a fresh id with `Create` (never over another
    /// session), trying new ids if one is taken.
    pub(crate) async fn insert_new(&self, session: &mut Session) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            session.id = SessionId::generate()?;
            let options = PutOptions::new(PutMode::Create)
                .expires_at(session.expires_at)
                .owned_by(session.owner.clone());
            match self
                .store
                .put(&session.id.key(), Self::encode(session)?, options)
                .await
            {
                Ok(written) => {
                    session.version = written.version;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < ID_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates and stores a new, empty session owned by `owner`.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn create(&self, owner: Option<Owner>) -> Result<Session> {
        let mut session = self.fresh(owner)?;
        self.insert_new(&mut session).await?;
        Ok(session)
    }

    /// A new session owned by `owner`, not stored yet (its id is chosen
    /// when [`Sessions::insert_new`] stores it).
    pub(crate) fn fresh(&self, owner: Option<Owner>) -> Result<Session> {
        let now = self.now();
        let deadline = self.after(now, self.config.absolute_lifetime);
        Ok(Session {
            id: SessionId::generate()?,
            data: Map::new(),
            owner,
            version: Version::from_u64(0),
            created: now,
            deadline,
            expires_at: self.idle_expiry(now, deadline),
            owned_since: now,
            owner_changed: false,
            saved: now,
            user_agent: None,
        })
    }

    /// Loads a live session. When its expiry would move by at least the
    /// touch interval, moves it (`touch`): the idle timeout slides, the
    /// absolute deadline never moves.
    ///
    /// # Errors
    /// `Encoding` for a stored value that is not a session; the store's
    /// errors. A missing, expired or revoked session is `Ok(None)`.
    pub async fn load(&self, id: &SessionId) -> Result<Option<Session>> {
        let key = id.key();
        let Some(entry) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let mut session = Self::decode(id, entry)?;
        let now = self.now();
        if session.deadline.is_expired_at(now) {
            return Ok(None);
        }
        let wanted = self.idle_expiry(now, session.deadline);
        let moved = wanted.saturating_duration_since(session.expires_at);
        if !moved.is_zero() && moved >= self.config.touch_interval {
            match self.store.touch(&key, wanted).await {
                Ok(()) => session.expires_at = wanted,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(Some(session))
    }

    /// Writes the session's data and owner, and slides its idle expiry.
    /// Never brings back a session that was deleted meanwhile (a logout in
    /// a parallel request, a revoke): that fails with `NotFound` and
    /// writes nothing. Concurrent saves of one session: the last one wins.
    ///
    /// # Errors
    /// `NotFound` when the session is gone; the store's errors.
    pub async fn save(&self, session: &mut Session) -> Result<()> {
        let now = self.now();
        if session.deadline.is_expired_at(now) {
            return Err(Error::new(ErrorKind::NotFound, "the session has expired"));
        }
        let expires_at = self.idle_expiry(now, session.deadline);
        let options = PutOptions::new(PutMode::Update)
            .expires_at(expires_at)
            .owned_by(session.owner.clone());
        let mut record = session.clone();
        if record.owner_changed {
            record.owned_since = now;
        }
        record.saved = now;
        let written = self
            .store
            .put(&session.id.key(), Self::encode(&record)?, options)
            .await?;
        session.version = written.version;
        session.expires_at = expires_at;
        session.owned_since = record.owned_since;
        session.owner_changed = false;
        session.saved = now;
        Ok(())
    }

    /// Gives the session a new id with the same data, owner and deadline,
    /// and makes the old id unusable: call it at login and at every change
    /// of privilege (against session fixation).
    ///
    /// Two steps on the store: the new id is created first (so the data is
    /// never lost), then the old one is deleted on condition that it is
    /// still the version this session was loaded or saved as. When the old
    /// one was deleted or changed meanwhile (a logout or a save in a
    /// parallel request), the new id is deleted again and the call fails,
    /// so nothing is resurrected and no parallel change is lost. Between
    /// the two steps both ids are valid for one round trip.
    ///
    /// # Errors
    /// `NotFound` when the session is gone, `VersionMismatch` when it was
    /// saved meanwhile (load it again and retry); the store's errors.
    pub async fn cycle_id(&self, session: &mut Session) -> Result<()> {
        let old_id = session.id.clone();
        let old_version = session.version;
        let mut moved = session.clone();
        let now = self.now();
        moved.expires_at = self.idle_expiry(now, session.deadline);
        moved.owned_since = now;
        moved.owner_changed = false;
        moved.saved = now;
        self.insert_new(&mut moved).await?;
        let outcome = self.store.delete(&old_id.key(), Some(old_version)).await;
        let failure = match outcome {
            Ok(true) => None,
            Ok(false) => Some(Error::new(
                ErrorKind::NotFound,
                "the session was deleted meanwhile",
            )),
            Err(e) => Some(e),
        };
        if let Some(err) = failure {
            // Undo the copy; if that fails too, it expires on its own.
            let _ = self
                .store
                .delete(&moved.id.key(), Some(moved.version))
                .await;
            return Err(err);
        }
        *session = moved;
        Ok(())
    }

    /// Deletes the session (logout). Returns whether it was live.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn flush(&self, id: &SessionId) -> Result<bool> {
        self.store.delete(&id.key(), None).await
    }

    /// The live sessions of `owner`, through the owner index.
    ///
    /// # Errors
    /// The store's errors; `Encoding` for a stored value that is not a
    /// session.
    pub async fn list_for(&self, owner: &Owner) -> Result<Vec<SessionInfo>> {
        let mut found = Vec::new();
        for (key, entry) in self.store.list_by_owner(owner).await? {
            if !key.as_str().starts_with("session:") {
                continue;
            }
            let bad = || {
                Error::new(
                    ErrorKind::Encoding,
                    "a stored session is not a session record",
                )
            };
            let record: Record = serde_json::from_slice(&entry.value).map_err(|_| bad())?;
            let created = Expiry::from_unix_millis(record.created).map_err(|_| bad())?;
            let saved = Expiry::from_unix_millis(record.saved.unwrap_or(record.created))
                .map_err(|_| bad())?;
            found.push(SessionInfo {
                current: false,
                last_seen: self.last_seen(saved, entry.expires_at, record.deadline),
                handle: key,
                created,
                expires_at: entry.expires_at,
                user_agent: record.user_agent,
            });
        }
        found.sort_by_key(|info| std::cmp::Reverse(info.last_seen));
        Ok(found)
    }

    /// [`Sessions::list_for`], with [`SessionInfo::current`] set on the
    /// session `id` (the one of the request asking).
    ///
    /// # Errors
    /// As [`Sessions::list_for`].
    ///
    /// ```
    /// use store_core::Owner;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let alice = Owner::new("alice")?;
    /// let here = sessions.create(Some(alice.clone())).await?;
    /// sessions.create(Some(alice.clone())).await?;
    /// let listed = sessions.list_for_session(&alice, here.id()).await?;
    /// assert_eq!(listed.iter().filter(|s| s.current).count(), 1);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn list_for_session(
        &self,
        owner: &Owner,
        id: &SessionId,
    ) -> Result<Vec<SessionInfo>> {
        let here = id.key();
        let mut found = self.list_for(owner).await?;
        for info in &mut found {
            info.current = info.handle == here;
        }
        Ok(found)
    }

    /// When a session was last used: its expiry minus the idle timeout,
    /// unless the absolute deadline capped that expiry, and never before
    /// its last save.
    fn last_seen(&self, saved: Expiry, expires_at: Option<Expiry>, deadline: i64) -> Expiry {
        let refreshed = expires_at
            .filter(|e| e.as_unix_millis() < deadline)
            .and_then(|e| {
                let millis = i64::try_from(self.config.idle_timeout.as_millis()).ok()?;
                Expiry::from_unix_millis(e.as_unix_millis().checked_sub(millis)?).ok()
            });
        refreshed.map_or(saved, |r| r.max(saved))
    }

    /// Deletes one session by its handle (from [`list_for`](Self::list_for)),
    /// only if it belongs to `owner`: a user can revoke only their own
    /// sessions. Returns whether it deleted one.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn revoke(&self, owner: &Owner, handle: &Key) -> Result<bool> {
        // The owner check and the delete are tied by the version: a session
        // saved (or given to another owner) in between is checked again.
        for _ in 0..3 {
            let Some(entry) = self.store.get(handle).await? else {
                return Ok(false);
            };
            if entry.owner.as_ref() != Some(owner) {
                return Ok(false);
            }
            match self.store.delete(handle, Some(entry.version)).await {
                Err(e) if e.kind() == ErrorKind::VersionMismatch => continue,
                other => return other,
            }
        }
        Err(Error::new(
            ErrorKind::VersionMismatch,
            "the session kept changing while it was being revoked; try again",
        ))
    }

    /// Deletes every session of `owner` (log out everywhere). Returns how
    /// many were live.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn revoke_all(&self, owner: &Owner) -> Result<u64> {
        self.store.delete_by_owner(owner).await
    }

    /// Deletes every session of `owner` except `keep` (log out the other
    /// devices). Returns how many it deleted.
    ///
    /// Only sessions that were `owner`'s when this call started are
    /// deleted. A session whose id was issued to `owner` after the
    /// millisecond in which the call started (a login on another device
    /// while this runs: [`create`], [`cycle_id`], or a [`save`] that set the
    /// owner) is kept, even when the listing taken by this call already
    /// shows it; one issued in that same millisecond counts as earlier and
    /// is deleted. Time is read on the sessions' clock
    /// ([`SessionConfig::clock`]): a session issued by a process whose clock
    /// runs behind this one's by `d` is kept only if it was issued more than
    /// `d` after the start.
    ///
    /// Each delete is conditional on the version that was checked, so a
    /// session changed meanwhile (given to another owner, say) is checked
    /// again rather than deleted blindly.
    ///
    /// [`create`]: Self::create
    /// [`cycle_id`]: Self::cycle_id
    /// [`save`]: Self::save
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_core::Owner;
    /// use store_session::{SessionConfig, Sessions};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sessions = Sessions::new(Arc::new(store_memory::MemoryStore::new()), SessionConfig::default());
    /// let alice = Owner::new("alice")?;
    /// let laptop = sessions.create(Some(alice.clone())).await?;
    /// let phone = sessions.create(Some(alice.clone())).await?;
    /// assert_eq!(sessions.revoke_all_except(&alice, laptop.id()).await?, 1);
    /// assert!(sessions.load(laptop.id()).await?.is_some());
    /// assert!(sessions.load(phone.id()).await?.is_none());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's errors; `Encoding` for a stored value that is not a
    /// session; `VersionMismatch` when one session kept changing while it
    /// was being revoked (the others are revoked; call again).
    pub async fn revoke_all_except(&self, owner: &Owner, keep: &SessionId) -> Result<u64> {
        let started = self.now().as_unix_millis();
        let keep = keep.key();
        let mut revoked = 0;
        let mut busy = None;
        for (key, entry) in self.store.list_by_owner(owner).await? {
            if key == keep || !key.as_str().starts_with("session:") {
                continue;
            }
            match self.revoke_owned_before(owner, &key, entry, started).await {
                Ok(true) => revoked += 1,
                Ok(false) => {}
                Err(e) if e.kind() == ErrorKind::VersionMismatch => busy = Some(e),
                Err(e) => return Err(e),
            }
        }
        match busy {
            Some(e) => Err(e),
            None => Ok(revoked),
        }
    }

    /// Deletes `key` if it is still `owner`'s and was issued to them no
    /// later than `started` (ms since the epoch), on condition of the
    /// checked version.
    async fn revoke_owned_before(
        &self,
        owner: &Owner,
        key: &Key,
        mut entry: Entry,
        started: i64,
    ) -> Result<bool> {
        for _ in 0..5 {
            let record: Record = serde_json::from_slice(&entry.value).map_err(|_| {
                Error::new(
                    ErrorKind::Encoding,
                    "a stored session is not a session record",
                )
                .with_operation(Operation::Decode)
            })?;
            if record.owned_since() > started {
                return Ok(false);
            }
            match self.store.delete(key, Some(entry.version)).await {
                Err(e) if e.kind() == ErrorKind::VersionMismatch => {
                    match self.store.get(key).await? {
                        Some(now) if now.owner.as_ref() == Some(owner) => entry = now,
                        _ => return Ok(false),
                    }
                }
                other => return other,
            }
        }
        Err(Error::new(
            ErrorKind::VersionMismatch,
            "a session kept changing while it was being revoked; try again",
        ))
    }
}
