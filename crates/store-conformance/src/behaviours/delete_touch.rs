//! `delete` (with and without a version) and `touch`.

use super::*;

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

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_delete_touch {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            delete_live_returns_true,
            delete_missing_returns_false,
            delete_expired_entry_returns_false,
            delete_if_current_version_deletes,
            delete_if_stale_version_fails,
            delete_if_missing_returns_false,
            touch_moves_expiry_keeps_value_and_version,
            touch_can_shorten_expiry,
            touch_adds_expiry,
            touch_missing_fails_not_found,
            touch_expired_fails_not_found,
            touch_past_expiry_is_rejected,
        }
    };
}
