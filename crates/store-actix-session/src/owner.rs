//! The owner index for actix-session: where a session's owner is read from
//! in its state, and listing or revoking one owner's sessions.

use std::collections::HashMap;
use std::fmt;

use store_core::{Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, Result, Version};

use crate::{ActixStore, KEY_PREFIX};

/// How many times a revoke checks a session again when it changed between
/// the check and the delete.
const REVOKE_ATTEMPTS: u32 = 3;

/// Where in a session's state [`ActixStore`] reads the owner: an entry of
/// the state and a JSON pointer into its (JSON) value (`""` for the value
/// itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerSource {
    field: String,
    pointer: String,
}

/// Why a state's owner value was not used.
enum Unusable {
    /// Not JSON: actix-session writes every value as JSON, so something
    /// else wrote this one.
    NotJson,
    /// Neither a JSON string nor a number.
    NotText(&'static str),
    /// Text that [`Owner::new`] refuses.
    Invalid(Error),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson => f.write_str("it is not JSON"),
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
            "the owner's JSON pointer must be empty or start with '/', as in \"/id\"; got {pointer:?}"
        );
        Self { field, pointer }
    }

    pub(crate) fn field(&self) -> &str {
        &self.field
    }

    pub(crate) fn pointer(&self) -> &str {
        &self.pointer
    }

    /// The owner `state` names: `None` when the entry, the value at the
    /// pointer, or both are missing or `null`, and when the value is not a
    /// valid owner, which is reported as a warning (without the value or
    /// the session key).
    pub(crate) fn owner_in(&self, state: &HashMap<String, String>) -> Option<Owner> {
        match self.read(state) {
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
        state: &HashMap<String, String>,
    ) -> std::result::Result<Option<Owner>, Unusable> {
        let Some(raw) = state.get(&self.field) else {
            return Ok(None);
        };
        let json: serde_json::Value = serde_json::from_str(raw).map_err(|_| Unusable::NotJson)?;
        let Some(value) = json.pointer(&self.pointer) else {
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
        self.owner = Some(OwnerSource::new(field.into(), pointer.into()));
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
        let mut revoked = 0;
        let mut busy = None;
        for (key, entry) in self.owned(owner).await? {
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

    /// The live entries of `owner` under this adapter's keys.
    async fn owned(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let mut listed = self.store.list_by_owner(owner).await?;
        listed.retain(|(key, _)| key.as_str().starts_with(KEY_PREFIX));
        Ok(listed)
    }

    /// Deletes `key` if it is still `owner`'s, conditional on the version
    /// checked, so a session that changed owner meanwhile is left alone.
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

    fn owner_of(source: &OwnerSource, value: &str) -> Option<String> {
        let state = HashMap::from([("f".to_owned(), value.to_owned())]);
        source.owner_in(&state).map(|o| o.as_str().to_owned())
    }

    #[test]
    fn strings_and_numbers_make_owners_and_nothing_else_does() {
        let whole = OwnerSource::new("f".into(), String::new());
        assert_eq!(owner_of(&whole, "\"alice\"").as_deref(), Some("alice"));
        assert_eq!(owner_of(&whole, "42").as_deref(), Some("42"));
        assert_eq!(owner_of(&whole, "-7").as_deref(), Some("-7"));
        assert_eq!(
            owner_of(&whole, "18446744073709551615").as_deref(),
            Some("18446744073709551615")
        );
        let long = format!("\"{}\"", "x".repeat(store_core::MAX_OWNER_LEN + 1));
        for unusable in [
            "null",
            "true",
            "[1]",
            r#"{"id": 1}"#,
            "\"\"",
            "\"tab\\there\"",
            long.as_str(),
            "not json",
        ] {
            assert_eq!(owner_of(&whole, unusable), None, "{unusable}");
        }
        assert_eq!(whole.owner_in(&HashMap::new()), None, "no entry");
    }

    #[test]
    fn a_pointer_reads_inside_the_entry() {
        let user = OwnerSource::new("f".into(), "/id".into());
        assert_eq!(
            owner_of(&user, r#"{"id": 42, "name": "Alice"}"#).as_deref(),
            Some("42")
        );
        assert_eq!(owner_of(&user, r#"{"id": "u-1"}"#).as_deref(), Some("u-1"));
        assert_eq!(owner_of(&user, r#"{"id": null}"#), None);
        assert_eq!(owner_of(&user, r#"{"other": 1}"#), None);
        assert_eq!(owner_of(&user, "\"not an object\""), None);
        let escaped = OwnerSource::new("f".into(), "/a~1b/0".into());
        assert_eq!(
            owner_of(&escaped, r#"{"a/b": ["first", "second"]}"#).as_deref(),
            Some("first")
        );
    }

    #[test]
    #[should_panic(expected = "must be empty or start with '/'")]
    fn a_pointer_without_a_leading_slash_is_refused() {
        let _ = OwnerSource::new("f".into(), "id".into());
    }
}
