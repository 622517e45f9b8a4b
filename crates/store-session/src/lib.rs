//! Web sessions and typed per-user state (OAuth tokens) on any
//! `store-core` backend.
//!
//! - [`Sessions`]: ids of 256 bits from the operating system's CSPRNG,
//!   stored under a SHA-256 hash of the id (a copy of the database yields no
//!   usable cookie); `create` never overwrites; `save` never brings back a
//!   session deleted meanwhile; `cycle_id` at login; an idle timeout that
//!   slides (refreshed at most once per touch interval) and an absolute
//!   lifetime that nothing extends; a user's sessions listed and revoked
//!   through the owner index ("log out everywhere else" keeps the logins
//!   made while it runs).
//! - [`TokenStore`]: typed values per (namespace, user), with
//!   compare-and-swap, and [`TokenStore::get_fresh`], which refreshes an
//!   expiring token once however many requests and processes ask at the
//!   same time, however long the refresh takes: the process that holds a
//!   user's refresh lease renews it while its refresh runs, and one that
//!   lost it writes nothing.
//!
//! # Token refresh across processes
//!
//! A refresh takes a lease entry (`Create` with an expiry of
//! [`DEFAULT_REFRESH_LEASE`], 30 s). While the refresh runs, the holder
//! renews the lease every third of that by compare-and-swap on the lease's
//! version, so no other process starts a refresh for that user however long
//! the provider takes (up to [`DEFAULT_REFRESH_TIMEOUT`], 60 s, after which
//! the refresh is abandoned and nothing is written). Another process takes
//! the lease over only once the holder has not renewed it for a whole
//! lease: it crashed, or hung so that none of its tasks ran. Before it
//! writes, the holder renews once more; a holder that finds its lease gone
//! writes nothing and returns [`RefreshError::LeaseLost`]. The new token is
//! written with compare-and-swap against the token that was refreshed.
//!
//! One window remains: a holder that dies (or hangs for a whole lease)
//! after the provider accepted its refresh token and before the new token
//! is stored. The provider has rotated the token; the store still has the
//! old one, which the process that takes over presents again, and a
//! provider that detects refresh-token reuse rejects it. The lease cannot
//! close that window, only keep it as short as the provider call: give the
//! HTTP client a timeout well under the refresh timeout. The lease relies
//! on the processes' clocks agreeing to well within two thirds of the
//! lease.
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
