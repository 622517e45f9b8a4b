//! Opening stores and reading a whole namespace.

use std::collections::HashSet;
use std::sync::Arc;

use store::{Entry, Key, OpenOptions, ScanCursor, Store, redact_url};

use crate::cli::Target;
use crate::fail::{Failure, Outcome};

/// How a store is shown in output: its URL with the password masked, and
/// the namespace when one was given.
pub(crate) fn describe(url: &str, namespace: Option<&str>) -> String {
    let shown = if url.contains("://") {
        redact_url(url)
    } else {
        url.to_owned()
    };
    match namespace {
        Some(ns) => format!("{shown} (namespace {ns})"),
        None => shown,
    }
}

/// Opens the store at `url`; with `setup`, creates its table or indexes.
pub(crate) async fn open(
    url: &str,
    namespace: Option<&str>,
    setup: bool,
    purge_batch: Option<u32>,
) -> Outcome<Arc<dyn Store>> {
    let mut options = OpenOptions::default().setup(setup);
    if let Some(ns) = namespace {
        options = options.namespace(ns);
    }
    if let Some(rows) = purge_batch {
        options = options.purge_batch(rows);
    }
    store::open_with(url, options)
        .await
        .map_err(|e| Failure::store("cannot open the store", &e))
}

/// Opens the store a command names, without changing its schema.
pub(crate) async fn open_target(target: &Target) -> Outcome<Arc<dyn Store>> {
    open(&target.url, target.namespace.as_deref(), false, None).await
}

/// What a whole-namespace read saw besides the entries.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ScanTotals {
    /// Expired entries passed over (not yet purged).
    pub(crate) expired: u64,
    /// Entries that could not be decoded.
    pub(crate) unreadable: u64,
}

/// Reads a namespace page by page from `start`, handing each page's live
/// entries to `each_page` with the cursor that follows it. On backends
/// without an ordered scan (Redis), an entry the scan returns twice is
/// handed over once.
pub(crate) struct Scanner<'a> {
    store: &'a dyn Store,
    cursor: Option<ScanCursor>,
    limit: usize,
    seen: Option<HashSet<Key>>,
    done: bool,
    /// Totals so far.
    pub(crate) totals: ScanTotals,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(store: &'a dyn Store, start: Option<ScanCursor>, limit: usize) -> Self {
        let ordered = store.capabilities().ordered_scan;
        Self {
            store,
            cursor: start,
            limit,
            seen: (!ordered).then(HashSet::new),
            done: false,
            totals: ScanTotals::default(),
        }
    }

    /// The next page's live entries, or `None` at the end.
    pub(crate) async fn next_page(&mut self) -> Outcome<Option<Vec<(Key, Entry)>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .scan(self.cursor.as_ref(), self.limit)
            .await
            .map_err(|e| Failure::store("cannot read the store", &e))?;
        self.totals.expired += page.expired;
        self.totals.unreadable += page.unreadable.len() as u64;
        for name in &page.unreadable {
            eprintln!("storectl: warning: skipped an entry that cannot be decoded: {name:?}");
        }
        self.done = page.next.is_none();
        self.cursor = page.next;
        let mut entries = page.entries;
        if let Some(seen) = &mut self.seen {
            entries.retain(|(k, _)| seen.insert(k.clone()));
        }
        Ok(Some(entries))
    }

    /// Where the scan goes on after the last page returned (`None` at the
    /// start or at the end).
    pub(crate) fn cursor(&self) -> Option<&ScanCursor> {
        self.cursor.as_ref()
    }
}
