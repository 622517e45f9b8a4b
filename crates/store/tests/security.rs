//! A password in a connection URL never shows: not in the `Debug` of a
//! connected store, not in any error of a backend's `connect` or of
//! `store::open` (`Display`, `Debug` and the whole `source` chain), and
//! not in any `tracing` event or `log` record of the store or its drivers,
//! captured at TRACE level for the whole test binary. PostgreSQL, Redis
//! and MongoDB; reachable servers, unreachable ones (each case fails
//! within 6 s) and malformed URLs.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use store::store_mongodb::{MongoConfig, MongoStore};
use store::store_redis::RedisStore;
use store::store_sqlx::{PostgresConfig, PostgresStore};
use store::{Key, OpenOptions, PutMode, Store};
use store_conformance::logs::CapturedLog;
use store_conformance::provision::{Service, service_url};

/// The password every URL of these tests carries.
const PASSWORD: &str = "S3cretPw";

/// The longest an unreachable or malformed case may take.
const FAST: Duration = Duration::from_secs(6);

/// Forwards `log` records (the drivers') into the captured log.
struct LogBridge(CapturedLog);

impl log::Log for LogBridge {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.push_line(&format!(
            "{} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

/// Installs the capture once for the binary (drivers log from their own
/// tasks and threads, so it is global) and returns it.
fn capture() -> &'static CapturedLog {
    static LOG: OnceLock<CapturedLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let captured = CapturedLog::default();
        tracing::subscriber::set_global_default(captured.subscriber())
            .expect("one global subscriber");
        log::set_logger(Box::leak(Box::new(LogBridge(captured.clone()))))
            .expect("one global logger");
        log::set_max_level(log::LevelFilter::Trace);
        captured
    })
}

/// Fails when `text` holds the password or a large part of it.
fn check(place: &str, text: &str) {
    for part in [PASSWORD, "S3cret", "cretPw"] {
        assert!(
            !text.contains(part),
            "the password leaked into {place}:\n{text}"
        );
    }
}

/// An error as shown every way: `Display`, `Debug` (plain and pretty),
/// and each of its sources.
fn error_text(error: &(dyn StdError + 'static)) -> String {
    let mut text = format!("{error}\n{error:?}\n{error:#?}");
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(&format!("\ncaused by: {s}\n{s:?}"));
        source = s.source();
    }
    text
}

fn check_error(place: &str, error: &store::Error) {
    check(place, &error_text(error));
}

fn check_debug(place: &str, value: &impl Debug) {
    check(place, &format!("{value:?}\n{value:#?}"));
}

/// Runs a connect that must fail, within [`FAST`]; checks its error.
async fn must_fail<T: Debug>(
    place: &str,
    connect: impl Future<Output = store::Result<T>>,
) -> store::Error {
    let started = Instant::now();
    let outcome = connect.await;
    let took = started.elapsed();
    let error = match outcome {
        Ok(store) => {
            check_debug(place, &store);
            panic!("{place}: connected where it should have failed");
        }
        Err(e) => e,
    };
    check_error(place, &error);
    assert!(took <= FAST, "{place} took {took:?}: {error}");
    error
}

/// A connect that may succeed or fail (a server that does not check
/// passwords): either way nothing shows the password.
async fn either<T: Debug>(place: &str, connect: impl Future<Output = store::Result<T>>) {
    match connect.await {
        Ok(store) => check_debug(place, &store),
        Err(e) => check_error(place, &e),
    }
}

/// `url`'s scheme and host part, without user-info, path or query.
fn scheme_and_host(url: &str) -> (&str, &str) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (scheme, host)
}

/// `url` with `user` and the test password, and `path_and_query`
/// (starting with `/`) instead of its own.
fn with_password(url: &str, user: &str, path_and_query: &str) -> String {
    let (scheme, host) = scheme_and_host(url);
    format!("{scheme}://{user}:{PASSWORD}@{host}{path_and_query}")
}

/// The path and query of `url` (`/` when none).
fn path_and_query(url: &str) -> &str {
    let (_, rest) = url.split_once("://").expect("a URL");
    rest.find(['/', '?']).map_or("/", |i| &rest[i..])
}

/// A fresh namespace that is also a valid table name.
fn namespace() -> String {
    format!("sec_{}", &store_conformance::random_namespace()[13..])
}

async fn roundtrip(place: &str, store: &dyn Store) {
    let key = Key::new("k").unwrap();
    store
        .put(&key, "v".into(), PutMode::Upsert.into())
        .await
        .unwrap_or_else(|e| panic!("{place}: {e}"));
    assert!(store.get(&key).await.unwrap().is_some(), "{place}");
}

/// `url`'s user, if its user-info names one.
fn user_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let (info, _) = authority.rsplit_once('@')?;
    let user = info.split_once(':').map_or(info, |(u, _)| u);
    (!user.is_empty()).then_some(user)
}

/// `url`'s own password when it can be told apart from the rest of the
/// URL (at least 6 characters, not part of the user, host or database
/// name), so that a check for it means something.
fn distinct_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let (info, _) = authority.rsplit_once('@')?;
    let (_, password) = info.split_once(':')?;
    let without = url.replacen(&format!(":{password}@"), "@", 1);
    (password.len() >= 6 && !without.contains(password)).then_some(password)
}

/// `url` with `path_and_query` (starting with `/`) instead of its own,
/// keeping its user-info.
fn with_path(url: &str, path_and_query: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{scheme}://{}{path_and_query}", &rest[..end])
}

/// Whether the Postgres server at `wrong` (a URL with the test password,
/// which is not the user's) checks passwords: `false` when it lets the
/// connection in (trust authentication), `true` when it refuses it with
/// SQLSTATE 28P01 (invalid password). Asked of the server directly, so
/// that the decision reads the SQLSTATE, not a message.
///
/// # Panics
/// On any other outcome: then the server cannot tell us.
async fn postgres_checks_passwords(wrong: &str) -> bool {
    use store::store_sqlx::sqlx::{Connection, PgConnection};
    match PgConnection::connect(wrong).await {
        Ok(connection) => {
            connection
                .close()
                .await
                .expect("close the probe connection");
            false
        }
        Err(store::store_sqlx::sqlx::Error::Database(e))
            if e.code().as_deref() == Some("28P01") =>
        {
            true
        }
        Err(e) => panic!("probing whether the server checks passwords: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_password_never_shown() {
    let log = capture();
    let Some(url) = service_url(Service::Postgres).await else {
        return;
    };
    let user = user_of(&url).unwrap_or("postgres").to_owned();

    // The URL's user with the test password, which is not theirs: a server
    // with trust authentication (a native test cluster) lets it in, one
    // that checks passwords (the Postgres images: scram-sha-256) refuses it.
    let wrong = with_password(&url, &user, path_and_query(&url));
    let checks_passwords = postgres_checks_passwords(&wrong).await;

    // Connected: with the test password where the server lets it in (so
    // that every check below looks for it), else with the URL's own
    // credentials, as given.
    let connect_url = if checks_passwords {
        url.clone()
    } else {
        wrong.clone()
    };
    let table = namespace();
    let store =
        PostgresStore::connect_with(&connect_url, PostgresConfig::default().namespace(&table))
            .await
            .expect("connect with a password");
    store.setup().await.expect("setup");
    roundtrip("PostgresStore", &store).await;
    check_debug("the Debug of a PostgresStore", &store);
    let opened = store::open_with(&connect_url, OpenOptions::default().namespace(&table))
        .await
        .expect("store::open with a password");
    roundtrip("store::open postgres", &*opened).await;
    check_debug("the Debug of store::open's postgres store", &opened);
    if let Some(own) = distinct_password(&connect_url).filter(|_| checks_passwords) {
        for (place, debug) in [
            (
                "the Debug of a PostgresStore",
                format!("{store:?}{store:#?}"),
            ),
            (
                "the Debug of store::open's postgres store",
                format!("{opened:?}{opened:#?}"),
            ),
        ] {
            assert!(
                !debug.contains(own),
                "the URL's password leaked into {place}"
            );
        }
    }

    // The server refuses: a wrong password (only a server that checks
    // passwords), an unknown database, an unknown role.
    if checks_passwords {
        must_fail(&wrong, PostgresStore::connect(&wrong)).await;
        must_fail(&wrong, store::open(&wrong)).await;
    } else {
        eprintln!("the Postgres server lets any password in: a wrong one is not refused here");
    }
    let no_database = with_path(&connect_url, "/no_such_database_sec");
    let no_role = with_password(&url, "no_such_role_sec", path_and_query(&url));
    for bad in [&no_database, &no_role] {
        must_fail(bad, PostgresStore::connect(bad)).await;
        must_fail(bad, store::open(bad)).await;
    }

    // No server; the password in the user-info or in the query.
    for unreachable in [
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/db"),
        format!("postgresql://postgres@127.0.0.1:1/db?password={PASSWORD}"),
    ] {
        let config = PostgresConfig::default().acquire_timeout(Duration::from_secs(1));
        let e = must_fail(
            &unreachable,
            PostgresStore::connect_with(&unreachable, config),
        )
        .await;
        assert_eq!(e.kind(), store::ErrorKind::Unavailable, "{e}");
        let e = must_fail(&unreachable, store::open(&unreachable)).await;
        assert_eq!(e.kind(), store::ErrorKind::Unavailable, "{e}");
    }

    // Malformed URLs.
    for malformed in [
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:notaport/db"),
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/db?sslmode=bogus"),
    ] {
        must_fail(&malformed, PostgresStore::connect(&malformed)).await;
        must_fail(&malformed, store::open(&malformed)).await;
    }

    // Secrets in other query parameters: a percent-encoded `password`
    // (which sqlx decodes and uses), and libpq's `sslpassword` (which
    // sqlx does not know).
    for secret_param in [
        format!("postgresql://postgres@127.0.0.1:1/db?pass%77ord={PASSWORD}"),
        format!("postgres://postgres@127.0.0.1:1/db?sslpassword={PASSWORD}"),
        format!("postgres://postgres@127.0.0.1:1/db?sslmode=disable&ssl%70assword={PASSWORD}"),
    ] {
        let config = PostgresConfig::default().acquire_timeout(Duration::from_secs(1));
        must_fail(
            &secret_param,
            PostgresStore::connect_with(&secret_param, config),
        )
        .await;
        must_fail(&secret_param, store::open(&secret_param)).await;
    }

    check("the captured log", &log.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_password_never_shown() {
    let log = capture();
    let Some(url) = service_url(Service::Redis).await else {
        return;
    };

    // A server that requires no password, given one: connected or
    // refused, nothing shows it.
    for user in ["", "default"] {
        let with = with_password(&url, user, path_and_query(&url));
        either(&with, RedisStore::connect(&with)).await;
        either(&with, store::open(&with)).await;
    }
    // A password-like query parameter, plain or percent-encoded.
    let (_, host) = scheme_and_host(&url);
    for with in [
        format!("redis://{host}/?pass={PASSWORD}"),
        format!("redis://{host}/?pa%73s={PASSWORD}"),
    ] {
        either(&with, RedisStore::connect(&with)).await;
        either(&with, store::open(&with)).await;
    }

    // No server.
    for unreachable in [
        format!("redis://:{PASSWORD}@127.0.0.1:1/"),
        format!("redis://app:{PASSWORD}@127.0.0.1:1/0"),
        format!("redis+unix:///nonexistent/store-security.sock?pass={PASSWORD}"),
        format!("redis+unix:///nonexistent/store-security.sock?db=0&pa%73s={PASSWORD}"),
    ] {
        must_fail(&unreachable, RedisStore::connect(&unreachable)).await;
        must_fail(&unreachable, store::open(&unreachable)).await;
    }

    // Malformed URLs, and TLS to a closed port.
    for malformed in [
        format!("redis://app:{PASSWORD}@127.0.0.1:notaport/"),
        format!("redis://app:{PASSWORD}@127.0.0.1:1/notadb"),
        format!("rediss://:{PASSWORD}@127.0.0.1:1/"),
        format!("redis:/app:{PASSWORD}@127.0.0.1:1/"),
    ] {
        must_fail(&malformed, RedisStore::connect(&malformed)).await;
        must_fail(&malformed, store::open(&malformed)).await;
    }

    check("the captured log", &log.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_password_never_shown() {
    let log = capture();
    let Some(url) = service_url(Service::MongoDb).await else {
        return;
    };

    // A server given credentials: connected or refused, nothing shows them.
    let with = with_password(&url, "app", "/?serverSelectionTimeoutMS=2000");
    let config = MongoConfig::default().namespace(namespace());
    either(&with, MongoStore::connect_with(&with, config)).await;
    either(
        &with,
        store::open_with(&with, OpenOptions::default().namespace(namespace())),
    )
    .await;

    // No server: the URL as given (the 5 s default server selection
    // timeout), and with a short one.
    let bare = format!("mongodb://user:{PASSWORD}@127.0.0.1:1/");
    let e = must_fail(&bare, store::open(&bare)).await;
    assert_eq!(e.kind(), store::ErrorKind::Unavailable, "{e}");
    let short = format!("mongodb://user:{PASSWORD}@127.0.0.1:1/?serverSelectionTimeoutMS=300");
    let e = must_fail(&short, MongoStore::connect(&short)).await;
    assert_eq!(e.kind(), store::ErrorKind::Unavailable, "{e}");
    must_fail(&short, store::open(&short)).await;

    // Malformed URLs.
    for malformed in [
        format!("mongodb://user:{PASSWORD}@127.0.0.1:notaport/"),
        format!("mongodb://user:{PASSWORD}@127.0.0.1:1/?authMechanism=BOGUS"),
        format!("mongodb://user:{PASSWORD}@127.0.0.1:1/?serverSelectionTimeoutMS=abc"),
        format!("mongodb+srv://user:{PASSWORD}@127.0.0.1:1/"),
    ] {
        must_fail(&malformed, MongoStore::connect(&malformed)).await;
        must_fail(&malformed, store::open(&malformed)).await;
    }
    // Secrets in query parameters, plain or percent-encoded.
    for secret_param in [
        format!(
            "mongodb://127.0.0.1:1/?authMechanism=MONGODB-AWS\
             &authMechanismProperties=AWS_SESSION_TOKEN:{PASSWORD}&serverSelectionTimeoutMS=300"
        ),
        format!("mongodb://127.0.0.1:1/?tls=true&tlsCertificateKeyFilePassword={PASSWORD}"),
        format!("mongodb://127.0.0.1:1/?tls=true&tlsCertificateKeyFile%50assword={PASSWORD}"),
        format!("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&pass%77ord={PASSWORD}"),
    ] {
        must_fail(&secret_param, MongoStore::connect(&secret_param)).await;
        must_fail(&secret_param, store::open(&secret_param)).await;
    }
    // A database name `store::open` takes from the path and refuses.
    let bad_database = format!("mongodb://user:{PASSWORD}@127.0.0.1:1/bad.db");
    must_fail(&bad_database, store::open(&bad_database)).await;

    check("the captured log", &log.text());
}
