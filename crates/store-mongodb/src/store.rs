//! `impl Store for MongoStore`: each call validated, then run within
//! [`MongoConfig::operation_timeout`](crate::MongoConfig::operation_timeout)
//! (a call still waiting then fails with a retryable `Unavailable`, and the
//! driver drops its connection).

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Entry, Expiry, Key, Operation, Owner, PutOptions, PutResult, Result, ScanCursor,
    ScanPage, Store, Version, scan, validate, within,
};

use crate::BACKEND;
use crate::MongoStore;
use crate::codec::entry_document;
use crate::query;

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for MongoStore {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let op = Operation::Get;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(BACKEND, op))?;
        let now = self.now();
        let limit = self.config.operation_timeout;
        within(limit, BACKEND, op, query::get(&self.collection, key, now)).await
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let op = Operation::Put;
        let now = self.now();
        let caps = self.caps();
        validate::key(&caps, key)
            .and_then(|()| validate::put(&caps, &value, &options, now))
            .map_err(|e| e.in_context(BACKEND, op))?;
        within(self.config.operation_timeout, BACKEND, op, async {
            let version = self.versions.next(op).await?;
            let owner = options.owner.as_ref();
            let document = entry_document(key, &value, version, options.expires_at, owner);
            query::put(&self.collection, key, &document, options.mode, now).await?;
            Ok(PutResult::new(version))
        })
        .await
    }

    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let op = Operation::Delete;
        validate::key(&self.caps(), key).map_err(|e| e.in_context(BACKEND, op))?;
        let now = self.now();
        let delete = query::delete(&self.collection, key, if_version, now);
        within(self.config.operation_timeout, BACKEND, op, delete).await
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let op = Operation::Touch;
        let now = self.now();
        validate::key(&self.caps(), key)
            .and_then(|()| validate::expiry(expires_at, now))
            .map_err(|e| e.in_context(BACKEND, op))?;
        let touch = query::touch(&self.collection, key, expires_at, now);
        within(self.config.operation_timeout, BACKEND, op, touch).await
    }

    /// The TTL index removes expired documents on its own; this removes
    /// the ones expired by the store's clock now, in batches of
    /// `purge_batch`: find the `_id`s through the TTL index, then delete
    /// those still expired. Each round trip is bounded on its own, so a
    /// large backlog is never cut short by `operation_timeout`.
    async fn delete_expired(&self) -> Result<u64> {
        let op = Operation::DeleteExpired;
        let (limit, batch) = (self.config.operation_timeout, self.config.purge_batch);
        let expired = query::expired(self.now());
        let mut total = 0;
        loop {
            let find = query::expired_ids(&self.collection, &expired, batch);
            let ids = within(limit, BACKEND, op, find).await?;
            let found = ids.len();
            if found == 0 {
                return Ok(total);
            }
            let delete = query::delete_ids(&self.collection, ids, &expired);
            total += within(limit, BACKEND, op, delete).await?;
            if found < batch as usize {
                return Ok(total);
            }
        }
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let list = query::list_by_owner(&self.collection, owner, self.now());
        within(
            self.config.operation_timeout,
            BACKEND,
            Operation::ListByOwner,
            list,
        )
        .await
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let delete = query::delete_by_owner(&self.collection, owner, self.now());
        let op = Operation::DeleteByOwner;
        within(self.config.operation_timeout, BACKEND, op, delete).await
    }

    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let op = Operation::Scan;
        let after = scan::key_order_start(cursor, limit).map_err(|e| e.in_context(BACKEND, op))?;
        let page = crate::scan::page(&self.collection, after, limit, self.now());
        within(self.config.operation_timeout, BACKEND, op, page).await
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}
