//! [`Store::scan`](store_core::Store::scan) on memory: the records of one
//! namespace in key order, read one shard at a time, turned into a
//! [`ScanPage`].

use store_core::{Expiry, Key, ScanCursor, ScanPage};

use crate::codec::Record;
use crate::error::unpoison;
use crate::query::Inner;

impl Inner {
    /// The first `limit` records of `ns` after `after` in key order, live
    /// or not, and whether more follow. Each shard is read-locked in turn.
    pub(crate) fn scan(
        &self,
        ns: u64,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<(Key, Record)>, bool) {
        let mut found: Vec<(Key, Record)> = Vec::new();
        for shard in self.shards.iter() {
            let guard = unpoison(shard.0.read());
            found.extend(
                guard
                    .table
                    .iter()
                    .filter(|s| s.ns == ns && after.is_none_or(|a| s.key.as_str() > a))
                    .map(|s| (s.key.clone(), s.record.clone())),
            );
        }
        let more = found.len() > limit;
        if more {
            found.select_nth_unstable_by(limit, |a, b| a.0.cmp(&b.0));
            found.truncate(limit);
        }
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        (found, more)
    }
}

/// The page of `records` (the first `limit` after the cursor, live or not,
/// `more` when others follow): live entries, the count of expired ones,
/// and the cursor after the last key when `more`.
pub(crate) fn page(records: Vec<(Key, Record)>, more: bool, now: Expiry) -> ScanPage {
    let next = if more {
        records
            .last()
            .map(|(k, _)| ScanCursor::after_key(k.as_str()))
    } else {
        None
    };
    let mut expired = 0;
    let mut entries = Vec::with_capacity(records.len());
    for (key, record) in records {
        if record.is_live_at(now) {
            entries.push((key, record.to_entry()));
        } else {
            expired += 1;
        }
    }
    ScanPage::new(entries).with_expired(expired).with_next(next)
}
