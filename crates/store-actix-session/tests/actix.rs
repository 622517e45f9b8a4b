//! `ActixStore` inside a real actix-web app with actix-session's
//! `SessionMiddleware`: login and a second request with the cookie, logout,
//! a save racing a logout, TTL updates and renewal, hashed keys, owners,
//! and the store calls themselves at the edges (TTLs of zero or less, a
//! TTL past year 9999, a state that cannot be decoded). Each test runs on
//! `MemoryStore`, a SQLite file and Redis, in a fresh random namespace.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration as StdDuration, SystemTime};

use actix_session::config::{BrowserSession, TtlExtensionPolicy};
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::{Session, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, CookieJar, Key as CookieKey};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, test, web};
use store_actix_session::{ActixStore, KEY_PREFIX};
use store_conformance::provision::{Service as TestService, service_url};
use store_conformance::random_namespace;
use store_core::{Entry, Expiry, Key, Owner, PutMode, PutOptions, Store};
use tokio::sync::Notify;

/// The key that signs and encrypts the test cookies.
static COOKIE_KEY: LazyLock<CookieKey> = LazyLock::new(CookieKey::generate);

/// The state TTL of the test apps.
const STATE_TTL: Duration = Duration::minutes(10);

/// A store in a fresh namespace, and what must live as long as it.
struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

async fn open_memory() -> Option<Backend> {
    let store = store_memory::MemoryStore::new()
        .with_namespace(random_namespace())
        .expect("namespace");
    Some(Backend {
        store: Arc::new(store),
        _dir: None,
    })
}

async fn open_sqlite_file() -> Option<Backend> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let table = random_namespace().replace('-', "_");
    let config = store_sqlx::SqliteConfig::default().namespace(table);
    let store = store_sqlx::SqliteStore::connect_with(&url, config)
        .await
        .expect("open the SQLite file");
    store.setup().await.expect("create the table");
    Some(Backend {
        store: Arc::new(store),
        _dir: Some(dir),
    })
}

async fn open_redis() -> Option<Backend> {
    let url = service_url(TestService::Redis).await?;
    let store = store_redis::RedisStore::connect(&url)
        .await
        .expect("connect to Redis")
        .with_namespace(random_namespace())
        .expect("namespace");
    Some(Backend {
        store: Arc::new(store),
        _dir: None,
    })
}

// Handlers.

async fn login(session: Session, user: web::Path<String>) -> actix_web::Result<String> {
    session.insert("user_id", user.into_inner())?;
    Ok("ok".into())
}

async fn me(session: Session) -> actix_web::Result<String> {
    Ok(session
        .get::<String>("user_id")?
        .unwrap_or_else(|| "nobody".into()))
}

async fn inc(session: Session) -> actix_web::Result<String> {
    let n = session.get::<u32>("n")?.unwrap_or(0) + 1;
    session.insert("n", n)?;
    Ok(n.to_string())
}

/// Orders a request against a logout in another tab.
#[derive(Default)]
struct Gate {
    /// The slow request has loaded its session.
    loaded: Notify,
    /// The logout has finished.
    logged_out: Notify,
}

/// Reads, waits for a logout elsewhere, then writes: a request still
/// running when the user logs out in another tab.
async fn slow_inc(session: Session, gate: web::Data<Gate>) -> actix_web::Result<String> {
    let n = session.get::<u32>("n")?.unwrap_or(0) + 1;
    gate.loaded.notify_one();
    gate.logged_out.notified().await;
    session.insert("n", n)?;
    Ok(n.to_string())
}

async fn logout(session: Session) -> &'static str {
    session.purge();
    "bye"
}

async fn renew(session: Session) -> &'static str {
    session.renew();
    "renewed"
}

type Request = actix_http::Request;

/// The test app over `sessions`, extending the state TTL as `policy` says.
async fn app(
    sessions: ActixStore,
    policy: TtlExtensionPolicy,
) -> impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error> {
    app_with_gate(sessions, policy, web::Data::new(Gate::default())).await
}

/// [`app`], with the gate of its `/slow_inc` route.
async fn app_with_gate(
    sessions: ActixStore,
    policy: TtlExtensionPolicy,
    gate: web::Data<Gate>,
) -> impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error> {
    let lifecycle = BrowserSession::default()
        .state_ttl(STATE_TTL)
        .state_ttl_extension_policy(policy);
    let middleware = SessionMiddleware::builder(sessions, COOKIE_KEY.clone())
        .cookie_secure(false)
        .session_lifecycle(lifecycle)
        .build();
    test::init_service(
        App::new()
            .app_data(gate)
            .wrap(middleware)
            .route("/login/{user}", web::get().to(login))
            .route("/me", web::get().to(me))
            .route("/inc", web::get().to(inc))
            .route("/slow_inc", web::get().to(slow_inc))
            .route("/logout", web::get().to(logout))
            .route("/renew", web::get().to(renew)),
    )
    .await
}

/// What a response gave back.
struct Reply {
    status: StatusCode,
    body: String,
    /// The session cookie the response set (or removed), if any.
    cookie: Option<Cookie<'static>>,
}

async fn call<S, B>(app: &S, path: &str, cookie: Option<&Cookie<'static>>) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut request = test::TestRequest::get().uri(path);
    if let Some(cookie) = cookie {
        request = request.cookie(cookie.clone());
    }
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status();
    let cookie = response
        .response()
        .cookies()
        .find(|c| c.name() == "id")
        .map(Cookie::into_owned);
    let body = test::read_body(response).await;
    Reply {
        status,
        body: String::from_utf8(body.to_vec()).expect("a text body"),
        cookie,
    }
}

/// The session key a cookie carries (encrypted, as actix-session sends
/// it by default).
fn session_key(cookie: &Cookie<'static>) -> SessionKey {
    let mut jar = CookieJar::new();
    jar.add_original(cookie.clone());
    let value = jar
        .private(&COOKIE_KEY)
        .get("id")
        .expect("a cookie this app encrypted")
        .value()
        .to_owned();
    SessionKey::try_from(value).expect("a session key")
}

/// The store key of the session a cookie carries.
fn store_key(cookie: &Cookie<'static>) -> Key {
    ActixStore::handle(&session_key(cookie))
}

/// Every live entry of the namespace.
async fn entries(store: &dyn Store) -> Vec<(Key, Entry)> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.scan(cursor.as_ref(), 100).await.expect("scan");
        all.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    all
}

fn now() -> Expiry {
    Expiry::from_system_time(SystemTime::now()).expect("now")
}

fn state(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// The behaviours, each on one backend.

async fn login_sets_a_value_and_a_second_request_reads_it(backend: Backend) {
    let store = backend.store;
    let app = app(
        ActixStore::new(store.clone()),
        TtlExtensionPolicy::OnStateChanges,
    )
    .await;
    let reply = call(&app, "/me", None).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "nobody")
    );
    assert!(reply.cookie.is_none(), "no cookie for an empty session");
    assert!(entries(&*store).await.is_empty(), "nothing stored for it");

    let reply = call(&app, "/login/alice", None).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "ok"));
    let cookie = reply.cookie.expect("login sets the session cookie");
    let entry = store
        .get(&store_key(&cookie))
        .await
        .unwrap()
        .expect("the session is stored under the hashed key");
    let stored: HashMap<String, String> = serde_json::from_slice(&entry.value).unwrap();
    assert_eq!(stored, state(&[("user_id", "\"alice\"")]));
    assert_eq!(entry.owner, None, "no owner key configured");

    let reply = call(&app, "/me", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "alice")
    );
    assert_eq!(call(&app, "/inc", Some(&cookie)).await.body, "1");
    assert_eq!(call(&app, "/inc", Some(&cookie)).await.body, "2");
    assert_eq!(call(&app, "/me", Some(&cookie)).await.body, "alice");
    assert_eq!(
        entries(&*store).await.len(),
        1,
        "one session, updated in place"
    );
}

async fn logout_deletes_the_session(backend: Backend) {
    let store = backend.store;
    let app = app(
        ActixStore::new(store.clone()),
        TtlExtensionPolicy::OnStateChanges,
    )
    .await;
    let cookie = call(&app, "/login/alice", None).await.cookie.unwrap();
    let key = store_key(&cookie);
    assert!(store.get(&key).await.unwrap().is_some());

    let reply = call(&app, "/logout", Some(&cookie)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "bye"));
    let removal = reply.cookie.expect("logout removes the cookie");
    assert_eq!(removal.value(), "", "the removal cookie carries no key");
    assert!(
        store.get(&key).await.unwrap().is_none(),
        "the entry is gone"
    );

    // The old cookie, replayed, carries nothing.
    let reply = call(&app, "/me", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "nobody")
    );
    assert!(store.get(&key).await.unwrap().is_none());
    assert!(entries(&*store).await.is_empty());
}

/// The entry is deleted directly in the store between two requests (a
/// revoke from another process): the next request that changes the
/// session starts a new one, without the old data.
async fn a_save_after_the_entry_was_deleted_does_not_resurrect(backend: Backend) {
    let store = backend.store;
    let app = app(
        ActixStore::new(store.clone()),
        TtlExtensionPolicy::OnStateChanges,
    )
    .await;
    let cookie = call(&app, "/login/alice", None).await.cookie.unwrap();
    let key = store_key(&cookie);
    assert!(store.delete(&key, None).await.unwrap());

    let reply = call(&app, "/inc", Some(&cookie)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "1"));
    assert!(
        store.get(&key).await.unwrap().is_none(),
        "the old key stays empty"
    );
    let fresh = reply.cookie.expect("a new session");
    assert_ne!(session_key(&fresh), session_key(&cookie));
    for (_, entry) in entries(&*store).await {
        let stored: HashMap<String, String> = serde_json::from_slice(&entry.value).unwrap();
        assert_eq!(stored, state(&[("n", "1")]), "no trace of alice");
    }
    assert_eq!(call(&app, "/me", Some(&cookie)).await.body, "nobody");
}

/// A logout lands while a slower request of the same session is running:
/// that request's save (actix-session's `update`) finds the session gone,
/// stores nothing under any key, and still answers 200.
async fn a_save_racing_a_logout_does_not_resurrect(backend: Backend) {
    let store = backend.store;
    let gate = web::Data::new(Gate::default());
    let sessions = ActixStore::new(store.clone());
    let app = app_with_gate(sessions, TtlExtensionPolicy::OnStateChanges, gate.clone()).await;
    let cookie = call(&app, "/login/alice", None).await.cookie.unwrap();
    let key = store_key(&cookie);

    let (slow, bye) = tokio::join!(call(&app, "/slow_inc", Some(&cookie)), async {
        gate.loaded.notified().await;
        let bye = call(&app, "/logout", Some(&cookie)).await;
        gate.logged_out.notify_one();
        bye
    });
    assert_eq!(bye.body, "bye");
    assert_eq!((slow.status, slow.body.as_str()), (StatusCode::OK, "1"));
    assert!(store.get(&key).await.unwrap().is_none(), "stays logged out");
    assert!(
        entries(&*store).await.is_empty(),
        "nothing stored under a new key either"
    );
    if let Some(resent) = slow.cookie.filter(|c| !c.value().is_empty()) {
        assert_eq!(
            call(&app, "/me", Some(&resent)).await.body,
            "nobody",
            "the cookie of the racing response carries nothing"
        );
    }
    assert_eq!(call(&app, "/me", Some(&cookie)).await.body, "nobody");
    assert!(entries(&*store).await.is_empty());
}

/// The same race at the store: `update` after `delete` succeeds with the
/// same key and writes nothing.
async fn update_after_delete_writes_nothing(backend: Backend) {
    let store = backend.store;
    let sessions = ActixStore::new(store.clone());
    let alice = state(&[("user_id", "\"alice\"")]);
    let session_key = sessions.save(alice.clone(), &STATE_TTL).await.unwrap();
    let raw = session_key.as_ref().to_owned();
    sessions.delete(&session_key).await.unwrap();
    let returned = sessions
        .update(session_key, alice.clone(), &STATE_TTL)
        .await
        .expect("not an error: the request must not fail");
    assert_eq!(
        returned.as_ref(),
        raw,
        "the same key, with nothing behind it"
    );
    assert!(sessions.load(&returned).await.unwrap().is_none());
    sessions
        .update_ttl(&returned, &STATE_TTL)
        .await
        .expect("touching a deleted session succeeds");
    assert!(sessions.load(&returned).await.unwrap().is_none());
    assert!(entries(&*store).await.is_empty(), "nothing anywhere");
    sessions
        .delete(&returned)
        .await
        .expect("deleting twice succeeds");
}

/// With `OnEveryRequest`, a request that changes nothing moves the
/// expiry (`update_ttl`, through `Store::touch`) without rewriting the
/// state.
async fn ttl_update_moves_the_expiry(backend: Backend) {
    let store = backend.store;
    let app = app(
        ActixStore::new(store.clone()),
        TtlExtensionPolicy::OnEveryRequest,
    )
    .await;
    let cookie = call(&app, "/login/alice", None).await.cookie.unwrap();
    let key = store_key(&cookie);
    let created = store.get(&key).await.unwrap().unwrap();
    let ttl_ms = STATE_TTL.whole_milliseconds() as i64;
    let at = created.expires_at.expect("an expiry").as_unix_millis();
    assert!(
        (now().as_unix_millis() + ttl_ms - 5_000..=now().as_unix_millis() + ttl_ms).contains(&at),
        "expires one state TTL from now"
    );

    let soon = now().checked_add(StdDuration::from_secs(60)).unwrap();
    store.touch(&key, soon).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().expires_at,
        Some(soon)
    );

    let reply = call(&app, "/me", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "alice")
    );
    let touched = store.get(&key).await.unwrap().unwrap();
    let moved = touched.expires_at.unwrap();
    assert!(
        moved.as_unix_millis() >= now().as_unix_millis() + ttl_ms - 5_000,
        "moved back to one state TTL from now: {moved}"
    );
    assert_eq!(touched.value, created.value, "the state is not rewritten");
    assert_eq!(touched.version, created.version, "touch keeps the version");

    // A change of the state sets the expiry too.
    store.touch(&key, soon).await.unwrap();
    assert_eq!(call(&app, "/inc", Some(&cookie)).await.body, "1");
    let updated = store.get(&key).await.unwrap().unwrap();
    assert!(
        updated.expires_at.unwrap().as_unix_millis() >= now().as_unix_millis() + ttl_ms - 5_000
    );
}

/// `session.renew()`: the state moves to a new key with a fresh expiry,
/// and the old key is gone.
async fn renew_moves_the_session_to_a_new_key(backend: Backend) {
    let store = backend.store;
    let app = app(
        ActixStore::new(store.clone()),
        TtlExtensionPolicy::OnStateChanges,
    )
    .await;
    let old = call(&app, "/login/alice", None).await.cookie.unwrap();
    let old_key = store_key(&old);
    let soon = now().checked_add(StdDuration::from_secs(60)).unwrap();
    store.touch(&old_key, soon).await.unwrap();

    let reply = call(&app, "/renew", Some(&old)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "renewed")
    );
    let new = reply.cookie.expect("a new cookie");
    assert_ne!(session_key(&new), session_key(&old));
    assert!(store.get(&old_key).await.unwrap().is_none(), "old key gone");
    let entry = store.get(&store_key(&new)).await.unwrap().unwrap();
    assert!(entry.expires_at.unwrap() > soon, "a fresh expiry");
    assert_eq!(call(&app, "/me", Some(&new)).await.body, "alice");
    assert_eq!(call(&app, "/me", Some(&old)).await.body, "nobody");
}

/// Stored keys are `actix-session:` and a hash: neither the key nor the
/// value holds the session key.
async fn the_session_key_is_not_in_the_stored_key(backend: Backend) {
    let store = backend.store;
    let app = app(
        ActixStore::new(store.clone()),
        TtlExtensionPolicy::OnStateChanges,
    )
    .await;
    let cookies = [
        call(&app, "/login/alice", None).await.cookie.unwrap(),
        call(&app, "/login/bob", None).await.cookie.unwrap(),
    ];
    let stored = entries(&*store).await;
    assert_eq!(stored.len(), 2);
    for cookie in &cookies {
        let session_key = session_key(cookie);
        let raw = session_key.as_ref();
        assert_eq!(raw.len(), 64);
        assert!(
            raw.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{}",
            raw.len()
        );
        assert!(!cookie.value().contains(raw), "the cookie is encrypted");
        for (key, entry) in &stored {
            assert!(key.as_str().starts_with(KEY_PREFIX));
            assert_eq!(
                key.as_str().len(),
                KEY_PREFIX.len() + 43,
                "SHA-256 in base64"
            );
            assert!(!key.as_str().contains(raw), "the key holds no session key");
            let value = String::from_utf8_lossy(&entry.value);
            assert!(!value.contains(raw), "the value holds no session key");
        }
        assert!(
            stored
                .iter()
                .any(|(k, _)| *k == ActixStore::handle(&session_key))
        );
    }
}

/// TTLs of zero or less end a session at every step, without a panic or
/// an error; a TTL past year 9999 is a clear error.
async fn ttls_of_zero_or_less_end_the_session(backend: Backend) {
    let store = backend.store;
    let sessions = ActixStore::new(store.clone());
    let alice = state(&[("user_id", "\"alice\"")]);
    for ttl in [Duration::ZERO, Duration::seconds(-5), Duration::MIN] {
        let key = sessions.save(alice.clone(), &ttl).await.expect("save");
        assert!(sessions.load(&key).await.unwrap().is_none(), "{ttl}");
        assert!(
            entries(&*store).await.is_empty(),
            "nothing stored for {ttl}"
        );

        let key = sessions.save(alice.clone(), &STATE_TTL).await.unwrap();
        assert!(sessions.load(&key).await.unwrap().is_some());
        let key = sessions
            .update(key, alice.clone(), &ttl)
            .await
            .expect("update");
        assert!(
            sessions.load(&key).await.unwrap().is_none(),
            "update {ttl} ends it"
        );

        let key = sessions.save(alice.clone(), &STATE_TTL).await.unwrap();
        sessions.update_ttl(&key, &ttl).await.expect("update_ttl");
        assert!(
            sessions.load(&key).await.unwrap().is_none(),
            "update_ttl {ttl} ends it"
        );
        assert!(entries(&*store).await.is_empty());
    }

    let key = sessions.save(alice.clone(), &STATE_TTL).await.unwrap();
    let err = sessions
        .save(alice.clone(), &Duration::MAX)
        .await
        .unwrap_err();
    assert!(matches!(err, SaveError::Other(_)), "{err:?}");
    let SaveError::Other(inner) = err else {
        unreachable!()
    };
    assert!(
        format!("{inner:#}").contains("9999-12-31T23:59:59.999Z"),
        "{inner:#}"
    );
    let err = sessions
        .update(key, alice.clone(), &Duration::MAX)
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::Other(_)), "{err:?}");
    assert_eq!(entries(&*store).await.len(), 1, "the session is unchanged");
}

/// A short TTL expires on every backend: the session is not loaded after it.
async fn a_short_ttl_expires(backend: Backend) {
    let sessions = ActixStore::new(backend.store);
    let key = sessions
        .save(state(&[("n", "1")]), &Duration::milliseconds(300))
        .await
        .unwrap();
    assert!(sessions.load(&key).await.unwrap().is_some());
    actix_web::rt::time::sleep(StdDuration::from_millis(600)).await;
    assert!(sessions.load(&key).await.unwrap().is_none());
}

/// A stored state that is not a JSON object of strings is a
/// `Deserialization` error that does not echo the data; the app answers
/// with an empty session and overwrites it at the next save.
async fn an_undecodable_state_is_a_deserialization_error(backend: Backend) {
    let store = backend.store;
    let sessions = ActixStore::new(store.clone());
    let app = app(sessions.clone(), TtlExtensionPolicy::OnStateChanges).await;
    let cookie = call(&app, "/login/alice", None).await.cookie.unwrap();
    let key = store_key(&cookie);
    let expiry = now().checked_add(StdDuration::from_secs(600)).unwrap();
    let options = PutOptions::new(PutMode::Update).expires_at(expiry);
    store
        .put(&key, r#"{"token":1234567}"#.into(), options)
        .await
        .unwrap();
    let err = sessions.load(&session_key(&cookie)).await.unwrap_err();
    let LoadError::Deserialization(inner) = err else {
        panic!("expected Deserialization, got {err:?}");
    };
    assert!(!format!("{inner:#}").contains("1234567"), "{inner:#}");

    let reply = call(&app, "/me", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "nobody")
    );
    assert_eq!(call(&app, "/inc", Some(&cookie)).await.body, "1");
    assert!(
        sessions
            .load(&session_key(&cookie))
            .await
            .unwrap()
            .is_some()
    );
}

/// With `owner_field`, a user's sessions are listed and revoked: one
/// device, then everywhere; other users' sessions and the owner's other
/// entries are untouched, a revoked cookie carries nothing, and a request
/// still running on a revoked session does not bring it back.
async fn owners_list_and_revoke_a_users_sessions(backend: Backend) {
    let store = backend.store;
    let gate = web::Data::new(Gate::default());
    let sessions = ActixStore::new(store.clone()).owner_field("user_id");
    let app = app_with_gate(
        sessions.clone(),
        TtlExtensionPolicy::OnStateChanges,
        gate.clone(),
    )
    .await;
    let laptop = call(&app, "/login/alice", None).await.cookie.unwrap();
    let phone = call(&app, "/login/alice", None).await.cookie.unwrap();
    let tablet = call(&app, "/login/alice", None).await.cookie.unwrap();
    let bob = call(&app, "/login/bob", None).await.cookie.unwrap();
    let alice = Owner::new("alice").unwrap();
    // Another entry of alice's in the namespace, not a session.
    let other = Key::new("profile:alice").unwrap();
    let options = PutOptions::new(PutMode::Create).owner(alice.clone());
    store.put(&other, "{}".into(), options).await.unwrap();

    let handles = |mut listed: Vec<store_actix_session::SessionInfo>| {
        listed.sort_by(|a, b| a.handle.cmp(&b.handle));
        listed.into_iter().map(|i| i.handle).collect::<Vec<_>>()
    };
    let mut expected = vec![store_key(&laptop), store_key(&phone), store_key(&tablet)];
    expected.sort();
    let listed = sessions.list_for(&alice).await.unwrap();
    assert!(listed.iter().all(|i| i.expires_at.is_some()));
    assert_eq!(handles(listed), expected, "alice's three sessions");
    // An update keeps the owner.
    assert_eq!(call(&app, "/inc", Some(&laptop)).await.body, "1");
    assert_eq!(sessions.list_for(&alice).await.unwrap().len(), 3);

    // One device; bob cannot revoke alice's session.
    let bob_owner = Owner::new("bob").unwrap();
    assert!(
        !sessions
            .revoke(&bob_owner, &store_key(&tablet))
            .await
            .unwrap()
    );
    assert!(
        !sessions.revoke(&alice, &other).await.unwrap(),
        "not a session"
    );
    assert!(sessions.revoke(&alice, &store_key(&tablet)).await.unwrap());
    assert_eq!(call(&app, "/me", Some(&tablet)).await.body, "nobody");

    // Everywhere, while a request of the laptop is still running.
    let (slow, revoked) = tokio::join!(call(&app, "/slow_inc", Some(&laptop)), async {
        gate.loaded.notified().await;
        let revoked = sessions.revoke_all(&alice).await.unwrap();
        gate.logged_out.notify_one();
        revoked
    });
    assert_eq!(revoked, 2);
    assert_eq!((slow.status, slow.body.as_str()), (StatusCode::OK, "2"));
    assert!(sessions.list_for(&alice).await.unwrap().is_empty());
    assert!(store.get(&store_key(&laptop)).await.unwrap().is_none());
    assert_eq!(call(&app, "/me", Some(&laptop)).await.body, "nobody");
    assert_eq!(call(&app, "/me", Some(&phone)).await.body, "nobody");
    assert_eq!(call(&app, "/me", Some(&bob)).await.body, "bob");
    assert!(store.get(&other).await.unwrap().is_some(), "not a session");
    assert_eq!(sessions.list_for(&bob_owner).await.unwrap().len(), 1);
}

/// Logging out by removing the owner's entry (not purging) keeps the
/// session without an owner; an owner value that is not a valid owner
/// stores the session anyway, without one.
async fn the_owner_follows_the_state(backend: Backend) {
    let store = backend.store;
    let sessions = ActixStore::new(store.clone()).owner_field("user_id");
    let alice = Owner::new("alice").unwrap();
    let ttl = &STATE_TTL;
    let key = sessions
        .save(state(&[("user_id", "\"alice\""), ("n", "1")]), ttl)
        .await
        .unwrap();
    assert_eq!(sessions.list_for(&alice).await.unwrap().len(), 1);
    let key = sessions
        .update(key, state(&[("n", "1")]), ttl)
        .await
        .unwrap();
    assert!(sessions.list_for(&alice).await.unwrap().is_empty());
    assert!(sessions.load(&key).await.unwrap().is_some(), "still stored");

    for bad in ["\"\"", "true", "{\"id\":1}"] {
        let key = sessions
            .save(state(&[("user_id", bad)]), ttl)
            .await
            .expect("stored without an owner");
        let entry = store.get(&ActixStore::handle(&key)).await.unwrap().unwrap();
        assert_eq!(entry.owner, None, "{bad}");
    }
}

macro_rules! backend_tests {
    ($($backend:ident => $open:ident),* $(,)?) => {$(
        mod $backend {
            use super::*;

            backend_tests!(@tests $open:
                login_sets_a_value_and_a_second_request_reads_it,
                logout_deletes_the_session,
                a_save_after_the_entry_was_deleted_does_not_resurrect,
                a_save_racing_a_logout_does_not_resurrect,
                update_after_delete_writes_nothing,
                ttl_update_moves_the_expiry,
                renew_moves_the_session_to_a_new_key,
                the_session_key_is_not_in_the_stored_key,
                ttls_of_zero_or_less_end_the_session,
                a_short_ttl_expires,
                an_undecodable_state_is_a_deserialization_error,
                owners_list_and_revoke_a_users_sessions,
                the_owner_follows_the_state,
            );
        }
    )*};
    (@tests $open:ident: $($test:ident),* $(,)?) => {$(
        #[actix_web::test]
        async fn $test() {
            let Some(backend) = $open().await else {
                return;
            };
            super::$test(backend).await;
        }
    )*};
}

backend_tests! {
    memory => open_memory,
    sqlite_file => open_sqlite_file,
    redis => open_redis,
}
