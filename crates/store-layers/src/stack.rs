//! [`Stack`]: the layers in the documented order.

use std::sync::Arc;

use store_core::Store;

/// Stacks the enabled layers around a store in the one documented order,
/// from the outside in:
///
/// ```text
/// TracedStore → CachedStore → RetryStore → EncryptedStore → the backend
/// ```
///
/// - **Tracing outermost**: one span per call of the application, whose
///   duration includes cache hits and retries.
/// - **Cache above retries**: a hit never waits for a retry; a miss is
///   retried once for every caller that shares the cache.
/// - **Retries above encryption**: a retried write is encrypted again with
///   a fresh nonce; nothing below the retries is ever repeated partly.
/// - **Encryption innermost**: only ciphertext leaves the process; the
///   cache holds plaintext in this process's memory, so a hit costs no
///   decryption.
///
/// ```
/// # #[cfg(all(feature = "cache", feature = "encryption", feature = "retry", feature = "tracing"))]
/// # {
/// use store_layers::{Cache, CacheConfig, Keyring, RetryPolicy, Stack};
///
/// // Right: the builder puts each layer in its place, whatever the call order.
/// let store = Stack::new(store_memory::MemoryStore::new())
///     .tracing()
///     .retry(RetryPolicy::default())
///     .cache(Cache::new(CacheConfig::default()))
///     .encryption(Keyring::new(1, [7; 32]))
///     .build();
/// # let _ = store;
///
/// // Wrong, by hand: the cache below the encryption holds ciphertext and
/// // decrypts on every hit, and the tracing inside the retries records one
/// // span per attempt instead of one per call.
/// use store_layers::{CachedStore, EncryptedStore, RetryStore, TracedStore};
/// let slow = RetryStore::new(
///     TracedStore::new(EncryptedStore::new(
///         CachedStore::new(store_memory::MemoryStore::new(), Cache::new(CacheConfig::default())),
///         Keyring::new(1, [7; 32]),
///     )),
///     RetryPolicy::default(),
/// );
/// # let _ = slow;
/// # }
/// ```
#[derive(Debug)]
pub struct Stack {
    inner: Arc<dyn Store>,
    #[cfg(feature = "encryption")]
    encryption: Option<crate::Keyring>,
    #[cfg(feature = "retry")]
    retry: Option<crate::RetryPolicy>,
    #[cfg(feature = "cache")]
    cache: Option<Arc<crate::Cache>>,
    #[cfg(feature = "tracing")]
    tracing: bool,
}

impl Stack {
    /// No layer yet around `inner`.
    pub fn new(inner: impl Store) -> Self {
        Self {
            inner: Arc::new(inner),
            #[cfg(feature = "encryption")]
            encryption: None,
            #[cfg(feature = "retry")]
            retry: None,
            #[cfg(feature = "cache")]
            cache: None,
            #[cfg(feature = "tracing")]
            tracing: false,
        }
    }

    /// Encrypts values with `keyring` (innermost).
    #[cfg(feature = "encryption")]
    pub fn encryption(mut self, keyring: crate::Keyring) -> Self {
        self.encryption = Some(keyring);
        self
    }

    /// Retries calls that are safe to repeat, by `policy`.
    #[cfg(feature = "retry")]
    pub fn retry(mut self, policy: crate::RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Caches reads in `cache`.
    #[cfg(feature = "cache")]
    pub fn cache(mut self, cache: Arc<crate::Cache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Traces every call (outermost).
    #[cfg(feature = "tracing")]
    pub fn tracing(mut self) -> Self {
        self.tracing = true;
        self
    }

    /// The stacked store.
    pub fn build(self) -> Arc<dyn Store> {
        #[allow(unused_mut)]
        let mut store = self.inner;
        #[cfg(feature = "encryption")]
        if let Some(keyring) = self.encryption {
            store = Arc::new(crate::EncryptedStore::new(store, keyring));
        }
        #[cfg(feature = "retry")]
        if let Some(policy) = self.retry {
            store = Arc::new(crate::RetryStore::new(store, policy));
        }
        #[cfg(feature = "cache")]
        if let Some(cache) = self.cache {
            store = Arc::new(crate::CachedStore::new(store, cache));
        }
        #[cfg(feature = "tracing")]
        if self.tracing {
            store = Arc::new(crate::TracedStore::new(store));
        }
        store
    }
}

#[cfg(all(
    test,
    feature = "cache",
    feature = "encryption",
    feature = "retry",
    feature = "tracing"
))]
mod tests {
    use super::*;
    use crate::{Cache, CacheConfig, Keyring, RetryPolicy};

    #[tokio::test]
    async fn layers_go_in_the_documented_order_whatever_the_call_order() {
        let store = Stack::new(store_memory::MemoryStore::new())
            .encryption(Keyring::new(1, [1; 32]))
            .tracing()
            .cache(Cache::new(CacheConfig::default()))
            .retry(RetryPolicy::default())
            .build();
        let shown = format!("{store:?}");
        let at = |name: &str| {
            shown
                .find(name)
                .unwrap_or_else(|| panic!("{name} in {shown}"))
        };
        assert!(at("TracedStore") < at("CachedStore"), "{shown}");
        assert!(at("CachedStore") < at("RetryStore"), "{shown}");
        assert!(at("RetryStore") < at("EncryptedStore"), "{shown}");
        assert!(at("EncryptedStore") < at("MemoryStore"), "{shown}");
        let key = store_core::Key::new("k").unwrap();
        store
            .put(&key, "v".into(), store_core::PutMode::Create.into())
            .await
            .unwrap();
        assert_eq!(&store.get(&key).await.unwrap().unwrap().value[..], b"v");
    }
}
