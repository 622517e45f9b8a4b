//! `impl Store for TemplateStore`, and nothing else.
//!
//! Each method first validates its input (no round trip for a call that
//! cannot succeed), then runs its work inside
//! [`store_core::within`] with the config's `operation_timeout`: the one
//! bound on a whole call, however many round trips and retries it makes.
//! The work itself is one call on the client: a method of the stand-in
//! database here, a statement or script in a real backend.

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Entry, Expiry, Key, Operation, Owner, PutOptions, PutResult, Result, ScanCursor,
    ScanPage, Store, Version, scan, validate, within,
};

use crate::BACKEND;
use crate::connect::TemplateStore;

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for TemplateStore {
    /// Must: return `None` for a missing or expired key even when the
    /// database still holds the row. Driver call: a read by primary key
    /// (filter expiry in the query, or check it on the result).
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let op = Operation::Get;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(BACKEND, op))?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let now = self.config.clock.now();
            Ok(self.client.call(op)?.get(self.namespace(), key, now))
        })
        .await
    }

    /// Must: decide the mode and write in ONE atomic step on the server
    /// (`INSERT … ON CONFLICT … WHERE`, a Lua script, a filtered
    /// `replaceOne`, a conditional put), never a read then a write in two
    /// round trips; write the whole entry (value, expiry, owner); take a
    /// version never handed out before; treat an expired row as absent.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let op = Operation::Put;
        let now = self.config.clock.now();
        let caps = self.caps();
        validate::key(&caps, key)
            .and_then(|()| validate::put(&caps, &value, &options, now))
            .map_err(|e| e.in_context(BACKEND, op))?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let mut db = self.client.call(op)?;
            db.put(self.namespace(), key, value, options, now)
        })
        .await
    }

    /// Must: be idempotent (`false` for a missing or expired key); with a
    /// version, delete only that version and report another live version
    /// as `VersionMismatch`. Driver call: one conditional delete.
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(BACKEND, op))?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let now = self.config.clock.now();
            let mut db = self.client.call(op)?;
            db.delete(self.namespace(), key, if_version, now)
        })
        .await
    }

    /// Must: move the expiry of a live entry only (never revive an expired
    /// one: `NotFound`), keep value, owner and version. Driver call: one
    /// conditional update of the expiry (or the native TTL command).
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        let now = self.config.clock.now();
        validate::key(&self.caps(), key)
            .and_then(|()| validate::expiry(expires_at, now))
            .map_err(|e| e.in_context(BACKEND, op))?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let mut db = self.client.call(op)?;
            db.touch(self.namespace(), key, expires_at, now)
        })
        .await
    }

    /// Must: remove expired entries of this namespace in bounded batches,
    /// count each once even when several processes purge at once, and
    /// return the count. Where the database removes expired entries by
    /// itself (set `Capabilities::native_ttl`), this may leave them to it
    /// and return 0, or purge what is left and count what it removed.
    async fn delete_expired(&self) -> Result<u64> {
        let op = Operation::DeleteExpired;
        within(self.config.operation_timeout, BACKEND, op, async {
            let now = self.config.clock.now();
            let mut db = self.client.call(op)?;
            Ok(db.delete_expired(self.namespace(), now))
        })
        .await
    }

    /// Must: use an owner index (never scan the whole store), return only
    /// live entries, sorted by key.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let op = Operation::ListByOwner;
        within(self.config.operation_timeout, BACKEND, op, async {
            let now = self.config.clock.now();
            let db = self.client.call(op)?;
            db.list_by_owner(self.namespace(), owner, now)
        })
        .await
    }

    /// Must: delete every live entry of `owner` in this namespace through
    /// the owner index, count only live ones, leave other owners alone.
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let op = Operation::DeleteByOwner;
        within(self.config.operation_timeout, BACKEND, op, async {
            let now = self.config.clock.now();
            let mut db = self.client.call(op)?;
            Ok(db.delete_by_owner(self.namespace(), owner, now))
        })
        .await
    }

    /// Must: read the namespace in bounded pages from the cursor on, return
    /// live entries only, count the expired rows it steps over, and name
    /// (not fail on) rows it cannot decode. Key order (set
    /// `Capabilities::ordered_scan`) comes from a primary-key range query;
    /// otherwise use the database's own cursor in the token.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        let after = scan::key_order_start(cursor, limit).map_err(|e| e.in_context(BACKEND, op))?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let now = self.config.clock.now();
            let db = self.client.call(op)?;
            Ok(db.scan(self.namespace(), after, limit, now))
        })
        .await
    }

    /// Must: tell the truth; the suite and the layers rely on it.
    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}
