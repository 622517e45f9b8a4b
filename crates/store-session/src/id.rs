//! [`SessionId`]: the secret a cookie carries, and the key it is stored
//! under.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use store_core::{Error, ErrorKind, Key, Result};

/// Random bytes in a session id: 256 bits.
pub const SESSION_ID_BYTES: usize = 32;

/// Length of a session id's text: 43 characters of URL-safe base64.
pub const SESSION_ID_LEN: usize = 43;

/// A session id: 256 bits from the operating system's CSPRNG, as 43
/// characters of URL-safe base64 without padding (`A–Z a–z 0–9 - _`).
///
/// The id is a bearer secret. `Debug` and `Display` never show it; the
/// cookie gets it through [`expose`](Self::expose). The store never sees it
/// either: entries live under [`key`](Self::key), a SHA-256 hash of the id,
/// so a copy of the database yields no usable cookie.
///
/// ```
/// use store_session::SessionId;
/// let id = SessionId::generate()?;
/// assert_eq!(id.expose().len(), 43);
/// assert_eq!(format!("{id:?}"), "SessionId(***)");
/// let parsed = SessionId::parse(id.expose())?;
/// assert_eq!(parsed.key(), id.key());
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// A new random id.
    ///
    /// # Errors
    /// `Backend` when the operating system's random source fails.
    ///
    /// ```
    /// let a = store_session::SessionId::generate()?;
    /// let b = store_session::SessionId::generate()?;
    /// assert_ne!(a, b);
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; SESSION_ID_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| {
            Error::new(
                ErrorKind::Backend,
                format!("the operating system's random source failed: {e}"),
            )
        })?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Reads an id from a cookie. Anything that [`generate`](Self::generate)
    /// cannot have produced is refused, so a forged or truncated cookie
    /// never reaches the store.
    ///
    /// # Errors
    /// `InvalidInput` naming what is wrong (never echoing the text).
    ///
    /// ```
    /// use store_session::SessionId;
    /// assert!(SessionId::parse("short").is_err());
    /// assert!(SessionId::parse(&"A".repeat(43)).is_ok());
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() != SESSION_ID_LEN {
            return Err(Error::invalid_input(format!(
                "a session id has {SESSION_ID_LEN} characters; this one has {}",
                text.len()
            )));
        }
        match URL_SAFE_NO_PAD.decode(text) {
            Ok(bytes) if bytes.len() == SESSION_ID_BYTES => Ok(Self(text.to_owned())),
            _ => Err(Error::invalid_input(
                "a session id is URL-safe base64 of 32 bytes",
            )),
        }
    }

    /// The id's text, for the cookie. The only way to read it.
    ///
    /// ```
    /// let id = store_session::SessionId::generate()?;
    /// let cookie = format!("id={}; HttpOnly; Secure; SameSite=Lax", id.expose());
    /// # let _ = cookie;
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The store key of this session: `session:` and the SHA-256 of the id
    /// in URL-safe base64. Also usable as a non-secret handle (for a list
    /// of a user's sessions with revoke buttons).
    ///
    /// ```
    /// let id = store_session::SessionId::generate()?;
    /// assert!(id.key().as_str().starts_with("session:"));
    /// assert!(!id.key().as_str().contains(id.expose()));
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn key(&self) -> Key {
        let digest = Sha256::digest(self.0.as_bytes());
        Key::new(format!("session:{}", URL_SAFE_NO_PAD.encode(digest)))
            .expect("a hashed session key is always valid")
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(***)")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_million_ids_are_distinct_and_well_formed() {
        let mut seen = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let id = SessionId::generate().unwrap();
            let text = id.expose();
            assert_eq!(text.len(), SESSION_ID_LEN);
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "alphabet"
            );
            assert!(seen.insert(text.to_owned()), "collision");
        }
    }

    #[test]
    fn parse_refuses_what_generate_cannot_produce() {
        let id = SessionId::generate().unwrap();
        assert_eq!(SessionId::parse(id.expose()).unwrap(), id);
        let mut bad = id.expose().to_owned();
        bad.replace_range(0..1, "+");
        for text in [&bad[..], "", &id.expose()[1..], &"=".repeat(43)] {
            let err = SessionId::parse(text).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(text.is_empty() || !err.to_string().contains(text), "{err}");
        }
        assert_eq!(id.to_string(), "***");
        assert!(!format!("{:?}", id.key()).contains(id.expose()));
    }
}
