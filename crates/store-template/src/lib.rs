//! The `template` backend: the simplest complete `store-core` backend, to
//! copy when writing a new one (`just new-backend NAME`).
//!
//! A `BTreeMap` behind a lock stands in for the database, and
//! [`TemplateClient`] for the driver's client. The crate has the files
//! every backend has, each saying at its top what belongs there, and every
//! method of the [`Store`](store_core::Store) impl says what a real backend
//! must guarantee there and where its driver call goes. The crate passes
//! the whole conformance suite (`tests/conformance.rs`), so a copy starts
//! from a proven-correct base; replace the lock and the map with driver
//! calls one method at a time and run the suite after each.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use store_core::{Key, PutMode, Store};
//! use store_template::TemplateStore;
//!
//! let store = TemplateStore::connect("template://").await?;
//! let key = Key::new("session:1")?;
//! store.put(&key, "data".into(), PutMode::Create.into()).await?;
//! assert!(store.get(&key).await?.is_some());
//! # Ok::<(), store_core::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]

mod codec;
mod config;
mod connect;
mod error;
mod query;
mod scan;
mod store;

pub use config::{DEFAULT_NAMESPACE, DEFAULT_OPERATION_TIMEOUT, MAX_NAMESPACE_LEN, TemplateConfig};
pub use connect::TemplateStore;
pub use query::TemplateClient;
pub use store_core;

/// The backend name in errors and
/// [`Capabilities::backend`](store_core::Capabilities::backend).
pub const BACKEND: &str = "template";

/// The URL schemes [`TemplateStore`] opens, the canonical one first.
pub const SCHEMES: &[&str] = &["template"];
