//! The behaviours of [`Sessions`] and [`TokenStore`] as a suite that runs
//! against any backend, like `store-conformance` (feature `testing`).
//! A little over 600 lines: the behaviours and the one list of them.
//!
//! In a test module named after the backend, next to
//! `store_conformance::conformance_tests!(MyBackend::provision());`, add
//! `store_session::session_tests!(MyBackend::provision());`: the test names
//! then read `my_backend::session_…` and `my_backend::token_…`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use store_conformance::faults::{Intercept, Intercepted};
use store_core::{Entry, ErrorKind, Expiry, Key, Owner, Result, Store};

use crate::{Expiring, RefreshError, SessionConfig, Sessions, TokenStore};

#[doc(hidden)]
pub use store_conformance::Fixture as __Fixture;

/// Expands every session and token behaviour into one named
/// `#[tokio::test]` each (`session_…`, `token_…`) for a backend, given as
/// for `store_conformance::conformance_tests!`.
#[macro_export]
macro_rules! session_tests {
    ($backend:expr) => {
        $crate::__session_tests!(
            ($backend)
            session_logout_during_save_stays_logged_out,
            session_cycle_id_leaves_the_old_id_unusable,
            session_absolute_lifetime_holds_under_touches,
            session_idle_timeout_expires_an_unused_session,
            session_touch_is_throttled,
            session_revoke_all_touches_no_other_user,
            session_revoke_all_except_keeps_logins_made_meanwhile,
            session_ids_are_not_stored_in_clear,
            token_refresh_runs_once_in_one_process,
            token_refresh_runs_once_across_processes,
            token_slow_refresh_runs_once_across_processes,
            token_holder_that_lost_its_lease_writes_nothing,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __session_tests {
    (($backend:expr) $($name:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(fixture) = $crate::testing::__Fixture::provision($backend).await {
                    $crate::testing::$name(fixture).await;
                }
            }
        )*
    };
}

const SEC: Duration = Duration::from_secs(1);

fn sessions(fx: &__Fixture, idle: Duration, absolute: Duration) -> Sessions {
    sessions_on(fx, fx.store().clone(), idle, absolute)
}

fn sessions_on(
    fx: &__Fixture,
    store: Arc<dyn Store>,
    idle: Duration,
    absolute: Duration,
) -> Sessions {
    let config = SessionConfig::default()
        .idle_timeout(fx.scaled(idle))
        .absolute_lifetime(fx.scaled(absolute))
        .touch_interval(Duration::ZERO)
        .clock(fx.clock());
    Sessions::new(store, config)
}

fn owner(name: &str) -> Owner {
    Owner::new(name).expect("valid owner")
}

/// A logout (flush) in one request while another request holds the session
/// and saves it afterwards: the save fails with `NotFound` and the session
/// stays gone.
pub async fn session_logout_during_save_stays_logged_out(fx: __Fixture) {
    let sessions = sessions(&fx, 600 * SEC, 3600 * SEC);
    let mut created = sessions.create(Some(owner("alice"))).await.expect("create");
    created.insert("cart", &1).expect("insert");
    sessions.save(&mut created).await.expect("save");
    let mut request_a = sessions
        .load(created.id())
        .await
        .expect("load")
        .expect("live");
    assert!(sessions.flush(created.id()).await.expect("logout"));
    request_a.insert("cart", &2).expect("insert");
    let err = sessions
        .save(&mut request_a)
        .await
        .expect_err("save after logout");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(sessions.load(created.id()).await.expect("load").is_none());
    assert!(
        sessions
            .list_for(&owner("alice"))
            .await
            .expect("list")
            .is_empty()
    );
}

/// `cycle_id` moves data and owner to a new id; the old id no longer loads.
pub async fn session_cycle_id_leaves_the_old_id_unusable(fx: __Fixture) {
    let sessions = sessions(&fx, 600 * SEC, 3600 * SEC);
    let mut session = sessions.create(None).await.expect("create");
    session.insert("visits", &3).expect("insert");
    session.set_owner(Some(owner("bob")));
    sessions.save(&mut session).await.expect("save");
    let old = session.id().clone();
    sessions.cycle_id(&mut session).await.expect("cycle");
    assert_ne!(session.id(), &old);
    assert!(sessions.load(&old).await.expect("load old").is_none());
    let loaded = sessions
        .load(session.id())
        .await
        .expect("load")
        .expect("live");
    assert_eq!(loaded.get::<u32>("visits"), Some(3));
    assert_eq!(loaded.owner(), Some(&owner("bob")));
    assert_eq!(
        sessions.list_for(&owner("bob")).await.expect("list").len(),
        1
    );
    // A stale copy cannot cycle (or resurrect) the old id again.
    let mut stale = loaded.clone();
    sessions.flush(loaded.id()).await.expect("logout");
    let err = sessions
        .cycle_id(&mut stale)
        .await
        .expect_err("cycle after logout");
    assert!(
        matches!(err.kind(), ErrorKind::NotFound | ErrorKind::VersionMismatch),
        "{err}"
    );
    assert!(
        sessions
            .list_for(&owner("bob"))
            .await
            .expect("list")
            .is_empty()
    );
}

/// Loads every half idle timeout keep the session alive until its absolute
/// deadline, and not a moment longer.
pub async fn session_absolute_lifetime_holds_under_touches(fx: __Fixture) {
    let sessions = sessions(&fx, 2 * SEC, 4 * SEC);
    let session = sessions.create(None).await.expect("create");
    let deadline = session.deadline();
    for step in 0..5 {
        fx.advance(SEC / 2).await;
        let now = fx.now();
        let loaded = sessions.load(session.id()).await.expect("load");
        if now.checked_add(fx.scaled(SEC / 4)).expect("in range") < deadline {
            let loaded = loaded.unwrap_or_else(|| panic!("step {step}: expired early"));
            assert!(
                loaded.expires_at() <= deadline,
                "touch moved past the deadline"
            );
        }
    }
    fx.advance_to(deadline).await;
    assert!(sessions.load(session.id()).await.expect("load").is_none());
}

/// Without requests, a session expires after the idle timeout.
pub async fn session_idle_timeout_expires_an_unused_session(fx: __Fixture) {
    let sessions = sessions(&fx, 2 * SEC, 3600 * SEC);
    let mut session = sessions.create(None).await.expect("create");
    let expires = session.expires_at();
    fx.advance_to(expires).await;
    assert!(sessions.load(session.id()).await.expect("load").is_none());
    let err = sessions
        .save(&mut session)
        .await
        .expect_err("save of an expired session");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// Loads within the touch interval do not write; a load after it moves the
/// idle expiry.
pub async fn session_touch_is_throttled(fx: __Fixture) {
    let config = SessionConfig::default()
        .idle_timeout(fx.scaled(60 * SEC))
        .absolute_lifetime(fx.scaled(3600 * SEC))
        .touch_interval(fx.scaled(4 * SEC))
        .clock(fx.clock());
    let sessions = Sessions::new(fx.store().clone(), config);
    let session = sessions.create(None).await.expect("create");
    let key = session.id().key();
    let stored = || async {
        fx.store()
            .get(&key)
            .await
            .expect("get")
            .expect("live")
            .expires_at
    };
    let first = stored().await;
    fx.advance(SEC).await;
    let loaded = sessions
        .load(session.id())
        .await
        .expect("load")
        .expect("live");
    assert_eq!(
        stored().await,
        first,
        "a load within the interval must not write"
    );
    assert_eq!(loaded.expires_at(), first.expect("an expiry"));
    fx.advance(4 * SEC).await;
    let loaded = sessions
        .load(session.id())
        .await
        .expect("load")
        .expect("live");
    let moved = stored().await.expect("an expiry");
    assert!(
        moved > first.expect("an expiry"),
        "a load after the interval slides the expiry"
    );
    assert_eq!(loaded.expires_at(), moved);
}

/// `revoke_all` deletes every session of one user and none of another's;
/// `revoke_all_except` keeps the current one; `revoke` refuses a handle of
/// another user.
pub async fn session_revoke_all_touches_no_other_user(fx: __Fixture) {
    let sessions = sessions(&fx, 600 * SEC, 3600 * SEC);
    let (alice, bob) = (owner("alice"), owner("bob"));
    let mut alices = Vec::new();
    for _ in 0..3 {
        alices.push(sessions.create(Some(alice.clone())).await.expect("create"));
    }
    let bobs = [
        sessions.create(Some(bob.clone())).await.expect("create"),
        sessions.create(Some(bob.clone())).await.expect("create"),
    ];
    let alice_handle = sessions.list_for(&alice).await.expect("list")[0]
        .handle
        .clone();
    assert!(!sessions.revoke(&bob, &alice_handle).await.expect("revoke"));
    let kept = alices[0].id().clone();
    assert_eq!(
        sessions
            .revoke_all_except(&alice, &kept)
            .await
            .expect("except"),
        2
    );
    assert!(sessions.load(&kept).await.expect("load").is_some());
    assert_eq!(sessions.revoke_all(&alice).await.expect("revoke all"), 1);
    for s in &alices {
        assert!(sessions.load(s.id()).await.expect("load").is_none());
    }
    for s in &bobs {
        assert!(sessions.load(s.id()).await.expect("load").is_some());
    }
    let handle = sessions.list_for(&bob).await.expect("list")[0]
        .handle
        .clone();
    assert!(sessions.revoke(&bob, &handle).await.expect("revoke own"));
    assert_eq!(sessions.list_for(&bob).await.expect("list").len(), 1);
}

/// The backend under test with a slow owner index: `list_by_owner` waits
/// before it reads, so that logins land while a revoke is under way.
#[derive(Debug)]
struct SlowListing {
    inner: Arc<dyn Store>,
    delay: Duration,
}

#[store_core::async_trait]
impl Intercept for SlowListing {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<(Key, Entry)>> {
        tokio::time::sleep(self.delay).await;
        self.inner.list_by_owner(owner).await
    }
}

/// `revoke_all_except` while the user logs in on other devices (`create`
/// with the owner, `save` of an anonymous session given the owner, and
/// `cycle_id` after `set_owner`), all after the call started and before
/// its listing is read: those sessions are kept, every session the user had
/// before the call is revoked, the current one is kept.
pub async fn session_revoke_all_except_keeps_logins_made_meanwhile(fx: __Fixture) {
    let alice = owner("alice");
    let direct = sessions(&fx, 600 * SEC, 3600 * SEC);
    let keep = direct.create(Some(alice.clone())).await.expect("create");
    let mut before = Vec::new();
    for _ in 0..4 {
        before.push(direct.create(Some(alice.clone())).await.expect("create"));
    }
    let mut saved_login = direct.create(None).await.expect("create");
    let mut cycled_login = direct.create(None).await.expect("create");
    pass(&fx, Duration::from_millis(50)).await;

    let delay = Duration::from_millis(500);
    let slow = SlowListing {
        inner: fx.store().clone(),
        delay,
    };
    let revoking = sessions_on(&fx, Arc::new(Intercepted(slow)), 600 * SEC, 3600 * SEC);
    let (who, kept) = (alice.clone(), keep.id().clone());
    let revoke = tokio::spawn(async move { revoking.revoke_all_except(&who, &kept).await });
    pass(&fx, Duration::from_millis(30)).await;
    let mut during = Vec::new();
    for _ in 0..3 {
        during.push(direct.create(Some(alice.clone())).await.expect("login"));
    }
    saved_login.set_owner(Some(alice.clone()));
    direct.save(&mut saved_login).await.expect("login by save");
    cycled_login.set_owner(Some(alice.clone()));
    direct
        .cycle_id(&mut cycled_login)
        .await
        .expect("login by cycle_id");
    during.push(saved_login);
    during.push(cycled_login);
    assert!(
        !revoke.is_finished(),
        "the logins must land while the revoke runs"
    );
    let revoked = revoke.await.expect("task").expect("revoke_all_except");
    let mut revoked_logins = 0;
    for s in &during {
        if direct.load(s.id()).await.expect("load").is_none() {
            revoked_logins += 1;
        }
    }
    assert_eq!(
        revoked_logins,
        0,
        "{revoked_logins} of {} logins made during the call were revoked",
        during.len()
    );
    for s in &before {
        assert!(
            direct.load(s.id()).await.expect("load").is_none(),
            "a session from before the call survived"
        );
    }
    assert!(direct.load(keep.id()).await.expect("load").is_some());
    assert_eq!(revoked, 4, "the count is the sessions from before the call");
    assert_eq!(
        direct.list_for(&alice).await.expect("list").len(),
        1 + during.len()
    );
}

/// The store holds a hash of the id, never the id itself.
pub async fn session_ids_are_not_stored_in_clear(fx: __Fixture) {
    let sessions = sessions(&fx, 600 * SEC, 3600 * SEC);
    let session = sessions.create(Some(owner("carol"))).await.expect("create");
    let secret = session.id().expose().to_owned();
    for info in sessions.list_for(&owner("carol")).await.expect("list") {
        assert!(!info.handle.as_str().contains(&secret));
        let entry = fx
            .store()
            .get(&info.handle)
            .await
            .expect("get")
            .expect("entry");
        assert!(!String::from_utf8_lossy(&entry.value).contains(&secret));
    }
    assert!(!format!("{session:?}").contains(&secret));
}

/// An OAuth-like token: valid until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Token {
    access: String,
    expires_at: i64,
}

impl Expiring for Token {
    fn expires_at(&self) -> Expiry {
        Expiry::from_unix_millis(self.expires_at).expect("valid expiry")
    }
}

fn tokens(fx: &__Fixture, store: Arc<dyn store_core::Store>) -> TokenStore<Token> {
    TokenStore::new(store, "oauth")
        .expect("namespace")
        .with_clock(fx.clock())
}

/// Races `tasks` callers of `get_fresh` for one user over `stores`
/// (round-robin); returns the tokens they got and how often refresh ran.
async fn race_refresh(
    fx: &__Fixture,
    stores: &[TokenStore<Token>],
    tasks: usize,
) -> (Vec<Token>, usize) {
    let stale = Token {
        access: "old".into(),
        expires_at: fx.now().as_unix_millis(),
    };
    stores[0].set("u1", &stale).await.expect("set");
    let refreshes = Arc::new(AtomicUsize::new(0));
    let valid_until = fx.after(3600 * SEC).as_unix_millis();
    let mut handles = Vec::new();
    for i in 0..tasks {
        let (store, refreshes) = (stores[i % stores.len()].clone(), refreshes.clone());
        handles.push(tokio::spawn(async move {
            store
                .get_fresh("u1", Duration::from_secs(60), |old| async move {
                    let n = refreshes.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(old.map(|t| t.access).as_deref(), Some("old"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<_, std::io::Error>(Token {
                        access: format!("new-{n}"),
                        expires_at: valid_until,
                    })
                })
                .await
                .expect("get_fresh")
        }));
    }
    let mut got = Vec::new();
    for h in handles {
        got.push(h.await.expect("task"));
    }
    (got, refreshes.load(Ordering::SeqCst))
}

/// 100 concurrent `get_fresh` in one process: one refresh, one token.
pub async fn token_refresh_runs_once_in_one_process(fx: __Fixture) {
    let store = tokens(&fx, fx.store().clone());
    let (got, refreshes) = race_refresh(&fx, &[store], 100).await;
    assert_eq!(refreshes, 1, "one refresh for 100 callers");
    assert!(got.iter().all(|t| t == &got[0] && t.access == "new-0"));
}

/// Two store objects on one backend (two processes), 8 callers each:
/// exactly one refresh, and every caller gets its token.
pub async fn token_refresh_runs_once_across_processes(fx: __Fixture) {
    let a = tokens(&fx, fx.store().clone());
    let b = tokens(&fx, fx.reopen().await);
    let (got, refreshes) = race_refresh(&fx, &[a.clone(), b], 16).await;
    assert_eq!(refreshes, 1, "one refresh across two processes");
    assert!(got.iter().all(|t| t == &got[0] && t.access == "new-0"));
    assert_eq!(
        a.get("u1").await.expect("get").expect("stored").value,
        got[0]
    );
}

/// Lets `d` of real time pass, and as much on a manual clock, so that a
/// lease measured on either clock ages as it would in production.
async fn pass(fx: &__Fixture, d: Duration) {
    tokio::time::sleep(d).await;
    if fx.is_manual() {
        fx.advance(d).await;
    }
}

/// Three store objects (three processes), three callers each, and a
/// refresh that takes three times the lease: the holder keeps its lease
/// alive, so exactly one refresh runs and every caller gets its token.
pub async fn token_slow_refresh_runs_once_across_processes(fx: __Fixture) {
    let lease = Duration::from_millis(600);
    let fx = Arc::new(fx);
    let mut stores = vec![tokens(&fx, fx.store().clone()).with_refresh_lease(lease)];
    for _ in 0..2 {
        stores.push(tokens(&fx, fx.reopen().await).with_refresh_lease(lease));
    }
    let stale = Token {
        access: "old".into(),
        expires_at: fx.now().as_unix_millis(),
    };
    stores[0].set("u1", &stale).await.expect("set");
    let valid_until = fx.after(3600 * SEC).as_unix_millis();
    let start = Instant::now();
    // (start, end) of each refresh call, in ms since `start`.
    let calls = Arc::new(Mutex::new(Vec::<(u128, Option<u128>)>::new()));
    let mut handles = Vec::new();
    for i in 0..9 {
        let (store, calls, fx) = (stores[i % 3].clone(), calls.clone(), fx.clone());
        handles.push(tokio::spawn(async move {
            store
                .get_fresh("u1", Duration::from_secs(60), |old| async move {
                    let n = {
                        let mut calls = calls.lock().expect("lock");
                        calls.push((start.elapsed().as_millis(), None));
                        calls.len() - 1
                    };
                    let old = old.map(|t| t.access);
                    for _ in 0..18 {
                        pass(&fx, Duration::from_millis(100)).await;
                    }
                    calls.lock().expect("lock")[n].1 = Some(start.elapsed().as_millis());
                    Ok::<_, std::io::Error>(Token {
                        access: format!("new-{n} from {}", old.as_deref().unwrap_or("none")),
                        expires_at: valid_until,
                    })
                })
                .await
        }));
    }
    let mut got = Vec::new();
    for h in handles {
        got.push(h.await.expect("task"));
    }
    let calls = calls.lock().expect("lock").clone();
    assert_eq!(
        calls.len(),
        1,
        "a refresh of 3 leases ran more than once: (start, end) ms {calls:?}"
    );
    for r in &got {
        match r {
            Ok(t) => assert_eq!(t.access, "new-0 from old"),
            Err(e) => panic!("a caller failed while the holder was alive: {e}"),
        }
    }
    assert_eq!(
        stores[2]
            .get("u1")
            .await
            .expect("get")
            .expect("stored")
            .value
            .access,
        "new-0 from old"
    );
}

/// The backend under test, counting the writes that take or renew a
/// token's refresh lease, and the reads that found a lease already run out
/// (by `clock`).
struct CountsTakes {
    inner: Arc<dyn Store>,
    clock: Arc<dyn store_core::Clock>,
    takes: AtomicUsize,
    expired_seen: AtomicUsize,
}

impl std::fmt::Debug for CountsTakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountsTakes").finish_non_exhaustive()
    }
}

#[store_core::async_trait]
impl Intercept for CountsTakes {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let entry = self.inner.get(key).await?;
        if let Some(e) = &entry {
            let magic = crate::token::LEASE_MAGIC.len();
            if e.value.starts_with(crate::token::LEASE_MAGIC) && e.value.len() >= magic + 24 {
                let until = &e.value[magic + 16..magic + 24];
                let until = i64::from_be_bytes(until.try_into().expect("8 bytes"));
                if until <= self.clock.now().as_unix_millis() {
                    self.expired_seen.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        Ok(entry)
    }

    async fn put(
        &self,
        key: &Key,
        value: bytes::Bytes,
        options: store_core::PutOptions,
    ) -> Result<store_core::PutResult> {
        if value.starts_with(crate::token::LEASE_MAGIC) {
            self.takes.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.put(key, value, options).await
    }
}

/// A holder that hangs (its whole thread blocked, so it stops renewing) is
/// taken over once its lease runs out; when it wakes with a token, it finds
/// the lease taken and writes nothing: `LeaseLost`, and the store keeps the
/// token of the process that took over. Where the hang also holds back the
/// other process's take (a store whose only connection the hung thread
/// holds), the holder's write lands first and the other process, its take
/// refused, returns that token without refreshing. Either way one token is
/// stored, every caller that got a token got that one, and no caller
/// refreshed a token someone else had refreshed.
pub async fn token_holder_that_lost_its_lease_writes_nothing(fx: __Fixture) {
    let lease = Duration::from_millis(300);
    let fx = Arc::new(fx);
    let a = tokens(&fx, fx.store().clone()).with_refresh_lease(lease);
    let b_store = Arc::new(Intercepted(CountsTakes {
        inner: fx.reopen().await,
        clock: fx.clock(),
        takes: AtomicUsize::new(0),
        expired_seen: AtomicUsize::new(0),
    }));
    let b = tokens(&fx, b_store.clone()).with_refresh_lease(lease);
    let stale = Token {
        access: "old".into(),
        expires_at: fx.now().as_unix_millis(),
    };
    a.set("u1", &stale).await.expect("set");
    let valid_until = fx.after(3600 * SEC).as_unix_millis();
    let (started, holding) = tokio::sync::oneshot::channel();
    let hung = fx.clone();
    let holder = tokio::spawn(async move {
        a.get_fresh("u1", Duration::from_secs(60), |_| async move {
            let _ = started.send(());
            if hung.is_manual() {
                hung.advance(lease * 3).await;
            }
            // The process hangs: no task of it runs, renewals neither.
            std::thread::sleep(lease * 5);
            Ok::<_, std::io::Error>(Token {
                access: "from-a".into(),
                expires_at: valid_until,
            })
        })
        .await
    });
    holding.await.expect("the holder started its refresh");
    let holder = Arc::new(tokio::sync::Mutex::new(Some(holder)));
    let a_result = Arc::new(Mutex::new(None));
    let b_refreshes = Arc::new(AtomicUsize::new(0));
    let (slot, waiting, counted) = (a_result.clone(), holder.clone(), b_refreshes.clone());
    let got = b
        .get_fresh("u1", Duration::from_secs(60), |old| async move {
            counted.fetch_add(1, Ordering::SeqCst);
            assert_eq!(old.map(|t| t.access).as_deref(), Some("old"));
            // Holding the lease now: let the hung holder wake and finish.
            let task = waiting.lock().await.take().expect("holder task");
            *slot.lock().expect("lock") = Some(task.await.expect("holder task"));
            Ok::<_, std::io::Error>(Token {
                access: "from-b".into(),
                expires_at: valid_until,
            })
        })
        .await
        .expect("the other process gets a token");
    if let Some(task) = holder.lock().await.take() {
        *a_result.lock().expect("lock") = Some(task.await.expect("holder task"));
    }
    let a_result = a_result
        .lock()
        .expect("lock")
        .take()
        .expect("holder finished");
    let stored = b
        .get("u1")
        .await
        .expect("get")
        .expect("stored")
        .value
        .access;
    assert_eq!(got.access, stored, "the other process got the stored token");
    match a_result {
        Err(RefreshError::LeaseLost) => {
            assert_eq!(
                stored, "from-b",
                "the hung holder's token must not be written"
            );
            assert_eq!(b_refreshes.load(Ordering::SeqCst), 1);
        }
        Ok(t) => {
            assert_eq!(
                (t.access.as_str(), stored.as_str()),
                ("from-a", "from-a"),
                "a holder whose write landed returns the stored token"
            );
            assert_eq!(
                b_refreshes.load(Ordering::SeqCst),
                0,
                "the take was refused: the token was refreshed already"
            );
            // Where the other process's reads ran during the hang, it saw
            // the lease run out, and must have tried to take it.
            let (seen, takes) = (
                b_store.0.expired_seen.load(Ordering::SeqCst),
                b_store.0.takes.load(Ordering::SeqCst),
            );
            assert!(
                seen == 0 || takes >= 1,
                "the other process read a lease that had run out {seen} times and never \
                 tried to take it"
            );
        }
        Err(e) => panic!("expected LeaseLost or the holder's token, got {e}"),
    }
}
