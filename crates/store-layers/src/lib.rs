#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "encryption")]
mod encryption;
#[cfg(feature = "redis-invalidation")]
mod invalidation;
#[cfg(feature = "retry")]
mod retry;
mod stack;
#[cfg(feature = "tracing")]
mod traced;

#[cfg(feature = "cache")]
pub use cache::{Cache, CacheConfig, CacheStats, CachedStore};
#[cfg(feature = "encryption")]
pub use encryption::{ENVELOPE_OVERHEAD, EncryptedStore, Keyring};
#[cfg(feature = "redis-invalidation")]
pub use invalidation::RedisInvalidation;
#[cfg(feature = "retry")]
pub use retry::{RetryPolicy, RetryStore};
pub use stack::Stack;
#[cfg(feature = "tracing")]
pub use traced::TracedStore;
