//! `SessionLayer` and `CurrentSession` inside a real axum app served over
//! HTTP on loopback: the cookie and its attributes, writes only when the
//! session changed, a save racing a logout, the id cycled at login, "log
//! out everywhere (else)", the sessions list with its metadata. Each test
//! runs on `MemoryStore`, a SQLite file and Redis (`STORE_TEST_REDIS_URL`,
//! skipped without it, or failing under `STORE_TEST_REQUIRE=1`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Form;
use axum::routing::{get, post};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{COOKIE, SET_COOKIE, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use store_core::{Key, Owner, Store};
use store_session::axum::{CurrentSession, SessionError, SessionLayer};
use store_session::{SessionConfig, Sessions};

type Reply = Result<String, SessionError>;

async fn count(session: CurrentSession) -> Reply {
    let n: u64 = session.get("n").await?.unwrap_or(0);
    session.insert("n", &(n + 1)).await?;
    Ok((n + 1).to_string())
}

/// Reads, waits, then writes: a request still running when the user logs
/// out in another tab.
async fn slow_count(session: CurrentSession) -> Reply {
    let n: u64 = session.get("n").await?.unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    session.insert("n", &(n + 1)).await?;
    Ok((n + 1).to_string())
}

async fn whoami(session: CurrentSession) -> Reply {
    Ok(match session.owner().await? {
        Some(owner) => owner.as_str().to_owned(),
        None => "nobody".to_owned(),
    })
}

async fn nothing() -> &'static str {
    "untouched"
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
}

async fn login(session: CurrentSession, Form(form): Form<LoginForm>) -> Reply {
    session.login(Owner::new(form.name)?).await?;
    Ok("in".to_owned())
}

async fn logout(session: CurrentSession) -> Reply {
    Ok(session.logout().await?.to_string())
}

async fn everywhere(session: CurrentSession) -> Reply {
    Ok(session.logout_everywhere().await?.to_string())
}

async fn everywhere_else(session: CurrentSession) -> Reply {
    Ok(session.logout_everywhere_else().await?.to_string())
}

/// One line per session: `current|other created last_seen user-agent`.
async fn list(session: CurrentSession) -> Reply {
    let mut out = String::new();
    for info in session.list().await? {
        out.push_str(&format!(
            "{} {} {} {}\n",
            if info.current { "current" } else { "other" },
            info.created.as_unix_millis(),
            info.last_seen.as_unix_millis(),
            info.user_agent.as_deref().unwrap_or("-"),
        ));
    }
    Ok(out)
}

fn app(store: Arc<dyn Store>, layer: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    let sessions = Sessions::new(store, SessionConfig::default());
    Router::new()
        .route("/count", post(count))
        .route("/slow_count", post(slow_count))
        .route("/whoami", get(whoami))
        .route("/nothing", get(nothing))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/everywhere", post(everywhere))
        .route("/everywhere_else", post(everywhere_else))
        .route("/list", get(list))
        .layer(layer(SessionLayer::new(sessions).secure(false)))
}

/// The app served on a loopback port, and a client for it.
struct Served {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn serve(app: Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Served {
        addr,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

/// One browser: its cookie (as the server last set it) and user agent.
struct Browser<'a> {
    served: &'a Served,
    cookie: Option<String>,
    agent: &'static str,
}

/// What a request got back.
struct Answer {
    status: StatusCode,
    set_cookie: Option<String>,
    body: String,
}

impl<'a> Browser<'a> {
    fn new(served: &'a Served, agent: &'static str) -> Self {
        Self {
            served,
            cookie: None,
            agent,
        }
    }

    async fn send(&mut self, method: &str, path: &str, form: &str) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.served.addr))
            .header(USER_AGENT, self.agent)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.clone());
        }
        let request = request
            .body(Full::new(Bytes::from(form.to_owned())))
            .expect("request");
        let response = self.served.client.request(request).await.expect("HTTP");
        let status = response.status();
        let set_cookie = response
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().expect("ASCII").to_owned());
        if let Some(set) = &set_cookie {
            let pair = set.split(';').next().expect("name=value").to_owned();
            // A removal sets an empty value (and an expiry in the past).
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            set_cookie,
            body: String::from_utf8(body.to_vec()).expect("UTF-8"),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, "").await
    }

    async fn post(&mut self, path: &str, form: &str) -> Answer {
        self.send("POST", path, form).await
    }
}

/// How many session entries the store holds.
async fn stored(store: &dyn Store) -> usize {
    let mut keys = std::collections::BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = store
            .scan(cursor.as_ref(), store_core::MAX_SCAN_LIMIT)
            .await
            .expect("scan");
        keys.extend(page.entries.into_iter().map(|(k, _)| k));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return keys.len(),
        }
    }
}

/// The cookie is set when a session starts, with the configured
/// attributes; a request that does not change the session writes nothing
/// and sets no cookie; one that never asks for it reads nothing.
async fn cookie_and_writes(store: Arc<dyn Store>) {
    let served = serve(app(store.clone(), |l| l.cookie_name("sid"))).await;
    let mut browser = Browser::new(&served, "test-agent/1.0");
    let first = browser.post("/count", "").await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    let set = first.set_cookie.expect("a new session sets the cookie");
    assert!(set.starts_with("sid="), "{set}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    assert_eq!(stored(&*store).await, 1);

    let second = browser.post("/count", "").await;
    assert_eq!(second.body, "2");
    assert!(second.set_cookie.is_none(), "the id did not change");
    let key_of = |b: &Browser<'_>| {
        let id = b
            .cookie
            .as_deref()
            .expect("cookie")
            .trim_start_matches("sid=");
        store_session::SessionId::parse(id).expect("id").key()
    };
    let before = store
        .get(&key_of(&browser))
        .await
        .expect("get")
        .expect("live");
    let read = browser.get("/whoami").await;
    assert_eq!((read.body.as_str(), read.set_cookie), ("nobody", None));
    let after = store
        .get(&key_of(&browser))
        .await
        .expect("get")
        .expect("live");
    assert_eq!(before.version, after.version, "a read-only request wrote");

    let mut stranger = Browser::new(&served, "x");
    stranger.cookie = Some("sid=not-a-session-id".to_owned());
    let untouched = stranger.get("/nothing").await;
    assert_eq!(untouched.body, "untouched");
    assert!(untouched.set_cookie.is_none());
    assert_eq!(stranger.get("/whoami").await.body, "nobody");
    assert_eq!(stored(&*store).await, 1, "reads never create a session");

    let secure = serve(app(store, |l| {
        l.secure(true)
            .domain("example.test")
            .path("/app")
            .max_age(Some(Duration::from_secs(600)))
    }))
    .await;
    let set = Browser::new(&secure, "x")
        .post("/count", "")
        .await
        .set_cookie
        .expect("cookie");
    for attribute in ["Secure", "Domain=example.test", "Path=/app", "Max-Age=600"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
}

/// A request that read the session before a logout in another tab and
/// saves after it: nothing is written, the response is not a 500, the
/// cookie is cleared, and the session stays logged out.
async fn save_racing_logout(store: Arc<dyn Store>) {
    let served = serve(app(store.clone(), |l| l)).await;
    let mut tab = Browser::new(&served, "x");
    assert_eq!(tab.post("/login", "name=alice").await.body, "in");
    assert_eq!(tab.get("/whoami").await.body, "alice");
    let mut other_tab = Browser::new(&served, "x");
    other_tab.cookie = tab.cookie.clone();
    let slow = {
        let mut racer = Browser::new(&served, "x");
        racer.cookie = tab.cookie.clone();
        async move { racer.post("/slow_count", "").await }
    };
    let logout = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        other_tab.post("/logout", "").await
    };
    let (slow, logout) = tokio::join!(slow, logout);
    assert_eq!(logout.body, "true");
    assert_eq!(
        slow.status,
        StatusCode::OK,
        "a save racing a logout is not an error"
    );
    let cleared = slow
        .set_cookie
        .expect("the racing response clears the cookie");
    assert!(
        cleared.contains("Max-Age=0") || cleared.contains("Expires"),
        "{cleared}"
    );
    assert_eq!(
        tab.get("/whoami").await.body,
        "nobody",
        "logged out for good"
    );
    assert_eq!(stored(&*store).await, 0, "nothing resurrected");
}

/// A login gives an existing session a new id; the old one stops working.
async fn login_cycles_the_id(store: Arc<dyn Store>) {
    let served = serve(app(store.clone(), |l| l)).await;
    let mut browser = Browser::new(&served, "x");
    browser.post("/count", "").await;
    let before = browser.cookie.clone().expect("anonymous session");
    let answer = browser.post("/login", "name=bob").await;
    let after = browser.cookie.clone().expect("cookie");
    assert!(answer.set_cookie.is_some());
    assert_ne!(before, after, "the id changes at login");
    assert_eq!(
        browser.post("/count", "").await.body,
        "2",
        "the data moved along"
    );
    let mut stale = Browser::new(&served, "x");
    stale.cookie = Some(before);
    assert_eq!(stale.get("/whoami").await.body, "nobody");
    assert_eq!(stored(&*store).await, 1);
}

/// Three devices of one user: the list marks this one current and shows
/// each device; "everywhere else" keeps only this one, "everywhere" none.
async fn logout_everywhere(store: Arc<dyn Store>) {
    let served = serve(app(store.clone(), |l| l)).await;
    let mut laptop = Browser::new(&served, "Laptop/1.0");
    let mut phone = Browser::new(&served, "Phone/2.0");
    let mut tablet = Browser::new(&served, "Tablet/3.0");
    for device in [&mut laptop, &mut phone, &mut tablet] {
        device.post("/login", "name=carol").await;
    }
    let listed = laptop.get("/list").await.body;
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("current")).count(), 1);
    let current = lines.iter().find(|l| l.starts_with("current")).unwrap();
    assert!(current.ends_with("Laptop/1.0"), "{current}");
    for agent in ["Phone/2.0", "Tablet/3.0"] {
        assert!(listed.contains(agent), "{agent} missing: {listed}");
    }
    for line in &lines {
        let fields: Vec<i64> = line
            .split(' ')
            .skip(1)
            .take(2)
            .map(|f| f.parse().unwrap())
            .collect();
        assert!(fields[1] >= fields[0], "last seen before created: {line}");
    }

    assert_eq!(laptop.post("/everywhere_else", "").await.body, "2");
    assert_eq!(phone.get("/whoami").await.body, "nobody");
    assert_eq!(tablet.get("/whoami").await.body, "nobody");
    assert_eq!(laptop.get("/whoami").await.body, "carol");
    phone.post("/login", "name=carol").await;
    let everywhere = laptop.post("/everywhere", "").await;
    assert_eq!(everywhere.body, "2");
    assert!(
        everywhere
            .set_cookie
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    assert_eq!(laptop.get("/whoami").await.body, "nobody");
    assert_eq!(phone.get("/whoami").await.body, "nobody");
    let carol = Owner::new("carol").unwrap();
    assert!(store.list_by_owner(&carol).await.unwrap().is_empty());
}

/// A route under no `SessionLayer` that asks for the session: a 500 naming
/// the mistake, not a panic.
#[tokio::test]
async fn current_session_without_the_layer_is_a_500() {
    let app = Router::new().route("/whoami", get(whoami));
    let served = serve(app).await;
    let answer = Browser::new(&served, "x").get("/whoami").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.body.contains("SessionLayer"), "{}", answer.body);
}

/// A handle that is not a session of this user revokes nothing.
#[tokio::test]
async fn revoke_needs_the_owner() {
    let store: Arc<dyn Store> = Arc::new(store_memory::MemoryStore::new());
    let sessions = Sessions::new(store.clone(), SessionConfig::default());
    let dave = sessions
        .create(Some(Owner::new("dave").unwrap()))
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/revoke",
            post(move |session: CurrentSession| {
                let handle: Key = dave.id().key();
                async move { Ok::<_, SessionError>(session.revoke(&handle).await?.to_string()) }
            }),
        )
        .route("/login", post(login))
        .layer(SessionLayer::new(sessions).secure(false));
    let served = serve(app).await;
    let mut eve = Browser::new(&served, "x");
    eve.post("/login", "name=eve").await;
    assert_eq!(eve.post("/revoke", "").await.body, "false");
    assert_eq!(stored(&*store).await, 2);
}

macro_rules! on_backend {
    ($name:ident, $open:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn axum_cookie_is_set_with_its_attributes_and_reads_do_not_write() {
                let Some((store, _keep)) = $open else { return };
                cookie_and_writes(store).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn axum_save_racing_a_logout_stays_logged_out_without_a_500() {
                let Some((store, _keep)) = $open else { return };
                save_racing_logout(store).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn axum_login_cycles_the_id() {
                let Some((store, _keep)) = $open else { return };
                login_cycles_the_id(store).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn axum_logout_everywhere_else_then_everywhere() {
                let Some((store, _keep)) = $open else { return };
                logout_everywhere(store).await;
            }
        }
    };
}

on_backend!(
    memory,
    Some::<(Arc<dyn Store>, ())>((Arc::new(store_memory::MemoryStore::new()), ()))
);
on_backend!(sqlite_file, sqlite_file().await);
on_backend!(redis, redis().await);

async fn sqlite_file() -> Option<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let store = store_sqlx::SqliteStore::connect(&url).await.expect("open");
    store.setup().await.expect("setup");
    Some((Arc::new(store), dir))
}

async fn redis() -> Option<(Arc<dyn Store>, ())> {
    use store_conformance::provision::{Service, service_url};
    let url = service_url(Service::Redis).await?;
    let store = store_redis::RedisStore::connect(&url)
        .await
        .expect("connect")
        .with_namespace(store_conformance::random_namespace())
        .expect("namespace");
    Some((Arc::new(store), ()))
}
