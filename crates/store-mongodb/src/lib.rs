#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod config;
mod document;
mod error;
#[cfg(test)]
mod fuzz;
mod scan;
mod store;
mod versions;

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_OPERATION_TIMEOUT, DEFAULT_PURGE_BATCH,
    DEFAULT_SERVER_SELECTION_TIMEOUT, DEFAULT_VERSION_BLOCK, MAX_COLLECTION_LEN, MAX_DATABASE_LEN,
    MAX_PURGE_BATCH, MAX_VALUE_LEN_LIMIT, MAX_VERSION_BLOCK, MIN_VALUE_LEN_LIMIT, MongoConfig,
};
pub use mongodb;
pub use store::{MONGODB, MongoStore, OWNER_INDEX, TTL_INDEX};
pub use store_core;
