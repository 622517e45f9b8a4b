#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use store_core::{Bytes, ErrorKind, Expiry, Key, PutMode, PutOptions, Store};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, SessionStore};

mod owner;

pub use owner::SessionInfo;
use store_session::owner_index::OwnerSource;

/// The start of every store key this adapter writes; the rest is the
/// SHA-256 of the session id.
const KEY_PREFIX: &str = "tower-session:";

/// A session id's text (22 characters of base64 today), written on the
/// stack; a longer one does not fit and is made a `String` instead.
#[derive(Default)]
struct IdText {
    bytes: [u8; 32],
    len: usize,
}

impl IdText {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for IdText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// How many random ids `create` tries before giving up.
const ID_ATTEMPTS: u32 = 3;

/// A tower-sessions [`SessionStore`] over any [`Store`], with an owner
/// index when told where the owner is in the record
/// ([`owner_field`](Self::owner_field), [`owner_from`](Self::owner_from)).
///
/// ```
/// use std::sync::Arc;
/// let sessions = store_tower_sessions::TowerStore::new(Arc::new(store_memory::MemoryStore::new()))
///     .owner_field("user_id");
/// # let _ = sessions;
/// ```
#[derive(Debug, Clone)]
pub struct TowerStore {
    store: Arc<dyn Store>,
    owner: Option<OwnerSource>,
}

/// How far ahead of this process's clock a store's clock (a server's) may
/// run when it decides that a session being created or saved has just
/// expired.
const CLOCK_MARGIN: time::Duration = time::Duration::seconds(5);

impl TowerStore {
    /// Sessions in `store`, without owners. Use a namespace of their own
    /// (a prefix, a table, a collection).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_tower_sessions::TowerStore;
    ///
    /// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new()));
    /// assert_eq!(sessions.owner_source(), None);
    /// ```
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, owner: None }
    }

    /// The backend, called through its own vtable. A method called on the
    /// `Arc<dyn Store>` itself would resolve to the forwarding
    /// `impl Store for Arc<S>`, whose `async_trait` future boxes the
    /// backend's boxed future once more on every call.
    fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The store key of a session id: never the id itself, but
    /// `tower-session:` and the base64 of the SHA-256 of the id's text. It
    /// runs on every call, so the id's text and the key's text are built in
    /// buffers on the stack.
    fn key(id: &Id) -> Key {
        let mut text = IdText::default();
        let digest = if write!(text, "{id}").is_ok() {
            Sha256::digest(text.as_bytes())
        } else {
            Sha256::digest(id.to_string().as_bytes())
        };
        let mut key = [0u8; KEY_PREFIX.len() + 43];
        key[..KEY_PREFIX.len()].copy_from_slice(KEY_PREFIX.as_bytes());
        let written = URL_SAFE_NO_PAD
            .encode_slice(digest, &mut key[KEY_PREFIX.len()..])
            .expect("43 characters hold a SHA-256 digest in base64");
        let key = std::str::from_utf8(&key[..KEY_PREFIX.len() + written])
            .expect("the prefix and base64 are ASCII");
        Key::new(key).expect("a hashed session key is always valid")
    }

    /// The options of a write of `record`: its expiry and its owner (none
    /// when no owner source is configured or the record names none).
    fn options(&self, mode: PutMode, record: &Record) -> session_store::Result<PutOptions> {
        let millis = record.expiry_date.unix_timestamp_nanos() / 1_000_000;
        let expiry = i64::try_from(millis)
            .ok()
            .and_then(|ms| Expiry::from_unix_millis(ms).ok())
            .ok_or_else(|| session_store::Error::Encode("expiry date out of range".into()))?;
        let owner = self.owner.as_ref().and_then(|o| o.owner_in(&record.data));
        Ok(PutOptions::new(mode).expires_at(expiry).owned_by(owner))
    }

    /// Whether a live session is stored under `key`: an id an expired
    /// record must not keep, or a later `save` of it (which deletes under
    /// its id) would remove another session.
    async fn id_taken(&self, key: &Key) -> session_store::Result<bool> {
        Ok(self.store().get(key).await.map_err(backend)?.is_some())
    }

    /// The record's data as JSON, in a value of exactly its size: written
    /// into the thread's [`ENCODE_BUFFER`] and copied out once, instead of
    /// a `Vec` grown as it is written and then given a shared header by
    /// `Bytes`.
    fn encode(record: &Record) -> session_store::Result<Bytes> {
        let encode = |buf: &mut Vec<u8>| {
            buf.clear();
            let encoded = serde_json::to_writer(&mut *buf, &record.data)
                .map(|()| Bytes::copy_from_slice(buf))
                .map_err(|e| session_store::Error::Encode(e.to_string()));
            if buf.capacity() > KEEP_ENCODE_BUFFER {
                *buf = Vec::new();
            }
            encoded
        };
        ENCODE_BUFFER
            .try_with(|buf| encode(&mut buf.borrow_mut()))
            // The thread is being torn down: a buffer of its own.
            .unwrap_or_else(|_| encode(&mut Vec::new()))
    }
}

/// The largest [`ENCODE_BUFFER`] a thread keeps for its next record, in
/// bytes: a larger session's buffer is freed after it is encoded.
const KEEP_ENCODE_BUFFER: usize = 16 * 1024;

thread_local! {
    /// Each thread's buffer for encoding records ([`TowerStore::encode`]);
    /// used only within one call, never across an `.await`.
    static ENCODE_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Whether `record`'s expiry has passed by this process's clock. The
/// comparison is of instants, whatever the UTC offset of `expiry_date`.
fn expired(record: &Record) -> bool {
    record.expiry_date <= OffsetDateTime::now_utc()
}

/// Whether a store whose clock runs at most [`CLOCK_MARGIN`] ahead of
/// ours may have found `record` expired: what its refusal of the expiry
/// with `InvalidInput` then means.
fn expired_for_store(record: &Record) -> bool {
    record.expiry_date <= OffsetDateTime::now_utc() + CLOCK_MARGIN
}

fn backend(e: store_core::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for TowerStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut attempt = 1;
        loop {
            let key = Self::key(&record.id);
            let taken = if expired(record) {
                // Over before it began (an absolute expiry in the past, in
                // any UTC offset, even before 1970): like `save`, store
                // nothing and succeed, rather than a 500 from the
                // middleware.
                self.id_taken(&key).await?
            } else {
                let options = self.options(PutMode::Create, record)?;
                match self.store().put(&key, Self::encode(record)?, options).await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                        if attempt >= ID_ATTEMPTS {
                            return Err(backend(e));
                        }
                        true
                    }
                    // Expired by the store's clock, a little ahead of
                    // ours: nothing was written, as above.
                    Err(e) if e.kind() == ErrorKind::InvalidInput && expired_for_store(record) => {
                        self.id_taken(&key).await?
                    }
                    Err(e) => return Err(backend(e)),
                }
            };
            if !taken {
                return Ok(());
            }
            if attempt >= ID_ATTEMPTS {
                return Err(session_store::Error::Backend(format!(
                    "no free session id after {ID_ATTEMPTS} attempts"
                )));
            }
            record.id = Id::default();
            attempt += 1;
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let key = Self::key(&record.id);
        if expired(record) {
            self.store().delete(&key, None).await.map_err(backend)?;
            return Ok(());
        }
        let options = self.options(PutMode::Update, record)?;
        match self.store().put(&key, Self::encode(record)?, options).await {
            Ok(_) => Ok(()),
            // Deleted meanwhile (logout, revoke): stays deleted.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            // Expired between the check above and the write (by the
            // store's clock, which may run a little ahead): gone too. Any
            // other refusal, such as a session over the store's size
            // limit, is an error: the session was not saved.
            Err(e) if e.kind() == ErrorKind::InvalidInput && expired_for_store(record) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(entry) = self.store().get(&Self::key(id)).await.map_err(backend)? else {
            return Ok(None);
        };
        let data = serde_json::from_slice(&entry.value)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = match entry.expires_at {
            Some(at) => OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(at.as_unix_millis()) * 1_000_000,
            )
            .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            None => OffsetDateTime::now_utc() + time::Duration::days(365),
        };
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store()
            .delete(&Self::key(id), None)
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use store_memory::{MemoryConfig, MemoryStore};

    use super::*;

    fn record(data: &str) -> Record {
        let mut map = HashMap::new();
        map.insert("data".to_owned(), serde_json::Value::from(data));
        Record {
            id: Id::default(),
            data: map,
            expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
    }

    #[test]
    fn keys_are_the_prefix_and_the_base64_sha256_of_the_ids_text() {
        for n in [i128::MIN, -1, 0, 1, i128::MAX]
            .into_iter()
            .chain((0..1000).map(|_| Id::default().0))
        {
            let id = Id(n);
            let digest = Sha256::digest(id.to_string().as_bytes());
            let expected = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(digest));
            assert_eq!(TowerStore::key(&id).as_str(), expected, "{n}");
        }
    }

    #[tokio::test]
    async fn a_save_the_store_refuses_is_an_error_not_a_silent_drop() {
        let memory =
            MemoryStore::with_config(MemoryConfig::default().max_value_len(1024)).expect("config");
        let store = TowerStore::new(Arc::new(memory));
        let mut small = record("small");
        store.create(&mut small).await.expect("create");
        let mut big = small.clone();
        big.data = record(&"x".repeat(4096)).data;
        let err = store.save(&big).await.expect_err("a value over the limit");
        assert!(matches!(err, session_store::Error::Backend(_)), "{err:?}");
        let loaded = store.load(&small.id).await.expect("load").expect("kept");
        assert_eq!(loaded.data, small.data, "the stored session is unchanged");
    }

    /// Records of growing and shrinking sizes, on both sides of the
    /// largest buffer a thread keeps, are stored as exactly the JSON of
    /// their data: nothing of an earlier, longer record is left in a value.
    #[tokio::test]
    async fn values_are_the_json_of_the_data_whatever_was_encoded_before() {
        let backend: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let store = TowerStore::new(backend.clone());
        let mut session = record("first");
        store.create(&mut session).await.expect("create");
        let key = TowerStore::handle(&session.id);
        for len in [
            0,
            300,
            5,
            KEEP_ENCODE_BUFFER * 3,
            1,
            KEEP_ENCODE_BUFFER - 20,
            2,
        ] {
            session.data = record(&"é\"\n".repeat(len / 4)).data;
            session
                .data
                .insert(format!("n{len}"), serde_json::json!(len));
            store.save(&session).await.expect("save");
            let entry = backend.get(&key).await.expect("get").expect("live");
            assert_eq!(
                entry.value,
                serde_json::to_vec(&session.data).expect("json"),
                "{len}"
            );
            assert_eq!(stored(&store, &session.id).await, session.data);
        }
        let kept = ENCODE_BUFFER.with_borrow(Vec::capacity);
        assert!(kept <= KEEP_ENCODE_BUFFER, "{kept}");
    }

    /// The data stored under `id`, as any adapter loads it.
    async fn stored(store: &TowerStore, id: &Id) -> HashMap<String, serde_json::Value> {
        store.load(id).await.expect("load").expect("live").data
    }

    /// A save that changes only the expiry (what tower-sessions does at the
    /// end of every request with an inactivity expiry) moves the stored
    /// expiry and keeps the data.
    #[tokio::test]
    async fn a_save_with_a_new_expiry_only_moves_the_expiry() {
        let backend: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let store = TowerStore::new(backend.clone());
        let mut created = record("kept");
        store.create(&mut created).await.expect("create");
        let mut loaded = store.load(&created.id).await.expect("load").expect("live");
        let later = OffsetDateTime::now_utc() + time::Duration::hours(5);
        loaded.expiry_date = later;
        store.save(&loaded).await.expect("save");
        let entry = backend
            .get(&TowerStore::handle(&created.id))
            .await
            .expect("get")
            .expect("live");
        let millis = i64::try_from(later.unix_timestamp_nanos() / 1_000_000).expect("in range");
        assert_eq!(entry.expires_at.map(|e| e.as_unix_millis()), Some(millis));
        assert_eq!(stored(&store, &created.id).await, created.data);
    }

    /// Two adapters over one backend (two processes), and two requests on
    /// one of them: every save writes its record, even when its data is
    /// what an earlier load found. A save that wrote nothing because its
    /// data matched a load (a "touch if unchanged" shortcut keyed by the
    /// session id) would leave the other process's later write in place of
    /// this save's, the last one.
    #[tokio::test]
    async fn every_save_writes_its_data_even_when_a_load_found_the_same_data() {
        let backend: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (a, b) = (TowerStore::new(backend.clone()), TowerStore::new(backend));
        let mut created = record("1");
        a.create(&mut created).await.expect("create");
        let id = created.id;

        // Request 1 on A loads "1".
        let mut first = a.load(&id).await.expect("load").expect("live");
        // B writes "2"; request 2 on A loads it and saves it unchanged.
        let mut on_b = b.load(&id).await.expect("load").expect("live");
        on_b.data = record("2").data;
        b.save(&on_b).await.expect("save 2");
        let second = a.load(&id).await.expect("load").expect("live");
        assert_eq!(second.data, record("2").data);
        a.save(&second).await.expect("unchanged save");
        // B writes "3"; then request 1 on A, last, sets "2".
        on_b.data = record("3").data;
        b.save(&on_b).await.expect("save 3");
        first.data = record("2").data;
        a.save(&first).await.expect("save of request 1");
        assert_eq!(
            stored(&a, &id).await,
            record("2").data,
            "the last save wins"
        );

        // An unchanged save writes its data too: B's "3" over A's "2".
        b.save(&on_b).await.expect("unchanged save on B");
        assert_eq!(stored(&a, &id).await, record("3").data);
    }

    /// Two adapters saving one session from two tasks at once, with data
    /// that repeats (so a save often carries what the other task loaded),
    /// each ending with data of its own: the stored record is the final
    /// save of one of them, whole, never an earlier one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_saves_from_two_adapters_end_with_one_of_the_last_saves() {
        let backend: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut created = record("start");
        TowerStore::new(backend.clone())
            .create(&mut created)
            .await
            .expect("create");
        let id = created.id;
        let tasks: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let store = TowerStore::new(backend.clone());
                tokio::spawn(async move {
                    for n in 0..500 {
                        let mut loaded = store.load(&id).await.expect("load").expect("live");
                        if n % 3 != 0 {
                            loaded.data = record(["p", "q"][n % 2]).data;
                        }
                        loaded.expiry_date = OffsetDateTime::now_utc() + time::Duration::hours(1);
                        store.save(&loaded).await.expect("save");
                        tokio::task::yield_now().await;
                    }
                    let mut last = store.load(&id).await.expect("load").expect("live");
                    last.data = record(&format!("final {name}")).data;
                    store.save(&last).await.expect("final save");
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let data = stored(&TowerStore::new(backend), &id).await;
        assert!(
            data == record("final a").data || data == record("final b").data,
            "{data:?}"
        );
    }
}
