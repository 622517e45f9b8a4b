//! The owner index for tower-sessions: where a session's owner is read
//! from in its record, and listing or revoking one owner's sessions.

use std::collections::HashMap;
use std::fmt;

use store_core::{Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, Result, Version};
use tower_sessions_core::session::Id;

use crate::{KEY_PREFIX, TowerStore};

/// How many times a revoke checks a session again when it changed between
/// the check and the delete.
const REVOKE_ATTEMPTS: u32 = 3;

/// Where in a session record [`TowerStore`] reads the owner: a field of
/// `Record::data` and a JSON pointer into its value (`""` for the value
/// itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerSource {
    field: String,
    pointer: String,
}

/// Why a record's owner value was not used.
enum Unusable {
    /// Neither a JSON string nor a number.
    NotText(&'static str),
    /// Text that [`Owner::new`] refuses.
    Invalid(Error),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotText(kind) => write!(f, "it is a JSON {kind}, not a string or a number"),
            Self::Invalid(e) => f.write_str(e.message()),
        }
    }
}

impl OwnerSource {
    /// # Panics
    /// When `pointer` is neither empty nor starts with `/`.
    pub(crate) fn new(field: String, pointer: String) -> Self {
        assert!(
            pointer.is_empty() || pointer.starts_with('/'),
            "the owner's JSON pointer must be empty or start with '/', as in \"/user_id\"; got {pointer:?}"
        );
        Self { field, pointer }
    }

    pub(crate) fn field(&self) -> &str {
        &self.field
    }

    pub(crate) fn pointer(&self) -> &str {
        &self.pointer
    }

    /// The owner `data` names: `None` when the field, the value at the
    /// pointer, or both are missing or `null`, and when the value is not a
    /// valid owner, which is reported as a warning (without the value or
    /// the session id).
    pub(crate) fn owner_in(&self, data: &HashMap<String, serde_json::Value>) -> Option<Owner> {
        match self.read(data) {
            Ok(owner) => owner,
            Err(why) => {
                tracing::warn!(
                    field = %self.field,
                    pointer = %self.pointer,
                    reason = %why,
                    "session stored without an owner: its owner value is not a valid owner"
                );
                None
            }
        }
    }

    fn read(
        &self,
        data: &HashMap<String, serde_json::Value>,
    ) -> std::result::Result<Option<Owner>, Unusable> {
        let Some(value) = data
            .get(&self.field)
            .and_then(|field| field.pointer(&self.pointer))
        else {
            return Ok(None);
        };
        let text = match value {
            serde_json::Value::Null => return Ok(None),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(_) => return Err(Unusable::NotText("boolean")),
            serde_json::Value::Array(_) => return Err(Unusable::NotText("array")),
            serde_json::Value::Object(_) => return Err(Unusable::NotText("object")),
        };
        Owner::new(text).map(Some).map_err(Unusable::Invalid)
    }
}

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
        self.owner = Some(OwnerSource::new(field.into(), pointer.into()));
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
            .owned(owner)
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
        if !handle.as_str().starts_with(KEY_PREFIX) {
            return Ok(false);
        }
        match self.store.get(handle).await? {
            Some(entry) if entry.owner.as_ref() == Some(owner) => {
                self.delete_owned(owner, handle, entry.version).await
            }
            _ => Ok(false),
        }
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
        self.revoke_listed(owner, None).await
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
        self.revoke_listed(owner, Some(&Self::key(keep))).await
    }

    /// The owner's entries under this adapter's keys.
    async fn owned(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let mut listed = self.store.list_by_owner(owner).await?;
        listed.retain(|(key, _)| key.as_str().starts_with(KEY_PREFIX));
        Ok(listed)
    }

    async fn revoke_listed(&self, owner: &Owner, keep: Option<&Key>) -> Result<u64> {
        let mut revoked = 0;
        let mut busy = None;
        for (key, entry) in self.owned(owner).await? {
            if Some(&key) == keep {
                continue;
            }
            match self.delete_owned(owner, &key, entry.version).await {
                Ok(true) => revoked += 1,
                Ok(false) => {}
                Err(e) if e.kind() == ErrorKind::VersionMismatch => busy = Some(e),
                Err(e) => return Err(e),
            }
        }
        match busy {
            Some(e) => Err(e),
            None => Ok(revoked),
        }
    }

    /// Deletes `key` if its version is `version`; when it changed, checks
    /// again that it is still `owner`'s.
    async fn delete_owned(&self, owner: &Owner, key: &Key, mut version: Version) -> Result<bool> {
        for _ in 0..REVOKE_ATTEMPTS {
            match self.store.delete(key, Some(version)).await {
                Err(e) if e.kind() == ErrorKind::VersionMismatch => {
                    match self.store.get(key).await? {
                        Some(entry) if entry.owner.as_ref() == Some(owner) => {
                            version = entry.version;
                        }
                        _ => return Ok(false),
                    }
                }
                other => return other,
            }
        }
        Err(Error::new(
            ErrorKind::VersionMismatch,
            "the session kept changing while it was being revoked; try again",
        )
        .with_operation(Operation::Delete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(field: &str, value: serde_json::Value) -> HashMap<String, serde_json::Value> {
        [(field.to_owned(), value)].into()
    }

    fn owner_of(source: &OwnerSource, value: serde_json::Value) -> Option<String> {
        source
            .owner_in(&data("f", value))
            .map(|o| o.as_str().to_owned())
    }

    #[test]
    fn strings_and_numbers_make_owners_and_nothing_else_does() {
        let whole = OwnerSource::new("f".into(), String::new());
        assert_eq!(owner_of(&whole, "alice".into()).as_deref(), Some("alice"));
        assert_eq!(owner_of(&whole, 42.into()).as_deref(), Some("42"));
        assert_eq!(owner_of(&whole, (-7).into()).as_deref(), Some("-7"));
        assert_eq!(
            owner_of(&whole, u64::MAX.into()).as_deref(),
            Some("18446744073709551615")
        );
        for unusable in [
            serde_json::Value::Null,
            true.into(),
            serde_json::json!([1]),
            serde_json::json!({"id": 1}),
            "".into(),
            "tab\there".into(),
            "x".repeat(store_core::MAX_OWNER_LEN + 1).into(),
        ] {
            assert_eq!(owner_of(&whole, unusable.clone()), None, "{unusable}");
        }
        assert_eq!(whole.owner_in(&HashMap::new()), None, "no field");
    }

    #[test]
    fn a_pointer_reads_inside_the_field() {
        let login = OwnerSource::new("f".into(), "/user_id".into());
        let shaped = |id| serde_json::json!({"user_id": id, "auth_hash": [1, 2, 3]});
        assert_eq!(owner_of(&login, shaped(42.into())).as_deref(), Some("42"));
        assert_eq!(
            owner_of(&login, shaped("u-1".into())).as_deref(),
            Some("u-1")
        );
        assert_eq!(owner_of(&login, shaped(serde_json::Value::Null)), None);
        assert_eq!(owner_of(&login, serde_json::json!({"other": 1})), None);
        assert_eq!(owner_of(&login, "not an object".into()), None);
        let escaped = OwnerSource::new("f".into(), "/a~1b/0".into());
        let nested = serde_json::json!({"a/b": ["first", "second"]});
        assert_eq!(owner_of(&escaped, nested).as_deref(), Some("first"));
    }

    #[test]
    #[should_panic(expected = "must be empty or start with '/'")]
    fn a_pointer_without_a_leading_slash_is_refused() {
        let _ = OwnerSource::new("f".into(), "user_id".into());
    }
}
