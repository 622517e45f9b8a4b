//! The demo web app: sessions and an OAuth-like token on any store.
//!
//! - `GET /`: the login form, or the user's counter with buttons.
//! - `POST /login` (`name`): a session owned by that user; the id is cycled
//!   at login.
//! - `POST /count`: the counter in the session, plus one.
//! - `GET /sessions`: the user's live sessions, with revoke buttons;
//!   `POST /sessions/revoke` (`handle`) and `POST /sessions/revoke-others`.
//! - `GET /token`: a token valid for 30 seconds, refreshed (once, however
//!   many requests ask) when it has less than 10 seconds left.
//! - `POST /logout`: deletes the session.
//!
//! Pages are plain HTML without scripts; every answer starts with a line
//! that is easy to read with `curl`.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use store::{Clock, Expiry, Key, Owner, Store, SystemClock};
use store_session::{Expiring, Session, SessionConfig, SessionId, Sessions, TokenStore};

/// The session cookie's name.
pub const COOKIE: &str = "sid";

/// The demo's shared state: sessions and tokens on one store.
#[derive(Clone, Debug)]
pub struct App {
    sessions: Sessions,
    tokens: TokenStore<DemoToken>,
    refreshes: Arc<AtomicU64>,
}

/// An OAuth-like token: an opaque access token and its expiry.
#[derive(Clone, Serialize, Deserialize)]
struct DemoToken {
    access: String,
    expires_at: i64,
}

impl Expiring for DemoToken {
    fn expires_at(&self) -> Expiry {
        Expiry::from_unix_millis(self.expires_at).unwrap_or(Expiry::UNIX_EPOCH)
    }
}

impl App {
    /// The app on `store`.
    ///
    /// # Errors
    /// A store error building the token store (never for a valid store).
    pub fn new(store: Arc<dyn Store>) -> store::Result<Self> {
        let config = SessionConfig::default()
            .idle_timeout(Duration::from_secs(30 * 60))
            .absolute_lifetime(Duration::from_secs(8 * 3600));
        Ok(Self {
            sessions: Sessions::new(store.clone(), config),
            tokens: TokenStore::new(store, "demo-oauth")?,
            refreshes: Arc::default(),
        })
    }

    /// The routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(home))
            .route("/login", post(login))
            .route("/count", post(count))
            .route("/sessions", get(list_sessions))
            .route("/sessions/revoke", post(revoke))
            .route("/sessions/revoke-others", post(revoke_others))
            .route("/token", get(token))
            .route("/logout", post(logout))
            .with_state(self)
    }
}

/// A store failure as a 503 page; the message never holds a secret.
struct Failure(store::Error);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match self.0.kind() {
            store::ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, format!("error: {}\n", self.0)).into_response()
    }
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Self {
        Self(e)
    }
}

type Page = Result<Response, Failure>;

fn cookie_id(headers: &HeaderMap) -> Option<SessionId> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .find_map(|v| SessionId::parse(v).ok())
}

async fn current(app: &App, headers: &HeaderMap) -> Result<Option<Session>, Failure> {
    match cookie_id(headers) {
        Some(id) => Ok(app.sessions.load(&id).await?),
        None => Ok(None),
    }
}

fn set_cookie(id: Option<&SessionId>) -> HeaderValue {
    let value = match id {
        Some(id) => format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax", id.expose()),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    };
    HeaderValue::from_str(&value).expect("a cookie header is ASCII")
}

fn see_other(cookie: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to("/").into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "{title}\n<!doctype html><title>store demo</title><h1>{title}</h1>\n{body}\n"
    ))
    .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn button(action: &str, label: &str, field: Option<(&str, &str)>) -> String {
    let hidden = field.map_or(String::new(), |(name, value)| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            escape(value)
        )
    });
    format!(r#"<form method="post" action="{action}">{hidden}<button>{label}</button></form>"#)
}

async fn home(State(app): State<App>, headers: HeaderMap) -> Page {
    let Some(session) = current(&app, &headers).await? else {
        return Ok(page(
            "not logged in",
            r#"<form method="post" action="/login"><input name="name" placeholder="name"><button>log in</button></form>"#,
        ));
    };
    let user = session.owner().map_or("", |o| o.as_str()).to_owned();
    let n = session.get::<u64>("count").unwrap_or(0);
    let body = [
        button("/count", "count", None),
        r#"<a href="/sessions">my sessions</a> · <a href="/token">token</a>"#.to_owned(),
        button("/logout", "log out", None),
    ]
    .join("\n");
    Ok(page(
        &format!("hello {}, count = {n}", escape(&user)),
        &body,
    ))
}

/// The login form.
#[derive(Deserialize)]
struct LoginForm {
    name: String,
}

async fn login(State(app): State<App>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Page {
    let name = form.name.trim();
    let Ok(owner) = Owner::new(name) else {
        return Ok((
            StatusCode::BAD_REQUEST,
            "error: a name is 1 to 256 printable characters\n",
        )
            .into_response());
    };
    let mut session = match current(&app, &headers).await? {
        Some(mut session) => {
            // A new id at login: an id known before it stops working.
            app.sessions.cycle_id(&mut session).await?;
            session
        }
        None => app.sessions.create(None).await?,
    };
    session.set_owner(Some(owner));
    app.sessions.save(&mut session).await?;
    Ok(see_other(Some(set_cookie(Some(session.id())))))
}

async fn count(State(app): State<App>, headers: HeaderMap) -> Page {
    let Some(mut session) = current(&app, &headers).await? else {
        return Ok(see_other(None));
    };
    let n = session.get::<u64>("count").unwrap_or(0) + 1;
    session.insert("count", &n)?;
    match app.sessions.save(&mut session).await {
        // Logged out or revoked meanwhile: stays logged out.
        Err(e) if e.kind() == store::ErrorKind::NotFound => Ok(see_other(Some(set_cookie(None)))),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(see_other(None)),
    }
}

async fn list_sessions(State(app): State<App>, headers: HeaderMap) -> Page {
    let Some(session) = current(&app, &headers).await? else {
        return Ok(see_other(None));
    };
    let Some(owner) = session.owner().cloned() else {
        return Ok(see_other(None));
    };
    let mine = session.id().key();
    let mut rows = Vec::new();
    let list = app.sessions.list_for(&owner).await?;
    for info in &list {
        let this = if info.handle == mine {
            " (this one)"
        } else {
            ""
        };
        rows.push(format!(
            "<li>{}… created {} ms{this} {}</li>",
            &info.handle.as_str()[..16],
            info.created.as_unix_millis(),
            button(
                "/sessions/revoke",
                "revoke",
                Some(("handle", info.handle.as_str()))
            )
        ));
    }
    let body = format!(
        "<ul>\n{}\n</ul>\n{}\n<a href=\"/\">back</a>",
        rows.join("\n"),
        button("/sessions/revoke-others", "log out everywhere else", None)
    );
    Ok(page(
        &format!("sessions of {}: {}", escape(owner.as_str()), list.len()),
        &body,
    ))
}

/// A revoke button's form.
#[derive(Deserialize)]
struct RevokeForm {
    handle: String,
}

async fn revoke(State(app): State<App>, headers: HeaderMap, Form(form): Form<RevokeForm>) -> Page {
    let Some(session) = current(&app, &headers).await? else {
        return Ok(see_other(None));
    };
    let (Some(owner), Ok(handle)) = (session.owner(), Key::new(&form.handle)) else {
        return Ok(see_other(None));
    };
    app.sessions.revoke(owner, &handle).await?;
    Ok(Redirect::to("/sessions").into_response())
}

async fn revoke_others(State(app): State<App>, headers: HeaderMap) -> Page {
    let Some(session) = current(&app, &headers).await? else {
        return Ok(see_other(None));
    };
    if let Some(owner) = session.owner() {
        app.sessions.revoke_all_except(owner, session.id()).await?;
    }
    Ok(Redirect::to("/sessions").into_response())
}

async fn token(State(app): State<App>, headers: HeaderMap) -> Page {
    let Some(session) = current(&app, &headers).await? else {
        return Ok(see_other(None));
    };
    let Some(user) = session.owner().map(|o| o.as_str().to_owned()) else {
        return Ok(see_other(None));
    };
    let refreshes = app.refreshes.clone();
    let token = app
        .tokens
        .get_fresh(&user, Duration::from_secs(10), |_old| async move {
            // Stands in for the call to the provider's token endpoint.
            let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
            let expires_at = SystemClock.now().checked_add(Duration::from_secs(30))?;
            Ok::<_, store::Error>(DemoToken {
                access: format!("demo-access-{n}"),
                expires_at: expires_at.as_unix_millis(),
            })
        })
        .await
        .map_err(|e| match e {
            store_session::RefreshError::Store(e) | store_session::RefreshError::Refresh(e) => {
                Failure(e)
            }
            // A timeout or a lost lease: nothing was written, try again.
            other => Failure(store::Error::new(
                store::ErrorKind::Unavailable,
                other.to_string(),
            )),
        })?;
    let left = token
        .expires_at()
        .saturating_duration_since(SystemClock.now())
        .as_secs();
    let body = format!(
        "<p>valid for {left} s more; refreshed {} times by this process</p><a href=\"/\">back</a>",
        app.refreshes.load(Ordering::SeqCst)
    );
    Ok(page(
        &format!("token {} (valid {left} s)", escape(&token.access)),
        &body,
    ))
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Page {
    if let Some(id) = cookie_id(&headers) {
        app.sessions.flush(&id).await?;
    }
    Ok(see_other(Some(set_cookie(None))))
}
