//! `scan`: one bounded page of a namespace from a cursor on.
//!
//! A real backend runs here a primary-key range query (key order: set
//! `Capabilities::ordered_scan`) or the database's own cursor, which it
//! then carries in the [`ScanCursor`] token.

use std::ops::Bound;

use store_core::{Expiry, Key, ScanCursor, ScanPage};

use crate::codec::Row;
use crate::query::Database;

impl Database {
    /// Up to `limit` rows of `namespace` after the key `after`, in key
    /// order: the live ones as entries, the expired ones counted, the ones
    /// whose key cannot be read named; a cursor when the page is full.
    pub(crate) fn scan(
        &self,
        namespace: &str,
        after: Option<&str>,
        limit: usize,
        now: Expiry,
    ) -> ScanPage {
        let start = (namespace.to_owned(), after.unwrap_or_default().to_owned());
        let bound = match after {
            Some(_) => Bound::Excluded(start),
            None => Bound::Included(start),
        };
        let rows: Vec<(&String, &Row)> = self
            .rows
            .range((bound, Bound::Unbounded))
            .take_while(|((ns, _), _)| ns == namespace)
            .take(limit)
            .map(|((_, k), row)| (k, row))
            .collect();
        let next = match rows.len() == limit {
            true => rows.last().map(|(k, _)| ScanCursor::after_key(k)),
            false => None,
        };
        let mut page = ScanPage::default().with_next(next);
        for (k, row) in rows {
            match (row.is_live(now), Key::new(k.as_str())) {
                (false, _) => page.expired += 1,
                (true, Ok(key)) => page.entries.push((key, row.entry())),
                (true, Err(_)) => page.unreadable.push(k.clone()),
            }
        }
        page
    }
}
