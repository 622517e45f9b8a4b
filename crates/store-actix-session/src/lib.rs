#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use store_core::{Bytes, Error, ErrorKind, Expiry, Key, PutMode, PutOptions, Store};

mod owner;

pub use owner::SessionInfo;
use store_session::owner_index::OwnerSource;

/// The prefix of every store key this adapter writes: `actix-session:`,
/// followed by the SHA-256 of the session key in URL-safe base64.
///
/// ```
/// assert_eq!(store_actix_session::KEY_PREFIX, "actix-session:");
/// ```
pub const KEY_PREFIX: &str = "actix-session:";

/// How many characters a session key has: 64, each one of the 62 ASCII
/// letters and digits drawn from the operating system's random source
/// (about 381 bits), as actix-session's own stores make them.
///
/// ```
/// assert_eq!(store_actix_session::SESSION_KEY_LEN, 64);
/// ```
pub const SESSION_KEY_LEN: usize = 64;

/// The characters of a session key.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// How many fresh keys `save` tries before giving up.
const KEY_ATTEMPTS: u32 = 3;

/// How far ahead of this process's clock a store's clock (a server's) may
/// run when it refuses an expiry as already past.
const CLOCK_MARGIN: Duration = Duration::seconds(5);

/// The session state actix-session hands to a store.
type SessionState = HashMap<String, String>;

/// An actix-session [`SessionStore`] over any [`Store`].
///
/// Pass it to `actix_session::SessionMiddleware::new` (see the
/// [crate docs](crate) for a whole app). Cloning is cheap and shares the
/// store, so one value can be moved into the `HttpServer::new` factory.
///
/// ```
/// use std::sync::Arc;
/// use store_actix_session::ActixStore;
///
/// let sessions = ActixStore::new(Arc::new(store_memory::MemoryStore::new()));
/// # let _ = sessions;
/// ```
#[derive(Debug, Clone)]
pub struct ActixStore {
    store: Arc<dyn Store>,
    owner: Option<OwnerSource>,
}

/// When a session ends, from the TTL actix-session passes.
#[derive(Debug, Clone, Copy)]
enum Lifetime {
    /// A TTL of zero or less: the session is over already.
    Over,
    /// A positive TTL: the session is live until then.
    Until(Expiry),
}

impl ActixStore {
    /// Sessions in `store`. Use a namespace of their own (a prefix, a
    /// table, a collection).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_core::Store;
    ///
    /// let backend: Arc<dyn Store> = Arc::new(store_memory::MemoryStore::new());
    /// let sessions = store_actix_session::ActixStore::new(backend);
    /// assert_eq!(sessions.owner_source(), None);
    /// ```
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, owner: None }
    }

    /// The store key a session is kept under: [`KEY_PREFIX`] and the
    /// SHA-256 of the session key in URL-safe base64, never the session key
    /// itself, so a copy of the store yields no usable cookie.
    ///
    /// It is also the session's handle in [`list_for`](Self::list_for)
    /// and [`revoke`](Self::revoke).
    ///
    /// ```
    /// use actix_session::storage::SessionKey;
    /// use store_actix_session::ActixStore;
    ///
    /// let session_key = SessionKey::try_from("a".repeat(64)).unwrap();
    /// let key = ActixStore::handle(&session_key);
    /// assert!(key.as_str().starts_with("actix-session:"));
    /// assert!(!key.as_str().contains(session_key.as_ref()));
    /// ```
    pub fn handle(session_key: &SessionKey) -> Key {
        let digest = Sha256::digest(session_key.as_ref().as_bytes());
        Key::new(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(digest)))
            .expect("a prefixed SHA-256 in base64 is always a valid key")
    }

    /// The owner of a session with `state`, as
    /// [`owner_from`](Self::owner_from) describes.
    fn owner(&self, state: &SessionState) -> Option<store_core::Owner> {
        self.owner
            .as_ref()
            .and_then(|source| source.owner_in_json(state))
    }

    /// Deletes the session under `key`: one whose TTL is over.
    async fn end(&self, key: &Key) -> Result<(), Error> {
        self.store.delete(key, None).await.map(|_| ())
    }
}

/// When a session given `ttl` now ends.
///
/// # Errors
/// `InvalidInput` when it would end after [`Expiry::MAX`]; the message names
/// the limit.
fn lifetime(ttl: &Duration) -> Result<Lifetime, Error> {
    if !ttl.is_positive() {
        return Ok(Lifetime::Over);
    }
    let too_long = || {
        Error::invalid_input(format!(
            "a session TTL of {ttl} ends after {}, the latest expiry a store can hold",
            Expiry::MAX
        ))
    };
    // Rounded up to the millisecond, so a positive TTL never becomes zero.
    let millis = ttl.whole_nanoseconds().div_euclid(1_000_000)
        + i128::from(ttl.whole_nanoseconds().rem_euclid(1_000_000) != 0);
    let millis = u64::try_from(millis).map_err(|_| too_long())?;
    Expiry::from_system_time(SystemTime::now())?
        .checked_add(std::time::Duration::from_millis(millis))
        .map(Lifetime::Until)
        .map_err(|e| too_long().with_source(e))
}

/// Whether a store refusing the expiry of a write with `ttl` as
/// `InvalidInput` means that, by its clock (which may run up to
/// [`CLOCK_MARGIN`] ahead of ours), the session has ended already.
fn ended_for_store(e: &Error, ttl: &Duration) -> bool {
    e.kind() == ErrorKind::InvalidInput && *ttl <= CLOCK_MARGIN
}

/// A fresh session key of [`SESSION_KEY_LEN`] random letters and digits.
///
/// # Errors
/// `Backend` when the operating system's random source fails.
fn generate_key() -> Result<SessionKey, Error> {
    let mut key = String::with_capacity(SESSION_KEY_LEN);
    let mut bytes = [0u8; SESSION_KEY_LEN + SESSION_KEY_LEN / 2];
    while key.len() < SESSION_KEY_LEN {
        getrandom::fill(&mut bytes).map_err(|e| {
            Error::new(
                ErrorKind::Backend,
                format!("the operating system's random source failed: {e}"),
            )
        })?;
        // Bytes from 248 (4 x 62) up are skipped, so that every character
        // is equally likely.
        let chars = bytes
            .iter()
            .filter(|&&b| b < 248)
            .map(|&b| char::from(ALPHABET[usize::from(b % 62)]));
        key.extend(chars.take(SESSION_KEY_LEN - key.len()));
    }
    SessionKey::try_from(key).map_err(|e| {
        Error::new(ErrorKind::Backend, "actix-session refused a session key").with_source(e)
    })
}

/// The stored form of a session's state: a JSON object of strings.
fn encode(state: &SessionState) -> anyhow::Result<Bytes> {
    Ok(serde_json::to_vec(state)?.into())
}

/// Reads a stored session state. The error names where the text is wrong,
/// never what it holds (session data may hold secrets).
fn decode(value: &[u8]) -> anyhow::Result<SessionState> {
    serde_json::from_slice(value).map_err(|e| {
        anyhow::anyhow!(
            "the stored session state is not a JSON object of strings ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })
}

fn load_error(e: Error) -> LoadError {
    match e.kind() {
        ErrorKind::Encoding => LoadError::Deserialization(e.into()),
        _ => LoadError::Other(e.into()),
    }
}

fn save_error(e: Error) -> SaveError {
    match e.kind() {
        ErrorKind::Encoding => SaveError::Serialization(e.into()),
        _ => SaveError::Other(e.into()),
    }
}

fn update_error(e: Error) -> UpdateError {
    match e.kind() {
        ErrorKind::Encoding => UpdateError::Serialization(e.into()),
        _ => UpdateError::Other(e.into()),
    }
}

impl SessionStore for ActixStore {
    /// Reads the session under `session_key`.
    ///
    /// # Behavior
    /// - `None` for a session that is missing, deleted or expired, on every
    ///   backend, whether or not its sweeper has run.
    ///
    /// # Errors
    /// `Deserialization` for a stored state that is not a JSON object of
    /// strings (or that the backend cannot decode): actix-session then
    /// starts an empty session under the same key, which the next save
    /// overwrites. `Other` for any other store error (a backend that is
    /// down is an error, never "no session").
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let key = Self::handle(session_key);
        let Some(entry) = self.store.get(&key).await.map_err(load_error)? else {
            return Ok(None);
        };
        decode(&entry.value)
            .map(Some)
            .map_err(LoadError::Deserialization)
    }

    /// Stores a new session and returns its fresh key.
    ///
    /// # Behavior
    /// - Writes with [`PutMode::Create`], so it never overwrites another
    ///   session; on the (astronomically rare) collision of a random key it
    ///   draws another, up to 3 times.
    /// - A TTL of zero or less (or one the store finds already past by its
    ///   clock) stores nothing and still returns a fresh key: the session
    ///   is over before it began, and the next request starts a new one.
    ///
    /// # Errors
    /// `Serialization` when the state cannot be encoded; `Other` for a TTL
    /// that ends after year 9999, a store error (a value over the store's
    /// size limit, a backend that is down), or no free key after 3
    /// attempts.
    async fn save(&self, state: SessionState, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let value = encode(&state).map_err(SaveError::Serialization)?;
        let owner = self.owner(&state);
        let lifetime = lifetime(ttl).map_err(save_error)?;
        let mut attempt = 1;
        loop {
            let session_key = generate_key().map_err(save_error)?;
            let Lifetime::Until(expiry) = lifetime else {
                return Ok(session_key);
            };
            let options = PutOptions::new(PutMode::Create)
                .expires_at(expiry)
                .owned_by(owner.clone());
            let key = Self::handle(&session_key);
            match self.store.put(&key, value.clone(), options).await {
                Ok(_) => return Ok(session_key),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < KEY_ATTEMPTS => {
                    attempt += 1;
                }
                // Expired by the store's clock, a little ahead of ours:
                // nothing was written, as for a TTL of zero.
                Err(e) if ended_for_store(&e, ttl) => return Ok(session_key),
                Err(e) => return Err(save_error(e)),
            }
        }
    }

    /// Replaces the state of the live session under `session_key` and
    /// moves its expiry to `ttl` from now; returns the same key.
    ///
    /// # Behavior
    /// - Writes with [`PutMode::Update`]: a session deleted meanwhile (a
    ///   logout or a revoke in a parallel request, or an expiry) is **not**
    ///   brought back, neither under its key nor under a new one. The call
    ///   writes nothing and succeeds, so the racing request does not end in
    ///   a 500; its cookie keeps a key under which nothing is stored, and
    ///   the next request starts an empty session. (actix-session's Redis
    ///   store instead saves the state under a new key, which would log the
    ///   user back in.)
    /// - A TTL of zero or less (or one the store finds already past by its
    ///   clock) deletes the session.
    ///
    /// # Errors
    /// `Serialization` when the state cannot be encoded; `Other` for a TTL
    /// that ends after year 9999 or a store error; the stored session is
    /// then unchanged.
    async fn update(
        &self,
        session_key: SessionKey,
        state: SessionState,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let value = encode(&state).map_err(UpdateError::Serialization)?;
        let owner = self.owner(&state);
        let key = Self::handle(&session_key);
        let Lifetime::Until(expiry) = lifetime(ttl).map_err(update_error)? else {
            self.end(&key).await.map_err(update_error)?;
            return Ok(session_key);
        };
        let options = PutOptions::new(PutMode::Update)
            .expires_at(expiry)
            .owned_by(owner);
        match self.store.put(&key, value, options).await {
            Ok(_) => Ok(session_key),
            // Deleted meanwhile (logout, revoke, expiry): stays deleted.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(session_key),
            Err(e) if ended_for_store(&e, ttl) => {
                self.end(&key).await.map_err(update_error)?;
                Ok(session_key)
            }
            Err(e) => Err(update_error(e)),
        }
    }

    /// Moves the expiry of the live session under `session_key` to `ttl`
    /// from now, without rewriting its state ([`Store::touch`]).
    ///
    /// # Behavior
    /// - A session deleted meanwhile stays deleted, and the call succeeds.
    /// - A TTL of zero or less (or one the store finds already past by its
    ///   clock) deletes the session.
    ///
    /// # Errors
    /// A TTL that ends after year 9999, or a store error.
    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        let key = Self::handle(session_key);
        let Lifetime::Until(expiry) = lifetime(ttl)? else {
            return Ok(self.end(&key).await?);
        };
        match self.store.touch(&key, expiry).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) if ended_for_store(&e, ttl) => Ok(self.end(&key).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the session under `session_key` ([`Store::delete`]);
    /// deleting a missing session succeeds.
    ///
    /// # Errors
    /// A store error.
    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        Ok(self.end(&Self::handle(session_key)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_64_letters_and_digits_and_differ() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        for key in [a, b] {
            let key = key.as_ref();
            assert_eq!(key.len(), SESSION_KEY_LEN);
            assert!(key.bytes().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn every_character_can_appear() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(generate_key().unwrap().as_ref().bytes());
        }
        assert_eq!(seen.len(), ALPHABET.len());
    }

    #[test]
    fn lifetimes() {
        assert!(matches!(lifetime(&Duration::ZERO), Ok(Lifetime::Over)));
        assert!(matches!(
            lifetime(&Duration::seconds(-5)),
            Ok(Lifetime::Over)
        ));
        assert!(matches!(lifetime(&Duration::MIN), Ok(Lifetime::Over)));
        let now = Expiry::from_system_time(SystemTime::now()).unwrap();
        let Ok(Lifetime::Until(at)) = lifetime(&Duration::nanoseconds(1)) else {
            panic!("a positive TTL is live");
        };
        assert!(at > now, "a sub-millisecond TTL rounds up");
        let Ok(Lifetime::Until(at)) = lifetime(&Duration::hours(1)) else {
            panic!("an hour");
        };
        let ahead = at.as_unix_millis() - now.as_unix_millis();
        assert!((3_600_000..3_601_000).contains(&ahead), "{ahead}");
        for huge in [Duration::MAX, Duration::days(3_000_000)] {
            let err = lifetime(&huge).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.message().contains("9999-12-31T23:59:59.999Z"), "{err}");
        }
    }

    #[test]
    fn a_decode_error_does_not_echo_the_data() {
        let err = decode(br#"{"token":42}"#).unwrap_err().to_string();
        assert!(!err.contains("42"), "{err}");
        assert!(err.contains("column"), "{err}");
    }
}
