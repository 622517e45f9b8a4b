#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
mod store;

pub use config::{DEFAULT_SHARDS, MemoryConfig};
pub use store::{BACKEND, MemoryStore, PurgeTask};
pub use store_core;
