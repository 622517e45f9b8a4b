//! A store that counts the calls reaching the store below it: what the
//! layer tests check about retries and cache hits.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Entry, Expiry, Key, Owner, PutOptions, PutResult, Result, ScanCursor, ScanPage,
    Store, Version,
};

#[derive(Debug, Clone)]
pub(crate) struct Counted {
    inner: Arc<dyn Store>,
    calls: Arc<Mutex<HashMap<&'static str, usize>>>,
    /// A put of this value returns only when the gate is opened, after the
    /// store below has applied it.
    held: Arc<Mutex<Option<Held>>>,
}

/// A value whose put is held, and the gate that releases it.
type Held = (Bytes, Arc<tokio::sync::Notify>);

impl Counted {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            held: Arc::default(),
        }
    }

    /// Makes the next put of `value` wait, once applied below, until the
    /// returned gate is opened (`notify_one`).
    pub(crate) fn hold_put_of(&self, value: &'static [u8]) -> Arc<tokio::sync::Notify> {
        let gate = Arc::new(tokio::sync::Notify::new());
        *self.held.lock().unwrap() = Some((Bytes::from_static(value), gate.clone()));
        gate
    }

    fn hit(&self, op: &'static str) {
        *self.calls.lock().unwrap().entry(op).or_default() += 1;
    }

    /// Calls of `op` so far.
    pub(crate) fn count(&self, op: &str) -> usize {
        self.calls.lock().unwrap().get(op).copied().unwrap_or(0)
    }

    /// Calls of every operation so far.
    pub(crate) fn total(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }

    pub(crate) fn reset(&self) {
        self.calls.lock().unwrap().clear();
    }
}

#[async_trait]
impl Store for Counted {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        self.hit("get");
        self.inner.get(key).await
    }
    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        self.hit("put");
        let gate = {
            let mut held = self.held.lock().unwrap();
            match held.as_ref() {
                Some((v, _)) if *v == value => held.take().map(|(_, g)| g),
                _ => None,
            }
        };
        let written = self.inner.put(key, value, options).await;
        if let Some(gate) = gate {
            gate.notified().await;
        }
        written
    }
    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        self.hit("delete");
        self.inner.delete(key, if_version).await
    }
    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        self.hit("touch");
        self.inner.touch(key, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64> {
        self.hit("delete_expired");
        self.inner.delete_expired().await
    }
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        self.hit("list_by_owner");
        self.inner.list_by_owner(owner).await
    }
    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        self.hit("delete_by_owner");
        self.inner.delete_by_owner(owner).await
    }
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        self.hit("scan");
        self.inner.scan(cursor, limit).await
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}
