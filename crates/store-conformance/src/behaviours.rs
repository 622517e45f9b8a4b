//! One `pub async fn` per behaviour of the contract.
//!
//! Each takes a [`Fixture`] and panics with a message naming the broken rule.
//! [`conformance_tests!`](crate::conformance_tests) expands all of them into
//! named tests; call one directly to debug it.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use store_core::{
    Entry, ErrorKind, Expiry, Key, MAX_KEY_LEN, MAX_SCAN_LIMIT, Operation, Owner, PutMode,
    PutOptions, PutResult, Result, ScanCursor, Store, StoreExt,
};

use crate::Fixture;

const SEC: Duration = Duration::from_secs(1);
const ONE_MIB: usize = 1024 * 1024;

fn key(s: &str) -> Key {
    Key::new(s).expect("valid test key")
}

fn owner(s: &str) -> Owner {
    Owner::new(s).expect("valid test owner")
}

fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e} ({e:?})"),
    }
}

#[track_caller]
fn expect_kind<T: Debug>(r: Result<T>, kind: ErrorKind, what: &str) -> store_core::Error {
    match r {
        Ok(v) => panic!("{what}: expected a {kind} error, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: wrong error kind: {e}");
            e
        }
    }
}

async fn put(
    s: &dyn Store,
    k: &Key,
    v: &'static [u8],
    o: impl Into<PutOptions>,
) -> Result<PutResult> {
    s.put(k, Bytes::from_static(v), o.into()).await
}

/// Creates `k` with `value` expiring at `exp`; panics naming `what` on error.
async fn create_expiring(
    s: &dyn Store,
    k: &Key,
    value: &'static [u8],
    exp: Expiry,
    what: &str,
) -> PutResult {
    let opts = PutOptions::new(PutMode::Create).expires_at(exp);
    ok(s.put(k, Bytes::from_static(value), opts).await, what)
}

/// Creates `k` with `value` owned by `who`; panics naming `what` on error.
async fn create_owned(
    s: &dyn Store,
    k: &Key,
    value: &'static [u8],
    who: &Owner,
    what: &str,
) -> PutResult {
    let opts = PutOptions::new(PutMode::Create).owner(who.clone());
    ok(s.put(k, Bytes::from_static(value), opts).await, what)
}

async fn get(s: &dyn Store, k: &Key) -> Option<Entry> {
    ok(s.get(k).await, "get")
}

async fn value_of(s: &dyn Store, k: &Key) -> Option<Vec<u8>> {
    get(s, k).await.map(|e| e.value.to_vec())
}

fn keys_of(list: &[(Key, Entry)]) -> Vec<&str> {
    list.iter().map(|(k, _)| k.as_str()).collect()
}

// ---------------------------------------------------------------- get / upsert

/// `get` of a key never written is `Ok(None)`.
pub async fn get_missing_is_none(fx: Fixture) {
    assert!(get(&**fx.store(), &key("never-written")).await.is_none());
}

/// `Upsert` stores value, expiry and owner; `get` returns them with the
/// version `put` returned.
pub async fn upsert_then_get_roundtrips(fx: Fixture) {
    let s = fx.store();
    let k = key("k");
    let exp = fx.after(3600 * SEC);
    let opts = PutOptions::new(PutMode::Upsert)
        .expires_at(exp)
        .owner(owner("alice"));
    let r = ok(
        s.put(&k, Bytes::from_static(b"hello"), opts).await,
        "upsert",
    );
    let e = get(&**s, &k).await.expect("entry just written");
    assert_eq!(&e.value[..], b"hello");
    assert_eq!(e.expires_at, Some(exp));
    assert_eq!(e.owner, Some(owner("alice")));
    assert_eq!(
        e.version, r.version,
        "get must return the version put returned"
    );
}

/// `Upsert` over a live entry replaces it.
pub async fn upsert_overwrites_live_entry(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(put(s, &k, b"one", PutMode::Upsert).await, "first upsert");
    ok(put(s, &k, b"two", PutMode::Upsert).await, "second upsert");
    assert_eq!(value_of(s, &k).await.as_deref(), Some(&b"two"[..]));
}

/// Every write returns a new version.
pub async fn every_write_returns_a_new_version(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let mut seen = BTreeSet::new();
    let mut last = ok(put(s, &k, b"0", PutMode::Create).await, "create");
    seen.insert(last.version);
    for _ in 0..5 {
        last = ok(put(s, &k, b"x", PutMode::Upsert).await, "upsert");
        assert!(
            seen.insert(last.version),
            "version {:?} repeated",
            last.version
        );
        last = ok(put(s, &k, b"y", PutMode::Update).await, "update");
        assert!(
            seen.insert(last.version),
            "version {:?} repeated",
            last.version
        );
        last = ok(put(s, &k, b"z", last).await, "update_if");
        assert!(
            seen.insert(last.version),
            "version {:?} repeated",
            last.version
        );
    }
}

/// A put writes the whole entry: no expiry and no owner clear the old ones.
pub async fn put_replaces_expiry_and_owner(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let opts = PutOptions::new(PutMode::Create)
        .expires_at(fx.after(60 * SEC))
        .owner(owner("alice"));
    ok(s.put(&k, Bytes::from_static(b"a"), opts).await, "create");
    ok(
        put(s, &k, b"b", PutMode::Update).await,
        "update without expiry/owner",
    );
    let e = get(s, &k).await.expect("live");
    assert_eq!(e.expires_at, None, "expiry must be cleared");
    assert_eq!(e.owner, None, "owner must be cleared");
    assert!(ok(s.list_by_owner(&owner("alice")).await, "list").is_empty());
}

// ---------------------------------------------------------------- create

/// `Create` of a missing key writes it.
pub async fn create_missing_succeeds(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let r = ok(put(s, &k, b"v", PutMode::Create).await, "create");
    assert_eq!(get(s, &k).await.expect("created").version, r.version);
}

/// `Create` over a live entry fails with `AlreadyExists` and keeps it.
pub async fn create_existing_fails_already_exists(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let first = ok(put(s, &k, b"first", PutMode::Create).await, "create");
    let e = expect_kind(
        put(s, &k, b"second", PutMode::Create).await,
        ErrorKind::AlreadyExists,
        "second create",
    );
    assert!(!e.is_retryable(), "a conflict is not retryable as is");
    let cur = get(s, &k).await.expect("still there");
    assert_eq!(&cur.value[..], b"first");
    assert_eq!(cur.version, first.version);
}

/// `Create` over an expired (not yet purged) entry succeeds.
pub async fn create_over_expired_succeeds(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let exp = fx.after(SEC);
    create_expiring(s, &k, b"old", exp, "create").await;
    fx.advance_to(exp).await;
    ok(
        put(s, &k, b"new", PutMode::Create).await,
        "create over expired",
    );
    let e = get(s, &k).await.expect("new entry");
    assert_eq!(&e.value[..], b"new");
    assert_eq!(e.expires_at, None);
}

// ---------------------------------------------------------------- update

/// `Update` of a missing key fails with `NotFound` and creates nothing.
pub async fn update_missing_fails_not_found(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    expect_kind(
        put(s, &k, b"v", PutMode::Update).await,
        ErrorKind::NotFound,
        "update missing",
    );
    assert!(get(s, &k).await.is_none(), "update must never create");
}

/// `Update` of an expired entry fails with `NotFound` and does not revive it.
pub async fn update_expired_fails_not_found(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let exp = fx.after(SEC);
    create_expiring(s, &k, b"old", exp, "create").await;
    fx.advance_to(exp).await;
    expect_kind(
        put(s, &k, b"new", PutMode::Update).await,
        ErrorKind::NotFound,
        "update expired",
    );
    assert!(
        get(s, &k).await.is_none(),
        "update must not revive an expired entry"
    );
}

/// `Update` of a live entry replaces it.
pub async fn update_live_replaces(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(put(s, &k, b"one", PutMode::Create).await, "create");
    let r = ok(put(s, &k, b"two", PutMode::Update).await, "update");
    let e = get(s, &k).await.expect("live");
    assert_eq!(&e.value[..], b"two");
    assert_eq!(e.version, r.version);
}

// ---------------------------------------------------------------- update_if

/// `UpdateIf` with the current version writes.
pub async fn update_if_current_version_succeeds(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let v1 = ok(put(s, &k, b"one", PutMode::Create).await, "create");
    let v2 = ok(
        put(s, &k, b"two", PutMode::UpdateIf(v1.version)).await,
        "update_if",
    );
    let e = get(s, &k).await.expect("live");
    assert_eq!(&e.value[..], b"two");
    assert_eq!(e.version, v2.version);
}

/// `UpdateIf` with a stale version fails with `VersionMismatch` and keeps
/// the entry.
pub async fn update_if_stale_version_fails(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let v1 = ok(put(s, &k, b"one", PutMode::Create).await, "create");
    let v2 = ok(put(s, &k, b"two", PutMode::Upsert).await, "upsert");
    expect_kind(
        put(s, &k, b"three", PutMode::UpdateIf(v1.version)).await,
        ErrorKind::VersionMismatch,
        "stale update_if",
    );
    let e = get(s, &k).await.expect("live");
    assert_eq!(&e.value[..], b"two");
    assert_eq!(e.version, v2.version);
}

/// `UpdateIf` of a missing key fails with `NotFound` and creates nothing.
pub async fn update_if_missing_fails_not_found(fx: Fixture) {
    let s = &**fx.store();
    let other = key("other");
    let v = ok(put(s, &other, b"x", PutMode::Create).await, "create other");
    let k = key("k");
    expect_kind(
        put(s, &k, b"v", PutMode::UpdateIf(v.version)).await,
        ErrorKind::NotFound,
        "update_if missing",
    );
    assert!(get(s, &k).await.is_none());
}

/// `UpdateIf` of an expired entry fails with `NotFound`, even with its
/// version, and does not revive it.
pub async fn update_if_expired_fails_not_found(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let exp = fx.after(SEC);
    let v = create_expiring(s, &k, b"old", exp, "create").await;
    fx.advance_to(exp).await;
    expect_kind(
        put(s, &k, b"new", v).await,
        ErrorKind::NotFound,
        "update_if expired",
    );
    assert!(get(s, &k).await.is_none());
}

/// A `PutResult` converts into the next `UpdateIf`: a chain of writes each
/// conditioned on the previous one succeeds.
pub async fn put_result_chains_into_update_if(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let mut last = ok(put(s, &k, b"0", PutMode::Create).await, "create");
    for i in 1..=10u32 {
        let v = Bytes::from(i.to_string());
        last = ok(s.put(&k, v, last.into()).await, "chained update_if");
    }
    assert_eq!(value_of(s, &k).await.as_deref(), Some(&b"10"[..]));
}

/// Versions are never reused for a key: after delete and re-create, the old
/// version does not match the new entry (no ABA).
pub async fn version_not_reused_after_recreate(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let old = ok(put(s, &k, b"one", PutMode::Create).await, "create");
    assert!(ok(s.delete(&k, None).await, "delete"));
    let new = ok(put(s, &k, b"two", PutMode::Create).await, "re-create");
    assert_ne!(
        old.version, new.version,
        "a re-created key must get a new version"
    );
    expect_kind(
        put(s, &k, b"three", old).await,
        ErrorKind::VersionMismatch,
        "update_if with pre-delete version",
    );
    expect_kind(
        s.delete(&k, Some(old.version)).await,
        ErrorKind::VersionMismatch,
        "delete with pre-delete version",
    );
    assert_eq!(value_of(s, &k).await.as_deref(), Some(&b"two"[..]));
}

// ---------------------------------------------------------------- delete

/// `delete` of a live entry returns `true` and removes it.
pub async fn delete_live_returns_true(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(put(s, &k, b"v", PutMode::Create).await, "create");
    assert!(ok(s.delete(&k, None).await, "delete"));
    assert!(get(s, &k).await.is_none());
}

/// `delete` is idempotent: a missing key returns `false`, twice.
pub async fn delete_missing_returns_false(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(put(s, &k, b"v", PutMode::Create).await, "create");
    assert!(ok(s.delete(&k, None).await, "first delete"));
    assert!(!ok(s.delete(&k, None).await, "second delete"));
    assert!(!ok(
        s.delete(&key("never"), None).await,
        "delete never written"
    ));
}

/// `delete` of an expired entry reports `false`: nothing live was deleted.
pub async fn delete_expired_entry_returns_false(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let exp = fx.after(SEC);
    create_expiring(s, &k, b"v", exp, "create").await;
    fx.advance_to(exp).await;
    assert!(!ok(s.delete(&k, None).await, "delete expired"));
    assert!(get(s, &k).await.is_none());
}

/// `delete` with the current version deletes.
pub async fn delete_if_current_version_deletes(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let v = ok(put(s, &k, b"v", PutMode::Create).await, "create");
    assert!(ok(
        s.delete(&k, Some(v.version)).await,
        "conditional delete"
    ));
    assert!(get(s, &k).await.is_none());
}

/// `delete` with a stale version fails with `VersionMismatch` and keeps the
/// entry.
pub async fn delete_if_stale_version_fails(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let v1 = ok(put(s, &k, b"one", PutMode::Create).await, "create");
    ok(put(s, &k, b"two", PutMode::Upsert).await, "upsert");
    expect_kind(
        s.delete(&k, Some(v1.version)).await,
        ErrorKind::VersionMismatch,
        "stale conditional delete",
    );
    assert_eq!(value_of(s, &k).await.as_deref(), Some(&b"two"[..]));
}

/// `delete` with a version of a missing key returns `false`.
pub async fn delete_if_missing_returns_false(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let v = ok(put(s, &k, b"v", PutMode::Create).await, "create");
    assert!(ok(s.delete(&k, None).await, "delete"));
    assert!(!ok(
        s.delete(&k, Some(v.version)).await,
        "conditional delete of missing"
    ));
}

// ---------------------------------------------------------------- touch

/// `touch` moves the expiry and keeps value, owner and version.
pub async fn touch_moves_expiry_keeps_value_and_version(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let opts = PutOptions::new(PutMode::Create)
        .expires_at(fx.after(SEC))
        .owner(owner("alice"));
    let v = ok(s.put(&k, Bytes::from_static(b"v"), opts).await, "create");
    let later = fx.after(3600 * SEC);
    ok(s.touch(&k, later).await, "touch");
    let e = get(s, &k).await.expect("live");
    assert_eq!(e.expires_at, Some(later));
    assert_eq!(&e.value[..], b"v");
    assert_eq!(e.owner, Some(owner("alice")));
    assert_eq!(e.version, v.version, "touch must not change the version");
    fx.advance(2 * SEC).await;
    assert!(
        get(s, &k).await.is_some(),
        "touched entry must outlive its old expiry"
    );
    assert_eq!(
        keys_of(&ok(s.list_by_owner(&owner("alice")).await, "list")),
        ["k"]
    );
}

/// `touch` can shorten an expiry.
pub async fn touch_can_shorten_expiry(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(
        s.put(
            &k,
            Bytes::from_static(b"v"),
            PutOptions::new(PutMode::Create).expires_at(fx.after(3600 * SEC)),
        )
        .await,
        "create",
    );
    let soon = fx.after(SEC);
    ok(s.touch(&k, soon).await, "touch");
    fx.advance_to(soon).await;
    assert!(
        get(s, &k).await.is_none(),
        "entry must expire at the shortened expiry"
    );
}

/// `touch` gives an expiry to an entry that had none.
pub async fn touch_adds_expiry(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(put(s, &k, b"v", PutMode::Create).await, "create");
    let exp = fx.after(SEC);
    ok(s.touch(&k, exp).await, "touch");
    assert_eq!(get(s, &k).await.expect("live").expires_at, Some(exp));
    fx.advance_to(exp).await;
    assert!(get(s, &k).await.is_none());
}

/// `touch` of a missing key fails with `NotFound` and creates nothing.
pub async fn touch_missing_fails_not_found(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    expect_kind(
        s.touch(&k, fx.after(SEC)).await,
        ErrorKind::NotFound,
        "touch missing",
    );
    assert!(get(s, &k).await.is_none());
}

/// `touch` of an expired entry fails with `NotFound`: expiry is final.
pub async fn touch_expired_fails_not_found(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let exp = fx.after(SEC);
    create_expiring(s, &k, b"v", exp, "create").await;
    fx.advance_to(exp).await;
    expect_kind(
        s.touch(&k, fx.after(3600 * SEC)).await,
        ErrorKind::NotFound,
        "touch expired",
    );
    assert!(
        get(s, &k).await.is_none(),
        "touch must not revive an expired entry"
    );
}

/// `touch` to a past instant fails with `InvalidInput` and changes nothing.
pub async fn touch_past_expiry_is_rejected(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let exp = fx.after(3600 * SEC);
    create_expiring(s, &k, b"v", exp, "create").await;
    let past = fx.now().checked_sub(SEC).expect("in range");
    expect_kind(
        s.touch(&k, past).await,
        ErrorKind::InvalidInput,
        "touch into the past",
    );
    assert_eq!(get(s, &k).await.expect("still live").expires_at, Some(exp));
}

// ---------------------------------------------------------------- expiry

/// An entry whose expiry equals now is expired: `get` returns `None` even
/// though nothing purged it yet.
pub async fn expiry_equal_to_now_is_expired(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let exp = fx.after(SEC);
    create_expiring(s, &k, b"v", exp, "create").await;
    fx.advance_to(exp).await;
    assert!(
        get(s, &k).await.is_none(),
        "an entry must be expired when now == expires_at"
    );
}

/// An entry is never expired early: one expiring 1.5 s ahead is readable
/// after 1 s, and gone after 1.5 s.
pub async fn entry_is_never_expired_early(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let exp = fx.after(1500 * Duration::from_millis(1));
    create_expiring(s, &k, b"v", exp, "create").await;
    fx.advance(SEC).await;
    assert!(get(s, &k).await.is_some(), "expired early");
    fx.advance_to(exp).await;
    assert!(get(s, &k).await.is_none(), "not expired at its expiry");
}

/// Expired entries are invisible to every read: `get`, `list_by_owner`.
pub async fn expired_entries_are_invisible(fx: Fixture) {
    let s = &**fx.store();
    let alice = owner("alice");
    let exp = fx.after(SEC);
    for name in ["a", "b"] {
        let opts = PutOptions::new(PutMode::Create)
            .expires_at(exp)
            .owner(alice.clone());
        ok(
            s.put(&key(name), Bytes::from_static(b"v"), opts).await,
            "create",
        );
    }
    let opts = PutOptions::new(PutMode::Create).owner(alice.clone());
    ok(
        s.put(&key("c"), Bytes::from_static(b"v"), opts).await,
        "create c",
    );
    fx.advance_to(exp).await;
    assert!(get(s, &key("a")).await.is_none());
    assert_eq!(keys_of(&ok(s.list_by_owner(&alice).await, "list")), ["c"]);
}

/// An expiry on a whole second round-trips exactly.
pub async fn whole_second_expiry_roundtrips(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let day = fx.now().as_unix_millis() + 86_400_000;
    let exp = Expiry::from_unix_millis(day - day % 1000).expect("in range");
    create_expiring(s, &k, b"v", exp, "create").await;
    assert_eq!(get(s, &k).await.expect("live").expires_at, Some(exp));
}

/// An expiry with odd milliseconds round-trips exactly, through `put` and
/// through `touch`.
pub async fn millisecond_expiry_roundtrips(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let base = fx.now().as_unix_millis() + 86_400_000;
    let exp = Expiry::from_unix_millis(base - base % 1000 + 7).expect("in range");
    create_expiring(s, &k, b"v", exp, "create").await;
    assert_eq!(get(s, &k).await.expect("live").expires_at, Some(exp));
    let exp2 = Expiry::from_unix_millis(base - base % 1000 + 999).expect("in range");
    ok(s.touch(&k, exp2).await, "touch");
    assert_eq!(get(s, &k).await.expect("live").expires_at, Some(exp2));
}

/// Far-future expiries, up to `Expiry::MAX`, round-trip exactly.
pub async fn far_future_expiry_roundtrips(fx: Fixture) {
    let s = &**fx.store();
    for (name, exp) in [
        (
            "year-3000",
            Expiry::from_unix_millis(32_503_680_000_123).expect("in range"),
        ),
        ("max", Expiry::MAX),
    ] {
        let k = key(name);
        ok(
            s.put(
                &k,
                Bytes::from_static(b"v"),
                PutOptions::new(PutMode::Create).expires_at(exp),
            )
            .await,
            name,
        );
        assert_eq!(
            get(s, &k).await.expect("live").expires_at,
            Some(exp),
            "{name}"
        );
    }
}

/// An entry written without expiry reads back with `None` and never expires.
pub async fn no_expiry_roundtrips_as_none(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(put(s, &k, b"v", PutMode::Create).await, "create");
    fx.advance(2 * SEC).await;
    assert_eq!(get(s, &k).await.expect("live").expires_at, None);
}

/// A put whose expiry is in the past (or equals now) is rejected with
/// `InvalidInput` in every mode, and the stored entry is unchanged.
pub async fn past_expiry_is_rejected_and_nothing_written(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let v = ok(put(s, &k, b"keep", PutMode::Create).await, "create");
    let past = fx.now().checked_sub(SEC).expect("in range");
    for mode in [
        PutMode::Upsert,
        PutMode::Create,
        PutMode::Update,
        PutMode::UpdateIf(v.version),
    ] {
        let opts = PutOptions::new(mode).expires_at(past);
        let e = expect_kind(
            s.put(&k, Bytes::from_static(b"bad"), opts).await,
            ErrorKind::InvalidInput,
            "past expiry",
        );
        assert!(
            e.message().contains("expiry"),
            "message must say what is wrong: {e}"
        );
    }
    let now_opts = PutOptions::new(PutMode::Upsert).expires_at(fx.now());
    expect_kind(
        s.put(&k, Bytes::from_static(b"bad"), now_opts).await,
        ErrorKind::InvalidInput,
        "expiry == now",
    );
    let fresh = key("fresh");
    let opts = PutOptions::new(PutMode::Create).expires_at(past);
    expect_kind(
        s.put(&fresh, Bytes::from_static(b"bad"), opts).await,
        ErrorKind::InvalidInput,
        "past expiry on new key",
    );
    let e = get(s, &k).await.expect("entry kept");
    assert_eq!(
        (&e.value[..], e.version, e.expires_at),
        (&b"keep"[..], v.version, None)
    );
    assert!(get(s, &fresh).await.is_none());
}

/// Expiry arithmetic past the representable range is `InvalidInput` whose
/// message names the limit, never a wrap or a panic.
pub async fn expiry_overflow_is_rejected(fx: Fixture) {
    let e = expect_kind(
        fx.now().checked_add(Duration::MAX),
        ErrorKind::InvalidInput,
        "now + Duration::MAX",
    );
    assert!(e.message().contains("9999-12-31T23:59:59.999Z"), "{e}");
    expect_kind(
        Expiry::MAX.checked_add(Duration::from_millis(1)),
        ErrorKind::InvalidInput,
        "MAX + 1 ms",
    );
    expect_kind(
        Expiry::from_unix_millis(i64::MAX),
        ErrorKind::InvalidInput,
        "i64::MAX ms",
    );
    expect_kind(
        Expiry::from_unix_millis(-1),
        ErrorKind::InvalidInput,
        "before the epoch",
    );
    // The store still works with the largest valid expiry.
    let k = key("k");
    ok(
        fx.store()
            .put(
                &k,
                Bytes::from_static(b"v"),
                PutOptions::new(PutMode::Create).expires_at(Expiry::MAX),
            )
            .await,
        "create at MAX",
    );
}

// ---------------------------------------------------------------- delete_expired

/// `delete_expired` removes expired entries, keeps live and unexpiring ones,
/// and counts what it removed (at most that where the backend expires
/// natively).
pub async fn delete_expired_removes_only_expired(fx: Fixture) {
    let s = &**fx.store();
    let exp = fx.after(SEC);
    for i in 0..5 {
        let opts = PutOptions::new(PutMode::Create)
            .expires_at(exp)
            .owner(owner("alice"));
        ok(
            s.put(&key(&format!("old-{i}")), Bytes::from_static(b"v"), opts)
                .await,
            "create expiring",
        );
    }
    let opts = PutOptions::new(PutMode::Create)
        .expires_at(fx.after(3600 * SEC))
        .owner(owner("alice"));
    ok(
        s.put(&key("live"), Bytes::from_static(b"v"), opts).await,
        "create live",
    );
    ok(
        put(s, &key("forever"), b"v", PutMode::Create).await,
        "create forever",
    );
    fx.advance_to(exp).await;
    let n = ok(s.delete_expired().await, "delete_expired");
    if s.capabilities().native_ttl {
        assert!(n <= 5, "removed {n} entries, only 5 were expired");
    } else {
        assert_eq!(n, 5, "delete_expired must count the 5 expired entries");
    }
    assert_eq!(ok(s.delete_expired().await, "second delete_expired"), 0);
    assert!(get(s, &key("live")).await.is_some());
    assert!(get(s, &key("forever")).await.is_some());
    assert_eq!(
        keys_of(&ok(s.list_by_owner(&owner("alice")).await, "list")),
        ["live"]
    );
}

/// Concurrent `delete_expired` calls count each expired entry once overall.
pub async fn delete_expired_concurrently_counts_once(fx: Fixture) {
    let s = fx.store().clone();
    let exp = fx.after(SEC);
    for i in 0..40 {
        let opts = PutOptions::new(PutMode::Create).expires_at(exp);
        ok(
            s.put(&key(&format!("k{i}")), Bytes::from_static(b"v"), opts)
                .await,
            "create",
        );
    }
    fx.advance_to(exp).await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let s = if i % 2 == 0 {
            s.clone()
        } else {
            fx.reopen().await
        };
        tasks.push(tokio::spawn(async move { s.delete_expired().await }));
    }
    let mut total = 0;
    for t in tasks {
        total += ok(t.await.expect("task"), "delete_expired");
    }
    if s.capabilities().native_ttl {
        assert!(total <= 40, "counted {total} of 40");
    } else {
        assert_eq!(total, 40, "each expired entry must be counted exactly once");
    }
}

// ---------------------------------------------------------------- bad input

/// Empty keys and owners are rejected with a message.
pub async fn empty_key_is_rejected(_fx: Fixture) {
    let e = expect_kind(Key::new(""), ErrorKind::InvalidInput, "empty key");
    assert!(e.message().contains("empty"), "{e}");
    expect_kind(Owner::new(""), ErrorKind::InvalidInput, "empty owner");
}

/// A key of `MAX_KEY_LEN` bytes (multi-byte characters included) works; one
/// byte more is rejected with a message naming the limit.
pub async fn max_length_key_works_and_longer_is_rejected(fx: Fixture) {
    let s = &**fx.store();
    let max = s.capabilities().max_key_len;
    assert_eq!(
        max, MAX_KEY_LEN,
        "every backend must accept keys of MAX_KEY_LEN bytes"
    );
    let long = format!("{}{}", "é".repeat((max - 2) / 2), "xx");
    assert_eq!(long.len(), max);
    let k = key(&long);
    ok(
        put(s, &k, b"v", PutMode::Create).await,
        "create with max-length key",
    );
    assert_eq!(value_of(s, &k).await.as_deref(), Some(&b"v"[..]));
    assert!(ok(s.delete(&k, None).await, "delete max-length key"));
    let e = expect_kind(
        Key::new(format!("{long}x")),
        ErrorKind::InvalidInput,
        "key over the limit",
    );
    assert!(
        e.message().contains(&max.to_string()),
        "message must name the limit: {e}"
    );
}

/// A value over `max_value_len` is rejected with a message naming the limit,
/// and nothing is written or overwritten.
pub async fn oversize_value_is_rejected(fx: Fixture) {
    let s = &**fx.store();
    let max = s.capabilities().max_value_len;
    assert!(
        max >= ONE_MIB,
        "max_value_len must be at least 1 MiB, is {max}"
    );
    let k = key("k");
    ok(put(s, &k, b"keep", PutMode::Create).await, "create");
    let big = Bytes::from(vec![7u8; max + 1]);
    for mode in [PutMode::Upsert, PutMode::Update] {
        let e = expect_kind(
            s.put(&k, big.clone(), mode.into()).await,
            ErrorKind::InvalidInput,
            "oversize value",
        );
        assert!(
            e.message().contains(&max.to_string()),
            "message must name the limit: {e}"
        );
    }
    expect_kind(
        s.put(&key("new"), big, PutMode::Create.into()).await,
        ErrorKind::InvalidInput,
        "oversize new value",
    );
    assert_eq!(value_of(s, &k).await.as_deref(), Some(&b"keep"[..]));
    assert!(get(s, &key("new")).await.is_none());
}

/// A value of exactly `max_value_len` bytes (when at most 16 MiB) is accepted.
pub async fn max_size_value_is_accepted(fx: Fixture) {
    let s = &**fx.store();
    let max = s.capabilities().max_value_len.min(16 * ONE_MIB);
    let k = key("k");
    let value = Bytes::from(vec![0xA5u8; max]);
    ok(
        s.put(&k, value, PutMode::Create.into()).await,
        "value at the limit",
    );
    assert_eq!(get(s, &k).await.expect("live").value.len(), max);
}

// ---------------------------------------------------------------- values and keys

/// A 1 MiB value of varied bytes round-trips exactly.
pub async fn one_mib_value_roundtrips(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let value: Vec<u8> = (0..ONE_MIB).map(|i| (i * 31 % 251) as u8).collect();
    ok(
        s.put(&k, Bytes::from(value.clone()), PutMode::Create.into())
            .await,
        "create 1 MiB",
    );
    assert!(
        get(s, &k).await.expect("live").value[..] == value[..],
        "1 MiB value differs"
    );
}

/// Every byte value, NULs and invalid UTF-8 included, round-trips exactly.
pub async fn arbitrary_bytes_roundtrip(fx: Fixture) {
    let s = &**fx.store();
    let mut value: Vec<u8> = (0..=255u8).collect();
    value.extend_from_slice(&[0, 0, 0xff, 0xfe, 0xc3, 0x28, b'\\', b'"', b'\'', 0x80]);
    let k = key("bin");
    ok(
        s.put(&k, Bytes::from(value.clone()), PutMode::Create.into())
            .await,
        "create",
    );
    assert_eq!(value_of(s, &k).await, Some(value));
}

/// An empty value is a value: it round-trips and is not "missing".
pub async fn empty_value_roundtrips(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    ok(put(s, &k, b"", PutMode::Create).await, "create empty");
    assert_eq!(value_of(s, &k).await, Some(Vec::new()));
    expect_kind(
        put(s, &k, b"", PutMode::Create).await,
        ErrorKind::AlreadyExists,
        "create over empty value",
    );
}

/// Keys with characters that servers treat specially (glob and hash-tag
/// characters, separators, quotes, spaces, non-ASCII) are distinct keys and
/// round-trip.
pub async fn special_character_keys_roundtrip(fx: Fixture) {
    let s = &**fx.store();
    let names = [
        "a:b", "a*", "a?", "[ab]", "{tag}x", "{tag}y", "a/b", "a\\b", "a b", "'q'", "\"dq\"", "%_",
        "🦀", "ключ", "a.b", "-", "$where", "_id",
    ];
    for (i, n) in names.iter().enumerate() {
        ok(
            s.put(&key(n), Bytes::from(i.to_string()), PutMode::Create.into())
                .await,
            n,
        );
    }
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            value_of(s, &key(n)).await,
            Some(i.to_string().into_bytes()),
            "key {n:?}"
        );
    }
    assert!(
        get(s, &key("a")).await.is_none(),
        "a glob must not match other keys"
    );
    assert!(ok(s.delete(&key("a*"), None).await, "delete a*"));
    assert!(
        get(s, &key("a:b")).await.is_some(),
        "deleting 'a*' must delete only that key"
    );
}

/// Keys differing only in case are different keys.
pub async fn keys_are_case_sensitive(fx: Fixture) {
    let s = &**fx.store();
    ok(
        put(s, &key("Key"), b"upper", PutMode::Create).await,
        "create Key",
    );
    ok(
        put(s, &key("key"), b"lower", PutMode::Create).await,
        "create key",
    );
    assert_eq!(
        value_of(s, &key("Key")).await.as_deref(),
        Some(&b"upper"[..])
    );
    assert_eq!(
        value_of(s, &key("key")).await.as_deref(),
        Some(&b"lower"[..])
    );
}

// ---------------------------------------------------------------- owner index

/// `list_by_owner` returns exactly the owner's live entries, sorted by key,
/// with their values and versions.
pub async fn list_by_owner_returns_owned_entries(fx: Fixture) {
    let s = &**fx.store();
    let (alice, bob) = (owner("alice"), owner("bob"));
    let mut versions = Vec::new();
    for name in ["s3", "s1", "s2"] {
        let opts = PutOptions::new(PutMode::Create).owner(alice.clone());
        versions.push((
            name,
            ok(s.put(&key(name), Bytes::from(name), opts).await, "create").version,
        ));
    }
    create_owned(s, &key("b1"), b"b", &bob, "create bob").await;
    ok(
        put(s, &key("none"), b"n", PutMode::Create).await,
        "create unowned",
    );
    let list = ok(s.list_by_owner(&alice).await, "list alice");
    assert_eq!(keys_of(&list), ["s1", "s2", "s3"]);
    for (k, e) in &list {
        assert_eq!(&e.value[..], k.as_str().as_bytes());
        assert_eq!(e.owner.as_ref(), Some(&alice));
        let v = versions
            .iter()
            .find(|(n, _)| *n == k.as_str())
            .expect("known")
            .1;
        assert_eq!(e.version, v);
    }
    assert_eq!(
        keys_of(&ok(s.list_by_owner(&bob).await, "list bob")),
        ["b1"]
    );
    assert!(ok(s.list_by_owner(&owner("nobody")).await, "list nobody").is_empty());
}

/// Deleted entries leave the owner's listing.
pub async fn list_by_owner_excludes_deleted(fx: Fixture) {
    let s = &**fx.store();
    let alice = owner("alice");
    for name in ["a", "b"] {
        create_owned(s, &key(name), b"v", &alice, "create").await;
    }
    assert!(ok(s.delete(&key("a"), None).await, "delete"));
    assert_eq!(keys_of(&ok(s.list_by_owner(&alice).await, "list")), ["b"]);
}

/// Rewriting an entry with another owner moves it between listings.
pub async fn owner_change_moves_entry(fx: Fixture) {
    let s = &**fx.store();
    let (alice, bob) = (owner("alice"), owner("bob"));
    let k = key("k");
    create_owned(s, &k, b"v", &alice, "create").await;
    ok(
        s.put(
            &k,
            Bytes::from_static(b"v"),
            PutOptions::new(PutMode::Update).owner(bob.clone()),
        )
        .await,
        "update",
    );
    assert!(ok(s.list_by_owner(&alice).await, "list alice").is_empty());
    assert_eq!(keys_of(&ok(s.list_by_owner(&bob).await, "list bob")), ["k"]);
    assert_eq!(ok(s.delete_by_owner(&alice).await, "delete alice"), 0);
    assert!(
        get(s, &k).await.is_some(),
        "delete_by_owner of the old owner must not delete it"
    );
}

/// `delete_by_owner` deletes every live entry of that owner, returns the
/// count, and leaves other owners' and unowned entries alone.
pub async fn delete_by_owner_removes_only_that_owner(fx: Fixture) {
    let s = &**fx.store();
    let (alice, bob) = (owner("alice"), owner("bob"));
    for i in 0..5 {
        ok(
            s.put(
                &key(&format!("a{i}")),
                Bytes::from_static(b"v"),
                PutOptions::new(PutMode::Create).owner(alice.clone()),
            )
            .await,
            "create alice",
        );
    }
    create_owned(s, &key("b"), b"v", &bob, "create bob").await;
    ok(
        put(s, &key("n"), b"v", PutMode::Create).await,
        "create unowned",
    );
    assert_eq!(ok(s.delete_by_owner(&alice).await, "delete_by_owner"), 5);
    for i in 0..5 {
        assert!(get(s, &key(&format!("a{i}"))).await.is_none());
    }
    assert!(ok(s.list_by_owner(&alice).await, "list alice").is_empty());
    assert!(get(s, &key("b")).await.is_some());
    assert!(get(s, &key("n")).await.is_some());
    assert_eq!(
        ok(s.delete_by_owner(&alice).await, "second delete_by_owner"),
        0
    );
}

/// `delete_by_owner` counts only live entries; expired ones are gone anyway.
pub async fn delete_by_owner_counts_only_live(fx: Fixture) {
    let s = &**fx.store();
    let alice = owner("alice");
    let exp = fx.after(SEC);
    ok(
        s.put(
            &key("old"),
            Bytes::from_static(b"v"),
            PutOptions::new(PutMode::Create)
                .owner(alice.clone())
                .expires_at(exp),
        )
        .await,
        "create expiring",
    );
    create_owned(s, &key("new"), b"v", &alice, "create").await;
    fx.advance_to(exp).await;
    assert_eq!(ok(s.delete_by_owner(&alice).await, "delete_by_owner"), 1);
    assert!(get(s, &key("new")).await.is_none());
}

/// After `delete_by_owner`, the owner can own new entries again.
pub async fn owner_reusable_after_delete_by_owner(fx: Fixture) {
    let s = &**fx.store();
    let alice = owner("alice");
    create_owned(s, &key("a"), b"v", &alice, "create").await;
    assert_eq!(ok(s.delete_by_owner(&alice).await, "delete_by_owner"), 1);
    create_owned(s, &key("a"), b"w", &alice, "re-create").await;
    assert_eq!(keys_of(&ok(s.list_by_owner(&alice).await, "list")), ["a"]);
}

// ---------------------------------------------------------------- namespaces

/// Two stores with different namespaces on one server never see each
/// other's entries, in any operation.
pub async fn namespaces_are_isolated(fx: Fixture) {
    let a = fx.store().clone();
    let b = fx.open_namespace(&crate::random_namespace()).await;
    let k = key("shared-key");
    let alice = owner("alice");
    let exp = fx.after(SEC);
    create_owned(&*a, &k, b"A", &alice, "a create").await;
    expect_kind(
        b.put(&k, Bytes::from_static(b"B"), PutMode::Update.into())
            .await,
        ErrorKind::NotFound,
        "b update of a's key",
    );
    create_owned(&*b, &k, b"B", &alice, "b create").await;
    create_expiring(&*a, &key("a-exp"), b"x", exp, "a expiring").await;
    create_expiring(&*b, &key("b-exp"), b"x", exp, "b expiring").await;
    assert_eq!(value_of(&*a, &k).await.as_deref(), Some(&b"A"[..]));
    assert_eq!(value_of(&*b, &k).await.as_deref(), Some(&b"B"[..]));
    assert_eq!(ok(a.list_by_owner(&alice).await, "list a").len(), 1);
    assert_eq!(
        &ok(b.list_by_owner(&alice).await, "list b")[0].1.value[..],
        b"B"
    );
    fx.advance_to(exp).await;
    if a.capabilities().native_ttl {
        // The server may have removed either already; a purge still never
        // reaches into the other namespace.
        let purged = ok(a.delete_expired().await, "a delete_expired");
        assert!(purged <= 1, "a purged {purged}: only its own may go");
        let purged = ok(b.delete_expired().await, "b delete_expired");
        assert!(purged <= 1, "b purged {purged}: only its own may go");
    } else {
        assert_eq!(
            ok(a.delete_expired().await, "a delete_expired"),
            1,
            "a must purge only its own"
        );
        assert_eq!(
            ok(b.delete_expired().await, "b delete_expired"),
            1,
            "b's expired entry must be left to b"
        );
    }
    assert_eq!(ok(a.delete_by_owner(&alice).await, "a delete_by_owner"), 1);
    assert_eq!(
        value_of(&*b, &k).await.as_deref(),
        Some(&b"B"[..]),
        "b's entry must survive a's delete_by_owner"
    );
    assert!(ok(a.delete(&k, None).await.map(|d| !d), "a delete"));
    assert!(get(&*b, &k).await.is_some());
}

/// A second store object on the same namespace (another process) sees the
/// first one's writes, deletes and versions.
pub async fn second_handle_sees_same_data(fx: Fixture) {
    let a = fx.store().clone();
    let b = fx.reopen().await;
    let k = key("k");
    let v = ok(
        a.put(&k, Bytes::from_static(b"v"), PutMode::Create.into())
            .await,
        "a create",
    );
    assert_eq!(get(&*b, &k).await.expect("visible to b").version, v.version);
    expect_kind(
        b.put(&k, Bytes::from_static(b"w"), PutMode::Create.into())
            .await,
        ErrorKind::AlreadyExists,
        "b create",
    );
    assert!(ok(b.delete(&k, Some(v.version)).await, "b delete"));
    assert!(get(&*a, &k).await.is_none());
}

// ---------------------------------------------------------------- errors and capabilities

/// Errors carry the backend name and the operation.
pub async fn errors_carry_backend_and_operation(fx: Fixture) {
    let s = &**fx.store();
    let backend = s.capabilities().backend;
    let k = key("k");
    let e = expect_kind(
        put(s, &k, b"v", PutMode::Update).await,
        ErrorKind::NotFound,
        "update missing",
    );
    assert_eq!(e.backend(), Some(backend), "{e}");
    assert_eq!(e.operation(), Some(Operation::Put), "{e}");
    let e = expect_kind(
        s.touch(&k, fx.after(SEC)).await,
        ErrorKind::NotFound,
        "touch missing",
    );
    assert_eq!(e.backend(), Some(backend), "{e}");
    assert_eq!(e.operation(), Some(Operation::Touch), "{e}");
    let v = ok(put(s, &k, b"v", PutMode::Create).await, "create");
    ok(put(s, &k, b"w", PutMode::Upsert).await, "upsert");
    let e = expect_kind(
        s.delete(&k, Some(v.version)).await,
        ErrorKind::VersionMismatch,
        "stale delete",
    );
    assert_eq!(e.backend(), Some(backend), "{e}");
    assert_eq!(e.operation(), Some(Operation::Delete), "{e}");
    let big = Bytes::from(vec![0u8; s.capabilities().max_value_len + 1]);
    let e = expect_kind(
        s.put(&k, big, PutMode::Upsert.into()).await,
        ErrorKind::InvalidInput,
        "oversize",
    );
    assert_eq!(e.backend(), Some(backend), "{e}");
}

/// Error messages never contain the stored value.
pub async fn errors_do_not_leak_values(fx: Fixture) {
    let s = &**fx.store();
    let k = key("k");
    let secret: &'static [u8] = b"secret-token-6f1c";
    ok(put(s, &k, secret, PutMode::Create).await, "create");
    let e = expect_kind(
        put(s, &k, secret, PutMode::Create).await,
        ErrorKind::AlreadyExists,
        "create again",
    );
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains("secret-token"),
        "error shows the value: {shown}"
    );
    let entry = get(s, &k).await.expect("live");
    assert!(
        !format!("{entry:?}").contains("secret-token"),
        "Entry's Debug shows the value"
    );
}

/// Capabilities are truthful and consistent with the contract.
pub async fn capabilities_are_consistent(fx: Fixture) {
    let caps = fx.store().capabilities();
    assert!(!caps.backend.is_empty(), "backend name must be set");
    assert!(caps.atomic_cas, "conditional writes must be atomic");
    assert!(caps.owner_index, "the owner operations must use an index");
    assert_eq!(caps.max_key_len, MAX_KEY_LEN);
    assert!(caps.max_value_len >= ONE_MIB);
    assert!(
        !format!("{:?}", fx.store()).is_empty(),
        "stores must have a Debug output"
    );
}

/// The typed helpers of `StoreExt` round-trip JSON and report undecodable
/// values as `Encoding`.
pub async fn typed_values_roundtrip(fx: Fixture) {
    let s = &**fx.store();
    let k = key("typed");
    let value = vec![("access".to_string(), 3600u32), ("refresh".to_string(), 0)];
    let r = ok(
        s.put_typed(&k, &value, PutMode::Create.into()).await,
        "put_typed",
    );
    let back = ok(s.get_typed::<Vec<(String, u32)>>(&k).await, "get_typed").expect("live");
    assert_eq!(back.value, value);
    assert_eq!(back.version, r.version);
    ok(
        put(s, &k, b"\xff not json", PutMode::Upsert).await,
        "upsert garbage",
    );
    expect_kind(
        s.get_typed::<Vec<(String, u32)>>(&k).await,
        ErrorKind::Encoding,
        "decode garbage",
    );
}

// ---------------------------------------------------------------- scan

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

// ---------------------------------------------------------------- races

/// 8 tasks × 25 compare-and-swap increments (half through a second store
/// object) end at exactly 200.
pub async fn race_cas_increments_total_exactly(fx: Fixture) {
    const TASKS: usize = 8;
    const PER_TASK: usize = 25;
    let k = key("counter");
    ok(
        fx.store()
            .put(&k, Bytes::from_static(b"0"), PutMode::Create.into())
            .await,
        "create",
    );
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let s: Arc<dyn Store> = if t % 2 == 0 {
            fx.store().clone()
        } else {
            fx.reopen().await
        };
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < PER_TASK {
                let cur = s.get(&k).await?.expect("counter exists");
                let n: u64 = std::str::from_utf8(&cur.value)
                    .expect("utf8")
                    .parse()
                    .expect("number");
                match s
                    .put(
                        &k,
                        Bytes::from((n + 1).to_string()),
                        PutMode::UpdateIf(cur.version).into(),
                    )
                    .await
                {
                    Ok(_) => done += 1,
                    Err(e) if e.kind() == ErrorKind::VersionMismatch => {
                        tokio::task::yield_now().await
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, store_core::Error>(())
        }));
    }
    for t in tasks {
        ok(t.await.expect("task"), "cas task");
    }
    let total = value_of(&**fx.store(), &k).await.expect("counter");
    assert_eq!(
        String::from_utf8(total).expect("utf8"),
        (TASKS * PER_TASK).to_string(),
        "lost updates"
    );
}

/// 16 concurrent `Create`s of one key: exactly one wins, the others get
/// `AlreadyExists`, and the stored value is the winner's.
pub async fn race_concurrent_create_single_winner(fx: Fixture) {
    let k = key("contested");
    let mut tasks = Vec::new();
    for t in 0..16u32 {
        let s: Arc<dyn Store> = if t % 2 == 0 {
            fx.store().clone()
        } else {
            fx.reopen().await
        };
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            (
                t,
                s.put(&k, Bytes::from(t.to_string()), PutMode::Create.into())
                    .await,
            )
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, r) = t.await.expect("task");
        match r {
            Ok(w) => winners.push((i, w.version)),
            Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists, "loser got {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one Create must win: {winners:?}");
    let e = get(&**fx.store(), &k).await.expect("created");
    assert_eq!(e.value, Bytes::from(winners[0].0.to_string()));
    assert_eq!(e.version, winners[0].1);
}

/// 16 concurrent `UpdateIf`s with the same version: exactly one wins.
pub async fn race_concurrent_update_if_single_winner(fx: Fixture) {
    let k = key("contested");
    let v = ok(
        fx.store()
            .put(&k, Bytes::from_static(b"start"), PutMode::Create.into())
            .await,
        "create",
    );
    let mut tasks = Vec::new();
    for t in 0..16u32 {
        let s: Arc<dyn Store> = if t % 2 == 0 {
            fx.store().clone()
        } else {
            fx.reopen().await
        };
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            s.put(&k, Bytes::from(t.to_string()), v.into()).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => wins += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::VersionMismatch, "loser got {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one UpdateIf must win");
}

/// Load, delete elsewhere, then write back: `Update`, `UpdateIf` and `touch`
/// all fail with `NotFound`, and the key stays deleted (no resurrection).
pub async fn race_delete_then_update_never_resurrects(fx: Fixture) {
    let here = fx.store().clone();
    let elsewhere = fx.reopen().await;
    let k = key("session");
    ok(
        here.put(
            &k,
            Bytes::from_static(b"logged-in"),
            PutOptions::new(PutMode::Create).expires_at(fx.after(3600 * SEC)),
        )
        .await,
        "create",
    );
    let loaded = get(&*here, &k).await.expect("loaded");
    assert!(ok(elsewhere.delete(&k, None).await, "logout elsewhere"));
    expect_kind(
        here.put(&k, Bytes::from_static(b"saved"), PutMode::Update.into())
            .await,
        ErrorKind::NotFound,
        "update after delete",
    );
    expect_kind(
        here.put(
            &k,
            Bytes::from_static(b"saved"),
            PutMode::UpdateIf(loaded.version).into(),
        )
        .await,
        ErrorKind::NotFound,
        "update_if after delete",
    );
    expect_kind(
        here.touch(&k, fx.after(7200 * SEC)).await,
        ErrorKind::NotFound,
        "touch after delete",
    );
    assert!(
        get(&*here, &k).await.is_none(),
        "the deleted key was resurrected"
    );
    assert!(
        get(&*elsewhere, &k).await.is_none(),
        "the deleted key was resurrected"
    );
}

/// Concurrent `update_with` read-modify-write loops lose no update.
pub async fn race_update_with_loses_nothing(fx: Fixture) {
    let k = key("visits");
    let mut tasks = Vec::new();
    for t in 0..4 {
        let s: Arc<dyn Store> = if t % 2 == 0 {
            fx.store().clone()
        } else {
            fx.reopen().await
        };
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                s.update_with(&k, PutOptions::default(), |n: Option<u64>| {
                    Ok(n.unwrap_or(0) + 1)
                })
                .await?;
            }
            Ok::<_, store_core::Error>(())
        }));
    }
    for t in tasks {
        ok(t.await.expect("task"), "update_with task");
    }
    let n = ok(fx.store().get_typed::<u64>(&k).await, "get_typed")
        .expect("exists")
        .value;
    assert_eq!(n, 40);
}

/// Concurrent puts and deletes of one owner's keys leave the owner index
/// exactly matching the live entries.
pub async fn race_owner_index_stays_consistent(fx: Fixture) {
    let alice = owner("alice");
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let s: Arc<dyn Store> = if t % 2 == 0 {
            fx.store().clone()
        } else {
            fx.reopen().await
        };
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..24u32 {
                let k = key(&format!("k{}", (t * 7 + i) % 12));
                if (t + i) % 3 == 0 {
                    s.delete(&k, None).await?;
                } else {
                    let who = if (t + i) % 5 == 0 {
                        owner("bob")
                    } else {
                        alice.clone()
                    };
                    s.put(
                        &k,
                        Bytes::from_static(b"v"),
                        PutOptions::new(PutMode::Upsert).owner(who),
                    )
                    .await?;
                }
            }
            Ok::<_, store_core::Error>(())
        }));
    }
    for t in tasks {
        ok(t.await.expect("task"), "writer task");
    }
    let s = &**fx.store();
    let mut expected = Vec::new();
    for i in 0..12 {
        let name = format!("k{i}");
        if let Some(e) = get(s, &key(&name)).await {
            if e.owner.as_ref() == Some(&alice) {
                expected.push(name);
            }
        }
    }
    expected.sort();
    let listed = ok(s.list_by_owner(&alice).await, "list");
    assert_eq!(
        keys_of(&listed),
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let n = ok(s.delete_by_owner(&alice).await, "delete_by_owner");
    assert_eq!(n as usize, expected.len());
    for name in &expected {
        assert!(
            get(s, &key(name)).await.is_none(),
            "{name} survived delete_by_owner"
        );
    }
}

// ---------------------------------------------------------------- linearizability

/// Six tasks over three store objects (each with connections of its own
/// where the backend has them) make random calls on three keys: every
/// `PutMode`, `get`, `delete` with and without a version, `touch`, with
/// and without owners and expiries. Every history recorded within the time
/// budget ([`linearizability::budget_from_env`](crate::linearizability::budget_from_env))
/// is linearizable against the contract's sequential model.
pub async fn linearizable_under_concurrency(fx: Fixture) {
    use crate::linearizability::{HistoryConfig, budget_from_env, run};
    let stores = vec![fx.store().clone(), fx.connect().await, fx.connect().await];
    let config = HistoryConfig::new(6, 30, 3);
    let summary = run(&stores, &config, fx.now(), budget_from_env(), "lin").await;
    // The test's thread carries its name (`redis::linearizable_…`).
    let row = std::thread::current().name().map_or_else(
        || fx.store().capabilities().backend.to_owned(),
        str::to_owned,
    );
    println!("{row}: {summary}");
}
