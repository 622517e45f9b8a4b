//! Namespaces, second store objects, errors and capabilities.

use super::*;

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

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_namespace {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            namespaces_are_isolated,
            second_handle_sees_same_data,
            errors_carry_backend_and_operation,
            errors_do_not_leak_values,
            capabilities_are_consistent,
            typed_values_roundtrip,
        }
    };
}
