//! The demo web app: sessions and an OAuth-like token on any store, through
//! `store_session::axum`'s `SessionLayer`.
//!
//! - `GET /`: the login form, or the user's counter with buttons.
//! - `POST /login` (`name`): the session gets that owner and a new id.
//! - `POST /count`: the counter in the session, plus one.
//! - `POST /race`: a slow save racing a logout of the same session; the
//!   session stays logged out.
//! - `GET /sessions`: the user's sessions (device, created, last seen,
//!   expires in), with revoke buttons; `POST /sessions/revoke` (`handle`)
//!   and `POST /sessions/revoke-others`.
//! - `GET /token`: a token valid for 30 seconds, refreshed (once, however
//!   many requests ask) when it has less than 10 seconds left.
//! - `POST /logout`: deletes the session.
//!
//! Pages are HTML without scripts. Every page also says what it shows in a
//! one-line `x-demo-status` response header and in an HTML comment on its
//! first line, for scripts that drive the demo with `curl`.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use store::{Clock, Expiry, Key, Owner, Store, SystemClock};
use store_session::axum::{CurrentSession, SessionLayer};
use store_session::{Expiring, SessionConfig, Sessions, TokenStore};

/// The session cookie's name.
pub const COOKIE: &str = "sid";

/// The response header that holds a page's one-line status.
pub const STATUS_HEADER: &str = "x-demo-status";

/// The demo's shared state: sessions and tokens on one store.
#[derive(Clone, Debug)]
pub struct App {
    sessions: Sessions,
    tokens: TokenStore<DemoToken>,
    refreshes: Arc<AtomicU64>,
    backend: &'static str,
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
            backend: store.capabilities().backend,
            sessions: Sessions::new(store.clone(), config),
            tokens: TokenStore::new(store, "demo-oauth")?,
            refreshes: Arc::default(),
        })
    }

    /// The routes, under a [`SessionLayer`] whose cookie is not `Secure`:
    /// the demo serves plain HTTP on loopback. Behind HTTPS, keep the
    /// layer's default (`Secure`).
    pub fn router(self) -> Router {
        let layer = SessionLayer::new(self.sessions.clone())
            .cookie_name(COOKIE)
            .secure(false);
        Router::new()
            .route("/", get(home))
            .route("/login", post(login))
            .route("/count", post(count))
            .route("/race", post(race))
            .route("/sessions", get(list_sessions))
            .route("/sessions/revoke", post(revoke))
            .route("/sessions/revoke-others", post(revoke_others))
            .route("/token", get(token))
            .route("/logout", post(logout))
            .layer(layer)
            .with_state(self)
    }
}

/// A store failure as an error page; the message never holds a secret.
struct Failure(store::Error);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match self.0.kind() {
            store::ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = page(
            &format!("error: {}", self.0),
            "the store",
            r#"<p><a href="/">back</a></p>"#,
        );
        *response.status_mut() = status;
        response
    }
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Self {
        Self(e)
    }
}

type Page = Result<Response, Failure>;

const STYLE: &str = "\
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}\
header{background:#1d2330;color:#fff;padding:.8rem 1.5rem;display:flex;justify-content:space-between}\
header a{color:#fff;text-decoration:none;font-weight:600}\
#backend{background:#3b82f6;border-radius:1rem;padding:.1rem .7rem;font-size:.85rem}\
main{max-width:44rem;margin:2rem auto;padding:0 1rem}\
.card{background:#fff;border-radius:.6rem;box-shadow:0 1px 3px #0002;padding:1.2rem 1.5rem;margin-bottom:1rem}\
h1{font-size:1.4rem;margin:0 0 .8rem}\
form{display:inline-block;margin:.2rem .3rem .2rem 0}\
button{background:#3b82f6;color:#fff;border:0;border-radius:.4rem;padding:.45rem .9rem;font-size:.95rem;cursor:pointer}\
button.quiet{background:#e5e7eb;color:#1d2330}button.danger{background:#dc2626}\
input{padding:.45rem;border:1px solid #ccd;border-radius:.4rem;font-size:.95rem}\
ul{list-style:none;padding:0}li.session{border-top:1px solid #eee;padding:.7rem 0;display:flex;justify-content:space-between;align-items:center}\
.device{font-weight:600}.meta{color:#667;font-size:.85rem}.this{color:#16a34a;font-weight:600}\
.note{background:#fef3c7;border-radius:.4rem;padding:.6rem .9rem}nav a{margin-right:1rem}";

/// A page: the status line in a header and an HTML comment, the backend's
/// name, a title and a body.
fn page(status: &str, backend: &str, body: &str) -> Response {
    let status_line = status.replace(['\r', '\n'], " ");
    let html = format!(
        "<!-- {comment} -->\n<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>store demo</title>\
         <style>{STYLE}</style></head><body>\n<header><a href=\"/\">store demo</a>\
         <span id=\"backend\">{backend}</span></header>\n<main>\n{body}\n</main></body></html>\n",
        comment = escape(&status_line).replace("--", "&#45;&#45;"),
        backend = escape(backend),
    );
    let mut response = Html(html).into_response();
    if let Ok(value) = HeaderValue::from_str(&status_line) {
        response.headers_mut().insert(STATUS_HEADER, value);
    }
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A form with one button posting to `action`.
fn button(action: &str, label: &str, id: &str, class: &str, field: Option<(&str, &str)>) -> String {
    let hidden = field.map_or(String::new(), |(name, value)| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            escape(value)
        )
    });
    let id = if id.is_empty() {
        String::new()
    } else {
        format!(r#" id="{id}""#)
    };
    format!(
        r#"<form method="post" action="{action}">{hidden}<button{id} class="{class}">{label}</button></form>"#
    )
}

/// How long ago (or, for a future time, in how long) `at` is, in words.
fn relative(at: Expiry, now: Expiry) -> String {
    let (span, future) = if at > now {
        (at.saturating_duration_since(now), true)
    } else {
        (now.saturating_duration_since(at), false)
    };
    let secs = span.as_secs();
    let words = match secs {
        0..=9 => {
            return if future {
                "in a few seconds"
            } else {
                "just now"
            }
            .to_owned();
        }
        10..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} days", secs / 86_400),
    };
    if future {
        format!("in {words}")
    } else {
        format!("{words} ago")
    }
}

/// A short name for the device a user agent describes.
fn device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return "unknown device".to_owned();
    };
    let browser = [
        ("HeadlessChrome", "Headless Chrome"),
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

/// `GET /?raced=1`: the page after the race.
#[derive(Deserialize)]
struct HomeQuery {
    raced: Option<u8>,
}

async fn home(State(app): State<App>, session: CurrentSession, Query(q): Query<HomeQuery>) -> Page {
    let raced = if q.raced.is_some() {
        r#"<p class="note" id="race-result">A save that started before a logout of this session finished after it: it wrote nothing, and the session stayed logged out.</p>"#
    } else {
        ""
    };
    let Some(owner) = session.owner().await? else {
        let body = format!(
            r#"{raced}<div class="card"><h1 id="status">not logged in</h1>
<form id="login" method="post" action="/login"><input name="name" placeholder="your name" required> <button id="login-submit">log in</button></form>
<p class="meta">Log in under the same name from a second browser, then revoke one session from the other.</p></div>"#
        );
        return Ok(page("not logged in", app.backend, &body));
    };
    let n = session.get::<u64>("count").await?.unwrap_or(0);
    let status = format!("hello {}, count = {n}", owner.as_str());
    let body = format!(
        r#"{raced}<div class="card"><h1 id="status">{}</h1>
{}
{}
{}
<nav><a href="/sessions">my sessions</a> <a href="/token">token</a></nav></div>
<div class="card"><p class="meta">The race: a request reads the session, another logs it out, then the first one saves. The save must not bring the session back.</p>{}</div>"#,
        escape(&status),
        button("/count", "count", "count", "", None),
        button("/logout", "log out", "logout", "quiet", None),
        button(
            "/sessions/revoke-others",
            "log out everywhere else",
            "",
            "quiet",
            None
        ),
        button(
            "/race",
            "race a slow save against a logout",
            "race",
            "danger",
            None
        ),
    );
    Ok(page(&status, app.backend, &body))
}

/// The login form.
#[derive(Deserialize)]
struct LoginForm {
    name: String,
}

async fn login(
    State(app): State<App>,
    session: CurrentSession,
    Form(form): Form<LoginForm>,
) -> Page {
    let Ok(owner) = Owner::new(form.name.trim()) else {
        let mut response = page(
            "error: a name is 1 to 256 printable characters",
            app.backend,
            r#"<div class="card"><h1>A name is 1 to 256 printable characters.</h1><a href="/">back</a></div>"#,
        );
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(response);
    };
    // A new id at login: an id known before it stops working.
    session.login(owner).await?;
    Ok(Redirect::to("/").into_response())
}

async fn count(session: CurrentSession) -> Page {
    if session.owner().await?.is_some() {
        let n = session.get::<u64>("count").await?.unwrap_or(0) + 1;
        session.insert("count", &n).await?;
    }
    // Logged out or revoked meanwhile: the layer writes nothing and clears
    // the cookie.
    Ok(Redirect::to("/").into_response())
}

/// Reads the session, logs it out as another tab would, then saves: the
/// layer finds it gone, writes nothing and clears the cookie.
async fn race(State(app): State<App>, session: CurrentSession) -> Page {
    let Some(current) = session.session().await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let n = session.get::<u64>("count").await?.unwrap_or(0) + 1;
    let other_tab = {
        let sessions = app.sessions.clone();
        let id = current.id().clone();
        tokio::spawn(async move { sessions.flush(&id).await })
    };
    other_tab
        .await
        .map_err(|e| store::Error::new(store::ErrorKind::Backend, e.to_string()))??;
    tokio::time::sleep(Duration::from_millis(300)).await;
    session.insert("count", &n).await?;
    Ok(Redirect::to("/?raced=1").into_response())
}

async fn list_sessions(State(app): State<App>, session: CurrentSession) -> Page {
    let Some(owner) = session.owner().await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let now = SystemClock.now();
    let list = session.list().await?;
    let mut rows = Vec::new();
    for info in &list {
        let action = if info.current {
            r#"<span class="this">this browser</span>"#.to_owned()
        } else {
            button(
                "/sessions/revoke",
                "revoke",
                "",
                "quiet revoke",
                Some(("handle", info.handle.as_str())),
            )
        };
        let expires = info
            .expires_at
            .map_or_else(|| "never".to_owned(), |e| relative(e, now));
        rows.push(format!(
            r#"<li class="session" data-current="{current}"><div><div class="device">{device}</div><div class="meta">created {created} · last seen {seen} · expires {expires}</div></div>{action}</li>"#,
            current = info.current,
            device = escape(&device(info.user_agent.as_deref())),
            created = relative(info.created, now),
            seen = relative(info.last_seen, now),
        ));
    }
    let title = format!("sessions of {}: {}", owner.as_str(), list.len());
    let body = format!(
        r#"<div class="card"><h1 id="sessions-title">{}</h1>
<ul>
{}
</ul>
{} <a href="/">back</a></div>"#,
        escape(&title),
        rows.join("\n"),
        button(
            "/sessions/revoke-others",
            "log out everywhere else",
            "revoke-others",
            "danger",
            None
        )
    );
    Ok(page(&title, app.backend, &body))
}

/// A revoke button's form.
#[derive(Deserialize)]
struct RevokeForm {
    handle: String,
}

async fn revoke(session: CurrentSession, Form(form): Form<RevokeForm>) -> Page {
    if let Ok(handle) = Key::new(&form.handle) {
        session.revoke(&handle).await?;
    }
    Ok(Redirect::to("/sessions").into_response())
}

async fn revoke_others(session: CurrentSession) -> Page {
    session.logout_everywhere_else().await?;
    Ok(Redirect::to("/sessions").into_response())
}

async fn token(State(app): State<App>, session: CurrentSession) -> Page {
    let Some(owner) = session.owner().await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let user = owner.as_str().to_owned();
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
    let status = format!("token {} (valid {left} s)", token.access);
    let body = format!(
        r#"<div class="card"><h1>token <code>{}</code></h1>
<p>valid for {left} s more; it is refreshed when less than 10 s are left, once however many requests ask at the same time.</p>
<p id="refreshes">refreshes: {}</p>
<p class="meta">refreshes run by this process since it started</p>
<a href="/token">reload</a> · <a href="/">back</a></div>"#,
        escape(&token.access),
        app.refreshes.load(Ordering::SeqCst)
    );
    Ok(page(&status, app.backend, &body))
}

async fn logout(session: CurrentSession) -> Page {
    session.logout().await?;
    Ok(Redirect::to("/").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_words() {
        let now = Expiry::from_unix_millis(1_800_000_000_000).unwrap();
        let at = |ms: i64| Expiry::from_unix_millis(1_800_000_000_000 + ms).unwrap();
        assert_eq!(relative(at(-3_000), now), "just now");
        assert_eq!(relative(at(-125_000), now), "2 min ago");
        assert_eq!(relative(at(29 * 60_000 + 500), now), "in 29 min");
        assert_eq!(relative(at(-2 * 3_600_000 - 60_000), now), "2 h 1 min ago");
    }

    #[test]
    fn devices_are_named_from_the_user_agent() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      HeadlessChrome/156.0.0.0 Safari/537.36";
        assert_eq!(device(Some(chrome)), "Headless Chrome on Linux");
        assert_eq!(device(Some("curl/7.88.1")), "curl");
        assert_eq!(device(None), "unknown device");
    }

    #[test]
    fn the_status_comment_cannot_close_early() {
        let response = page("a --> b", "memory", "");
        let status = response.headers().get(STATUS_HEADER).unwrap();
        assert_eq!(status, "a --> b");
    }
}
