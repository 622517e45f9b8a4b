//! Shared input checks for backends, so every backend rejects the same
//! input with the same message.
//!
//! ```
//! use bytes::Bytes;
//! use store_core::{validate, Capabilities, Clock, PutOptions, SystemClock};
//!
//! let caps = Capabilities::new("toy");
//! let opts = PutOptions::default();
//! validate::put(&caps, &Bytes::from_static(b"v"), &opts, SystemClock.now())?;
//! # Ok::<(), store_core::Error>(())
//! ```

use crate::entry::PutOptions;
use crate::error::{Error, Result};
use crate::key::Key;
use crate::store::Capabilities;
use crate::time::Expiry;

/// Checks a key against a backend's [`Capabilities::max_key_len`] (which may
/// be lower than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN)).
///
/// # Errors
/// `InvalidInput` naming the limit.
///
/// ```
/// use store_core::{validate, Capabilities, Key};
/// let mut caps = Capabilities::new("toy");
/// caps.max_key_len = 3;
/// assert!(validate::key(&caps, &Key::new("abc")?).is_ok());
/// assert!(validate::key(&caps, &Key::new("abcd")?).is_err());
/// # Ok::<(), store_core::Error>(())
/// ```
pub fn key(caps: &Capabilities, key: &Key) -> Result<()> {
    let len = key.as_str().len();
    if len > caps.max_key_len {
        return Err(Error::invalid_input(format!(
            "key is {len} bytes long; the maximum for this store is {} bytes",
            caps.max_key_len
        )));
    }
    Ok(())
}

/// Checks a value against [`Capabilities::max_value_len`].
///
/// # Errors
/// `InvalidInput` naming the limit.
///
/// ```
/// use store_core::{validate, Capabilities};
/// let mut caps = Capabilities::new("toy");
/// caps.max_value_len = 2;
/// let err = validate::value(&caps, b"abc").unwrap_err();
/// assert_eq!(err.message(), "value is 3 bytes long; the maximum for this store is 2 bytes");
/// ```
pub fn value(caps: &Capabilities, value: &[u8]) -> Result<()> {
    if value.len() > caps.max_value_len {
        return Err(Error::invalid_input(format!(
            "value is {} bytes long; the maximum for this store is {} bytes",
            value.len(),
            caps.max_value_len
        )));
    }
    Ok(())
}

/// Checks that `expires_at` is after `now`.
///
/// # Errors
/// `InvalidInput` when `expires_at <= now`.
///
/// ```
/// use store_core::{validate, Expiry};
/// let now = Expiry::from_unix_millis(1_000)?;
/// assert!(validate::expiry(Expiry::from_unix_millis(1_001)?, now).is_ok());
/// assert!(validate::expiry(now, now).is_err());
/// # Ok::<(), store_core::Error>(())
/// ```
pub fn expiry(expires_at: Expiry, now: Expiry) -> Result<()> {
    if expires_at.is_expired_at(now) {
        return Err(Error::invalid_input(format!(
            "expiry {expires_at} is not after the store's current time {now}; \
             an entry must expire in the future (delete it instead)"
        )));
    }
    Ok(())
}

/// Every check a [`put`](crate::Store::put) needs on its value and options
/// before it touches the backend: value size and, when set, expiry after
/// `now`.
///
/// # Errors
/// `InvalidInput` naming the limit that was broken.
///
/// ```
/// use bytes::Bytes;
/// use store_core::{validate, Capabilities, Expiry, PutOptions};
///
/// let caps = Capabilities::new("toy");
/// let now = Expiry::from_unix_millis(10_000)?;
/// let stale = PutOptions::default().expires_at(Expiry::from_unix_millis(9_000)?);
/// assert!(validate::put(&caps, b"v", &stale, now).is_err());
/// # Ok::<(), store_core::Error>(())
/// ```
pub fn put(caps: &Capabilities, value: &[u8], options: &PutOptions, now: Expiry) -> Result<()> {
    self::value(caps, value)?;
    if let Some(e) = options.expires_at {
        expiry(e, now)?;
    }
    Ok(())
}
