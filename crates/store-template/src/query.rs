//! The database side of each operation: what the server runs for one
//! store call.
//!
//! A real backend keeps here its SQL statements, Lua scripts, filters and
//! update pipelines, and the version counter, each one atomic step on the
//! server. Here a [`Database`] (a `BTreeMap` behind a lock) stands in for
//! the server and [`TemplateClient`] for the driver's client; each method
//! of `Database` is what one statement would do, and runs while
//! [`TemplateClient::call`] holds the lock. Delete both when your driver
//! takes over: its client replaces `TemplateClient`, and these methods
//! become the statements it sends.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use store_core::{
    Entry, Error, Expiry, Key, Operation, Owner, PutMode, PutOptions, PutResult, Result, Version,
};

use crate::BACKEND;
use crate::codec::{Row, id};
use crate::error::classify;

/// The stand-in for a database: rows by (namespace, key), the owner index
/// and the version counter.
#[derive(Default)]
pub(crate) struct Database {
    pub(crate) rows: BTreeMap<(String, String), Row>,
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
///
/// ```
/// use store_template::{TemplateClient, TemplateStore};
/// let client = TemplateClient::default();
/// let a = TemplateStore::new(client.clone());
/// let b = TemplateStore::new(client); // the same data as `a`
/// # let _ = (a, b);
/// ```
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
    pub(crate) fn call(&self, operation: Operation) -> Result<MutexGuard<'_, Database>> {
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

impl Database {
    /// A read by primary key that sees only a live row.
    pub(crate) fn get(&self, namespace: &str, key: &Key, now: Expiry) -> Option<Entry> {
        let row = self.rows.get(&id(namespace, key));
        row.filter(|r| r.is_live(now)).map(Row::entry)
    }

    /// The conditional write: checks the mode against the live row, takes
    /// a new version and writes the whole entry, all in one step.
    pub(crate) fn put(
        &mut self,
        namespace: &str,
        key: &Key,
        value: Bytes,
        options: PutOptions,
        now: Expiry,
    ) -> Result<PutResult> {
        let id = id(namespace, key);
        let live = self.rows.get(&id).filter(|r| r.is_live(now));
        let refused = match (options.mode, live) {
            (PutMode::Create, Some(_)) => Some(Error::already_exists()),
            (PutMode::Update | PutMode::UpdateIf(_), None) => Some(Error::not_found()),
            (PutMode::UpdateIf(expected), Some(row)) if row.version != expected => {
                Some(Error::version_mismatch())
            }
            _ => None,
        };
        if let Some(err) = refused {
            return Err(err.in_context(BACKEND, Operation::Put));
        }
        self.last_version += 1;
        let version = Version::from_u64(self.last_version);
        if let Some(old) = self.rows.get(&id).and_then(|r| r.owner.clone()) {
            self.owners
                .remove(&(id.0.clone(), old.as_str().to_owned(), id.1.clone()));
        }
        if let Some(owner) = &options.owner {
            self.owners
                .insert((id.0.clone(), owner.as_str().to_owned(), id.1.clone()));
        }
        let row = Row {
            value,
            version,
            expires_at: options.expires_at,
            owner: options.owner,
        };
        self.rows.insert(id, row);
        Ok(PutResult::new(version))
    }

    /// The conditional delete: `true` when a live row went.
    pub(crate) fn delete(
        &mut self,
        namespace: &str,
        key: &Key,
        if_version: Option<Version>,
        now: Expiry,
    ) -> Result<bool> {
        let id = id(namespace, key);
        let Some(row) = self.rows.get(&id) else {
            return Ok(false);
        };
        let live = row.is_live(now);
        if let (Some(expected), true) = (if_version, live) {
            if row.version != expected {
                return Err(Error::version_mismatch().in_context(BACKEND, Operation::Delete));
            }
        }
        if let Some(row) = self.rows.remove(&id) {
            if let Some(owner) = row.owner {
                self.owners.remove(&(id.0, owner.as_str().to_owned(), id.1));
            }
        }
        Ok(live)
    }

    /// The conditional update of a live row's expiry.
    pub(crate) fn touch(
        &mut self,
        namespace: &str,
        key: &Key,
        expires_at: Expiry,
        now: Expiry,
    ) -> Result<()> {
        match self
            .rows
            .get_mut(&id(namespace, key))
            .filter(|r| r.is_live(now))
        {
            Some(row) => {
                row.expires_at = Some(expires_at);
                Ok(())
            }
            None => Err(Error::not_found().in_context(BACKEND, Operation::Touch)),
        }
    }

    /// Removes the expired rows of `namespace` and counts them.
    pub(crate) fn delete_expired(&mut self, namespace: &str, now: Expiry) -> u64 {
        let start = (namespace.to_owned(), String::new());
        let expired: Vec<(String, String)> = self
            .rows
            .range(start..)
            .take_while(|((ns, _), _)| ns == namespace)
            .filter(|(_, row)| !row.is_live(now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            if let Some(Row { owner: Some(o), .. }) = self.rows.remove(id) {
                self.owners
                    .remove(&(id.0.clone(), o.as_str().to_owned(), id.1.clone()));
            }
        }
        expired.len() as u64
    }

    /// The live entries of `owner` in `namespace`, through the owner index,
    /// in key order.
    pub(crate) fn list_by_owner(
        &self,
        namespace: &str,
        owner: &Owner,
        now: Expiry,
    ) -> Result<Vec<(Key, Entry)>> {
        let mut found = Vec::new();
        for (ns, _, k) in self.owned(namespace, owner) {
            let row = &self.rows[&(ns.clone(), k.clone())];
            if row.is_live(now) {
                let key = Key::new(k).map_err(|e| e.in_context(BACKEND, Operation::ListByOwner))?;
                found.push((key, row.entry()));
            }
        }
        Ok(found)
    }

    /// Deletes every row of `owner` in `namespace` and counts the live ones.
    pub(crate) fn delete_by_owner(&mut self, namespace: &str, owner: &Owner, now: Expiry) -> u64 {
        let ids: Vec<(String, String, String)> = self.owned(namespace, owner).cloned().collect();
        let mut live = 0;
        for id in ids {
            self.owners.remove(&id);
            if let Some(row) = self.rows.remove(&(id.0, id.2)) {
                live += u64::from(row.is_live(now));
            }
        }
        live
    }

    /// The owner index entries of `owner` in `namespace`, in key order.
    fn owned<'a>(
        &'a self,
        namespace: &str,
        owner: &Owner,
    ) -> impl Iterator<Item = &'a (String, String, String)> {
        let start = (
            namespace.to_owned(),
            owner.as_str().to_owned(),
            String::new(),
        );
        let (ns, o) = (start.0.clone(), start.1.clone());
        self.owners
            .range(start..)
            .take_while(move |(n, w, _)| *n == ns && *w == o)
    }
}
