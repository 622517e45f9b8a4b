//! [`TracedStore`]: one `tracing` span and one event per call.

use std::fmt;
use std::future::Future;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use store_core::{
    Capabilities, Entry, ErrorKind, Expiry, Key, Operation, Owner, PutOptions, PutResult, Result,
    ScanCursor, ScanPage, Store, Version,
};
use tracing::Instrument;

/// A [`Store`] that records each call: a span `store` with the backend and
/// the operation, and at its end one event with the outcome and the
/// duration in microseconds.
///
/// - Success, and the expected refusals (`NotFound`, `AlreadyExists`,
///   `VersionMismatch`), are `DEBUG` events; bad input (`InvalidInput`) is
///   `WARN`; backend failures (`Unavailable`, `Backend`, `Encoding`,
///   `Config`, …) are `ERROR`, with the error's message.
/// - Keys, owners and values are never recorded: a key can be a session id
///   or a user id. The put mode is.
///
/// ```
/// use store_layers::TracedStore;
/// let store = TracedStore::new(store_memory::MemoryStore::new());
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct TracedStore<S> {
    inner: S,
}

impl<S: fmt::Debug> fmt::Debug for TracedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedStore")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S: Store> TracedStore<S> {
    /// `inner`, traced.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn traced<T, Fut>(&self, operation: Operation, mode: &str, call: Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>> + Send,
    {
        let backend = self.inner.capabilities().backend;
        let span = tracing::info_span!("store", backend, operation = operation.as_str(), mode);
        async move {
            let started = Instant::now();
            let result = call.await;
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            match &result {
                Ok(_) => tracing::debug!(outcome = "ok", micros),
                Err(e) => match e.kind() {
                    ErrorKind::NotFound | ErrorKind::AlreadyExists | ErrorKind::VersionMismatch => {
                        tracing::debug!(outcome = e.kind().as_str(), micros)
                    }
                    ErrorKind::InvalidInput => {
                        tracing::warn!(outcome = e.kind().as_str(), micros, error = %e)
                    }
                    _ => tracing::error!(
                        outcome = e.kind().as_str(),
                        micros,
                        retryable = e.is_retryable(),
                        error = %e
                    ),
                },
            }
            result
        }
        .instrument(span)
        .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for TracedStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        self.traced(Operation::Get, "", self.inner.get(key)).await
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        let mode = match options.mode {
            store_core::PutMode::Upsert => "upsert",
            store_core::PutMode::Create => "create",
            store_core::PutMode::Update => "update",
            store_core::PutMode::UpdateIf(_) => "update_if",
        };
        self.traced(Operation::Put, mode, self.inner.put(key, value, options))
            .await
    }

    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        let mode = if if_version.is_some() {
            "if_version"
        } else {
            ""
        };
        self.traced(Operation::Delete, mode, self.inner.delete(key, if_version))
            .await
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        self.traced(Operation::Touch, "", self.inner.touch(key, expires_at))
            .await
    }

    async fn delete_expired(&self) -> Result<u64> {
        self.traced(Operation::DeleteExpired, "", self.inner.delete_expired())
            .await
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        self.traced(Operation::ListByOwner, "", self.inner.list_by_owner(owner))
            .await
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        self.traced(
            Operation::DeleteByOwner,
            "",
            self.inner.delete_by_owner(owner),
        )
        .await
    }

    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        self.traced(Operation::Scan, "", self.inner.scan(cursor, limit))
            .await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}
