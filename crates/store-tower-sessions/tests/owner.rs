//! The owner index of `TowerStore` inside a real axum app with
//! tower-sessions' `SessionManagerLayer`, over HTTP: logins on two devices
//! listed and revoked, logouts that clear the owner, an owner read from the
//! record shape axum-login writes, invalid owner values, and the entries as
//! `storectl list --owner` / `revoke --owner` see them. Each test runs on
//! `MemoryStore`, a SQLite file and Redis (`memory::…`, `sqlite_file::…`,
//! `redis::…`), in a fresh random namespace.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use store_conformance::logs::CapturedLog;
use store_conformance::provision::{Service, service_url};
use store_core::{Key, Owner, PutMode, PutOptions, Store};
use store_tower_sessions::TowerStore;
use tower::ServiceExt;
use tower_sessions::session::Id;
use tower_sessions::{Session, SessionManagerLayer, SessionStore};

/// A store to test on, and what must live as long as it.
struct Fixture {
    /// The app's store.
    store: Arc<dyn Store>,
    /// Another store object on the same URL and namespace, as
    /// `storectl --url URL --namespace NS` opens it (for memory, the same
    /// object: another process could not see it).
    operator: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

fn namespace() -> String {
    // Hex digits only, so that it is also a valid SQL table name.
    format!(
        "tower_{}",
        &store_conformance::random_namespace()["conformance-".len()..]
    )
}

impl Fixture {
    async fn memory() -> Option<Self> {
        let store: Arc<dyn Store> = Arc::new(
            store_memory::MemoryStore::new()
                .with_namespace(namespace())
                .unwrap(),
        );
        Some(Self {
            operator: store.clone(),
            store,
            _dir: None,
        })
    }

    async fn sqlite_file() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
        let ns = namespace();
        let store = store_sqlx::SqliteStore::connect(&url)
            .await
            .unwrap()
            .with_namespace(&ns)
            .unwrap();
        store.setup().await.unwrap();
        let operator = store_sqlx::SqliteStore::connect(&url)
            .await
            .unwrap()
            .with_namespace(&ns)
            .unwrap();
        Some(Self {
            store: Arc::new(store),
            operator: Arc::new(operator),
            _dir: Some(dir),
        })
    }

    async fn redis() -> Option<Self> {
        let url = service_url(Service::Redis).await?;
        let ns = namespace();
        let connect = || async {
            store_redis::RedisStore::connect(&url)
                .await
                .unwrap()
                .with_namespace(&ns)
                .unwrap()
        };
        Some(Self {
            store: Arc::new(connect().await),
            operator: Arc::new(connect().await),
            _dir: None,
        })
    }
}

/// Expands each behaviour below into a `#[tokio::test]` of that name in
/// the backend's module.
macro_rules! owner_tests {
    ($fixture:expr; $($name:ident,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                if let Some(fixture) = $fixture.await {
                    super::$name(fixture).await;
                }
            }
        )*
    };
    ($fixture:expr) => {
        owner_tests!($fixture;
            two_devices_are_listed_and_logging_out_everywhere_ends_both,
            logging_out_the_other_devices_keeps_this_one,
            removing_the_user_field_clears_the_owner,
            flush_removes_the_session_from_the_listing,
            removing_the_only_field_clears_the_owner_too,
            axum_login_shaped_numeric_owner_is_indexed,
            an_invalid_owner_is_stored_without_owner_not_a_500,
            a_request_in_flight_during_revoke_all_does_not_bring_the_session_back,
            revoke_by_handle_only_for_its_owner_and_only_sessions,
            storectl_list_and_revoke_by_owner_see_the_sessions,
        );
    };
}

mod memory {
    owner_tests!(super::Fixture::memory());
}

mod sqlite_file {
    owner_tests!(super::Fixture::sqlite_file());
}

mod redis {
    owner_tests!(super::Fixture::redis());
}

/// Where the app keeps the logged-in user in the session.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `user_id` → the id.
    Field,
    /// `axum-login.data` → `{"user_id": id, "auth_hash": [..]}`, as
    /// axum-login 0.18 writes it.
    AxumLogin,
}

const AXUM_LOGIN_DATA: &str = "axum-login.data";

#[derive(Clone)]
struct App {
    sessions: TowerStore,
    shape: Shape,
}

fn sessions(store: Arc<dyn Store>, shape: Shape) -> TowerStore {
    let sessions = TowerStore::new(store);
    match shape {
        Shape::Field => sessions.owner_field("user_id"),
        Shape::AxumLogin => sessions.owner_from(AXUM_LOGIN_DATA, "/user_id"),
    }
}

fn app(store: Arc<dyn Store>, shape: Shape) -> Router {
    let sessions = sessions(store, shape);
    let layer = SessionManagerLayer::new(sessions.clone()).with_secure(false);
    Router::new()
        .route("/visit", get(visit))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/slow_visit", get(slow_visit))
        .route("/sessions", get(list))
        .route("/logout", get(logout))
        .route("/forget", get(forget))
        .route("/logout_everywhere", get(logout_everywhere))
        .route("/logout_others", get(logout_others))
        .with_state(App { sessions, shape })
        .layer(layer)
}

/// An anonymous visit: a session with a preference and no user.
async fn visit(session: Session) -> &'static str {
    session.insert("theme", "dark").await.unwrap();
    "hello"
}

/// Logs in as the JSON value in the body, with a new id (as axum-login
/// does against session fixation).
async fn login(State(app): State<App>, session: Session, body: String) -> &'static str {
    let id: Value = serde_json::from_str(&body).unwrap();
    session.cycle_id().await.unwrap();
    match app.shape {
        Shape::Field => session.insert("user_id", id).await.unwrap(),
        Shape::AxumLogin => {
            let data = json!({"user_id": id, "auth_hash": [7, 1, 9, 4]});
            session.insert(AXUM_LOGIN_DATA, data).await.unwrap();
        }
    }
    "welcome"
}

/// The logged-in user as owner text, as the app knows it.
async fn user(app: &App, session: &Session) -> Option<String> {
    let id = match app.shape {
        Shape::Field => session.get::<Value>("user_id").await.unwrap()?,
        Shape::AxumLogin => session
            .get::<Value>(AXUM_LOGIN_DATA)
            .await
            .unwrap()?
            .get("user_id")?
            .clone(),
    };
    match id {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn me(State(app): State<App>, session: Session) -> String {
    user(&app, &session)
        .await
        .unwrap_or_else(|| "anonymous".to_owned())
}

/// Reads the session, waits, then writes it: a request still running when
/// the user logs out everywhere from another device.
async fn slow_visit(session: Session) -> &'static str {
    let theme = session.get::<String>("theme").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    session
        .insert("theme", theme.unwrap_or_default() + "!")
        .await
        .unwrap();
    "slow"
}

/// "My sessions": how many, and whether this one is among them.
async fn list(State(app): State<App>, session: Session) -> Result<String, StatusCode> {
    let who = user(&app, &session).await.ok_or(StatusCode::UNAUTHORIZED)?;
    let listed = app
        .sessions
        .list_for(&Owner::new(who).unwrap())
        .await
        .unwrap();
    let this = session.id().map(|id| TowerStore::handle(&id));
    let current = listed.iter().any(|s| Some(&s.handle) == this.as_ref());
    Ok(format!(
        "{} sessions, current listed: {current}",
        listed.len()
    ))
}

async fn logout(session: Session) -> &'static str {
    session.flush().await.unwrap();
    "bye"
}

/// Logs out by removing the user and keeping the rest of the session.
async fn forget(State(app): State<App>, session: Session) -> &'static str {
    match app.shape {
        Shape::Field => {
            session.remove::<Value>("user_id").await.unwrap();
        }
        Shape::AxumLogin => {
            let data = json!({"user_id": null, "auth_hash": null});
            session.insert(AXUM_LOGIN_DATA, data).await.unwrap();
        }
    }
    "forgotten"
}

async fn logout_everywhere(State(app): State<App>, session: Session) -> Result<String, StatusCode> {
    let who = user(&app, &session).await.ok_or(StatusCode::UNAUTHORIZED)?;
    let n = app
        .sessions
        .revoke_all(&Owner::new(who).unwrap())
        .await
        .unwrap();
    Ok(n.to_string())
}

async fn logout_others(State(app): State<App>, session: Session) -> Result<String, StatusCode> {
    let who = user(&app, &session).await.ok_or(StatusCode::UNAUTHORIZED)?;
    let keep = session.id().ok_or(StatusCode::UNAUTHORIZED)?;
    let n = app
        .sessions
        .revoke_all_except(&Owner::new(who).unwrap(), &keep)
        .await
        .unwrap();
    Ok(n.to_string())
}

/// A browser's cookie jar with one cookie, `id`.
#[derive(Debug, Default, Clone)]
struct Jar(Option<String>);

impl Jar {
    /// Sends a request (a POST when there is a body) with the jar's cookie
    /// and keeps the cookie the response sets or removes; returns the
    /// status and the body.
    async fn call(&mut self, app: &Router, path: &str, body: Option<&str>) -> (StatusCode, String) {
        let mut request = match body {
            Some(_) => Request::post(path),
            None => Request::get(path),
        };
        if let Some(c) = &self.0 {
            request = request.header(header::COOKIE, format!("id={c}"));
        }
        let body = Body::from(body.unwrap_or_default().to_owned());
        let response = app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        if let Some(set) = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("id="))
        {
            let value = set.split(';').next().unwrap_or("");
            self.0 = (!value.is_empty() && !set.contains("Max-Age=0")).then(|| value.to_owned());
        }
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn body(&mut self, app: &Router, path: &str) -> String {
        let (status, body) = self.call(app, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn login(&mut self, app: &Router, id: &str) {
        let (status, body) = self.call(app, "/login", Some(id)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "welcome"));
    }

    fn id(&self) -> Id {
        Id::from_str(self.0.as_deref().expect("a session cookie")).unwrap()
    }

    fn handle(&self) -> Key {
        TowerStore::handle(&self.id())
    }
}

fn owner(text: &str) -> Owner {
    Owner::new(text).unwrap()
}

/// The owner the store holds for the session in `jar`.
async fn stored_owner(store: &dyn Store, jar: &Jar) -> Option<Owner> {
    store
        .get(&jar.handle())
        .await
        .unwrap()
        .expect("the session is stored")
        .owner
}

async fn two_devices_are_listed_and_logging_out_everywhere_ends_both(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::Field);
    let (mut laptop, mut phone) = (Jar::default(), Jar::default());
    laptop.body(&app, "/visit").await;
    let anonymous = laptop.clone();
    laptop.login(&app, "\"alice\"").await;
    assert_ne!(laptop.0, anonymous.0, "login cycles the id");
    phone.login(&app, "\"alice\"").await;
    assert_eq!(laptop.body(&app, "/me").await, "alice");
    assert_eq!(phone.body(&app, "/me").await, "alice");

    let sessions = sessions(fx.store.clone(), Shape::Field);
    let listed = sessions.list_for(&owner("alice")).await.unwrap();
    let mut handles: Vec<Key> = listed.iter().map(|s| s.handle.clone()).collect();
    let mut expected = vec![laptop.handle(), phone.handle()];
    handles.sort();
    expected.sort();
    assert_eq!(handles, expected);
    for info in &listed {
        assert!(info.expires_at.is_some());
        for jar in [&laptop, &phone] {
            let cookie = jar.0.as_deref().unwrap();
            assert!(!info.handle.as_str().contains(cookie), "no id in a handle");
            assert!(!format!("{info:?}").contains(cookie), "no id in Debug");
        }
    }
    assert_eq!(
        laptop.body(&app, "/sessions").await,
        "2 sessions, current listed: true"
    );

    assert_eq!(phone.body(&app, "/logout_everywhere").await, "2");
    assert_eq!(laptop.body(&app, "/me").await, "anonymous");
    assert_eq!(phone.body(&app, "/me").await, "anonymous");
    assert!(sessions.list_for(&owner("alice")).await.unwrap().is_empty());
}

async fn logging_out_the_other_devices_keeps_this_one(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::Field);
    let mut devices = [Jar::default(), Jar::default(), Jar::default()];
    for jar in &mut devices {
        jar.login(&app, "7").await;
    }
    let mut bob = Jar::default();
    bob.login(&app, "\"bob\"").await;
    let [this, a, b] = &mut devices;
    assert_eq!(this.body(&app, "/logout_others").await, "2");
    assert_eq!(this.body(&app, "/me").await, "7");
    assert_eq!(a.body(&app, "/me").await, "anonymous");
    assert_eq!(b.body(&app, "/me").await, "anonymous");
    assert_eq!(bob.body(&app, "/me").await, "bob", "another user's session");
    assert_eq!(
        this.body(&app, "/sessions").await,
        "1 sessions, current listed: true"
    );
}

async fn removing_the_user_field_clears_the_owner(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::Field);
    let mut jar = Jar::default();
    jar.body(&app, "/visit").await;
    assert_eq!(stored_owner(&*fx.store, &jar).await, None, "anonymous");
    jar.login(&app, "\"carol\"").await;
    assert_eq!(stored_owner(&*fx.store, &jar).await, Some(owner("carol")));
    assert_eq!(jar.body(&app, "/forget").await, "forgotten");
    assert_eq!(jar.body(&app, "/me").await, "anonymous");
    // The session lives on (it keeps its theme) without an owner.
    assert_eq!(stored_owner(&*fx.store, &jar).await, None);
    let sessions = sessions(fx.store.clone(), Shape::Field);
    assert!(sessions.list_for(&owner("carol")).await.unwrap().is_empty());
    assert!(
        fx.operator
            .list_by_owner(&owner("carol"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn flush_removes_the_session_from_the_listing(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::Field);
    let (mut a, mut b) = (Jar::default(), Jar::default());
    a.login(&app, "\"dave\"").await;
    b.login(&app, "\"dave\"").await;
    let gone = a.handle();
    assert_eq!(a.body(&app, "/logout").await, "bye");
    assert_eq!(a.0, None, "the cookie is removed");
    let sessions = sessions(fx.store.clone(), Shape::Field);
    let listed = sessions.list_for(&owner("dave")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].handle, b.handle());
    assert!(fx.store.get(&gone).await.unwrap().is_none());
}

/// A session whose only field was the user and that a request left
/// empty: tower-sessions 0.15 still saves it (only a session without an id
/// counts as empty), so the save clears the owner.
async fn removing_the_only_field_clears_the_owner_too(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::Field);
    let mut jar = Jar::default();
    jar.login(&app, "\"heidi\"").await;
    assert_eq!(stored_owner(&*fx.store, &jar).await, Some(owner("heidi")));
    assert_eq!(jar.body(&app, "/forget").await, "forgotten");
    assert!(jar.0.is_some(), "the session and its cookie stay");
    assert_eq!(jar.body(&app, "/me").await, "anonymous");
    assert_eq!(stored_owner(&*fx.store, &jar).await, None);
    let sessions = sessions(fx.store.clone(), Shape::Field);
    assert!(sessions.list_for(&owner("heidi")).await.unwrap().is_empty());
}

async fn axum_login_shaped_numeric_owner_is_indexed(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::AxumLogin);
    let (mut a, mut b) = (Jar::default(), Jar::default());
    a.login(&app, "42").await;
    b.login(&app, "42").await;
    assert_eq!(a.body(&app, "/me").await, "42");
    // The record holds what axum-login 0.18 writes.
    let record = record_data(&sessions(fx.store.clone(), Shape::AxumLogin), &a.id()).await;
    assert_eq!(
        record.get(AXUM_LOGIN_DATA),
        Some(&json!({"user_id": 42, "auth_hash": [7, 1, 9, 4]}))
    );
    assert_eq!(stored_owner(&*fx.store, &a).await, Some(owner("42")));
    assert_eq!(
        a.body(&app, "/sessions").await,
        "2 sessions, current listed: true"
    );
    // A logged-out axum-login shape (`user_id: null`) clears the owner.
    assert_eq!(b.body(&app, "/forget").await, "forgotten");
    assert_eq!(stored_owner(&*fx.store, &b).await, None);
    assert_eq!(
        a.body(&app, "/sessions").await,
        "1 sessions, current listed: true"
    );
    assert_eq!(a.body(&app, "/logout_everywhere").await, "1");
    assert_eq!(a.body(&app, "/me").await, "anonymous");
    assert!(
        fx.store.get(&b.handle()).await.unwrap().is_some(),
        "not 42's"
    );
}

async fn an_invalid_owner_is_stored_without_owner_not_a_500(fx: Fixture) {
    let log = CapturedLog::default();
    let _guard = tracing::subscriber::set_default(log.subscriber());
    let app = app(fx.store.clone(), Shape::Field);
    let too_long = json!("u".repeat(store_core::MAX_OWNER_LEN + 1)).to_string();
    for (id, rule) in [
        ("\"\"", "must not be empty"),
        ("\"bell\\u0007\"", "control character"),
        (too_long.as_str(), "maximum is 256 bytes"),
        ("true", "not a string or a number"),
        ("{\"tenant\": 1, \"id\": 2}", "not a string or a number"),
        ("[42]", "not a string or a number"),
    ] {
        let mut jar = Jar::default();
        let (status, body) = jar.call(&app, "/login", Some(id)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "welcome"), "{id}");
        assert_eq!(stored_owner(&*fx.store, &jar).await, None, "{id}");
        // The session works as any other.
        assert_eq!(jar.body(&app, "/visit").await, "hello");
        assert_eq!(stored_owner(&*fx.store, &jar).await, None, "{id}");
        let text = log.text();
        assert!(text.contains(rule), "{id}: {text}");
        assert!(
            text.contains("session stored without an owner"),
            "{id}: {text}"
        );
        let cookie = jar.0.as_deref().unwrap();
        assert!(!text.contains(cookie), "no session id in the log: {text}");
        if id.len() > 10 {
            assert!(!text.contains(&id[1..10]), "no owner value in the log");
        }
    }
    assert_eq!(log.text().matches("WARN").count(), 12, "{}", log.text());
}

async fn a_request_in_flight_during_revoke_all_does_not_bring_the_session_back(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::Field);
    let (mut a, mut b) = (Jar::default(), Jar::default());
    a.body(&app, "/visit").await;
    a.login(&app, "\"erin\"").await;
    b.login(&app, "\"erin\"").await;
    let slow = {
        let (app, mut a) = (app.clone(), a.clone());
        tokio::spawn(async move { a.call(&app, "/slow_visit", None).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(b.body(&app, "/logout_everywhere").await, "2");
    assert_eq!(slow.await.unwrap(), (StatusCode::OK, "slow".to_owned()));
    assert!(fx.store.get(&a.handle()).await.unwrap().is_none());
    let sessions = sessions(fx.store.clone(), Shape::Field);
    assert!(sessions.list_for(&owner("erin")).await.unwrap().is_empty());
    assert_eq!(a.body(&app, "/me").await, "anonymous");
}

async fn revoke_by_handle_only_for_its_owner_and_only_sessions(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::Field);
    let (mut frank, mut grace) = (Jar::default(), Jar::default());
    frank.login(&app, "\"frank\"").await;
    grace.login(&app, "\"grace\"").await;
    // Another entry of frank's in the namespace: not a session of ours.
    let token = Key::new("token:frank").unwrap();
    let options = PutOptions::new(PutMode::Create).owner(owner("frank"));
    fx.store.put(&token, "t".into(), options).await.unwrap();

    let sessions = sessions(fx.store.clone(), Shape::Field);
    assert_eq!(sessions.list_for(&owner("frank")).await.unwrap().len(), 1);
    assert!(
        !sessions
            .revoke(&owner("frank"), &grace.handle())
            .await
            .unwrap()
    );
    assert!(!sessions.revoke(&owner("frank"), &token).await.unwrap());
    assert_eq!(grace.body(&app, "/me").await, "grace");
    assert!(
        sessions
            .revoke(&owner("frank"), &frank.handle())
            .await
            .unwrap()
    );
    assert_eq!(frank.body(&app, "/me").await, "anonymous");

    frank.login(&app, "\"frank\"").await;
    assert_eq!(sessions.revoke_all(&owner("frank")).await.unwrap(), 1);
    assert!(fx.store.get(&token).await.unwrap().is_some(), "token kept");
}

/// `storectl list --owner frank --url URL --namespace NS` and `storectl
/// revoke --owner …` call `list_by_owner` and `delete_by_owner` on a store
/// opened at the app's URL and namespace: the same calls on `operator`.
async fn storectl_list_and_revoke_by_owner_see_the_sessions(fx: Fixture) {
    let app = app(fx.store.clone(), Shape::AxumLogin);
    let (mut a, mut b) = (Jar::default(), Jar::default());
    a.login(&app, "1001").await;
    b.login(&app, "1001").await;
    let listed = fx.operator.list_by_owner(&owner("1001")).await.unwrap();
    let mut keys: Vec<Key> = listed.into_iter().map(|(key, _)| key).collect();
    let mut expected = vec![a.handle(), b.handle()];
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected);
    assert!(
        keys.iter()
            .all(|k| k.as_str().starts_with("tower-session:"))
    );
    assert_eq!(
        fx.operator.delete_by_owner(&owner("1001")).await.unwrap(),
        2
    );
    assert_eq!(a.body(&app, "/me").await, "anonymous");
    assert_eq!(b.body(&app, "/me").await, "anonymous");
}

/// A stored record's data, through the `SessionStore` interface.
async fn record_data(sessions: &TowerStore, id: &Id) -> HashMap<String, Value> {
    sessions.load(id).await.unwrap().expect("stored").data
}
