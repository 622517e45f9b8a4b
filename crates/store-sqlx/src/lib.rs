#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
// Without a database feature the crate is only its shared settings.
#![cfg_attr(
    not(any(feature = "postgres", feature = "sqlite", feature = "mysql")),
    allow(dead_code, unused_imports, unused_macros)
)]

// This crate holds three backends. Everything they share is written once
// in the skeleton modules, generic over a `Dialect`; `postgres.rs`,
// `sqlite.rs` and `mysql.rs` hold only what differs between the databases:
// SQL text, the type of the expiry column, error codes and pool options.
mod codec;
mod config;
mod connect;
mod error;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod query;
mod scan;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod writer;

#[cfg(feature = "mysql")]
pub use config::MySqlConfig;
#[cfg(feature = "sqlite")]
pub use config::SqliteConfig;
pub use config::{
    DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_PURGE_BATCH, DEFAULT_TABLE, MAX_PURGE_BATCH, MAX_SCHEMA_LEN,
    MAX_TABLE_LEN, MAX_VALUE_LEN_LIMIT, MIN_VALUE_LEN_LIMIT, SqlConfig,
};
#[cfg(feature = "postgres")]
pub use config::{DEFAULT_SCHEMA, PostgresConfig};
#[cfg(feature = "mysql")]
pub use connect::MySqlStore;
#[cfg(feature = "postgres")]
pub use connect::PostgresStore;
pub use connect::SqlStore;
#[cfg(feature = "sqlite")]
pub use connect::SqliteStore;
pub use query::Dialect;
pub use sqlx;
pub use store_core;

/// The name of the Postgres backend in errors and
/// [`Capabilities::backend`](store_core::Capabilities::backend).
///
/// ```
/// assert_eq!(store_sqlx::POSTGRES, "postgres");
/// ```
pub const POSTGRES: &str = "postgres";

/// The URL schemes [`PostgresStore`] opens; the first is the canonical one.
///
/// ```
/// assert_eq!(store_sqlx::POSTGRES_SCHEMES, ["postgres", "postgresql"]);
/// ```
pub const POSTGRES_SCHEMES: &[&str] = &["postgres", "postgresql"];

/// The name of the SQLite backend in errors and
/// [`Capabilities::backend`](store_core::Capabilities::backend).
///
/// ```
/// assert_eq!(store_sqlx::SQLITE, "sqlite");
/// ```
pub const SQLITE: &str = "sqlite";

/// The URL schemes [`SqliteStore`] opens (`sqlite://path`, `sqlite::memory:`).
///
/// ```
/// assert_eq!(store_sqlx::SQLITE_SCHEMES, ["sqlite"]);
/// ```
pub const SQLITE_SCHEMES: &[&str] = &["sqlite"];

/// The name of the MySQL backend in errors and
/// [`Capabilities::backend`](store_core::Capabilities::backend).
///
/// ```
/// assert_eq!(store_sqlx::MYSQL, "mysql");
/// ```
pub const MYSQL: &str = "mysql";

/// The URL schemes [`MySqlStore`] opens (MySQL and MariaDB); the first is
/// the canonical one.
///
/// ```
/// assert_eq!(store_sqlx::MYSQL_SCHEMES, ["mysql", "mariadb"]);
/// ```
pub const MYSQL_SCHEMES: &[&str] = &["mysql", "mariadb"];
