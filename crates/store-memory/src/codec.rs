//! How an entry is held in memory: [`Record`] (value, expiry, owner,
//! version) and its conversion to the [`Entry`] a caller sees, plus
//! [`LazyNow`], the clock reading that decides whether a record is live.
//!
//! In a backend with a server this module turns entries into rows, hash
//! fields or documents and back; memory keeps them as they are.

use std::cell::Cell;

use bytes::Bytes;
use store_core::{Clock, Entry, Expiry, Owner, Version};

/// One stored entry.
#[derive(Clone)]
pub(crate) struct Record {
    pub(crate) value: Bytes,
    pub(crate) expires_at: Option<Expiry>,
    pub(crate) owner: Option<Owner>,
    pub(crate) version: Version,
}

/// "Now", read from the clock at most once per operation and only when an
/// expiry has to be compared.
pub(crate) struct LazyNow<'a> {
    clock: &'a dyn Clock,
    now: Cell<Option<Expiry>>,
}

impl<'a> LazyNow<'a> {
    pub(crate) fn new(clock: &'a dyn Clock) -> Self {
        Self {
            clock,
            now: Cell::new(None),
        }
    }

    pub(crate) fn get(&self) -> Expiry {
        match self.now.get() {
            Some(now) => now,
            None => {
                let now = self.clock.now();
                self.now.set(Some(now));
                now
            }
        }
    }
}

impl Record {
    pub(crate) fn is_live(&self, now: &LazyNow<'_>) -> bool {
        self.expires_at.is_none_or(|e| !e.is_expired_at(now.get()))
    }

    pub(crate) fn is_live_at(&self, now: Expiry) -> bool {
        self.expires_at.is_none_or(|e| !e.is_expired_at(now))
    }

    pub(crate) fn to_entry(&self) -> Entry {
        Entry::new(self.value.clone(), self.version)
            .with_expiry(self.expires_at)
            .with_owner(self.owner.clone())
    }
}
