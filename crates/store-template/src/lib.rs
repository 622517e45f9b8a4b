//! The `template` backend: the simplest complete `store-core` backend, to
//! copy when writing a new one (`just new-backend NAME`).
//!
//! A `BTreeMap` behind a lock stands in for the database, and
//! [`TemplateClient`] for the driver's client. Every method of the
//! [`Store`] impl says what a real backend must guarantee there and where
//! its driver call goes. The crate passes the whole conformance suite
//! (`tests/conformance.rs`), so a copy starts from a proven-correct base;
//! replace the lock and the map with driver calls one method at a time and
//! run the suite after each.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Clock, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, PutMode,
    PutOptions, PutResult, Result, ScanCursor, ScanPage, Store, SystemClock, Version, scan,
    validate,
};

/// The backend name in errors and [`Capabilities::backend`].
pub const BACKEND: &str = "template";

/// One stored entry, as the database would hold it: a row, a hash, a
/// document.
#[derive(Clone)]
struct Row {
    value: Bytes,
    version: Version,
    expires_at: Option<Expiry>,
    owner: Option<Owner>,
}

impl Row {
    /// Live at `now`: no expiry, or an expiry after `now`. A real backend
    /// puts this condition into every read and conditional write, because
    /// the database's own sweeper (TTL index, cron) runs late.
    fn is_live(&self, now: Expiry) -> bool {
        self.expires_at.is_none_or(|e| !e.is_expired_at(now))
    }

    fn entry(&self) -> Entry {
        Entry::new(self.value.clone(), self.version)
            .with_expiry(self.expires_at)
            .with_owner(self.owner.clone())
    }
}

/// The stand-in for a database: rows by (namespace, key), the owner index
/// and the version counter.
#[derive(Default)]
struct Database {
    rows: BTreeMap<(String, String), Row>,
    /// (namespace, owner, key): what an owner index (SQL index, Redis set,
    /// Mongo index) gives a real backend.
    owners: BTreeSet<(String, String, String)>,
    /// The last version handed out. Never goes down, so a version is never
    /// reused, also after a delete (a sequence, a counter key, a counter
    /// document).
    last_version: u64,
}

/// The stand-in for a driver's client: a cheap handle to one shared
/// database. Clones see the same data, like two connections (or two
/// processes) on one server.
#[derive(Clone, Default)]
pub struct TemplateClient {
    db: Arc<Mutex<Database>>,
    down: Arc<AtomicBool>,
}

impl fmt::Debug for TemplateClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateClient").finish_non_exhaustive()
    }
}

impl TemplateClient {
    /// Makes the "server" unreachable (`true`) or reachable again, so that
    /// tests can check that every call fails with `Unavailable` meanwhile
    /// and that the same store works again afterwards.
    ///
    /// ```
    /// let client = store_template::TemplateClient::default();
    /// client.set_down(true);
    /// client.set_down(false);
    /// ```
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// One "round trip": the lock makes everything inside one atomic step,
    /// as a single statement, script or conditional operation on a server.
    fn call(&self, operation: Operation) -> Result<MutexGuard<'_, Database>> {
        if self.down.load(Ordering::SeqCst) {
            let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
            return Err(classify(refused, operation));
        }
        Ok(self
            .db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// A [`Store`] in one namespace of a [`TemplateClient`].
///
/// ```
/// use store_template::{TemplateClient, TemplateStore};
/// let store = TemplateStore::new(TemplateClient::default(), "sessions");
/// assert_eq!(store.namespace(), "sessions");
/// ```
#[derive(Clone)]
pub struct TemplateStore {
    client: TemplateClient,
    namespace: String,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TemplateStore {
    /// Never print credentials or connection strings here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateStore")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl TemplateStore {
    /// A store in `namespace` on `client`, deciding expiry with the
    /// [`SystemClock`]. A real backend has `connect(url)` here, which
    /// builds the driver's client and fails with `Config` for a bad URL
    /// and `Unavailable` for an unreachable server.
    ///
    /// ```
    /// let store = store_template::TemplateStore::new(Default::default(), "tokens");
    /// # let _ = store;
    /// ```
    pub fn new(client: TemplateClient, namespace: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same store deciding expiry with `clock` (the conformance suite
    /// passes a `ManualClock`).
    ///
    /// ```
    /// use store_core::ManualClock;
    /// let store = store_template::TemplateStore::new(Default::default(), "s")
    ///     .with_clock(ManualClock::starting_now());
    /// # let _ = store;
    /// ```
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The namespace of this store.
    ///
    /// ```
    /// let store = store_template::TemplateStore::new(Default::default(), "s");
    /// assert_eq!(store.namespace(), "s");
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn id(&self, key: &Key) -> (String, String) {
        (self.namespace.clone(), key.as_str().to_owned())
    }

    fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(BACKEND);
        // Other store objects on the same client see the same data.
        caps.shared = true;
        caps
    }
}

/// Turns a driver error into a store error. A real backend matches on the
/// driver's error codes and kinds here, never on message text: a network
/// failure or timeout is `Unavailable` (retryable), refused credentials
/// are `Config`, undecodable data is `Encoding`, anything else `Backend`.
/// Keep the driver error as the source unless its message can quote user
/// data (keys, values); then keep only its code.
fn classify(source: std::io::Error, operation: Operation) -> Error {
    let kind = match source.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::ConnectionRefused => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Backend,
    };
    Error::new(kind, "the server reported an error")
        .in_context(BACKEND, operation)
        .with_source(source)
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for TemplateStore {
    /// Must: return `None` for a missing or expired key even when the
    /// database still holds the row. Driver call: a read by primary key
    /// (filter expiry in the query, or check it on the result).
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        validate::key(&self.caps(), key).map_err(|e| e.in_context(BACKEND, Operation::Get))?;
        let now = self.clock.now();
        let db = self.client.call(Operation::Get)?;
        let row = db.rows.get(&self.id(key));
        Ok(row.filter(|r| r.is_live(now)).map(Row::entry))
    }

    /// Must: decide the mode and write in ONE atomic step on the server
    /// (`INSERT … ON CONFLICT … WHERE`, a Lua script, a filtered
    /// `replaceOne`, a conditional put), never a read then a write in two
    /// round trips; write the whole entry (value, expiry, owner); take a
    /// version never handed out before; treat an expired row as absent.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let op = Operation::Put;
        let now = self.clock.now();
        let caps = self.caps();
        validate::key(&caps, key)
            .and_then(|()| validate::put(&caps, &value, &options, now))
            .map_err(|e| e.in_context(BACKEND, op))?;
        let id = self.id(key);
        let mut db = self.client.call(op)?;
        let live = db.rows.get(&id).filter(|r| r.is_live(now));
        let refused = match (options.mode, live) {
            (PutMode::Create, Some(_)) => Some(Error::already_exists()),
            (PutMode::Update | PutMode::UpdateIf(_), None) => Some(Error::not_found()),
            (PutMode::UpdateIf(expected), Some(row)) if row.version != expected => {
                Some(Error::version_mismatch())
            }
            _ => None,
        };
        if let Some(err) = refused {
            return Err(err.in_context(BACKEND, op));
        }
        db.last_version += 1;
        let version = Version::from_u64(db.last_version);
        if let Some(old) = db.rows.get(&id).and_then(|r| r.owner.clone()) {
            db.owners
                .remove(&(id.0.clone(), old.as_str().to_owned(), id.1.clone()));
        }
        if let Some(owner) = &options.owner {
            db.owners
                .insert((id.0.clone(), owner.as_str().to_owned(), id.1.clone()));
        }
        let row = Row {
            value,
            version,
            expires_at: options.expires_at,
            owner: options.owner,
        };
        db.rows.insert(id, row);
        Ok(PutResult::new(version))
    }

    /// Must: be idempotent (`false` for a missing or expired key); with a
    /// version, delete only that version and report another live version
    /// as `VersionMismatch`. Driver call: one conditional delete.
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(BACKEND, op))?;
        let now = self.clock.now();
        let id = self.id(key);
        let mut db = self.client.call(op)?;
        let Some(row) = db.rows.get(&id) else {
            return Ok(false);
        };
        let live = row.is_live(now);
        if let (Some(expected), true) = (if_version, live) {
            if row.version != expected {
                return Err(Error::version_mismatch().in_context(BACKEND, op));
            }
        }
        if let Some(row) = db.rows.remove(&id) {
            if let Some(owner) = row.owner {
                db.owners.remove(&(id.0, owner.as_str().to_owned(), id.1));
            }
        }
        Ok(live)
    }

    /// Must: move the expiry of a live entry only (never revive an expired
    /// one: `NotFound`), keep value, owner and version. Driver call: one
    /// conditional update of the expiry (or the native TTL command).
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        let now = self.clock.now();
        validate::key(&self.caps(), key)
            .and_then(|()| validate::expiry(expires_at, now))
            .map_err(|e| e.in_context(BACKEND, op))?;
        let id = self.id(key);
        let mut db = self.client.call(op)?;
        match db.rows.get_mut(&id).filter(|r| r.is_live(now)) {
            Some(row) => {
                row.expires_at = Some(expires_at);
                Ok(())
            }
            None => Err(Error::not_found().in_context(BACKEND, op)),
        }
    }

    /// Must: remove expired entries of this namespace in bounded batches,
    /// count each once even when several processes purge at once, and
    /// return the count. Where the database removes expired entries by
    /// itself (set `Capabilities::native_ttl`), this may leave them to it
    /// and return 0, or purge what is left and count what it removed.
    async fn delete_expired(&self) -> Result<u64> {
        let now = self.clock.now();
        let mut db = self.client.call(Operation::DeleteExpired)?;
        let start = (self.namespace.clone(), String::new());
        let expired: Vec<(String, String)> = db
            .rows
            .range(start..)
            .take_while(|((ns, _), _)| *ns == self.namespace)
            .filter(|(_, row)| !row.is_live(now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            if let Some(Row { owner: Some(o), .. }) = db.rows.remove(id) {
                db.owners
                    .remove(&(id.0.clone(), o.as_str().to_owned(), id.1.clone()));
            }
        }
        Ok(expired.len() as u64)
    }

    /// Must: use an owner index (never scan the whole store), return only
    /// live entries, sorted by key.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let op = Operation::ListByOwner;
        let now = self.clock.now();
        let db = self.client.call(op)?;
        let mut found = Vec::new();
        for (ns, _, k) in owned(&db, &self.namespace, owner) {
            let row = &db.rows[&(ns.clone(), k.clone())];
            if row.is_live(now) {
                let key = Key::new(k).map_err(|e| e.in_context(BACKEND, op))?;
                found.push((key, row.entry()));
            }
        }
        Ok(found)
    }

    /// Must: delete every live entry of `owner` in this namespace through
    /// the owner index, count only live ones, leave other owners alone.
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let now = self.clock.now();
        let mut db = self.client.call(Operation::DeleteByOwner)?;
        let ids: Vec<(String, String, String)> =
            owned(&db, &self.namespace, owner).cloned().collect();
        let mut live = 0;
        for id in ids {
            db.owners.remove(&id);
            if let Some(row) = db.rows.remove(&(id.0, id.2)) {
                live += u64::from(row.is_live(now));
            }
        }
        Ok(live)
    }

    /// Must: read the namespace in bounded pages from the cursor on, return
    /// live entries only, count the expired rows it steps over, and name
    /// (not fail on) rows it cannot decode. Key order (set
    /// `Capabilities::ordered_scan`) comes from a primary-key range query;
    /// otherwise use the database's own cursor in the token.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        let after = scan::key_order_start(cursor, limit).map_err(|e| e.in_context(BACKEND, op))?;
        let now = self.clock.now();
        let db = self.client.call(op)?;
        let start = (self.namespace.clone(), after.unwrap_or_default().to_owned());
        let bound = match after {
            Some(_) => Bound::Excluded(start),
            None => Bound::Included(start),
        };
        let rows: Vec<(&String, &Row)> = db
            .rows
            .range((bound, Bound::Unbounded))
            .take_while(|((ns, _), _)| *ns == self.namespace)
            .take(limit)
            .map(|((_, k), row)| (k, row))
            .collect();
        let next = match rows.len() == limit {
            true => rows.last().map(|(k, _)| ScanCursor::after_key(k)),
            false => None,
        };
        let mut page = ScanPage::default().with_next(next);
        for (k, row) in rows {
            match (row.is_live(now), Key::new(k.as_str())) {
                (false, _) => page.expired += 1,
                (true, Ok(key)) => page.entries.push((key, row.entry())),
                (true, Err(_)) => page.unreadable.push(k.clone()),
            }
        }
        Ok(page)
    }

    /// Must: tell the truth; the suite and the layers rely on it.
    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}

/// The owner index entries of `owner` in `namespace`, in key order.
fn owned<'a>(
    db: &'a Database,
    namespace: &str,
    owner: &Owner,
) -> impl Iterator<Item = &'a (String, String, String)> {
    let start = (
        namespace.to_owned(),
        owner.as_str().to_owned(),
        String::new(),
    );
    let (ns, o) = (start.0.clone(), start.1.clone());
    db.owners
        .range(start..)
        .take_while(move |(n, w, _)| *n == ns && *w == o)
}
