#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod deadline;
mod entry;
mod error;
mod ext;
mod key;
mod open;
mod redact;
pub mod scan;
mod store;
mod time;
pub mod validate;

pub use async_trait::async_trait;
pub use bytes::{self, Bytes};

pub use deadline::within;
pub use entry::{Entry, PutMode, PutOptions, PutResult, Version};
pub use error::{Error, ErrorKind, Operation, Result};
pub use ext::{CAS_MAX_ATTEMPTS, Codec, Json, StoreExt, TypedEntry};
pub use key::{Key, MAX_KEY_LEN, MAX_OWNER_LEN, Owner};
pub use open::{Open, OpenOptions, check_scheme};
pub use redact::{is_secret_param, redact_url, url_secrets, without_url_secrets};
pub use scan::{DEFAULT_SCAN_LIMIT, MAX_SCAN_LIMIT, ScanCursor, ScanPage};
pub use store::{Capabilities, ClockSource, DEFAULT_MAX_VALUE_LEN, Store};
pub use time::{Clock, Expiry, ManualClock, SystemClock};
