//! `impl Store for SqlStore`: each call validated, then bounded as a whole
//! by the config's `operation_timeout`.

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Entry, Error, Expiry, Key, Operation, Owner, PutOptions, PutResult, Result,
    ScanCursor, ScanPage, Store, Version, validate, within,
};

use crate::connect::SqlStore;
use crate::query::Dialect;

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<D: Dialect> Store for SqlStore<D> {
    /// One `SELECT` by primary key that skips an expired row.
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let op = Operation::Get;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(D::BACKEND, op))?;
        let now = self.config.clock.now();
        within(
            self.config.operation_timeout,
            D::BACKEND,
            op,
            self.get_entry(key, now),
        )
        .await
    }

    /// One statement per mode: `INSERT … ON CONFLICT DO UPDATE` for
    /// `Upsert` and `Create` (the latter only over an expired row),
    /// `UPDATE … WHERE <live> [AND version = $v]` for `Update` and
    /// `UpdateIf`; the new version is 64 random bits drawn in the process,
    /// so a stale version matches a later write of the key with probability
    /// 2^-64 per write. On a SQLite file the statement runs on the
    /// database's one writer.
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let op = Operation::Put;
        let now = self.config.clock.now();
        let caps = self.caps();
        validate::key(&caps, key)
            .and_then(|()| validate::put(&caps, &value, &options, now))
            .map_err(|e| e.in_context(D::BACKEND, op))?;
        let write = self.put_entry(key, &value, &options, now);
        let version = within(self.config.operation_timeout, D::BACKEND, op, write).await?;
        Ok(PutResult::new(version))
    }

    /// One `DELETE`; with `if_version`, a read-only query afterwards tells
    /// a stale version (`VersionMismatch`) from a missing key (`false`).
    /// An expired row is removed too, and reported as `false`.
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(D::BACKEND, op))?;
        let now = self.config.clock.now();
        let delete = self.delete_entry(key, if_version, now);
        within(self.config.operation_timeout, D::BACKEND, op, delete).await
    }

    /// One `UPDATE` of `expires_at` on a live row; value, owner and version
    /// stay.
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        let now = self.config.clock.now();
        validate::key(&self.caps(), key)
            .and_then(|()| validate::expiry(expires_at, now))
            .map_err(|e| e.in_context(D::BACKEND, op))?;
        let touch = self.touch_entry(key, expires_at, now);
        if within(self.config.operation_timeout, D::BACKEND, op, touch).await? {
            Ok(())
        } else {
            Err(Error::not_found().in_context(D::BACKEND, op))
        }
    }

    /// Batches of `DELETE … WHERE key IN (SELECT … LIMIT n)` until a batch
    /// comes back short: on Postgres the rows are locked with
    /// `FOR UPDATE SKIP LOCKED`, so rows another process has locked are
    /// left to it; on SQLite each batch is one write transaction, so other
    /// writers get the lock between batches.
    async fn delete_expired(&self) -> Result<u64> {
        let op = Operation::DeleteExpired;
        let purge = self.purge(self.config.clock.now());
        within(self.config.operation_timeout, D::BACKEND, op, purge).await
    }

    /// One `SELECT` through the `(owner, key)` index.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let op = Operation::ListByOwner;
        let list = self.owner_entries(owner, self.config.clock.now());
        within(self.config.operation_timeout, D::BACKEND, op, list).await
    }

    /// One `DELETE` through the owner index, counting the rows that were
    /// still live.
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let op = Operation::DeleteByOwner;
        let delete = self.delete_owner_entries(owner, self.config.clock.now());
        within(self.config.operation_timeout, D::BACKEND, op, delete).await
    }

    /// One `SELECT` in primary-key order from the cursor's key, `limit`
    /// rows at most; rows that do not decode are named, not fatal.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        let page = self.scan_rows(cursor, limit);
        within(self.config.operation_timeout, D::BACKEND, op, page).await
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}
