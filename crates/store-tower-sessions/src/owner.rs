//! The owner index for tower-sessions: where a session's owner is read
//! from in its record, and listing or revoking one owner's sessions.

use store_core::{Expiry, Key, Owner, Result};
use store_session::owner_index::{OwnerIndex, OwnerSource};
use tower_sessions_core::session::Id;

use crate::{KEY_PREFIX, TowerStore};

/// One live session of an owner, as [`TowerStore::list_for`] gives it: a
/// handle and the expiry, never the session id or the data.
///
/// ```
/// use std::sync::Arc;
/// use store_core::Owner;
/// use store_tower_sessions::{SessionInfo, TowerStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
/// let mine: Vec<SessionInfo> = sessions.list_for(&Owner::new("42")?).await?;
/// for info in &mine {
///     println!("{} expires at {:?}", info.handle, info.expires_at);
/// }
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's store key: `tower-session:` and the SHA-256 of its id
    /// ([`TowerStore::handle`]). Pass it to [`TowerStore::revoke`]; it is
    /// not usable as a cookie and does not lead back to one.
    pub handle: Key,
    /// When the session expires (the record's `expiry_date`, to the
    /// millisecond).
    pub expires_at: Option<Expiry>,
}

impl TowerStore {
    /// Takes each session's owner from the field `field` of its record
    /// (`Record::data`, what `Session::insert(field, …)` writes): the same
    /// as [`owner_from(field, "")`](Self::owner_from), whose docs say which
    /// values make an owner.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_tower_sessions::TowerStore;
    ///
    /// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// assert_eq!(sessions.owner_source(), Some(("user_id", "")));
    /// ```
    #[must_use]
    pub fn owner_field(self, field: impl Into<String>) -> Self {
        self.owner_from(field, "")
    }

    /// Takes each session's owner from the value at the JSON pointer
    /// `pointer` (RFC 6901: `/user_id`, `/user/id`, `~1` for a `/` in a
    /// name, `""` for the whole value) inside the field `field` of its
    /// record. For axum-login, which keeps `{"user_id": …, "auth_hash": …}`
    /// under `axum-login.data`: `owner_from("axum-login.data", "/user_id")`.
    ///
    /// Every `create` and `save` then writes the session with that owner,
    /// so [`list_for`](Self::list_for), [`revoke_all`](Self::revoke_all)
    /// and `storectl list --owner` / `revoke --owner` find it:
    /// - a JSON string is the owner as it is; a number is its decimal text
    ///   as JSON writes it (`42` → `"42"`);
    /// - a missing field, a pointer that leads nowhere, or `null` (a
    ///   logged-out axum-login session) means no owner: a save clears the
    ///   owner the session had;
    /// - any other value (a boolean, an array, an object, or text that is
    ///   not a valid [`Owner`]: empty, over
    ///   [`MAX_OWNER_LEN`](store_core::MAX_OWNER_LEN) bytes, or with a
    ///   control character) also means no owner. The session is still
    ///   stored, so the request does not fail, and a `tracing` warning
    ///   names the field, the pointer and the rule broken, never the value
    ///   or the session id.
    ///
    /// # Panics
    /// When `pointer` is neither empty nor starts with `/`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_tower_sessions::TowerStore;
    ///
    /// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new()))
    ///     .owner_from("axum-login.data", "/user_id");
    /// assert_eq!(sessions.owner_source(), Some(("axum-login.data", "/user_id")));
    /// ```
    #[must_use]
    pub fn owner_from(mut self, field: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.owner = Some(OwnerSource::new(field, pointer));
        self
    }

    /// The field and the JSON pointer the owner is read from, if
    /// configured ([`owner_from`](Self::owner_from)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_tower_sessions::TowerStore;
    ///
    /// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new()));
    /// assert_eq!(sessions.owner_source(), None);
    /// ```
    pub fn owner_source(&self) -> Option<(&str, &str)> {
        self.owner.as_ref().map(|o| (o.field(), o.pointer()))
    }

    /// The handle of a session: its store key, `tower-session:` and the
    /// SHA-256 of the id, as [`SessionInfo::handle`] shows it. Compare it
    /// with the listing to mark the current session in a "my sessions"
    /// page.
    ///
    /// ```
    /// use store_tower_sessions::TowerStore;
    /// use tower_sessions_core::session::Id;
    ///
    /// let id = Id::default();
    /// let handle = TowerStore::handle(&id);
    /// assert!(handle.as_str().starts_with("tower-session:"));
    /// assert!(!handle.as_str().contains(&id.to_string()));
    /// ```
    pub fn handle(id: &Id) -> Key {
        Self::key(id)
    }

    /// The live sessions of `owner` that this adapter wrote (keys starting
    /// with `tower-session:`), sorted by handle, through the store's owner
    /// index. Other entries of the owner in the same namespace (tokens,
    /// `store-session` sessions) are left out.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_core::Owner;
    /// use store_tower_sessions::TowerStore;
    /// use tower_sessions_core::{SessionStore, session::{Id, Record}};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// let mut record = Record {
    ///     id: Id::default(),
    ///     data: [("user_id".to_owned(), serde_json::json!(42))].into(),
    ///     expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    /// };
    /// sessions.create(&mut record).await.unwrap();
    /// let listed = sessions.list_for(&Owner::new("42")?).await?;
    /// assert_eq!(listed.len(), 1);
    /// assert_eq!(listed[0].handle, TowerStore::handle(&record.id));
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's errors (`Unavailable`, `Backend`, `Encoding`).
    pub async fn list_for(&self, owner: &Owner) -> Result<Vec<SessionInfo>> {
        Ok(self
            .index()
            .list_for(owner)
            .await?
            .into_iter()
            .map(|(handle, entry)| SessionInfo {
                handle,
                expires_at: entry.expires_at,
            })
            .collect())
    }

    /// Deletes one session of `owner` by its handle (from
    /// [`list_for`](Self::list_for)): "log out that device". Returns
    /// whether it deleted one; `false` for a handle that is not a live
    /// session of `owner` written by this adapter, so a user can revoke
    /// only their own sessions.
    ///
    /// The check and the delete are tied by the entry's version: a session
    /// saved meanwhile is checked again, and one that changed owner is
    /// left alone.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_core::Owner;
    /// use store_tower_sessions::TowerStore;
    /// use tower_sessions_core::{SessionStore, session::{Id, Record}};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// let mut record = Record {
    ///     id: Id::default(),
    ///     data: [("user_id".to_owned(), serde_json::json!("alice"))].into(),
    ///     expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    /// };
    /// sessions.create(&mut record).await.unwrap();
    /// let handle = TowerStore::handle(&record.id);
    /// assert!(!sessions.revoke(&Owner::new("bob")?, &handle).await?);
    /// assert!(sessions.revoke(&Owner::new("alice")?, &handle).await?);
    /// assert!(sessions.load(&record.id).await.unwrap().is_none());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's errors; `VersionMismatch` when the session kept
    /// changing while it was being revoked (call again).
    pub async fn revoke(&self, owner: &Owner, handle: &Key) -> Result<bool> {
        self.index().revoke(owner, handle).await
    }

    /// Deletes every session of `owner` that this adapter wrote: "log out
    /// everywhere". Returns how many it deleted.
    ///
    /// Unlike `Store::delete_by_owner` (and `storectl revoke --owner`), it
    /// leaves the owner's other entries in the namespace alone. The
    /// sessions are those of the owner index when the call starts; each
    /// delete is conditional on the version that was checked, so a session
    /// that changed owner meanwhile is not deleted. A request still running
    /// on a revoked session cannot bring it back: its `save` writes
    /// nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_core::Owner;
    /// use store_tower_sessions::TowerStore;
    /// use tower_sessions_core::{SessionStore, session::{Id, Record}};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// for _ in 0..2 {
    ///     let mut record = Record {
    ///         id: Id::default(),
    ///         data: [("user_id".to_owned(), serde_json::json!(42))].into(),
    ///         expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    ///     };
    ///     sessions.create(&mut record).await.unwrap();
    /// }
    /// let user = Owner::new("42")?;
    /// assert_eq!(sessions.revoke_all(&user).await?, 2);
    /// assert!(sessions.list_for(&user).await?.is_empty());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's errors; `VersionMismatch` when a session kept changing
    /// while it was being revoked (the others are revoked; call again).
    pub async fn revoke_all(&self, owner: &Owner) -> Result<u64> {
        self.index().revoke_all(owner).await
    }

    /// Deletes every session of `owner` that this adapter wrote, except the
    /// one with id `keep` (the current request's, from `Session::id`): "log
    /// out the other devices". Returns how many it deleted. Otherwise as
    /// [`revoke_all`](Self::revoke_all).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_core::Owner;
    /// use store_tower_sessions::TowerStore;
    /// use tower_sessions_core::{SessionStore, session::{Id, Record}};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sessions = TowerStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// let mut ids = Vec::new();
    /// for _ in 0..2 {
    ///     let mut record = Record {
    ///         id: Id::default(),
    ///         data: [("user_id".to_owned(), serde_json::json!("alice"))].into(),
    ///         expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    ///     };
    ///     sessions.create(&mut record).await.unwrap();
    ///     ids.push(record.id);
    /// }
    /// assert_eq!(sessions.revoke_all_except(&Owner::new("alice")?, &ids[0]).await?, 1);
    /// assert!(sessions.load(&ids[0]).await.unwrap().is_some());
    /// assert!(sessions.load(&ids[1]).await.unwrap().is_none());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`revoke_all`](Self::revoke_all).
    pub async fn revoke_all_except(&self, owner: &Owner, keep: &Id) -> Result<u64> {
        self.index()
            .revoke_all_except(owner, &Self::key(keep))
            .await
    }

    /// This adapter's sessions in the store's owner index.
    fn index(&self) -> OwnerIndex<'_> {
        OwnerIndex::new(self.store(), KEY_PREFIX)
    }
}
