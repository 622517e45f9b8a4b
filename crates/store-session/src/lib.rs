#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
mod id;
pub mod owner_index;
mod session;
#[cfg(feature = "testing")]
pub mod testing;
mod token;

pub use id::{SESSION_ID_BYTES, SESSION_ID_LEN, SessionId};
pub use session::{
    DEFAULT_ABSOLUTE_LIFETIME, DEFAULT_IDLE_TIMEOUT, DEFAULT_TOUCH_INTERVAL, MAX_USER_AGENT_LEN,
    Session, SessionConfig, SessionInfo, Sessions,
};
pub use token::{
    DEFAULT_REFRESH_LEASE, DEFAULT_REFRESH_TIMEOUT, Expiring, MIN_REFRESH_LEASE, RefreshError,
    TokenStore, Versioned,
};
