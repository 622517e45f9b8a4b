//! `TowerStore` inside a real axum app with tower-sessions'
//! `SessionManagerLayer`: a counter, logout during a slow request,
//! `cycle_id`, and hashed keys; each on `MemoryStore` and on a SQLite file.

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
use tower::ServiceExt;
use tower_sessions::session::Id;
use tower_sessions::{Session, SessionManagerLayer, SessionStore};

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

/// The backends each test runs on, with what must live as long as them.
async fn backends() -> Vec<(Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let sqlite = store_sqlx::SqliteStore::connect(&url).await.unwrap();
    sqlite.migrate().await.unwrap();
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
