//! Reading a whole namespace page by page: [`ScanCursor`] and [`ScanPage`].

use std::fmt;

use crate::entry::Entry;
use crate::error::{Error, Operation, Result};
use crate::key::Key;

/// The page size [`Store::scan`](crate::Store::scan) callers use when they
/// have no reason to pick another: 1,000 entries.
pub const DEFAULT_SCAN_LIMIT: usize = 1000;

/// The largest `limit` [`Store::scan`](crate::Store::scan) accepts: 10,000.
pub const MAX_SCAN_LIMIT: usize = 10_000;

/// The tag of the cursors of backends that scan in key order.
const KEY_TAG: &str = "k:";

/// Where a [`Store::scan`](crate::Store::scan) goes on: an opaque token
/// taken from [`ScanPage::next`].
///
/// A cursor is plain text, so it can be saved (for example in a state file)
/// and given to another store object of the same backend and namespace,
/// in another process, to resume the scan there. Each backend checks the
/// cursors it is given: a token that is not one of its own is
/// `InvalidInput`.
///
/// Backends that scan in key order (memory, SQL, MongoDB) use
/// [`ScanCursor::after_key`] and [`ScanCursor::key`]; others define their
/// own token.
///
/// ```
/// use store_core::ScanCursor;
/// let cursor = ScanCursor::after_key("user:42");
/// let saved = cursor.to_string();
/// let resumed = ScanCursor::new(saved);
/// assert_eq!(resumed.key()?, "user:42");
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScanCursor(String);

impl ScanCursor {
    /// A cursor from its text, as [`ScanCursor::as_str`] gave it.
    ///
    /// ```
    /// let cursor = store_core::ScanCursor::new("k:a");
    /// assert_eq!(cursor.as_str(), "k:a");
    /// ```
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The cursor's text, to save and pass to [`ScanCursor::new`] later.
    ///
    /// ```
    /// let cursor = store_core::ScanCursor::new("r:17");
    /// assert_eq!(cursor.as_str(), "r:17");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cursor of a key-ordered scan that resumes after `key` (the
    /// stored key text, which need not be a valid [`Key`]: a scan also
    /// steps over rows it cannot read).
    ///
    /// ```
    /// use store_core::ScanCursor;
    /// assert_eq!(ScanCursor::after_key("b").as_str(), "k:b");
    /// ```
    pub fn after_key(key: &str) -> Self {
        Self(format!("{KEY_TAG}{key}"))
    }

    /// The key text a key-ordered scan resumes after.
    ///
    /// # Errors
    /// `InvalidInput` when the cursor was not made by
    /// [`ScanCursor::after_key`] with a non-empty key (for example a cursor
    /// of another backend).
    ///
    /// ```
    /// use store_core::{ErrorKind, ScanCursor};
    /// assert_eq!(ScanCursor::new("k:b").key()?, "b");
    /// assert_eq!(ScanCursor::new("r:5").key().unwrap_err().kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn key(&self) -> Result<&str> {
        match self.0.strip_prefix(KEY_TAG) {
            Some(k) if !k.is_empty() => Ok(k),
            _ => Err(foreign_cursor()),
        }
    }
}

/// The error for a cursor a backend did not make.
///
/// ```
/// let err = store_core::scan::foreign_cursor();
/// assert_eq!(err.kind(), store_core::ErrorKind::InvalidInput);
/// ```
pub fn foreign_cursor() -> Error {
    Error::invalid_input(
        "scan cursor was not made by this backend: pass the `next` of a page this kind of \
         store returned",
    )
    .with_operation(Operation::Scan)
}

/// Checks a scan's `limit`: 1 to [`MAX_SCAN_LIMIT`].
///
/// # Errors
/// `InvalidInput` naming the range.
///
/// ```
/// use store_core::scan::check_limit;
/// assert!(check_limit(1000).is_ok());
/// assert!(check_limit(0).is_err());
/// assert!(check_limit(10_001).is_err());
/// ```
pub fn check_limit(limit: usize) -> Result<()> {
    if limit == 0 || limit > MAX_SCAN_LIMIT {
        return Err(Error::invalid_input(format!(
            "scan limit is {limit}; it must be between 1 and {MAX_SCAN_LIMIT}"
        ))
        .with_operation(Operation::Scan));
    }
    Ok(())
}

/// The start of a page of a key-ordered scan: checks `limit` and returns
/// the key text the page starts after (`None` for the first page).
///
/// # Errors
/// As [`check_limit`] and [`ScanCursor::key`]: `InvalidInput`, operation
/// `Scan`.
///
/// ```
/// use store_core::ScanCursor;
/// use store_core::scan::key_order_start;
/// assert_eq!(key_order_start(None, 10)?, None);
/// let cursor = ScanCursor::after_key("b");
/// assert_eq!(key_order_start(Some(&cursor), 10)?, Some("b"));
/// assert!(key_order_start(Some(&cursor), 0).is_err());
/// # Ok::<(), store_core::Error>(())
/// ```
pub fn key_order_start(cursor: Option<&ScanCursor>, limit: usize) -> Result<Option<&str>> {
    check_limit(limit)?;
    cursor.map(ScanCursor::key).transpose()
}

impl fmt::Display for ScanCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ScanCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScanCursor({:?})", self.0)
    }
}

/// One page of a [`Store::scan`](crate::Store::scan).
///
/// ```
/// use store_core::{Entry, Key, ScanPage, Version};
/// let page = ScanPage::new(vec![(Key::new("a")?, Entry::new("v".into(), Version::from_u64(1)))]);
/// assert_eq!(page.entries.len(), 1);
/// assert!(page.next.is_none());
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanPage {
    /// The live entries of this page; in key order where
    /// [`Capabilities::ordered_scan`](crate::Capabilities::ordered_scan).
    pub entries: Vec<(Key, Entry)>,
    /// Expired entries the scan passed over that the backend has not purged
    /// yet (never returned). Always 0 where the server hides expired keys
    /// itself (Redis).
    pub expired: u64,
    /// The stored names of entries in this namespace that could not be
    /// decoded (foreign or corrupt data). They are skipped, so one bad entry
    /// never stops a scan.
    pub unreadable: Vec<String>,
    /// Where the scan goes on; `None` once the whole namespace was read.
    pub next: Option<ScanCursor>,
}

impl ScanPage {
    /// A last page holding `entries`.
    pub fn new(entries: Vec<(Key, Entry)>) -> Self {
        Self {
            entries,
            ..Self::default()
        }
    }

    /// Sets where the scan goes on.
    ///
    /// ```
    /// use store_core::{ScanCursor, ScanPage};
    /// let page = ScanPage::new(vec![]).with_next(Some(ScanCursor::new("k:a")));
    /// assert!(page.next.is_some());
    /// ```
    #[must_use]
    pub fn with_next(mut self, next: Option<ScanCursor>) -> Self {
        self.next = next;
        self
    }

    /// Sets the count of expired entries passed over.
    ///
    /// ```
    /// let page = store_core::ScanPage::new(vec![]).with_expired(3);
    /// assert_eq!(page.expired, 3);
    /// ```
    #[must_use]
    pub fn with_expired(mut self, expired: u64) -> Self {
        self.expired = expired;
        self
    }

    /// Sets the names of the entries that could not be decoded.
    ///
    /// ```
    /// let page = store_core::ScanPage::new(vec![]).with_unreadable(vec!["bad".into()]);
    /// assert_eq!(page.unreadable, ["bad"]);
    /// ```
    #[must_use]
    pub fn with_unreadable(mut self, unreadable: Vec<String>) -> Self {
        self.unreadable = unreadable;
        self
    }
}
