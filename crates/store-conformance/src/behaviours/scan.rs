//! `scan`: every live entry, page by page, resumable from a saved cursor.

use super::*;

/// What a whole scan saw.
struct Scanned {
    /// Every entry returned, in order, duplicates included.
    entries: Vec<(Key, Entry)>,
    /// The size of each page.
    pages: Vec<usize>,
    expired: u64,
}

/// Scans `s` to the end in pages of `limit`, starting from `cursor`.
async fn scan_from(s: &dyn Store, mut cursor: Option<ScanCursor>, limit: usize) -> Scanned {
    let mut seen = Scanned {
        entries: Vec::new(),
        pages: Vec::new(),
        expired: 0,
    };
    for _ in 0..100_000 {
        let page = ok(s.scan(cursor.as_ref(), limit).await, "scan");
        assert!(
            page.unreadable.is_empty(),
            "no entry of the suite is unreadable: {:?}",
            page.unreadable
        );
        seen.pages.push(page.entries.len());
        seen.expired += page.expired;
        seen.entries.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
    panic!("scan did not end after 100,000 pages");
}

/// The distinct keys of a scan, checking the order rules of the backend:
/// strictly ascending and at most `limit` a page with `ordered_scan`, and
/// equal copies of an entry returned twice without it.
fn distinct_keys(s: &dyn Store, seen: &Scanned, limit: usize) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    if s.capabilities().ordered_scan {
        for pair in seen.entries.windows(2) {
            assert!(
                pair[0].0.as_str() < pair[1].0.as_str(),
                "an ordered scan returns ascending keys, each once: {:?} then {:?}",
                pair[0].0,
                pair[1].0
            );
        }
        for &n in &seen.pages {
            assert!(
                n <= limit,
                "a page of {n} entries exceeds the limit {limit}"
            );
        }
    }
    for (i, (k, e)) in seen.entries.iter().enumerate() {
        if !keys.insert(k.as_str().to_owned()) {
            let first = seen.entries[..i]
                .iter()
                .find(|(k2, _)| k2 == k)
                .expect("seen before");
            assert_eq!(&first.1, e, "an entry returned twice must be the same");
        }
    }
    keys
}

/// A scan in small pages returns every live entry with its value, expiry,
/// owner and version, as `get` reads them.
pub async fn scan_returns_every_live_entry(fx: Fixture) {
    let s = &**fx.store();
    let exp = fx.after(3600 * SEC);
    let mut written = BTreeSet::new();
    for i in 0..23 {
        let name = format!("item-{i:02}");
        let mut opts = PutOptions::new(PutMode::Create);
        if i % 3 == 0 {
            opts = opts.owner(owner("alice"));
        }
        if i % 2 == 0 {
            opts = opts.expires_at(exp);
        }
        ok(
            s.put(&key(&name), Bytes::from(name.clone()), opts).await,
            "create",
        );
        written.insert(name);
    }
    let seen = scan_from(s, None, 5).await;
    assert_eq!(distinct_keys(s, &seen, 5), written, "every live key, once");
    for (k, e) in &seen.entries {
        let current = get(s, k).await.expect("a scanned entry is live");
        assert_eq!(e, &current, "scan must return the entry as get reads it");
    }
    assert_eq!(seen.expired, 0);
}

/// Expired and deleted entries are never returned; the expired ones a
/// backend still holds are counted in `expired` until purged.
pub async fn scan_skips_expired_and_deleted(fx: Fixture) {
    let s = &**fx.store();
    let exp = fx.after(SEC);
    for i in 0..4 {
        ok(
            put(s, &key(&format!("live-{i}")), b"v", PutMode::Create).await,
            "create live",
        );
    }
    for i in 0..3 {
        create_expiring(s, &key(&format!("old-{i}")), b"v", exp, "create expiring").await;
    }
    assert!(ok(s.delete(&key("live-2"), None).await, "delete"));
    fx.advance_to(exp).await;
    let seen = scan_from(s, None, 2).await;
    let expected: BTreeSet<String> = ["live-0", "live-1", "live-3"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(distinct_keys(s, &seen, 2), expected);
    if s.capabilities().native_ttl {
        assert!(seen.expired <= 3, "counted {} expired of 3", seen.expired);
    } else {
        assert_eq!(
            seen.expired, 3,
            "the 3 unpurged expired entries are counted"
        );
        ok(s.delete_expired().await, "delete_expired");
        assert_eq!(
            scan_from(s, None, 2).await.expired,
            0,
            "none left after a purge"
        );
    }
}

/// A scan reads only its own namespace, even beside a namespace whose name
/// extends it, and an empty namespace scans to nothing.
pub async fn scan_stays_in_its_namespace(fx: Fixture) {
    let a = fx.store().clone();
    let longer = fx.open_namespace(&format!("{}0", fx.namespace())).await;
    let other = fx.open_namespace(&crate::random_namespace()).await;
    assert!(
        scan_from(&*a, None, 10).await.entries.is_empty(),
        "a fresh namespace scans to nothing"
    );
    for s in [&longer, &other] {
        for i in 0..5 {
            ok(
                put(&**s, &key(&format!("theirs-{i}")), b"x", PutMode::Create).await,
                "create elsewhere",
            );
        }
    }
    create_owned(&*a, &key("mine"), b"m", &owner("alice"), "create").await;
    let seen = scan_from(&*a, None, 3).await;
    let keys = distinct_keys(&*a, &seen, 3);
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["mine"]);
    assert_eq!(
        distinct_keys(&*longer, &scan_from(&*longer, None, 3).await, 3).len(),
        5
    );
}

/// A cursor saved as text resumes the scan in another store object (as a
/// second process would), and the two halves cover every entry.
pub async fn scan_resumes_from_a_saved_cursor(fx: Fixture) {
    let a = fx.store().clone();
    let mut written = BTreeSet::new();
    for i in 0..12 {
        let name = format!("r-{i:02}");
        ok(put(&*a, &key(&name), b"v", PutMode::Create).await, "create");
        written.insert(name);
    }
    let first = ok(a.scan(None, 4).await, "first page");
    let mut keys: BTreeSet<String> = first
        .entries
        .iter()
        .map(|(k, _)| k.as_str().to_owned())
        .collect();
    if let Some(next) = first.next {
        let saved = next.to_string();
        let b = fx.reopen().await;
        let rest = scan_from(&*b, Some(ScanCursor::new(saved)), 4).await;
        keys.extend(distinct_keys(&*b, &rest, 4));
        if a.capabilities().ordered_scan {
            assert_eq!(first.entries.len(), 4, "an ordered first page is full");
        }
    }
    assert_eq!(keys, written);
}

/// A limit of 0 or over `MAX_SCAN_LIMIT`, and a cursor the backend did not
/// make, are `InvalidInput` from the scan.
pub async fn scan_rejects_bad_limit_and_foreign_cursor(fx: Fixture) {
    let s = &**fx.store();
    ok(put(s, &key("k"), b"v", PutMode::Create).await, "create");
    for limit in [0, MAX_SCAN_LIMIT + 1] {
        let e = expect_kind(s.scan(None, limit).await, ErrorKind::InvalidInput, "limit");
        assert!(
            e.message().contains(&MAX_SCAN_LIMIT.to_string()),
            "the message names the range: {e}"
        );
        assert_eq!(e.operation(), Some(Operation::Scan));
    }
    for token in ["", "not a cursor", "r:", "k:", "\u{0}"] {
        let cursor = ScanCursor::new(token);
        let e = expect_kind(
            s.scan(Some(&cursor), 10).await,
            ErrorKind::InvalidInput,
            "foreign cursor",
        );
        assert_eq!(e.operation(), Some(Operation::Scan));
    }
    let page = ok(s.scan(None, MAX_SCAN_LIMIT).await, "the largest limit");
    let _ = page;
}

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_scan {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            scan_returns_every_live_entry,
            scan_skips_expired_and_deleted,
            scan_stays_in_its_namespace,
            scan_resumes_from_a_saved_cursor,
            scan_rejects_bad_limit_and_foreign_cursor,
        }
    };
}
