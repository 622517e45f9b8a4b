//! The contenders that work on any backend: our store through the
//! `Store` trait (and `TokenStore` for tokens), and a tower-sessions
//! `SessionStore` of either core version (our adapter and the peers).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use store_core::{Clock, Expiry, Key, PutMode, PutOptions, Store, SystemClock, Version};
use store_session::{Expiring, TokenStore};

use crate::Workload;
use crate::target::{Session, TOKEN_LIFETIME, TTL, Target};

/// Seeds run this many writes at once.
const SEED_CONCURRENCY: usize = 32;

fn expiry_in(ttl: std::time::Duration) -> Result<Expiry> {
    Ok(SystemClock.now().checked_add(ttl)?)
}

/// A token as workload (c) stores it through [`TokenStore`].
#[derive(Clone, Serialize, Deserialize)]
struct Token {
    access: String,
    expires_ms: i64,
}

impl Expiring for Token {
    fn expires_at(&self) -> Expiry {
        Expiry::from_unix_millis(self.expires_ms).unwrap_or(Expiry::MAX)
    }
}

/// Our store, through the `Store` trait; tokens through `TokenStore`.
pub struct Ours {
    store: Arc<dyn Store>,
    tokens: TokenStore<Token>,
    /// Runs `get` and `put(Upsert)` only (a layered store).
    kv_only: bool,
    /// Deletes the keys of a create turn after it (see `Target::forget`).
    forgets: bool,
}

impl Ours {
    /// Our contender over `store`.
    pub fn new(store: Arc<dyn Store>) -> Result<Self> {
        let tokens = TokenStore::new(store.clone(), "bench-tokens")?;
        Ok(Self {
            store,
            tokens,
            kv_only: false,
            forgets: false,
        })
    }

    /// A store that holds its entries in this process: the keys of a
    /// create turn are deleted after it (see `Target::forget`).
    pub fn in_process(self) -> Self {
        Self {
            forgets: true,
            ..self
        }
    }

    /// A layered store: runs `get` and `put(Upsert)` only.
    pub fn layered(store: Arc<dyn Store>) -> Result<Self> {
        Ok(Self {
            kv_only: true,
            ..Self::new(store)?
        })
    }
}

#[async_trait]
impl Target for Ours {
    fn runs(&self, workload: Workload) -> bool {
        !self.kv_only || matches!(workload, Workload::Get | Workload::Upsert)
    }

    async fn seed(&self, keys: &[String], value: &Bytes) -> Result<Vec<u64>> {
        futures::stream::iter(keys.to_vec())
            .map(|k| {
                let store = self.store.clone();
                // A buffer per entry (see `Target::seed`).
                let value = Bytes::copy_from_slice(value);
                async move {
                    let options = PutOptions::new(PutMode::Upsert).expires_at(expiry_in(TTL)?);
                    let written = store.put(&Key::new(k)?, value, options).await?;
                    Ok::<_, anyhow::Error>(written.version.as_u64())
                }
            })
            .buffered(SEED_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.store.get(&Key::new(key)?).await?.map(|e| e.value))
    }

    async fn forget(&self, keys: &[String]) -> Result<()> {
        if self.forgets {
            for key in keys {
                self.store.delete(&Key::new(key.as_str())?, None).await?;
            }
        }
        Ok(())
    }

    async fn upsert(&self, key: &str, value: &Bytes) -> Result<()> {
        let options = PutOptions::new(PutMode::Upsert).expires_at(expiry_in(TTL)?);
        self.store
            .put(&Key::new(key)?, value.clone(), options)
            .await?;
        Ok(())
    }

    async fn create(&self, key: &str, value: &Bytes) -> Result<()> {
        let options = PutOptions::new(PutMode::Create).expires_at(expiry_in(TTL)?);
        self.store
            .put(&Key::new(key)?, value.clone(), options)
            .await?;
        Ok(())
    }

    async fn update_if(&self, key: &str, value: &Bytes, version: u64) -> Result<u64> {
        let options = PutOptions::new(PutMode::UpdateIf(Version::from_u64(version)))
            .expires_at(expiry_in(TTL)?);
        let written = self
            .store
            .put(&Key::new(key)?, value.clone(), options)
            .await?;
        Ok(written.version.as_u64())
    }

    async fn session_create(&self, n: u64, data: &Bytes) -> Result<Session> {
        let _ = n;
        // A fresh random id per session, as a web app makes one.
        let key = Key::new(format!("s:{:032x}", rand::random::<u128>()))?;
        let options = PutOptions::new(PutMode::Create).expires_at(expiry_in(TTL)?);
        self.store.put(&key, data.clone(), options).await?;
        Ok(Box::new(key))
    }

    async fn session_load(&self, session: &mut Session) -> Result<()> {
        let key = session.downcast_ref::<Key>().context("not our session")?;
        self.store
            .get(key)
            .await?
            .context("a live session is missing")?;
        Ok(())
    }

    async fn session_touch(&self, session: &mut Session) -> Result<()> {
        let key = session.downcast_ref::<Key>().context("not our session")?;
        self.store.touch(key, expiry_in(TTL)?).await?;
        Ok(())
    }

    async fn session_delete(&self, session: Session) -> Result<()> {
        let key = session
            .downcast::<Key>()
            .map_err(|_| anyhow!("not our session"))?;
        if !self.store.delete(&key, None).await? {
            bail!("a live session was not deleted");
        }
        Ok(())
    }

    async fn refresh(&self, user: usize) -> Result<bool> {
        let ran = std::sync::atomic::AtomicBool::new(false);
        let user = format!("u{user}");
        self.tokens
            .get_fresh(&user, std::time::Duration::ZERO, |_old| {
                ran.store(true, Ordering::Relaxed);
                async move {
                    let expires = SystemClock
                        .now()
                        .checked_add(TOKEN_LIFETIME)?
                        .as_unix_millis();
                    Ok::<_, store_core::Error>(Token {
                        access: "t".repeat(64),
                        expires_ms: expires,
                    })
                }
            })
            .await
            .map_err(|e| anyhow!("{e}"))?;
        Ok(ran.load(Ordering::Relaxed))
    }
}

/// Generates the tower-sessions contender for one version of
/// tower-sessions-core: the session lifecycle through its `SessionStore`
/// trait, exactly as tower-sessions drives a store for each request
/// (`load` first; `save` with the slid expiry at the end).
macro_rules! tower_contender {
    ($name:ident, $core:ident, $doc:literal) => {
        #[doc = $doc]
        pub struct $name<S> {
            store: S,
            created: AtomicU64,
        }

        impl<S> $name<S> {
            /// The contender over `store`.
            pub fn new(store: S) -> Self {
                Self {
                    store,
                    created: AtomicU64::new(0),
                }
            }
        }

        #[async_trait]
        impl<S> Target for $name<S>
        where
            S: $core::SessionStore + 'static,
        {
            fn runs(&self, workload: Workload) -> bool {
                workload == Workload::Lifecycle
            }

            async fn session_create(&self, _n: u64, data: &Bytes) -> Result<Session> {
                self.created.fetch_add(1, Ordering::Relaxed);
                let mut map = HashMap::new();
                map.insert(
                    "data".to_owned(),
                    serde_json::Value::String(String::from_utf8_lossy(data).into_owned()),
                );
                let mut record = $core::session::Record {
                    id: $core::session::Id::default(),
                    data: map,
                    expiry_date: time::OffsetDateTime::now_utc() + TTL,
                };
                self.store
                    .create(&mut record)
                    .await
                    .map_err(|e| anyhow!("create: {e}"))?;
                Ok(Box::new(record))
            }

            async fn session_load(&self, session: &mut Session) -> Result<()> {
                let record = session
                    .downcast_mut::<$core::session::Record>()
                    .context("not a tower-sessions record")?;
                let loaded = self
                    .store
                    .load(&record.id)
                    .await
                    .map_err(|e| anyhow!("load: {e}"))?
                    .context("a live session is missing")?;
                *record = loaded;
                Ok(())
            }

            async fn session_touch(&self, session: &mut Session) -> Result<()> {
                let record = session
                    .downcast_mut::<$core::session::Record>()
                    .context("not a tower-sessions record")?;
                record.expiry_date = time::OffsetDateTime::now_utc() + TTL;
                self.store
                    .save(record)
                    .await
                    .map_err(|e| anyhow!("save: {e}"))?;
                Ok(())
            }

            async fn session_delete(&self, session: Session) -> Result<()> {
                let record = session
                    .downcast::<$core::session::Record>()
                    .map_err(|_| anyhow!("not a tower-sessions record"))?;
                self.store
                    .delete(&record.id)
                    .await
                    .map_err(|e| anyhow!("delete: {e}"))?;
                Ok(())
            }
        }
    };
}

tower_contender!(
    Tower15,
    tower_sessions_core,
    "A tower-sessions-core 0.15 `SessionStore`: our `TowerStore` adapter and tower-sessions' `MemoryStore`."
);
tower_contender!(
    Tower14,
    tower_sessions_core_014,
    "A tower-sessions-core 0.14 `SessionStore`: tower-sessions-redis-store 0.16 and tower-sessions-sqlx-store 0.15."
);
