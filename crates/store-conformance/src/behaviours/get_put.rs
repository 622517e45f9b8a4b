//! Reads and the four write modes: `get`, `Upsert`, `Create`, `Update`, `UpdateIf`, versions.

use super::*;

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

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_get_put {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            get_missing_is_none,
            upsert_then_get_roundtrips,
            upsert_overwrites_live_entry,
            every_write_returns_a_new_version,
            put_replaces_expiry_and_owner,
            create_missing_succeeds,
            create_existing_fails_already_exists,
            create_over_expired_succeeds,
            update_missing_fails_not_found,
            update_expired_fails_not_found,
            update_live_replaces,
            update_if_current_version_succeeds,
            update_if_stale_version_fails,
            update_if_missing_fails_not_found,
            update_if_expired_fails_not_found,
            put_result_chains_into_update_if,
            version_not_reused_after_recreate,
        }
    };
}
