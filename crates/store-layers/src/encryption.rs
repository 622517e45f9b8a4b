//! [`EncryptedStore`]: values encrypted at rest, keys rotated without
//! downtime.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use store_core::{
    Capabilities, Entry, Error, ErrorKind, Expiry, Key, Operation, Owner, PutOptions, PutResult,
    Result, ScanCursor, ScanPage, Store, Version, validate,
};
use zeroize::Zeroizing;

/// The first bytes of every encrypted value: format 1.
const MAGIC: &[u8; 3] = b"se1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes an encrypted value has on top of the plaintext.
pub const ENVELOPE_OVERHEAD: usize = MAGIC.len() + 4 + NONCE_LEN + TAG_LEN;
/// Binds a ciphertext to the key it is stored under (with the key itself).
const AAD_PREFIX: &[u8] = b"store-layers/encryption/v1\0";

/// Encryption keys by id: values are encrypted with the newest key and
/// decrypted with whichever listed key their envelope names.
///
/// Rotation without downtime: add the new key everywhere (it becomes the
/// one that encrypts), let values be rewritten (or rewrite them), then drop
/// the old key. Key bytes are zeroed when dropped and never shown by
/// `Debug`.
///
/// ```
/// use store_layers::Keyring;
/// let old = Keyring::generate_key()?;
/// let new = Keyring::generate_key()?;
/// let keyring = Keyring::new(1, old).with_key(2, new)?;
/// assert_eq!(keyring.newest_id(), 2);
/// assert_eq!(format!("{keyring:?}"), "Keyring { ids: [1, 2], newest: 2 }");
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(u32, Zeroizing<[u8; 32]>)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("Keyring")
            .field("ids", &ids)
            .field("newest", &self.newest_id())
            .finish()
    }
}

impl Keyring {
    /// A keyring with one 256-bit key, known by `id`.
    pub fn new(id: u32, key: [u8; 32]) -> Self {
        Self {
            keys: vec![(id, Zeroizing::new(key))],
        }
    }

    /// Adds `key` as the newest key: from now on values are encrypted with
    /// it.
    ///
    /// # Errors
    /// `Config` when `id` is already in the keyring.
    pub fn with_key(mut self, id: u32, key: [u8; 32]) -> Result<Self> {
        if self.keys.iter().any(|(k, _)| *k == id) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("key id {id} is already in the keyring"),
            ));
        }
        self.keys.push((id, Zeroizing::new(key)));
        Ok(self)
    }

    /// Removes the key `id`: values still encrypted with it can no longer
    /// be read (`Encoding`).
    ///
    /// ```
    /// use store_layers::Keyring;
    /// let keyring = Keyring::new(1, [1; 32]).with_key(2, [2; 32])?.without_key(1)?;
    /// assert_eq!(keyring.newest_id(), 2);
    /// # Ok::<(), store_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Config` when `id` is not in the keyring or is its only key.
    pub fn without_key(mut self, id: u32) -> Result<Self> {
        let before = self.keys.len();
        self.keys.retain(|(k, _)| *k != id);
        if self.keys.len() == before {
            return Err(Error::new(
                ErrorKind::Config,
                format!("key id {id} is not in the keyring"),
            ));
        }
        if self.keys.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "a keyring keeps at least one key",
            ));
        }
        Ok(self)
    }

    /// The id of the key that encrypts.
    pub fn newest_id(&self) -> u32 {
        self.keys.last().map_or(0, |(id, _)| *id)
    }

    /// A new random 256-bit key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// `Backend` when the random source fails.
    pub fn generate_key() -> Result<[u8; 32]> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| {
            Error::new(ErrorKind::Backend, format!("the random source failed: {e}"))
        })?;
        Ok(key)
    }

    fn cipher(&self, id: u32) -> Option<XChaCha20Poly1305> {
        let (_, key) = self.keys.iter().find(|(k, _)| *k == id)?;
        Some(XChaCha20Poly1305::new(key.as_ref().into()))
    }
}

fn aad(key: &Key) -> Vec<u8> {
    [AAD_PREFIX, key.as_str().as_bytes()].concat()
}

/// A [`Store`] whose values are encrypted with XChaCha20-Poly1305 before
/// they reach `inner`, and checked and decrypted when read.
///
/// Only values are encrypted: keys, expiry, owner and version stay visible
/// to the backend, so expiry, the owner index and compare-and-swap work as
/// before, and capabilities pass through (less [`ENVELOPE_OVERHEAD`] of
/// value size). The ciphertext is bound to its key: a value copied to
/// another key does not decrypt. A value that is tampered with, not an
/// envelope, or written with a key not in the keyring is an `Encoding`
/// error for that key, never plaintext and never a panic.
///
/// ```
/// use store_core::{Key, PutMode, Store};
/// use store_layers::{EncryptedStore, Keyring};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let keyring = Keyring::new(1, Keyring::generate_key()?);
/// let store = EncryptedStore::new(store_memory::MemoryStore::new(), keyring);
/// let key = Key::new("session:1")?;
/// store.put(&key, "secret".into(), PutMode::Create.into()).await?;
/// assert_eq!(&store.get(&key).await?.unwrap().value[..], b"secret");
/// let raw = store.inner().get(&key).await?.unwrap().value;
/// assert!(!raw.windows(6).any(|w| w == b"secret"));
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct EncryptedStore<S> {
    inner: S,
    keyring: Arc<Keyring>,
}

impl<S: fmt::Debug> fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStore")
            .field("inner", &self.inner)
            .field("keyring", &self.keyring)
            .finish()
    }
}

impl<S: Store> EncryptedStore<S> {
    /// `inner` with its values encrypted by `keyring`.
    pub fn new(inner: S, keyring: Keyring) -> Self {
        Self {
            inner,
            keyring: Arc::new(keyring),
        }
    }

    /// The wrapped store, which holds the ciphertexts.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn seal(&self, key: &Key, plaintext: &[u8]) -> Result<Bytes> {
        let id = self.keyring.newest_id();
        let cipher = self
            .keyring
            .cipher(id)
            .expect("the newest key is in the keyring");
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| {
            Error::new(ErrorKind::Backend, format!("the random source failed: {e}"))
                .with_operation(Operation::Encode)
        })?;
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad(key),
                },
            )
            .map_err(|_| Error::new(ErrorKind::Encoding, "encryption failed"))?;
        let mut out = Vec::with_capacity(ENVELOPE_OVERHEAD + plaintext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(Bytes::from(out))
    }

    fn open(&self, key: &Key, envelope: &[u8], operation: Operation) -> Result<Bytes> {
        let bad = |why: String| {
            Error::new(ErrorKind::Encoding, why)
                .in_context(self.inner.capabilities().backend, operation)
        };
        if envelope.len() < ENVELOPE_OVERHEAD || &envelope[..3] != MAGIC {
            return Err(bad("a stored value is not an encrypted envelope".to_owned()));
        }
        let id = u32::from_be_bytes(envelope[3..7].try_into().expect("4 bytes"));
        let cipher = self.keyring.cipher(id).ok_or_else(|| {
            bad(format!(
                "a stored value is encrypted with key id {id}, which is not in the keyring"
            ))
        })?;
        let nonce = XNonce::from_slice(&envelope[7..7 + NONCE_LEN]);
        let plaintext = cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &envelope[7 + NONCE_LEN..],
                    aad: &aad(key),
                },
            )
            .map_err(|_| {
                bad(
                    "a stored value does not decrypt: tampered with, or moved from another key"
                        .to_owned(),
                )
            })?;
        Ok(Bytes::from(plaintext))
    }

    fn decrypt_entry(&self, key: &Key, mut entry: Entry, operation: Operation) -> Result<Entry> {
        entry.value = self.open(key, &entry.value, operation)?;
        Ok(entry)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for EncryptedStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        match self.inner.get(key).await? {
            Some(entry) => self.decrypt_entry(key, entry, Operation::Get).map(Some),
            None => Ok(None),
        }
    }

    async fn put(&self, key: &Key, value: Bytes, options: PutOptions) -> Result<PutResult> {
        // Size is checked on the plaintext, against the reduced limit.
        validate::value(&self.capabilities(), &value)
            .map_err(|e| e.in_context(self.inner.capabilities().backend, Operation::Put))?;
        let sealed = self.seal(key, &value)?;
        self.inner.put(key, sealed, options).await
    }

    async fn delete(&self, key: &Key, if_version: Option<Version>) -> Result<bool> {
        self.inner.delete(key, if_version).await
    }

    async fn touch(&self, key: &Key, expires_at: Expiry) -> Result<()> {
        self.inner.touch(key, expires_at).await
    }

    async fn delete_expired(&self) -> Result<u64> {
        self.inner.delete_expired().await
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        let listed = self.inner.list_by_owner(owner).await?;
        listed
            .into_iter()
            .map(|(key, entry)| {
                let entry = self.decrypt_entry(&key, entry, Operation::ListByOwner)?;
                Ok((key, entry))
            })
            .collect()
    }

    async fn delete_by_owner(&self, owner: &Owner) -> Result<u64> {
        self.inner.delete_by_owner(owner).await
    }

    /// Decrypts every entry of the page; one that does not decrypt (another
    /// key, tampered or written without this layer) is named in
    /// [`ScanPage::unreadable`] instead of failing the page.
    async fn scan(&self, cursor: Option<&ScanCursor>, limit: usize) -> Result<ScanPage> {
        let mut page = self.inner.scan(cursor, limit).await?;
        let mut entries = Vec::with_capacity(page.entries.len());
        for (key, entry) in std::mem::take(&mut page.entries) {
            match self.decrypt_entry(&key, entry, Operation::Scan) {
                Ok(entry) => entries.push((key, entry)),
                Err(_) => page.unreadable.push(key.as_str().to_owned()),
            }
        }
        page.entries = entries;
        Ok(page)
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        caps.max_value_len = caps.max_value_len.saturating_sub(ENVELOPE_OVERHEAD);
        caps
    }
}
