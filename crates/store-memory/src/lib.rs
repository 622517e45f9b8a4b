#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod codec;
mod config;
mod connect;
mod error;
mod query;
mod scan;
mod store;

pub use config::{DEFAULT_SHARDS, MemoryConfig};
pub use connect::{MemoryStore, PurgeTask};
pub use store_core;

/// The backend name used in errors and [`Capabilities::backend`](store_core::Capabilities::backend): `"memory"`.
pub const BACKEND: &str = "memory";

/// The URL schemes [`MemoryStore`] opens: `memory://`, with the rest of the
/// URL ignored.
pub const SCHEMES: &[&str] = &["memory"];
