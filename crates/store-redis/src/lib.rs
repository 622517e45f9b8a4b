#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
mod conn;
mod cursor;
mod error;
mod scripts;
mod store;

pub use config::{
    DEFAULT_BUCKETS_CLUSTER, DEFAULT_BUCKETS_SINGLE, DEFAULT_PREFIX, DEFAULT_RECONNECT_RETRIES,
    DEFAULT_TIMEOUT, MAX_BUCKETS, MAX_PREFIX_LEN, RedisConfig,
};
pub use redis;
pub use store::{BACKEND, RedisStore};
pub use store_core;
