//! The owner index for actix-session: where a session's owner is read from
//! in its state, and listing or revoking one owner's sessions.

use store_core::{Expiry, Key, Owner, Result};
use store_session::owner_index::{OwnerIndex, OwnerSource};

use crate::{ActixStore, KEY_PREFIX};

/// One live session of an owner, as [`ActixStore::list_for`] gives it: a
/// handle and the expiry, never the session key or the state.
///
/// ```
/// use std::sync::Arc;
/// use store_actix_session::{ActixStore, SessionInfo};
/// use store_core::Owner;
///
/// # actix_web::rt::System::new().block_on(async {
/// let sessions = ActixStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
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
    /// The session's store key: `actix-session:` and the SHA-256 of its
    /// session key ([`ActixStore::handle`]). Pass it to
    /// [`ActixStore::revoke`]; it is not usable as a cookie and does not
    /// lead back to one.
    pub handle: Key,
    /// When the session expires, to the millisecond.
    pub expires_at: Option<Expiry>,
}

impl ActixStore {
    /// Takes each session's owner from the session entry `field` (what
    /// `session.insert(field, …)` writes): the same as
    /// [`owner_from(field, "")`](Self::owner_from), whose docs say which
    /// values make an owner. For actix-identity, which keeps the logged-in
    /// user under `actix_identity.user_id` by default:
    /// `owner_field("actix_identity.user_id")`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_actix_session::ActixStore;
    ///
    /// let sessions = ActixStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// assert_eq!(sessions.owner_source(), Some(("user_id", "")));
    /// ```
    #[must_use]
    pub fn owner_field(self, field: impl Into<String>) -> Self {
        self.owner_from(field, "")
    }

    /// Takes each session's owner from the value at the JSON pointer
    /// `pointer` (RFC 6901: `/id`, `/user/id`, `~1` for a `/` in a name,
    /// `""` for the whole value) inside the session entry `field`, for an
    /// app that keeps a whole user there (`session.insert("user", &user)`
    /// → `owner_from("user", "/id")`).
    ///
    /// Every `save` and `update` then writes the session with that owner,
    /// so [`list_for`](Self::list_for), [`revoke_all`](Self::revoke_all)
    /// and `storectl list --owner` / `revoke --owner` find it:
    /// - a JSON string is the owner as it is, a number its decimal text
    ///   (`42` → `"42"`);
    /// - a missing entry, a pointer that leads nowhere, or `null` means no
    ///   owner, so a save after the user was removed from the session
    ///   clears the owner;
    /// - any other value (a boolean, an array, an object, or text that is
    ///   not a valid [`Owner`]: empty, over 256 bytes, or with a control
    ///   character) also means no owner: the session is stored anyway, so
    ///   the request does not fail (no user could list or revoke it by
    ///   that value either), and a `tracing` warning names the field, the
    ///   pointer and the rule broken, never the value or the session key.
    ///
    /// Sessions stored before the setting was added get their owner at
    /// their next save.
    ///
    /// # Panics
    /// When `pointer` is neither empty nor starts with `/`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_actix_session::ActixStore;
    ///
    /// let sessions = ActixStore::new(Arc::new(store_memory::MemoryStore::new()))
    ///     .owner_from("user", "/id");
    /// assert_eq!(sessions.owner_source(), Some(("user", "/id")));
    /// ```
    #[must_use]
    pub fn owner_from(mut self, field: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.owner = Some(OwnerSource::new(field, pointer));
        self
    }

    /// The session entry and the JSON pointer the owner is read from, if
    /// configured ([`owner_from`](Self::owner_from)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sessions = store_actix_session::ActixStore::new(Arc::new(store_memory::MemoryStore::new()));
    /// assert_eq!(sessions.owner_source(), None);
    /// ```
    pub fn owner_source(&self) -> Option<(&str, &str)> {
        self.owner.as_ref().map(|o| (o.field(), o.pointer()))
    }

    /// The live sessions of `owner` written by this adapter (keys starting
    /// with [`KEY_PREFIX`]), through the store's owner index: "my
    /// sessions". The owner's other entries in the namespace are left out.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::Arc;
    /// use actix_session::storage::SessionStore;
    /// use actix_web::cookie::time::Duration;
    /// use store_actix_session::ActixStore;
    /// use store_core::Owner;
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let sessions = ActixStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// // What `session.insert("user_id", 42)` leaves in the state.
    /// let state = HashMap::from([("user_id".to_owned(), "42".to_owned())]);
    /// let key = sessions.save(state, &Duration::hours(1)).await.unwrap();
    /// let listed = sessions.list_for(&Owner::new("42")?).await?;
    /// assert_eq!(listed.len(), 1);
    /// assert_eq!(listed[0].handle, ActixStore::handle(&key));
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
    /// only their own sessions. A request still running on the revoked
    /// session cannot bring it back.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::Arc;
    /// use actix_session::storage::SessionStore;
    /// use actix_web::cookie::time::Duration;
    /// use store_actix_session::ActixStore;
    /// use store_core::Owner;
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let sessions = ActixStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// let state = HashMap::from([("user_id".to_owned(), "\"alice\"".to_owned())]);
    /// let key = sessions.save(state, &Duration::hours(1)).await.unwrap();
    /// let handle = ActixStore::handle(&key);
    /// assert!(!sessions.revoke(&Owner::new("bob")?, &handle).await?);
    /// assert!(sessions.revoke(&Owner::new("alice")?, &handle).await?);
    /// assert!(sessions.load(&key).await.unwrap().is_none());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's errors; `VersionMismatch` when the session kept
    /// changing while it was being revoked (try again).
    pub async fn revoke(&self, owner: &Owner, handle: &Key) -> Result<bool> {
        self.index().revoke(owner, handle).await
    }

    /// Deletes every live session of `owner` written by this adapter: "log
    /// out everywhere". Returns how many it deleted. The owner's other
    /// entries in the namespace are untouched, and so is a session that
    /// changed owner meanwhile; requests still running on the revoked
    /// sessions cannot bring them back.
    ///
    /// actix-session does not tell a handler its session's key, so there
    /// is no "log out everywhere else" that keeps the current session.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::Arc;
    /// use actix_session::storage::SessionStore;
    /// use actix_web::cookie::time::Duration;
    /// use store_actix_session::ActixStore;
    /// use store_core::Owner;
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let sessions = ActixStore::new(Arc::new(store_memory::MemoryStore::new())).owner_field("user_id");
    /// let state = HashMap::from([("user_id".to_owned(), "\"alice\"".to_owned())]);
    /// for _ in 0..2 {
    ///     sessions.save(state.clone(), &Duration::hours(1)).await.unwrap();
    /// }
    /// assert_eq!(sessions.revoke_all(&Owner::new("alice")?).await?, 2);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's errors; `VersionMismatch` when a session kept changing
    /// while it was being revoked (the others are revoked; try again).
    pub async fn revoke_all(&self, owner: &Owner) -> Result<u64> {
        self.index().revoke_all(owner).await
    }

    /// This adapter's sessions in the store's owner index.
    fn index(&self) -> OwnerIndex<'_> {
        OwnerIndex::new(&*self.store, KEY_PREFIX)
    }
}
