#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
// Without a database feature the crate is only its shared settings.
#![cfg_attr(
    not(any(feature = "postgres", feature = "sqlite")),
    allow(dead_code, unused_imports, unused_macros)
)]

mod config;
mod entry;
mod error;
#[cfg(test)]
mod fuzz;
mod ident;
mod outcome;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod timeout;

pub use config::{
    DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_PURGE_BATCH,
    DEFAULT_STATEMENT_TIMEOUT, DEFAULT_TABLE, MAX_PURGE_BATCH, MAX_VALUE_LEN_LIMIT,
    MIN_VALUE_LEN_LIMIT,
};
#[cfg(feature = "sqlite")]
pub use config::{DEFAULT_BUSY_TIMEOUT, SqliteConfig};
#[cfg(feature = "postgres")]
pub use config::{DEFAULT_SCHEMA, PostgresConfig};
pub use ident::{MAX_SCHEMA_LEN, MAX_TABLE_LEN};
#[cfg(feature = "postgres")]
pub use postgres::{POSTGRES, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{SQLITE, SqliteStore};
pub use sqlx;
pub use store_core;
