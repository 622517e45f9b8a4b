//! The owner index of a session adapter: where a session's owner is read
//! from in the session's data ([`OwnerSource`]), and listing or revoking
//! one owner's sessions among the entries whose keys start with the
//! adapter's prefix ([`OwnerIndex`]).
//!
//! `store-tower-sessions` and `store-actix-session` are built on it; an
//! adapter for another framework's session store can be too. The adapter
//! writes each session with the owner [`OwnerSource`] finds in its data
//! (`PutOptions::owned_by`), under a key that starts with its prefix, and
//! hands [`OwnerIndex`] the store and that prefix:
//!
//! ```
//! use std::collections::HashMap;
//! use store_core::{Key, Owner, PutMode, PutOptions, Store};
//! use store_session::owner_index::{OwnerIndex, OwnerSource};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = store_memory::MemoryStore::new();
//! let source = OwnerSource::new("user", "/id");
//! // A session whose data holds the logged-in user.
//! let data: HashMap<String, serde_json::Value> =
//!     [("user".to_owned(), serde_json::json!({"id": 42, "name": "Alice"}))].into();
//! let owner = source.owner_in(&data);
//! assert_eq!(owner, Some(Owner::new("42")?));
//! let key = Key::new("my-session:abc")?;
//! store
//!     .put(&key, b"{}".to_vec().into(), PutOptions::new(PutMode::Create).owned_by(owner))
//!     .await?;
//!
//! let index = OwnerIndex::new(&store, "my-session:");
//! let user = Owner::new("42")?;
//! assert_eq!(index.list_for(&user).await?.len(), 1);
//! assert_eq!(index.revoke_all(&user).await?, 1);
//! # Ok::<(), store_core::Error>(())
//! # }).unwrap();
//! ```

use std::collections::HashMap;
use std::fmt;

use store_core::{Entry, Error, ErrorKind, Key, Operation, Owner, Result, Store, Version};

/// How many times a revoke checks a session again when it changed between
/// the check and the delete.
const REVOKE_ATTEMPTS: u32 = 3;

/// Where in a session's data the owner is: a field of the data and a JSON
/// pointer into its value (RFC 6901: `/user_id`, `/user/id`, `~1` for a `/`
/// in a name, `""` for the whole value).
///
/// Which values make an owner:
/// - a JSON string is the owner as it is; a number is its decimal text as
///   JSON writes it (`42` → `"42"`);
/// - a missing field, a pointer that leads nowhere, or `null` means no
///   owner;
/// - any other value (a boolean, an array, an object, text that is not a
///   valid [`Owner`]: empty, over [`MAX_OWNER_LEN`](store_core::MAX_OWNER_LEN)
///   bytes, or with a control character, and for
///   [`owner_in_json`](Self::owner_in_json) a field that is not JSON) also
///   means no owner, and is reported as a `tracing` warning (target
///   `store_session::owner_index`) that names the field, the pointer and
///   the rule broken, never the value or the session.
///
/// ```
/// use store_session::owner_index::OwnerSource;
///
/// let source = OwnerSource::new("axum-login.data", "/user_id");
/// assert_eq!(source.field(), "axum-login.data");
/// assert_eq!(source.pointer(), "/user_id");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerSource {
    field: String,
    pointer: String,
}

/// Why a session's owner value was not used.
enum Unusable {
    /// Not JSON, where the field holds JSON text.
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
    /// The owner is the value at `pointer` inside the field `field`.
    ///
    /// # Panics
    /// When `pointer` is neither empty nor starts with `/`.
    ///
    /// ```
    /// use store_session::owner_index::OwnerSource;
    ///
    /// let whole = OwnerSource::new("user_id", "");
    /// assert_eq!(whole.pointer(), "");
    /// ```
    ///
    /// ```should_panic
    /// // Not a JSON pointer: "/user_id" is.
    /// store_session::owner_index::OwnerSource::new("f", "user_id");
    /// ```
    pub fn new(field: impl Into<String>, pointer: impl Into<String>) -> Self {
        let pointer = pointer.into();
        assert!(
            pointer.is_empty() || pointer.starts_with('/'),
            "the owner's JSON pointer must be empty or start with '/', as in \"/user_id\"; got {pointer:?}"
        );
        Self {
            field: field.into(),
            pointer,
        }
    }

    /// The field of the session's data the owner is read from.
    ///
    /// ```
    /// let source = store_session::owner_index::OwnerSource::new("user_id", "");
    /// assert_eq!(source.field(), "user_id");
    /// ```
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The JSON pointer into the field's value; `""` for the value itself.
    ///
    /// ```
    /// let source = store_session::owner_index::OwnerSource::new("user", "/id");
    /// assert_eq!(source.pointer(), "/id");
    /// ```
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// The owner `data` names, for session data whose fields are JSON
    /// values (tower-sessions' `Record::data`). `None` when there is none
    /// and when the value is not a valid owner, which is logged as the
    /// [type docs](Self) say.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use store_core::Owner;
    /// use store_session::owner_index::OwnerSource;
    ///
    /// let source = OwnerSource::new("user_id", "");
    /// let data: HashMap<String, serde_json::Value> = [("user_id".to_owned(), 42.into())].into();
    /// assert_eq!(source.owner_in(&data), Some(Owner::new("42")?));
    /// let data: HashMap<String, serde_json::Value> = [("user_id".to_owned(), true.into())].into();
    /// assert_eq!(source.owner_in(&data), None);
    /// assert_eq!(source.owner_in(&HashMap::new()), None);
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn owner_in(&self, data: &HashMap<String, serde_json::Value>) -> Option<Owner> {
        self.warned(self.read(data.get(&self.field)))
    }

    /// The owner `state` names, for session state whose fields hold JSON
    /// text (actix-session's `HashMap<String, String>`). As
    /// [`owner_in`](Self::owner_in); a field that is not JSON is not a
    /// valid owner either.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use store_core::Owner;
    /// use store_session::owner_index::OwnerSource;
    ///
    /// let source = OwnerSource::new("user", "/id");
    /// let state = HashMap::from([("user".to_owned(), r#"{"id": "u-1"}"#.to_owned())]);
    /// assert_eq!(source.owner_in_json(&state), Some(Owner::new("u-1")?));
    /// let state = HashMap::from([("user".to_owned(), "not json".to_owned())]);
    /// assert_eq!(source.owner_in_json(&state), None);
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn owner_in_json(&self, state: &HashMap<String, String>) -> Option<Owner> {
        let read = match state.get(&self.field) {
            None => Ok(None),
            Some(raw) => match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(value) => self.read(Some(&value)),
                Err(_) => Err(Unusable::NotJson),
            },
        };
        self.warned(read)
    }

    /// The owner, or `None` with a warning when the value was unusable.
    fn warned(&self, read: std::result::Result<Option<Owner>, Unusable>) -> Option<Owner> {
        match read {
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

    /// The owner at the pointer inside `field`, the field's value.
    fn read(
        &self,
        field: Option<&serde_json::Value>,
    ) -> std::result::Result<Option<Owner>, Unusable> {
        let Some(value) = field.and_then(|field| field.pointer(&self.pointer)) else {
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

/// One adapter's sessions in a store's owner index: the live entries of an
/// owner whose keys start with the adapter's prefix. The owner's other
/// entries in the namespace (tokens, other adapters' sessions) are never
/// listed nor deleted.
///
/// Every delete is conditional on the version that was checked: a session
/// saved meanwhile is checked again, and one that changed owner is left
/// alone. An adapter whose saves write with `PutMode::Update` also keeps a
/// request still running on a revoked session from bringing it back.
///
/// ```
/// use store_session::owner_index::OwnerIndex;
///
/// let store = store_memory::MemoryStore::new();
/// let index = OwnerIndex::new(&store, "tower-session:");
/// assert_eq!(index.prefix(), "tower-session:");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct OwnerIndex<'a> {
    store: &'a dyn Store,
    prefix: &'a str,
}

impl<'a> OwnerIndex<'a> {
    /// The sessions in `store` whose keys start with `prefix`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use store_core::Store;
    /// use store_session::owner_index::OwnerIndex;
    ///
    /// let store: Arc<dyn Store> = Arc::new(store_memory::MemoryStore::new());
    /// let index = OwnerIndex::new(&*store, "actix-session:");
    /// # let _ = index;
    /// ```
    pub fn new(store: &'a dyn Store, prefix: &'a str) -> Self {
        Self { store, prefix }
    }

    /// The start of every key this index lists and deletes.
    ///
    /// ```
    /// let store = store_memory::MemoryStore::new();
    /// let index = store_session::owner_index::OwnerIndex::new(&store, "s:");
    /// assert_eq!(index.prefix(), "s:");
    /// ```
    pub fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// The live entries of `owner` whose keys start with the prefix, in the
    /// order of the store's owner index (`Store::list_by_owner`).
    ///
    /// ```
    /// use store_core::{Key, Owner, PutMode, PutOptions, Store};
    /// use store_session::owner_index::OwnerIndex;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_memory::MemoryStore::new();
    /// let alice = Owner::new("alice")?;
    /// for key in ["s:1", "token:1"] {
    ///     let options = PutOptions::new(PutMode::Create).owned_by(Some(alice.clone()));
    ///     store.put(&Key::new(key)?, b"{}".to_vec().into(), options).await?;
    /// }
    /// let listed = OwnerIndex::new(&store, "s:").list_for(&alice).await?;
    /// assert_eq!(listed.len(), 1);
    /// assert_eq!(listed[0].0.as_str(), "s:1");
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's errors (`Unavailable`, `Backend`, `Encoding`).
    pub async fn list_for(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let mut listed = self.store.list_by_owner(owner).await?;
        listed.retain(|(key, _)| key.as_str().starts_with(self.prefix));
        Ok(listed)
    }

    /// Deletes the session under `handle` if it is a live session of
    /// `owner` whose key starts with the prefix. Returns whether it deleted
    /// one: `false` for any other handle, so a user can revoke only their
    /// own sessions.
    ///
    /// ```
    /// use store_core::{Key, Owner, PutMode, PutOptions, Store};
    /// use store_session::owner_index::OwnerIndex;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_memory::MemoryStore::new();
    /// let handle = Key::new("s:1")?;
    /// let options = PutOptions::new(PutMode::Create).owned_by(Some(Owner::new("alice")?));
    /// store.put(&handle, b"{}".to_vec().into(), options).await?;
    /// let index = OwnerIndex::new(&store, "s:");
    /// assert!(!index.revoke(&Owner::new("bob")?, &handle).await?);
    /// assert!(index.revoke(&Owner::new("alice")?, &handle).await?);
    /// assert!(store.get(&handle).await?.is_none());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's errors; `VersionMismatch` when the session kept
    /// changing while it was being revoked (call again).
    pub async fn revoke(&self, owner: &Owner, handle: &Key) -> Result<bool> {
        if !handle.as_str().starts_with(self.prefix) {
            return Ok(false);
        }
        match self.store.get(handle).await? {
            Some(entry) if entry.owner.as_ref() == Some(owner) => {
                self.delete_owned(owner, handle, entry.version).await
            }
            _ => Ok(false),
        }
    }

    /// Deletes every session of `owner` whose key starts with the prefix,
    /// as the owner index lists them when the call starts. Returns how many
    /// it deleted.
    ///
    /// ```
    /// use store_core::{Key, Owner, PutMode, PutOptions, Store};
    /// use store_session::owner_index::OwnerIndex;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_memory::MemoryStore::new();
    /// let alice = Owner::new("alice")?;
    /// for key in ["s:1", "s:2", "token:1"] {
    ///     let options = PutOptions::new(PutMode::Create).owned_by(Some(alice.clone()));
    ///     store.put(&Key::new(key)?, b"{}".to_vec().into(), options).await?;
    /// }
    /// assert_eq!(OwnerIndex::new(&store, "s:").revoke_all(&alice).await?, 2);
    /// assert!(store.get(&Key::new("token:1")?).await?.is_some());
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

    /// Deletes every session of `owner` whose key starts with the prefix,
    /// except the one under `keep` (the current request's). Returns how
    /// many it deleted. Otherwise as [`revoke_all`](Self::revoke_all).
    ///
    /// ```
    /// use store_core::{Key, Owner, PutMode, PutOptions, Store};
    /// use store_session::owner_index::OwnerIndex;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_memory::MemoryStore::new();
    /// let alice = Owner::new("alice")?;
    /// for key in ["s:1", "s:2"] {
    ///     let options = PutOptions::new(PutMode::Create).owned_by(Some(alice.clone()));
    ///     store.put(&Key::new(key)?, b"{}".to_vec().into(), options).await?;
    /// }
    /// let here = Key::new("s:1")?;
    /// assert_eq!(OwnerIndex::new(&store, "s:").revoke_all_except(&alice, &here).await?, 1);
    /// assert!(store.get(&here).await?.is_some());
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`revoke_all`](Self::revoke_all).
    pub async fn revoke_all_except(&self, owner: &Owner, keep: &Key) -> Result<u64> {
        self.revoke_listed(owner, Some(keep)).await
    }

    async fn revoke_listed(&self, owner: &Owner, keep: Option<&Key>) -> Result<u64> {
        let mut revoked = 0;
        let mut busy = None;
        for (key, entry) in self.list_for(owner).await? {
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

    fn owner_of(source: &OwnerSource, value: serde_json::Value) -> Option<String> {
        let data = HashMap::from([("f".to_owned(), value)]);
        source.owner_in(&data).map(|o| o.as_str().to_owned())
    }

    fn owner_of_json(source: &OwnerSource, value: &str) -> Option<String> {
        let state = HashMap::from([("f".to_owned(), value.to_owned())]);
        source.owner_in_json(&state).map(|o| o.as_str().to_owned())
    }

    #[test]
    fn strings_and_numbers_make_owners_and_nothing_else_does() {
        let whole = OwnerSource::new("f", "");
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
    fn json_text_makes_the_same_owners_and_text_that_is_not_json_none() {
        let whole = OwnerSource::new("f", "");
        assert_eq!(owner_of_json(&whole, "\"alice\"").as_deref(), Some("alice"));
        assert_eq!(owner_of_json(&whole, "42").as_deref(), Some("42"));
        assert_eq!(owner_of_json(&whole, "-7").as_deref(), Some("-7"));
        assert_eq!(
            owner_of_json(&whole, "18446744073709551615").as_deref(),
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
            assert_eq!(owner_of_json(&whole, unusable), None, "{unusable}");
        }
        assert_eq!(whole.owner_in_json(&HashMap::new()), None, "no entry");
    }

    #[test]
    fn a_pointer_reads_inside_the_field() {
        let login = OwnerSource::new("f", "/user_id");
        let shaped = |id| serde_json::json!({"user_id": id, "auth_hash": [1, 2, 3]});
        assert_eq!(owner_of(&login, shaped(42.into())).as_deref(), Some("42"));
        assert_eq!(
            owner_of(&login, shaped("u-1".into())).as_deref(),
            Some("u-1")
        );
        assert_eq!(owner_of(&login, shaped(serde_json::Value::Null)), None);
        assert_eq!(owner_of(&login, serde_json::json!({"other": 1})), None);
        assert_eq!(owner_of(&login, "not an object".into()), None);
        let escaped = OwnerSource::new("f", "/a~1b/0");
        let nested = serde_json::json!({"a/b": ["first", "second"]});
        assert_eq!(owner_of(&escaped, nested).as_deref(), Some("first"));
    }

    #[test]
    fn a_pointer_reads_inside_json_text() {
        let user = OwnerSource::new("f", "/id");
        assert_eq!(
            owner_of_json(&user, r#"{"id": 42, "name": "Alice"}"#).as_deref(),
            Some("42")
        );
        assert_eq!(
            owner_of_json(&user, r#"{"id": "u-1"}"#).as_deref(),
            Some("u-1")
        );
        assert_eq!(owner_of_json(&user, r#"{"id": null}"#), None);
        assert_eq!(owner_of_json(&user, r#"{"other": 1}"#), None);
        assert_eq!(owner_of_json(&user, "\"not an object\""), None);
        let escaped = OwnerSource::new("f", "/a~1b/0");
        assert_eq!(
            owner_of_json(&escaped, r#"{"a/b": ["first", "second"]}"#).as_deref(),
            Some("first")
        );
    }

    #[test]
    fn reasons_name_the_rule_not_the_value() {
        let whole = OwnerSource::new("f", "");
        let reason = |value: Option<&serde_json::Value>| match whole.read(value) {
            Err(why) => why.to_string(),
            Ok(owner) => panic!("an owner: {owner:?}"),
        };
        assert_eq!(
            reason(Some(&true.into())),
            "it is a JSON boolean, not a string or a number"
        );
        assert_eq!(
            reason(Some(&serde_json::json!([1]))),
            "it is a JSON array, not a string or a number"
        );
        assert_eq!(
            reason(Some(&serde_json::json!({"secret": 1}))),
            "it is a JSON object, not a string or a number"
        );
        let invalid = reason(Some(&"bell\u{7}secret".into()));
        assert!(invalid.contains("control character"), "{invalid}");
        assert!(!invalid.contains("secret"), "{invalid}");
        assert_eq!(Unusable::NotJson.to_string(), "it is not JSON");
    }

    #[test]
    #[should_panic(expected = "must be empty or start with '/'")]
    fn a_pointer_without_a_leading_slash_is_refused() {
        let _ = OwnerSource::new("f", "user_id");
    }
}
