//! Layers that wrap any `store-core` [`Store`](store_core::Store) and are a
//! `Store` themselves, so they stack: `EncryptedStore::new(RedisStore, …)`
//! is used exactly like the `RedisStore` it wraps. Each layer forwards every
//! method of the trait and passes the whole conformance suite.
//!
//! - [`EncryptedStore`] (feature `encryption`): values encrypted at rest
//!   with XChaCha20-Poly1305, keys rotated through a [`Keyring`].
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "encryption")]
mod encryption;

#[cfg(feature = "encryption")]
pub use encryption::{ENVELOPE_OVERHEAD, EncryptedStore, Keyring};
