//! How an entry is held in the database, and back.
//!
//! A real backend converts here between the store's values ([`Entry`],
//! [`Expiry`], [`Version`], [`Owner`], the value's bytes) and the
//! database's form: a row's columns, a hash's fields, a document, and
//! reports undecodable data as an `Encoding` error naming the key. The
//! stand-in database keeps a [`Row`] per entry as it is.

use bytes::Bytes;
use store_core::{Entry, Expiry, Key, Owner, Version};

/// One stored entry, as the database would hold it: a row, a hash, a
/// document.
#[derive(Clone)]
pub(crate) struct Row {
    pub(crate) value: Bytes,
    pub(crate) version: Version,
    pub(crate) expires_at: Option<Expiry>,
    pub(crate) owner: Option<Owner>,
}

impl Row {
    /// Live at `now`: no expiry, or an expiry after `now`. A real backend
    /// puts this condition into every read and conditional write, because
    /// the database's own sweeper (TTL index, cron) runs late.
    pub(crate) fn is_live(&self, now: Expiry) -> bool {
        self.expires_at.is_none_or(|e| !e.is_expired_at(now))
    }

    /// The entry a caller sees.
    pub(crate) fn entry(&self) -> Entry {
        Entry::new(self.value.clone(), self.version)
            .with_expiry(self.expires_at)
            .with_owner(self.owner.clone())
    }
}

/// The database's primary key of `key` in `namespace`.
pub(crate) fn id(namespace: &str, key: &Key) -> (String, String) {
    (namespace.to_owned(), key.as_str().to_owned())
}
