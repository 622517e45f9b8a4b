//! The owner index: `list_by_owner`, `delete_by_owner`, owner changes.

use super::*;

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

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_owner {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            list_by_owner_returns_owned_entries,
            list_by_owner_excludes_deleted,
            owner_change_moves_entry,
            delete_by_owner_removes_only_that_owner,
            delete_by_owner_counts_only_live,
            owner_reusable_after_delete_by_owner,
        }
    };
}
