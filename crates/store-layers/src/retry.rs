//! [`RetryStore`]: retries of retryable failures, for calls that are safe
//! to repeat.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::Rng;
use store_core::{
    Capabilities, Entry, Expiry, Key, Owner, PutMode, PutOptions, PutResult, Result, ScanCursor,
    ScanPage, Store, Version,
};

/// When and how often [`RetryStore`] tries a call again.
///
/// ```
/// use std::time::Duration;
/// let policy = store_layers::RetryPolicy::default()
///     .attempts(4)
///     .base_delay(Duration::from_millis(10))
///     .max_delay(Duration::from_millis(500));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    attempts: u32,
    base: Duration,
    max: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts in all, delays from 25 ms doubling up to 1 s, with full
    /// jitter.
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(25),
            max: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// How many attempts in all, at least 1 (1: never retry).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The delay cap of the first retry; it doubles for each further one.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base = delay;
        self
    }

    /// The largest delay cap.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// A random delay up to the cap of retry `n` (1-based): "full jitter",
    /// so that clients retrying at once spread out.
    fn delay(&self, n: u32) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX))
            .min(self.max);
        cap.mul_f64(rand::rng().random::<f64>())
    }
}

/// A [`Store`] that tries a call again when it fails with an error whose
/// [`is_retryable`](store_core::Error::is_retryable) is true (a server that
/// is briefly down, a failover), with jittered exponential backoff, up to
/// [`RetryPolicy::attempts`] in all.
///
/// Only calls that are safe to repeat are retried: `get`,
/// `list_by_owner`, `touch` (the same expiry again), `delete` without a
/// version, `delete_expired`, `delete_by_owner`, and `put` with `Upsert`
/// or `Update` (the same entry written again). A repeated delete may
/// report `false` or a lower count when the first attempt did delete before
/// its answer was lost.
///
/// A retried call runs at least once, not exactly once, so it is not
/// linearizable when an attempt's answer is lost: a first attempt that was
/// applied and a repeat that lands after another client's write show as two
/// writes (the other client's value overwritten by the same entry again,
/// with a new version), and an `Update` whose first attempt was applied may
/// report `NotFound` when the entry was deleted before the repeat. Without
/// this layer such a call fails with `Unavailable` and its outcome is left
/// unknown to the caller.
///
/// **Never retried**: `put` with `Create` or `UpdateIf`, and `delete` with
/// a version. If the first attempt was applied but its answer lost, a
/// repeat would fail with `AlreadyExists` or `VersionMismatch` and report
/// the caller's own write as someone else's; these errors go to the caller,
/// who can read the entry and decide.
///
/// ```
/// use store_layers::{RetryPolicy, RetryStore};
/// let store = RetryStore::new(store_memory::MemoryStore::new(), RetryPolicy::default());
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct RetryStore<S> {
    inner: S,
    policy: RetryPolicy,
}

impl<S: fmt::Debug> fmt::Debug for RetryStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryStore")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S: Store> RetryStore<S> {
    /// `inner` with retries by `policy`.
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn retry<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if e.is_retryable() && attempt < self.policy.attempts => {
                    tokio::time::sleep(self.policy.delay(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for RetryStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        self.retry(|| self.inner.get(key)).await
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        match options.mode {
            PutMode::Upsert | PutMode::Update => {
                self.retry(|| self.inner.put(key, value.clone(), options.clone()))
                    .await
            }
            PutMode::Create | PutMode::UpdateIf(_) => self.inner.put(key, value, options).await,
        }
    }

    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        match if_version {
            None => self.retry(|| self.inner.delete(key, None)).await,
            Some(_) => self.inner.delete(key, if_version).await,
        }
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        self.retry(|| self.inner.touch(key, expires_at)).await
    }

    async fn delete_expired(&self) -> Result<u64> {
        self.retry(|| self.inner.delete_expired()).await
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        self.retry(|| self.inner.list_by_owner(owner)).await
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        self.retry(|| self.inner.delete_by_owner(owner)).await
    }

    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        self.retry(|| self.inner.scan(cursor, limit)).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let p = RetryPolicy::default()
            .base_delay(Duration::from_millis(10))
            .max_delay(Duration::from_millis(50));
        for n in 1..40 {
            let d = p.delay(n);
            assert!(d <= Duration::from_millis(50), "{n}: {d:?}");
        }
        assert!(p.delay(1) <= Duration::from_millis(10));
        assert_eq!(RetryPolicy::default().attempts(0).attempts, 1);
    }
}
