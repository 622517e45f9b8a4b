//! Expiry: the boundary at now, round trips to the millisecond, past and overflowing expiries, `delete_expired`.

use super::*;

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

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_expiry {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            expiry_equal_to_now_is_expired,
            entry_is_never_expired_early,
            expired_entries_are_invisible,
            whole_second_expiry_roundtrips,
            millisecond_expiry_roundtrips,
            far_future_expiry_roundtrips,
            no_expiry_roundtrips_as_none,
            past_expiry_is_rejected_and_nothing_written,
            expiry_overflow_is_rejected,
            delete_expired_removes_only_expired,
            delete_expired_concurrently_counts_once,
        }
    };
}
