//! [`SessionLayer`] and the [`CurrentSession`] extractor: [`Sessions`] in
//! an axum (tower) app, with the session id in a cookie.
//!
//! The layer reads the cookie, hands each request a [`CurrentSession`], and
//! after the handler writes what changed and sets or clears the cookie:
//!
//! - the session is loaded on first use (a request that never asks reads
//!   nothing), with the idle expiry refreshed at most once per touch
//!   interval ([`Sessions::load`]);
//! - it is written only when it changed, once per request;
//! - a save racing a logout (the session was deleted meanwhile by another
//!   request, a revoke, "log out everywhere") writes nothing, clears the
//!   cookie and keeps the handler's response: never a resurrected session,
//!   never a 500;
//! - [`CurrentSession::login`] gives the session a new id ([`Sessions::cycle_id`]);
//! - [`CurrentSession::logout_everywhere`] and
//!   [`CurrentSession::logout_everywhere_else`] use the owner index.
//!
//! A store error while saving turns the response into an empty 500: the
//! handler's answer would otherwise claim a change that was not stored.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_core::extract::FromRequestParts;
use cookie::Cookie;
pub use cookie::SameSite;
use http::header::{COOKIE, SET_COOKIE, USER_AGENT};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use store_core::{Error, ErrorKind, Key, Owner, Result};
use tokio::sync::Mutex;
use tower_layer::Layer;
use tower_service::Service;

use crate::{Session, SessionId, SessionInfo, Sessions};

/// The cookie's name unless [`SessionLayer::cookie_name`] sets another.
pub const DEFAULT_COOKIE_NAME: &str = "session";

/// How the session cookie is written.
#[derive(Debug, Clone)]
struct CookieConfig {
    name: String,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    domain: Option<String>,
    path: String,
    max_age: Option<Duration>,
}

/// A tower layer giving each request a [`CurrentSession`] on `sessions`,
/// the id in a cookie.
///
/// Cookie defaults: named [`DEFAULT_COOKIE_NAME`], `Secure`, `HttpOnly`,
/// `SameSite=Lax`, path `/`, no domain (this host only), no `Max-Age` (the
/// browser forgets it when it closes; the server-side idle timeout and
/// absolute lifetime apply either way).
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, routing::get};
/// use store_session::axum::{CurrentSession, SessionError, SessionLayer};
/// use store_session::{SessionConfig, Sessions};
///
/// async fn visits(session: CurrentSession) -> Result<String, SessionError> {
///     let n: u64 = session.get("visits").await?.unwrap_or(0);
///     session.insert("visits", &(n + 1)).await?;
///     Ok(format!("visit {}", n + 1))
/// }
///
/// let sessions = Sessions::new(Arc::new(store_memory::MemoryStore::new()), SessionConfig::default());
/// let app: Router = Router::new()
///     .route("/", get(visits))
///     .layer(SessionLayer::new(sessions).cookie_name("sid"));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct SessionLayer {
    sessions: Sessions,
    cookie: Arc<CookieConfig>,
}

impl SessionLayer {
    /// A layer on `sessions` with the default cookie settings.
    pub fn new(sessions: Sessions) -> Self {
        Self {
            sessions,
            cookie: Arc::new(CookieConfig {
                name: DEFAULT_COOKIE_NAME.to_owned(),
                secure: true,
                http_only: true,
                same_site: SameSite::Lax,
                domain: None,
                path: "/".to_owned(),
                max_age: None,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut CookieConfig)) -> Self {
        change(Arc::make_mut(&mut self.cookie));
        self
    }

    /// The cookie's name (default [`DEFAULT_COOKIE_NAME`]).
    ///
    /// ```
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let layer = store_session::axum::SessionLayer::new(sessions).cookie_name("sid");
    /// # let _ = layer;
    /// ```
    pub fn cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(|c| c.name = name)
    }

    /// Whether the cookie is `Secure` (sent over HTTPS only; default
    /// `true`). Turn it off only for plain-HTTP development servers.
    ///
    /// ```
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let layer = store_session::axum::SessionLayer::new(sessions).secure(false);
    /// # let _ = layer;
    /// ```
    pub fn secure(self, secure: bool) -> Self {
        self.with(|c| c.secure = secure)
    }

    /// Whether the cookie is `HttpOnly` (hidden from scripts; default
    /// `true`).
    ///
    /// ```
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let layer = store_session::axum::SessionLayer::new(sessions).http_only(true);
    /// # let _ = layer;
    /// ```
    pub fn http_only(self, http_only: bool) -> Self {
        self.with(|c| c.http_only = http_only)
    }

    /// The cookie's `SameSite` (default `Lax`).
    ///
    /// ```
    /// use store_session::axum::{SameSite, SessionLayer};
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let layer = SessionLayer::new(sessions).same_site(SameSite::Strict);
    /// # let _ = layer;
    /// ```
    pub fn same_site(self, same_site: SameSite) -> Self {
        self.with(|c| c.same_site = same_site)
    }

    /// The cookie's `Domain` (default none: this host only).
    ///
    /// ```
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let layer = store_session::axum::SessionLayer::new(sessions).domain("example.com");
    /// # let _ = layer;
    /// ```
    pub fn domain(self, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        self.with(|c| c.domain = Some(domain))
    }

    /// The cookie's `Path` (default `/`).
    ///
    /// ```
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let layer = store_session::axum::SessionLayer::new(sessions).path("/app");
    /// # let _ = layer;
    /// ```
    pub fn path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.with(|c| c.path = path)
    }

    /// The cookie's `Max-Age`, sent whenever the cookie is set (default
    /// none: a browser-session cookie). The session still ends at its idle
    /// timeout or absolute lifetime, whichever comes first.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let sessions = store_session::Sessions::new(std::sync::Arc::new(store_memory::MemoryStore::new()), Default::default());
    /// let layer = store_session::axum::SessionLayer::new(sessions).max_age(Some(Duration::from_secs(86_400)));
    /// # let _ = layer;
    /// ```
    pub fn max_age(self, max_age: Option<Duration>) -> Self {
        self.with(|c| c.max_age = max_age)
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            sessions: self.sessions.clone(),
            cookie: self.cookie.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps a service in.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    sessions: Sessions,
    cookie: Arc<CookieConfig>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let cookie_id = request
            .headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(std::result::Result::ok)
            .find(|c| c.name() == self.cookie.name)
            .and_then(|c| SessionId::parse(c.value()).ok());
        let user_agent = request
            .headers()
            .get(USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        let current = CurrentSession(Arc::new(Shared {
            sessions: self.sessions.clone(),
            state: Mutex::new(State {
                cookie_id,
                user_agent,
                ..State::default()
            }),
        }));
        request.extensions_mut().insert(current.clone());
        // The clone that was polled ready serves this request.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let cookie = self.cookie.clone();
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            match current.finish().await {
                Ok(CookieChange::Keep) => {}
                Ok(change) => {
                    if let Some(value) = cookie.header(&change) {
                        response.headers_mut().append(SET_COOKIE, value);
                    }
                }
                Err(_) => {
                    let mut failed = Response::new(ResBody::default());
                    *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    return Ok(failed);
                }
            }
            Ok(response)
        })
    }
}

/// What the response does to the cookie.
enum CookieChange {
    Keep,
    Set(SessionId),
    Clear,
}

impl CookieConfig {
    fn header(&self, change: &CookieChange) -> Option<HeaderValue> {
        let mut cookie = match change {
            CookieChange::Keep => return None,
            CookieChange::Set(id) => {
                let mut c = Cookie::new(self.name.clone(), id.expose().to_owned());
                if let Some(age) = self.max_age {
                    let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
                    c.set_max_age(cookie::time::Duration::seconds(secs));
                }
                c
            }
            CookieChange::Clear => {
                let mut c = Cookie::new(self.name.clone(), "");
                c.make_removal();
                c
            }
        };
        cookie.set_secure(self.secure);
        cookie.set_http_only(self.http_only);
        cookie.set_same_site(self.same_site);
        cookie.set_path(self.path.clone());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}

/// The session of one request, from [`SessionLayer`]: an axum extractor.
///
/// Cheap to clone; every method locks the request's session state, so
/// concurrent uses within one request see each other's changes. Reads
/// load the session on first use; changes are written once, after the
/// handler. Its `Debug` shows neither the id nor the data.
///
/// ```
/// use store_session::axum::{CurrentSession, SessionError};
///
/// async fn login(session: CurrentSession) -> Result<&'static str, SessionError> {
///     session.login(store_core::Owner::new("alice")?).await?;
///     session.insert("theme", &"dark").await?;
///     Ok("welcome")
/// }
/// # let _ = login;
/// ```
#[derive(Clone)]
pub struct CurrentSession(Arc<Shared>);

struct Shared {
    sessions: Sessions,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The valid-looking id the request's cookie carried.
    cookie_id: Option<SessionId>,
    user_agent: Option<String>,
    /// `session` holds what the store had for `cookie_id` (or `None`).
    loaded: bool,
    session: Option<Session>,
    /// `session` is in the store already (loaded, not made by this request).
    stored: bool,
    /// `session` changed and must be written.
    changed: bool,
    /// `session` must get a new id (a login).
    cycle: bool,
    /// A logout happened: clear the cookie unless a new session follows.
    logged_out: bool,
}

impl fmt::Debug for CurrentSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentSession").finish_non_exhaustive()
    }
}

impl State {
    /// Loads the cookie's session once.
    async fn load(&mut self, sessions: &Sessions) -> Result<()> {
        if !self.loaded {
            self.loaded = true;
            if let Some(id) = &self.cookie_id {
                self.session = sessions.load(id).await?;
                self.stored = self.session.is_some();
            }
        }
        Ok(())
    }

    /// The session, a new (not yet stored) one if there is none.
    async fn session_mut(&mut self, sessions: &Sessions) -> Result<&mut Session> {
        self.load(sessions).await?;
        if self.session.is_none() {
            let mut fresh = sessions.fresh(None)?;
            fresh.set_user_agent(self.user_agent.as_deref());
            self.session = Some(fresh);
            self.stored = false;
        }
        Ok(self.session.as_mut().expect("just set"))
    }
}

impl CurrentSession {
    /// A field of the session's data, decoded; `None` without a session,
    /// without that field or for a field of another type.
    ///
    /// # Errors
    /// The store's errors while loading.
    pub async fn get<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>> {
        let mut state = self.0.state.lock().await;
        state.load(&self.0.sessions).await?;
        Ok(state.session.as_ref().and_then(|s| s.get(field)))
    }

    /// Sets a field (starting a session when there is none); written after
    /// the handler.
    ///
    /// # Errors
    /// `Encoding` when `value` has no JSON form; the store's errors while
    /// loading.
    pub async fn insert<T: Serialize>(&self, field: &str, value: &T) -> Result<()> {
        let mut state = self.0.state.lock().await;
        state
            .session_mut(&self.0.sessions)
            .await?
            .insert(field, value)?;
        state.changed = true;
        Ok(())
    }

    /// Removes a field; returns whether it was there.
    ///
    /// # Errors
    /// The store's errors while loading.
    pub async fn remove(&self, field: &str) -> Result<bool> {
        let mut state = self.0.state.lock().await;
        state.load(&self.0.sessions).await?;
        let removed = state.session.as_mut().is_some_and(|s| s.remove(field));
        state.changed |= removed;
        Ok(removed)
    }

    /// The session as loaded or changed so far (a copy), for its owner,
    /// creation time, expiry and user agent; `None` without a session.
    ///
    /// # Errors
    /// The store's errors while loading.
    pub async fn session(&self) -> Result<Option<Session>> {
        let mut state = self.0.state.lock().await;
        state.load(&self.0.sessions).await?;
        Ok(state.session.clone())
    }

    /// The user the session belongs to, if any.
    ///
    /// # Errors
    /// The store's errors while loading.
    pub async fn owner(&self) -> Result<Option<Owner>> {
        Ok(self.session().await?.and_then(|s| s.owner().cloned()))
    }

    /// Logs `owner` in: the session (a new one when there is none) gets
    /// that owner and, when it existed before this request, a new id, so
    /// that an id known before the login stops working
    /// ([`Sessions::cycle_id`], after the handler).
    ///
    /// # Errors
    /// The store's errors while loading.
    pub async fn login(&self, owner: Owner) -> Result<()> {
        let mut state = self.0.state.lock().await;
        state
            .session_mut(&self.0.sessions)
            .await?
            .set_owner(Some(owner));
        state.changed = true;
        state.cycle |= state.stored;
        Ok(())
    }

    /// Logs out: deletes the session now and clears the cookie. Returns
    /// whether there was a live session.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn logout(&self) -> Result<bool> {
        let mut state = self.0.state.lock().await;
        let was = match state.cookie_id.clone() {
            Some(id) => self.0.sessions.flush(&id).await?,
            None => false,
        };
        state.end();
        Ok(was)
    }

    /// Logs the session's owner out of every session, this one included;
    /// returns how many were deleted. Without an owner it is a
    /// [`logout`](Self::logout).
    ///
    /// # Errors
    /// The store's errors.
    pub async fn logout_everywhere(&self) -> Result<u64> {
        let mut state = self.0.state.lock().await;
        state.load(&self.0.sessions).await?;
        let owner = state.session.as_ref().and_then(|s| s.owner().cloned());
        let count = match (owner, state.cookie_id.clone()) {
            (Some(owner), _) => self.0.sessions.revoke_all(&owner).await?,
            (None, Some(id)) => u64::from(self.0.sessions.flush(&id).await?),
            (None, None) => 0,
        };
        state.end();
        Ok(count)
    }

    /// Logs the session's owner out of every other session ("log out
    /// everywhere else"); logins made while it runs are kept. Returns how
    /// many were revoked; 0 without an owner.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn logout_everywhere_else(&self) -> Result<u64> {
        let mut state = self.0.state.lock().await;
        state.load(&self.0.sessions).await?;
        match (&state.session, state.stored) {
            (Some(session), true) => match session.owner() {
                Some(owner) => self.0.sessions.revoke_all_except(owner, session.id()).await,
                None => Ok(0),
            },
            _ => Ok(0),
        }
    }

    /// The sessions of this session's owner, newest use first, this one
    /// marked [`SessionInfo::current`]; empty without an owner.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn list(&self) -> Result<Vec<SessionInfo>> {
        let mut state = self.0.state.lock().await;
        state.load(&self.0.sessions).await?;
        match &state.session {
            Some(session) => match session.owner() {
                Some(owner) => self.0.sessions.list_for_session(owner, session.id()).await,
                None => Ok(Vec::new()),
            },
            None => Ok(Vec::new()),
        }
    }

    /// Revokes one session of this session's owner by its handle (from
    /// [`list`](Self::list)); returns whether it was revoked. Revoking the
    /// current one also clears the cookie.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn revoke(&self, handle: &Key) -> Result<bool> {
        let mut state = self.0.state.lock().await;
        state.load(&self.0.sessions).await?;
        let Some(session) = &state.session else {
            return Ok(false);
        };
        let Some(owner) = session.owner().cloned() else {
            return Ok(false);
        };
        let current = *handle == session.id().key();
        let revoked = self.0.sessions.revoke(&owner, handle).await?;
        if current {
            state.end();
        }
        Ok(revoked)
    }

    /// After the handler: writes what changed, and says what to do with
    /// the cookie.
    async fn finish(&self) -> Result<CookieChange> {
        let sessions = &self.0.sessions;
        let mut state = self.0.state.lock().await;
        let cleared = if state.logged_out {
            CookieChange::Clear
        } else {
            CookieChange::Keep
        };
        if !state.changed {
            return Ok(cleared);
        }
        let (stored, cycle) = (state.stored, state.cycle);
        let Some(session) = state.session.as_mut() else {
            return Ok(cleared);
        };
        let written = if !stored {
            sessions.insert_new(session).await.map(|()| true)
        } else if cycle {
            sessions.cycle_id(session).await.map(|()| true)
        } else {
            sessions.save(session).await.map(|()| false)
        };
        match written {
            Ok(true) => Ok(CookieChange::Set(session.id().clone())),
            Ok(false) => Ok(cleared),
            // Deleted meanwhile (a logout in a parallel request, a
            // revoke): nothing is written, and the browser forgets it.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(CookieChange::Clear),
            Err(e) => Err(e),
        }
    }
}

impl State {
    /// After a logout: no session, nothing to write, the cookie cleared.
    fn end(&mut self) {
        self.loaded = true;
        self.session = None;
        self.stored = false;
        self.changed = false;
        self.cycle = false;
        self.logged_out = true;
    }
}

/// [`CurrentSession`] from the request's extensions.
///
/// Rejected with a 500 when the route is not under a [`SessionLayer`] (a
/// mistake in the app's wiring).
impl<S: Send + Sync> FromRequestParts<S> for CurrentSession {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentSession>()
            .cloned()
            .ok_or(MissingSessionLayer)
    }
}

/// The rejection of [`CurrentSession`] on a route without a
/// [`SessionLayer`]: a 500.
#[derive(Debug, Clone, Copy)]
pub struct MissingSessionLayer;

impl axum_core::response::IntoResponse for MissingSessionLayer {
    fn into_response(self) -> axum_core::response::Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "CurrentSession used on a route without a SessionLayer",
        )
            .into_response()
    }
}

/// A store error as a handler's error: `?` turns a [`store_core::Error`]
/// into it. The response is an empty 503 when the store is unavailable
/// (retryable), else an empty 500; the error is not shown to the client.
///
/// ```
/// use store_session::axum::{CurrentSession, SessionError};
///
/// async fn theme(session: CurrentSession) -> Result<String, SessionError> {
///     Ok(session.get::<String>("theme").await?.unwrap_or_default())
/// }
/// # let _ = theme;
/// ```
#[derive(Debug)]
pub struct SessionError(pub Error);

impl From<Error> for SessionError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl axum_core::response::IntoResponse for SessionError {
    fn into_response(self) -> axum_core::response::Response {
        let status = if self.0.is_retryable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        status.into_response()
    }
}
