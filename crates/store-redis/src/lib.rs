#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod codec;
mod config;
mod connect;
mod error;
mod query;
mod scan;
mod store;

pub use config::{
    DEFAULT_BUCKETS_CLUSTER, DEFAULT_BUCKETS_SINGLE, DEFAULT_NAMESPACE, DEFAULT_RECONNECT_RETRIES,
    DEFAULT_TIMEOUT, MAX_BUCKETS, MAX_NAMESPACE_LEN, RedisConfig,
};
pub use connect::{RedisConnection, RedisStore};
pub use redis;
pub use store_core;

/// The backend name in errors and [`Capabilities::backend`](store_core::Capabilities::backend).
///
/// ```
/// assert_eq!(store_redis::BACKEND, "redis");
/// ```
pub const BACKEND: &str = "redis";

/// The URL schemes a [`RedisStore`] opens (see [`store_core::Open`] and
/// [`RedisStore::connect`]): one server over TCP, over TLS (feature `tls`)
/// or over a Unix socket; a Redis Cluster (feature `cluster`); the master
/// of a Sentinel group (feature `sentinel`).
///
/// ```
/// assert_eq!(store_redis::SCHEMES[0], "redis");
/// assert!(store_redis::SCHEMES.contains(&"rediss"));
/// assert!(store_redis::SCHEMES.contains(&"redis+sentinel"));
/// ```
pub const SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis+unix",
    "unix",
    "redis+cluster",
    "rediss+cluster",
    "redis+sentinel",
];
