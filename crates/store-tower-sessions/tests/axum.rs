//! `TowerStore` inside a real axum app with tower-sessions'
//! `SessionManagerLayer`: a counter, logout during a slow request,
//! `cycle_id`, hashed keys, and a session created already expired; each on
//! `MemoryStore` and on a SQLite file.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use store_core::Store;
use store_memory::MemoryStore;
use store_tower_sessions::TowerStore;
use time::{OffsetDateTime, UtcOffset};
use tower::ServiceExt;
use tower_sessions::session::{Id, Record};
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

async fn count(session: &Session) -> u32 {
    session.get::<u32>("n").await.unwrap().unwrap_or(0)
}

async fn inc(session: Session) -> String {
    let n = count(&session).await + 1;
    session.insert("n", n).await.unwrap();
    n.to_string()
}

/// Reads, waits, then writes: a request still running when the user logs
/// out in another tab.
async fn slow_inc(session: Session) -> String {
    let n = count(&session).await + 1;
    tokio::time::sleep(Duration::from_millis(300)).await;
    session.insert("n", n).await.unwrap();
    n.to_string()
}

async fn logout(session: Session) -> &'static str {
    session.flush().await.unwrap();
    "bye"
}

async fn cycle(session: Session) -> &'static str {
    session.cycle_id().await.unwrap();
    "cycled"
}

/// Writes to a new session whose absolute expiry passed a minute ago, in
/// UTC+05:00: an app that computed the end of a login window too late.
async fn expired(session: Session) -> &'static str {
    let offset = UtcOffset::from_hms(5, 0, 0).unwrap();
    let at = (OffsetDateTime::now_utc() - time::Duration::seconds(60)).to_offset(offset);
    session.set_expiry(Some(Expiry::AtDateTime(at)));
    session.insert("n", 1).await.unwrap();
    "expired"
}

/// The backends each test runs on, with what must live as long as them.
async fn backends() -> Vec<(Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let sqlite = store_sqlx::SqliteStore::connect(&url).await.unwrap();
    sqlite.setup().await.unwrap();
    vec![
        (Arc::new(MemoryStore::new()), None),
        (Arc::new(sqlite), Some(dir)),
    ]
}

fn app(backend: Arc<dyn Store>) -> Router {
    let layer = SessionManagerLayer::new(TowerStore::new(backend)).with_secure(false);
    Router::new()
        .route("/inc", get(inc))
        .route("/slow_inc", get(slow_inc))
        .route("/logout", get(logout))
        .route("/cycle", get(cycle))
        .route("/expired", get(expired))
        .layer(layer)
}

/// Sends a GET with an optional session cookie; returns status, body and
/// the session cookie the response sets, if any.
async fn call(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::get(path);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, format!("id={c}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("id="))
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), cookie)
}

#[tokio::test]
async fn counter_survives_requests_and_keys_are_hashed() {
    for (backend, _dir) in backends().await {
        counter(backend).await;
    }
}

async fn counter(backend: Arc<dyn Store>) {
    let app = app(backend.clone());
    let (status, body, cookie) = call(&app, "/inc", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    let cookie = cookie.expect("a session cookie");
    assert_eq!(call(&app, "/inc", Some(&cookie)).await.1, "2");
    assert_eq!(call(&app, "/inc", Some(&cookie)).await.1, "3");

    let id = Id::from_str(&cookie).unwrap();
    let store = TowerStore::new(backend);
    let record = store.load(&id).await.unwrap().expect("stored");
    assert_eq!(record.data.get("n"), Some(&serde_json::json!(3)));
}

#[tokio::test]
async fn logout_during_a_slow_request_stays_logged_out() {
    for (backend, _dir) in backends().await {
        logout_race(backend).await;
    }
}

async fn logout_race(backend: Arc<dyn Store>) {
    let app = app(backend.clone());
    let cookie = call(&app, "/inc", None).await.2.expect("cookie");
    let slow = {
        let (app, cookie) = (app.clone(), cookie.clone());
        tokio::spawn(async move { call(&app, "/slow_inc", Some(&cookie)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(call(&app, "/logout", Some(&cookie)).await.1, "bye");
    let (status, body, _) = slow.await.unwrap();
    // The slow request finishes normally, but its save brings nothing back.
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2"));
    let id = Id::from_str(&cookie).unwrap();
    assert!(TowerStore::new(backend).load(&id).await.unwrap().is_none());
    let (_, body, fresh) = call(&app, "/inc", Some(&cookie)).await;
    assert_eq!(body, "1", "the old session is gone");
    assert_ne!(fresh.as_deref(), Some(cookie.as_str()));
}

#[tokio::test]
async fn cycle_id_leaves_the_old_cookie_unusable() {
    for (backend, _dir) in backends().await {
        cycle_ids(backend).await;
    }
}

async fn cycle_ids(backend: Arc<dyn Store>) {
    let app = app(backend);
    let old = call(&app, "/inc", None).await.2.expect("cookie");
    let (_, body, new) = call(&app, "/cycle", Some(&old)).await;
    assert_eq!(body, "cycled");
    let new = new.expect("a new cookie");
    assert_ne!(new, old);
    assert_eq!(call(&app, "/inc", Some(&new)).await.1, "2");
    assert_eq!(
        call(&app, "/inc", Some(&old)).await.1,
        "1",
        "old id is gone"
    );
}

/// Asserts that `backend` holds no entry at all, live or expired and not
/// yet purged.
async fn assert_empty(backend: &dyn Store, what: &str) {
    let page = backend.scan(None, 100).await.unwrap();
    assert!(page.entries.is_empty(), "{what}: {:?}", page.entries);
    assert_eq!(page.expired, 0, "{what}: an expired entry was written");
    assert!(page.next.is_none(), "{what}: more pages");
}

fn record_expiring_at(expiry_date: OffsetDateTime) -> Record {
    let mut record = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date,
    };
    record.data.insert("n".to_owned(), serde_json::json!(1));
    record
}

#[tokio::test]
async fn create_of_an_expired_session_stores_nothing_in_any_offset() {
    for (backend, _dir) in backends().await {
        create_expired(backend).await;
    }
}

async fn create_expired(backend: Arc<dyn Store>) {
    let name = backend.capabilities().backend;
    let store = TowerStore::new(backend.clone());
    let offsets = [
        UtcOffset::from_hms(5, 0, 0).unwrap(),
        UtcOffset::from_hms(-8, 0, 0).unwrap(),
        UtcOffset::UTC,
    ];
    for offset in offsets {
        // A minute ago, 1 ms ago and now: each is over by the time the
        // store sees it.
        for ago in [
            time::Duration::seconds(60),
            time::Duration::milliseconds(1),
            time::Duration::ZERO,
        ] {
            let what = format!("{name}, {offset}, {ago} ago");
            let at = (OffsetDateTime::now_utc() - ago).to_offset(offset);
            let mut record = record_expiring_at(at);
            store
                .create(&mut record)
                .await
                .unwrap_or_else(|e| panic!("{what}: create: {e:?}"));
            assert!(store.load(&record.id).await.unwrap().is_none(), "{what}");
            assert_empty(&*backend, &what).await;
            // `save` of the same record agrees.
            store
                .save(&record)
                .await
                .unwrap_or_else(|e| panic!("{what}: save: {e:?}"));
            assert!(store.load(&record.id).await.unwrap().is_none(), "{what}");
            assert_empty(&*backend, &what).await;
        }
    }
    // Before 1970, which no store can hold as an expiry: still nothing
    // stored and no error.
    let offset = UtcOffset::from_hms(-8, 0, 0).unwrap();
    let mut record = record_expiring_at(
        (OffsetDateTime::UNIX_EPOCH - time::Duration::days(1)).to_offset(offset),
    );
    store.create(&mut record).await.expect("create before 1970");
    store.save(&record).await.expect("save before 1970");
    assert!(store.load(&record.id).await.unwrap().is_none());
    assert_empty(&*backend, name).await;
}

/// A session created already expired gets an id no live session has, so
/// that a later `save` of it (which deletes under its id when expired)
/// cannot touch another user's session.
#[tokio::test]
async fn create_of_an_expired_session_never_keeps_a_live_sessions_id() {
    for (backend, _dir) in backends().await {
        expired_collision(backend).await;
    }
}

async fn expired_collision(backend: Arc<dyn Store>) {
    let store = TowerStore::new(backend);
    let mut live = record_expiring_at(OffsetDateTime::now_utc() + time::Duration::hours(1));
    store.create(&mut live).await.unwrap();
    let offset = UtcOffset::from_hms(-8, 0, 0).unwrap();
    let mut late = record_expiring_at(
        (OffsetDateTime::now_utc() - time::Duration::seconds(60)).to_offset(offset),
    );
    late.id = live.id;
    late.data.insert("n".to_owned(), serde_json::json!(2));
    store.create(&mut late).await.unwrap();
    assert_ne!(late.id, live.id, "the taken id is rolled");
    assert!(store.load(&late.id).await.unwrap().is_none());
    store.save(&late).await.unwrap();
    let kept = store
        .load(&live.id)
        .await
        .unwrap()
        .expect("the live session");
    assert_eq!(kept.data, live.data);
}

/// A store whose clock runs ahead of this process (a server's clock) may
/// find a session expired that this process still sees as live: `create`
/// stores nothing and succeeds, as `save` does.
#[tokio::test]
async fn create_expired_by_the_stores_clock_stores_nothing() {
    let clock = store_core::ManualClock::starting_now();
    clock.advance(Duration::from_secs(2));
    let memory =
        store_memory::MemoryStore::with_config(store_memory::MemoryConfig::default().clock(clock))
            .unwrap();
    let backend: Arc<dyn Store> = Arc::new(memory);
    let store = TowerStore::new(backend.clone());
    let mut record = record_expiring_at(OffsetDateTime::now_utc() + time::Duration::seconds(1));
    store.create(&mut record).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_none());
    store.save(&record).await.unwrap();
    assert_empty(&*backend, "clock ahead").await;
}

#[tokio::test]
async fn a_request_that_creates_an_expired_session_is_not_a_500() {
    for (backend, _dir) in backends().await {
        let app = app(backend.clone());
        let (status, body, _) = call(&app, "/expired", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "expired"));
        assert_empty(&*backend, backend.capabilities().backend).await;
    }
}
