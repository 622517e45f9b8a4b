//! Layers that wrap any `store-core` [`Store`](store_core::Store) and are a
//! `Store` themselves, so they stack: `EncryptedStore::new(RedisStore, …)`
//! is used exactly like the `RedisStore` it wraps. Each layer forwards every
//! method of the trait and passes the whole conformance suite.
//!
//! - `EncryptedStore` (feature `encryption`): values encrypted at rest
//!   with XChaCha20-Poly1305, keys rotated through a `Keyring`.
//! - `RetryStore` (feature `retry`): retries of retryable failures, with
//!   jittered exponential backoff, only for calls that are safe to repeat.
//! - `CachedStore` (feature `cache`): a bounded read-through cache in this
//!   process; every write reaches the store first. With
//!   `RedisInvalidation` (feature `redis-invalidation`), caches in several
//!   processes drop a key as soon as any of them writes it.
//! - `TracedStore` (feature `tracing`): a span and an event per call, with
//!   backend, operation, outcome and duration, never keys or values.
//! - [`Stack`]: the enabled layers around a store in the documented order
//!   (tracing, cache, retry, encryption, backend), with the reasons.
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
