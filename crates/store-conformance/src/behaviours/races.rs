//! Races between concurrent callers: compare-and-swap totals, single winners, no resurrection.

use super::*;

/// Task `t`'s store: the fixture's own for even tasks, another store object
/// on the same namespace (another process) for odd ones.
async fn store_for_task(fx: &Fixture, t: usize) -> Arc<dyn Store> {
    if t % 2 == 0 {
        fx.store().clone()
    } else {
        fx.reopen().await
    }
}

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
        let s = store_for_task(&fx, t).await;
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
        let s = store_for_task(&fx, t as usize).await;
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
        let s = store_for_task(&fx, t as usize).await;
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
        let s = store_for_task(&fx, t).await;
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
        let s = store_for_task(&fx, t as usize).await;
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

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_races {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            race_cas_increments_total_exactly,
            race_concurrent_create_single_winner,
            race_concurrent_update_if_single_winner,
            race_delete_then_update_never_resurrects,
            race_update_with_loses_nothing,
            race_owner_index_stays_consistent,
        }
    };
}
