//! The demo over HTTP (`tower::ServiceExt::oneshot` on the real router):
//! login, counter, a second session revoking the first, the race of a
//! slow save against a logout, the token page, logout. On memory here;
//! `store::open` gives the same app any backend. `status` is the page's
//! one-line status (the `x-demo-status` header, also the HTML comment on
//! the body's first line).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use store_web_demo::{App, COOKIE, STATUS_HEADER};
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    /// The page's status line.
    first_line: String,
    body: String,
    cookie: Option<String>,
}

async fn send(app: &Router, method: &str, path: &str, cookie: Option<&str>, form: &str) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, format!("{COOKIE}={c}"));
    }
    if !form.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(form.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let first_line = response
        .headers()
        .get(STATUS_HEADER)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(&format!("{COOKIE}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(bytes.to_vec()).unwrap();
    if !first_line.is_empty() {
        let comment = body.lines().next().unwrap_or("");
        assert!(
            comment.starts_with("<!-- ") && comment.ends_with(" -->"),
            "the status line is a comment, not shown: {comment}"
        );
    }
    Answer {
        status,
        first_line,
        body,
        cookie,
    }
}

async fn app() -> Router {
    let store = store::open("memory://").await.unwrap();
    App::new(Arc::clone(&store)).unwrap().router()
}

async fn login(app: &Router, name: &str) -> String {
    let answer = send(app, "POST", "/login", None, &format!("name={name}")).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    answer.cookie.expect("login sets the session cookie")
}

#[tokio::test]
async fn login_count_logout() {
    let app = app().await;
    assert_eq!(
        send(&app, "GET", "/", None, "").await.first_line,
        "not logged in"
    );
    let cookie = login(&app, "alice").await;
    assert_eq!(
        send(&app, "GET", "/", Some(&cookie), "").await.first_line,
        "hello alice, count = 0"
    );
    for _ in 0..3 {
        assert_eq!(
            send(&app, "POST", "/count", Some(&cookie), "").await.status,
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        send(&app, "GET", "/", Some(&cookie), "").await.first_line,
        "hello alice, count = 3"
    );
    let out = send(&app, "POST", "/logout", Some(&cookie), "").await;
    assert_eq!(out.cookie.as_deref(), Some(""), "logout clears the cookie");
    assert_eq!(
        send(&app, "GET", "/", Some(&cookie), "").await.first_line,
        "not logged in"
    );
    // A count after logout does not bring the session back.
    send(&app, "POST", "/count", Some(&cookie), "").await;
    assert_eq!(
        send(&app, "GET", "/", Some(&cookie), "").await.first_line,
        "not logged in"
    );
}

#[tokio::test]
async fn a_second_session_revokes_the_first() {
    let app = app().await;
    let laptop = login(&app, "bob").await;
    let phone = login(&app, "bob").await;
    let other_user = login(&app, "carol").await;
    let list = send(&app, "GET", "/sessions", Some(&phone), "").await;
    assert_eq!(list.first_line, "sessions of bob: 2");
    assert!(
        !list.body.contains(&laptop) && !list.body.contains(&phone),
        "ids never shown"
    );
    let answer = send(&app, "POST", "/sessions/revoke-others", Some(&phone), "").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        send(&app, "GET", "/", Some(&laptop), "").await.first_line,
        "not logged in"
    );
    assert_eq!(
        send(&app, "GET", "/", Some(&phone), "").await.first_line,
        "hello bob, count = 0"
    );
    assert_eq!(
        send(&app, "GET", "/", Some(&other_user), "")
            .await
            .first_line,
        "hello carol, count = 0"
    );
    assert_eq!(
        send(&app, "GET", "/sessions", Some(&phone), "")
            .await
            .first_line,
        "sessions of bob: 1"
    );
}

#[tokio::test]
async fn login_cycles_the_session_id() {
    let app = app().await;
    let first = login(&app, "dave").await;
    let answer = send(&app, "POST", "/login", Some(&first), "name=dave").await;
    let second = answer.cookie.expect("a new cookie");
    assert_ne!(first, second);
    assert_eq!(
        send(&app, "GET", "/", Some(&first), "").await.first_line,
        "not logged in"
    );
    assert_eq!(
        send(&app, "GET", "/", Some(&second), "").await.first_line,
        "hello dave, count = 0"
    );
}

#[tokio::test]
async fn token_page_refreshes_once_for_many_requests() {
    let app = app().await;
    let cookie = login(&app, "erin").await;
    let mut pages = Vec::new();
    for _ in 0..20 {
        let (app, cookie) = (app.clone(), cookie.clone());
        pages.push(tokio::spawn(async move {
            send(&app, "GET", "/token", Some(&cookie), "").await
        }));
    }
    for page in pages {
        let page = page.await.unwrap();
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.first_line.starts_with("token demo-access-1 "),
            "{}",
            page.first_line
        );
    }
}

#[tokio::test]
async fn bad_input_is_a_clear_answer() {
    let app = app().await;
    let answer = send(&app, "POST", "/login", None, "name=").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.first_line.starts_with("error: a name is"),
        "{}",
        answer.first_line
    );
    assert_eq!(
        send(&app, "GET", "/", Some("forged"), "").await.first_line,
        "not logged in"
    );
}

#[tokio::test]
async fn a_slow_save_racing_a_logout_stays_logged_out() {
    let app = app().await;
    let cookie = login(&app, "frank").await;
    send(&app, "POST", "/count", Some(&cookie), "").await;
    let raced = send(&app, "POST", "/race", Some(&cookie), "").await;
    assert_eq!(raced.status, StatusCode::SEE_OTHER, "not a 500");
    assert_eq!(raced.cookie.as_deref(), Some(""), "the cookie is cleared");
    let after = send(&app, "GET", "/?raced=1", Some(&cookie), "").await;
    assert_eq!(after.first_line, "not logged in");
    assert!(after.body.contains("id=\"race-result\""));
}

#[tokio::test]
async fn the_sessions_page_names_devices_and_times() {
    let app = app().await;
    let cookie = login(&app, "gina").await;
    let list = send(&app, "GET", "/sessions", Some(&cookie), "").await;
    assert_eq!(list.first_line, "sessions of gina: 1");
    assert!(
        list.body.contains(r#"data-current="true""#),
        "{}",
        list.body
    );
    assert!(list.body.contains("created just now"), "{}", list.body);
    assert!(
        list.body.contains("expires in 29 min") || list.body.contains("expires in 30 min"),
        "{}",
        list.body
    );
    let home = send(&app, "GET", "/", Some(&cookie), "").await;
    assert!(home.body.contains(r#"<span id="backend">memory</span>"#));
}
