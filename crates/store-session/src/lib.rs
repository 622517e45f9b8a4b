//! Web sessions and typed per-user state (OAuth tokens) on any
//! `store-core` backend.
//!
//! - [`Sessions`]: ids of 256 bits from the operating system's CSPRNG,
//!   stored under a SHA-256 hash of the id (a copy of the database yields no
//!   usable cookie); `create` never overwrites; `save` never brings back a
//!   session deleted meanwhile; `cycle_id` at login; an idle timeout that
//!   slides (refreshed at most once per touch interval) and an absolute
//!   lifetime that nothing extends; a user's sessions listed and revoked
//!   through the owner index.
//! - [`TokenStore`]: typed values per (namespace, user), with
//!   compare-and-swap, and [`TokenStore::get_fresh`], which refreshes an
//!   expiring token once however many requests and processes ask at the
//!   same time.
//!
//! Session ids and stored values never appear in `Debug`, `Display` or
//! error messages.
#![forbid(unsafe_code)]

mod id;
mod session;
#[cfg(feature = "testing")]
pub mod testing;
mod token;

pub use id::{SESSION_ID_BYTES, SESSION_ID_LEN, SessionId};
pub use session::{
    DEFAULT_ABSOLUTE_LIFETIME, DEFAULT_IDLE_TIMEOUT, DEFAULT_TOUCH_INTERVAL, Session,
    SessionConfig, SessionInfo, Sessions,
};
pub use token::{
    DEFAULT_REFRESH_LEASE, DEFAULT_REFRESH_TIMEOUT, Expiring, MIN_REFRESH_LEASE, RefreshError,
    TokenStore, Versioned,
};
