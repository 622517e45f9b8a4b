#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod codec;
mod config;
mod connect;
mod error;
mod query;
mod scan;
mod store;

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DATABASE, DEFAULT_NAMESPACE, DEFAULT_OPERATION_TIMEOUT,
    DEFAULT_PURGE_BATCH, DEFAULT_SERVER_SELECTION_TIMEOUT, DEFAULT_VERSION_BLOCK,
    MAX_COLLECTION_LEN, MAX_DATABASE_LEN, MAX_PURGE_BATCH, MAX_VALUE_LEN_LIMIT, MAX_VERSION_BLOCK,
    MIN_VALUE_LEN_LIMIT, MongoConfig,
};
pub use connect::{MongoStore, OWNER_INDEX, TTL_INDEX};
pub use mongodb;
pub use store_core;

/// The backend name in errors and
/// [`Capabilities::backend`](store_core::Capabilities::backend): `"mongodb"`.
///
/// ```
/// assert_eq!(store_mongodb::BACKEND, "mongodb");
/// ```
pub const BACKEND: &str = "mongodb";

/// The URL schemes [`MongoStore`] opens through
/// [`Open`](store_core::Open): `mongodb` and `mongodb+srv`.
///
/// ```
/// assert_eq!(store_mongodb::SCHEMES, ["mongodb", "mongodb+srv"]);
/// ```
pub const SCHEMES: &[&str] = &["mongodb", "mongodb+srv"];
