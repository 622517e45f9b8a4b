//! What every contender implements: the operations of the three workloads,
//! each one call of the contender's own API.

use std::any::Any;
use std::fmt;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use bytes::Bytes;

/// A session a lifecycle works on, in the contender's own form (a key, a
/// tower-sessions `Record`, …).
pub type Session = Box<dyn Any + Send + Sync>;

/// Who a contender is in a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One of this project's stores, through the `Store` trait.
    Ours,
    /// Our store behind our tower-sessions adapter (`store-tower-sessions`).
    Adapter,
    /// The raw driver doing the same work in the fewest round trips.
    Floor,
    /// Another Rust session store (tower-sessions and its stores).
    Peer,
    /// Our store wrapped in a `store-layers` layer (`get` and `put(Upsert)`
    /// only), compared with the bare store.
    Layer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Ours => "ours",
            Role::Adapter => "ours via tower-sessions",
            Role::Floor => "raw floor",
            Role::Peer => "peer",
            Role::Layer => "ours with a layer",
        })
    }
}

/// One contender on one backend. Each method is one operation of a
/// workload, timed by the harness. A method a contender does not run is
/// never called: [`Target::runs`] says which.
#[async_trait]
pub trait Target: Send + Sync + 'static {
    /// Whether this contender runs `workload`.
    fn runs(&self, workload: crate::Workload) -> bool;

    /// Writes each key with `value` (no expiry surprises: one hour), and
    /// returns each key's version (`0` where the contender has none). An
    /// in-process contender stores a copy per key, as entries written by
    /// separate requests would be: entries sharing one buffer would make
    /// concurrent reads contend on its reference count.
    async fn seed(&self, keys: &[String], value: &Bytes) -> Result<Vec<u64>> {
        let _ = (keys, value);
        bail!("seed is not supported")
    }

    /// Reads a key; `None` when it is missing.
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let _ = key;
        bail!("get is not supported")
    }

    /// Writes a key, whatever is there, with an expiry an hour ahead.
    async fn upsert(&self, key: &str, value: &Bytes) -> Result<()> {
        let _ = (key, value);
        bail!("upsert is not supported")
    }

    /// Writes a key that must not exist yet; an existing key is an error.
    async fn create(&self, key: &str, value: &Bytes) -> Result<()> {
        let _ = (key, value);
        bail!("create is not supported")
    }

    /// Writes a key only if it is still at `version`; returns the new
    /// version. A mismatch is an error.
    async fn update_if(&self, key: &str, value: &Bytes, version: u64) -> Result<u64> {
        let _ = (key, value, version);
        bail!("update_if is not supported")
    }

    /// Starts a session (number `n` of this task) holding `data`. By
    /// default: [`Target::create`] of a fresh random key, which is the
    /// session.
    async fn session_create(&self, n: u64, data: &Bytes) -> Result<Session> {
        let _ = n;
        let key = format!("s:{:032x}", rand::random::<u128>());
        self.create(&key, data).await?;
        Ok(Box::new(key))
    }

    /// Loads the session, as a request does first; missing is an error.
    /// By default: [`Target::get`] of the session's key.
    async fn session_load(&self, session: &mut Session) -> Result<()> {
        let key = session.downcast_ref::<String>().context("not a key")?;
        self.get(key).await?.context("a live session is missing")?;
        Ok(())
    }

    /// Slides the session's expiry, as a request does last.
    async fn session_touch(&self, session: &mut Session) -> Result<()> {
        let _ = session;
        bail!("sessions are not supported")
    }

    /// Ends the session (logout).
    async fn session_delete(&self, session: Session) -> Result<()> {
        let _ = session;
        bail!("sessions are not supported")
    }

    /// Returns a fresh token of `user`, refreshing it first when it has
    /// expired. Returns whether this call ran the refresh.
    async fn refresh(&self, user: usize) -> Result<bool> {
        let _ = user;
        bail!("tokens are not supported")
    }

    /// Removes `keys`, written by [`Target::create`] in the turn that just
    /// ended (untimed), where the contender holds them in this process's
    /// memory: left there, the millions of entries of a create cell would
    /// slow every later cell of the run. By default nothing: a server holds
    /// its own, and [`Target::cleanup`] removes them.
    async fn forget(&self, keys: &[String]) -> Result<()> {
        let _ = keys;
        Ok(())
    }

    /// Removes what the contender wrote (tables, collections, keys).
    async fn cleanup(&self) -> Result<()> {
        Ok(())
    }
}

/// How long the entries of workloads (a) and (b) live: longer than any run.
pub const TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long a token of workload (c) is valid once refreshed.
pub const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_millis(500);

/// The number of users workload (c) spreads its calls over.
pub const USERS: usize = 1000;

/// A token as the raw floors of workload (c) store it: 8 bytes of expiry
/// (Unix milliseconds, big-endian), then the token itself.
pub fn encode_token(expires_unix_ms: u64) -> Bytes {
    let mut v = Vec::with_capacity(8 + 64);
    v.extend_from_slice(&expires_unix_ms.to_be_bytes());
    v.extend_from_slice(&[b't'; 64]);
    Bytes::from(v)
}

/// The expiry of a token written by [`encode_token`].
pub fn token_expiry(value: &[u8]) -> Result<u64> {
    let Some(head) = value.get(..8) else {
        bail!("a stored token is shorter than its header");
    };
    Ok(u64::from_be_bytes(head.try_into().expect("8 bytes")))
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The raw floors' token refresh: read the token; when it has expired,
/// write a new one. No lease and no compare-and-swap, so callers racing on
/// one user may each refresh (the count shows how often).
pub async fn floor_refresh<T: Target + ?Sized>(target: &T, key: &str) -> Result<bool> {
    let now = now_ms();
    if let Some(value) = target.get(key).await? {
        if token_expiry(&value)? > now {
            return Ok(false);
        }
    }
    let token = encode_token(now + TOKEN_LIFETIME.as_millis() as u64);
    target.upsert(key, &token).await?;
    Ok(true)
}
