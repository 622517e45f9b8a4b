//! [`StoreExt`]: typed values and convenience calls for every [`Store`].

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::entry::{Entry, PutMode, PutOptions, PutResult, Version};
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::key::{Key, Owner};
use crate::store::Store;
use crate::time::Expiry;

/// How many attempts [`StoreExt::update_with`] makes before it gives up with
/// the last conflict: 1,000.
pub const CAS_MAX_ATTEMPTS: u32 = 1_000;

/// A decoded entry of type `T`, as returned by [`StoreExt::get_typed`].
///
/// ```
/// use store_core::{Key, PutMode, StoreExt};
/// use store_memory::MemoryStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = Key::new("prefs")?;
/// let written = store.put_typed(&key, &("dark", 14u8), PutMode::Create.into()).await?;
/// let read = store.get_typed::<(String, u8)>(&key).await?.expect("written");
/// assert_eq!(read.value, ("dark".to_string(), 14));
/// assert_eq!(read.version, written.version);
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypedEntry<T> {
    /// The decoded value.
    pub value: T,
    /// When the entry expires; `None` means never.
    pub expires_at: Option<Expiry>,
    /// The entry's owner.
    pub owner: Option<Owner>,
    /// The entry's version, for a following `UpdateIf`.
    pub version: Version,
}

/// Encodes typed values to bytes and back. [`Json`] is the default.
pub trait Codec: Send + Sync + 'static {
    /// Encodes a value.
    ///
    /// # Errors
    /// `Encoding` when the value cannot be serialized.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes>;
    /// Decodes a value.
    ///
    /// # Errors
    /// `Encoding` when the bytes are not a valid `T`.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T>;
}

/// The JSON [`Codec`] (serde_json).
///
/// ```
/// use store_core::{Codec, Json};
/// let bytes = Json::encode(&vec![1, 2])?;
/// assert_eq!(&bytes[..], b"[1,2]");
/// let back: Vec<u8> = Json::decode(&bytes)?;
/// assert_eq!(back, [1, 2]);
/// assert!(Json::decode::<u8>(b"not json").is_err());
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Codec for Json {
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
        serde_json::to_vec(value).map(Bytes::from).map_err(|e| {
            Error::new(ErrorKind::Encoding, "cannot encode the value as JSON")
                .with_operation(Operation::Encode)
                .with_source(e)
        })
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Encoding,
                "the stored value is not valid JSON for the requested type",
            )
            .with_operation(Operation::Decode)
            .with_source(e)
        })
    }
}

fn with_mode(mode: PutMode, expires_at: Option<Expiry>) -> PutOptions {
    PutOptions::new(mode).expiry(expires_at)
}

fn typed<T: DeserializeOwned>(entry: Entry) -> Result<TypedEntry<T>> {
    Ok(TypedEntry {
        value: Json::decode(&entry.value)?,
        expires_at: entry.expires_at,
        owner: entry.owner,
        version: entry.version,
    })
}

/// Conveniences for every [`Store`], implemented once for all of them.
///
/// Never implement it yourself: the blanket implementation covers every
/// `Store`, including `Arc<dyn Store>`. Typed calls use JSON.
///
/// ```
/// use store_core::{Key, Store, StoreExt};
/// use store_memory::MemoryStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = Key::new("counter")?;
/// store.insert(&key, "0", None).await?;
/// assert!(store.insert(&key, "1", None).await.is_err()); // Create never overwrites
/// store.update(&key, "2", None).await?;
/// assert_eq!(&store.get(&key).await?.unwrap().value[..], b"2");
/// assert!(store.remove(&key).await?);
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait StoreExt: Store {
    /// Writes with [`PutMode::Create`]: fails with `AlreadyExists` over a live entry.
    ///
    /// # Errors
    /// As [`Store::put`].
    async fn insert(
        &self,
        key: &Key,
        value: impl Into<Bytes> + Send,
        expires_at: Option<Expiry>,
    ) -> Result<PutResult> {
        self.put(key, value.into(), with_mode(PutMode::Create, expires_at))
            .await
    }

    /// Writes with [`PutMode::Upsert`].
    ///
    /// # Errors
    /// As [`Store::put`].
    async fn upsert(
        &self,
        key: &Key,
        value: impl Into<Bytes> + Send,
        expires_at: Option<Expiry>,
    ) -> Result<PutResult> {
        self.put(key, value.into(), with_mode(PutMode::Upsert, expires_at))
            .await
    }

    /// Writes with [`PutMode::Update`]: fails with `NotFound` where no live
    /// entry is, never recreating it.
    ///
    /// # Errors
    /// As [`Store::put`].
    async fn update(
        &self,
        key: &Key,
        value: impl Into<Bytes> + Send,
        expires_at: Option<Expiry>,
    ) -> Result<PutResult> {
        self.put(key, value.into(), with_mode(PutMode::Update, expires_at))
            .await
    }

    /// Deletes unconditionally; returns whether a live entry was deleted.
    ///
    /// # Errors
    /// As [`Store::delete`].
    async fn remove(&self, key: &Key) -> Result<bool> {
        self.delete(key, None).await
    }

    /// Reads and decodes a JSON value.
    ///
    /// # Errors
    /// As [`Store::get`], and `Encoding` when the value is not a valid `T`.
    async fn get_typed<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<TypedEntry<T>>> {
        match self.get(key).await? {
            Some(entry) => typed(entry).map(Some),
            None => Ok(None),
        }
    }

    /// Encodes `value` as JSON and writes it with `options`.
    ///
    /// # Errors
    /// `Encoding` when `value` cannot be serialized, else as [`Store::put`].
    async fn put_typed<T: Serialize + Sync + ?Sized>(
        &self,
        key: &Key,
        value: &T,
        options: PutOptions,
    ) -> Result<PutResult> {
        let bytes = Json::encode(value)?;
        self.put(key, bytes, options).await
    }

    /// Read-modify-write with compare-and-swap, retried on conflict.
    ///
    /// Reads the current value (or `None`), calls `f` on it, and writes the
    /// result with `UpdateIf(version read)` (or `Create` when there was
    /// none), with the expiry and owner of `options` (its mode is ignored).
    /// A concurrent writer makes the write fail; the loop then reads again
    /// and calls `f` again, at most [`CAS_MAX_ATTEMPTS`] times. `f` may run
    /// several times, so it must not have side effects.
    ///
    /// Returns the value written and its version.
    ///
    /// # Errors
    /// Whatever `f` returns (nothing is written), `Encoding`, any
    /// non-conflict error of the store, or the last `VersionMismatch` /
    /// `AlreadyExists` after [`CAS_MAX_ATTEMPTS`] lost races.
    ///
    /// ```
    /// use store_core::{Key, PutOptions, StoreExt};
    /// use store_memory::MemoryStore;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let key = Key::new("visits")?;
    /// for _ in 0..3 {
    ///     store
    ///         .update_with(&key, PutOptions::default(), |n: Option<u64>| Ok(n.unwrap_or(0) + 1))
    ///         .await?;
    /// }
    /// assert_eq!(store.get_typed::<u64>(&key).await?.unwrap().value, 3);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    async fn update_with<T, F>(
        &self,
        key: &Key,
        options: PutOptions,
        mut f: F,
    ) -> Result<(T, PutResult)>
    where
        T: Serialize + DeserializeOwned + Send + Sync,
        F: FnMut(Option<T>) -> Result<T> + Send,
    {
        let mut last = None;
        for _ in 0..CAS_MAX_ATTEMPTS {
            let current = self.get_typed::<T>(key).await?;
            let mode = match &current {
                Some(c) => PutMode::UpdateIf(c.version),
                None => PutMode::Create,
            };
            let next = f(current.map(|c| c.value))?;
            let bytes = Json::encode(&next)?;
            match self.put(key, bytes, options.clone().mode(mode)).await {
                Ok(result) => return Ok((next, result)),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::VersionMismatch | ErrorKind::AlreadyExists | ErrorKind::NotFound
                    ) =>
                {
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(Error::version_mismatch))
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
