//! [`Store`] for [`MemoryStore`]: validation, then the operation on the
//! in-process tables ([`crate::query`], [`crate::scan`]). Memory never
//! waits for anything, so no call has a time bound.

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Entry, Expiry, Key, Operation, Owner, PutOptions, PutResult, Result, ScanCursor,
    ScanPage, Store, Version, scan, validate,
};

use crate::codec::LazyNow;
use crate::connect::MemoryStore;
use crate::error::ctx;

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let now = LazyNow::new(&*self.inner.clock);
        Ok(self.inner.get(self.ns, key, &now))
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let now = LazyNow::new(&*self.inner.clock);
        let caps = self.caps();
        validate::value(&caps, &value).map_err(ctx(Operation::Put))?;
        if let Some(expires_at) = options.expires_at {
            validate::expiry(expires_at, now.get()).map_err(ctx(Operation::Put))?;
        }
        self.inner
            .put(self.ns, key, &value, &options, &now)
            .map_err(ctx(Operation::Put))
    }

    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let now = LazyNow::new(&*self.inner.clock);
        self.inner
            .delete(self.ns, key, if_version, &now)
            .map_err(ctx(Operation::Delete))
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        let now = LazyNow::new(&*self.inner.clock);
        validate::expiry(expires_at, now.get()).map_err(ctx(Operation::Touch))?;
        self.inner
            .touch(self.ns, key, expires_at, &now)
            .map_err(ctx(Operation::Touch))
    }

    async fn delete_expired(&self) -> Result<u64> {
        Ok(self.inner.purge(Some(self.ns), self.inner.clock.now()))
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let now = LazyNow::new(&*self.inner.clock);
        Ok(self.inner.list_by_owner(self.ns, owner, &now))
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        let now = LazyNow::new(&*self.inner.clock);
        Ok(self.inner.delete_by_owner(self.ns, owner, &now))
    }

    /// Key order; each page reads every shard once, so a page costs time
    /// in proportion to the namespace's size.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let after = scan::key_order_start(cursor, limit).map_err(ctx(Operation::Scan))?;
        let (records, more) = self.inner.scan(self.ns, after, limit);
        Ok(crate::scan::page(records, more, self.inner.clock.now()))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}
