//! Property-based tests of `store::open` with hostile URLs: no panic, no
//! wait for a server, `Config` for anything that is not a usable store
//! URL, and never a password in the error's message. Every case fails or
//! succeeds locally: unknown schemes, malformed URLs of each backend (bad
//! ports, so nothing is ever dialled), `memory:` variants and SQLite files
//! in a temporary directory.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use proptest::prelude::*;
use store::{ErrorKind, Key, OpenOptions, Operation, PutMode, Store, redact_url};

/// The longest one case may take: nothing here waits for a server.
const FAST: Duration = Duration::from_secs(5);

/// The schemes `open` knows (compared in lower case).
const KNOWN: &[&str] = &[
    "memory",
    "sqlite",
    "postgres",
    "postgresql",
    "redis",
    "rediss",
    "redis+unix",
    "unix",
    "mongodb",
    "mongodb+srv",
];

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

/// Runs `f`, failing the case if it takes longer than [`FAST`].
fn fast<T>(f: impl Future<Output = T>) -> T {
    RUNTIME.block_on(async {
        tokio::time::timeout(FAST, f)
            .await
            .expect("a case waited for a server")
    })
}

fn open(url: &str, options: OpenOptions) -> store::Result<Arc<dyn Store>> {
    fast(store::open_with(url, options))
}

fn scheme_of(url: &str) -> Option<String> {
    url.split_once(':').map(|(s, _)| s.to_ascii_lowercase())
}

/// Text with control, multi-byte and URL-significant characters.
fn hostile_string(max_chars: usize) -> impl Strategy<Value = String> {
    let char = prop_oneof![
        4 => any::<char>(),
        4 => proptest::char::range(' ', '~'),
        2 => prop::sample::select(vec![':', '/', '@', '?', '#', '%', '&', '=', '+']),
        1 => proptest::char::range('\u{0}', '\u{1f}'),
    ];
    prop::collection::vec(char, 0..=max_chars).prop_map(String::from_iter)
}

/// A password whose pieces are random letters and digits, joined by
/// characters that break URLs when not escaped (`@` only when `at`). The
/// pieces are what must never show.
fn password(at: bool) -> impl Strategy<Value = (String, Vec<String>)> {
    let mut separators = vec!["", "", "/", "?", "#", ":", "%", "%2F", " ", "//", "&", "="];
    if at {
        separators.extend(["@", "@/"]);
    }
    (
        prop::collection::vec("[A-Za-z][A-Za-z0-9]{5,7}", 1..4),
        prop::collection::vec(prop::sample::select(separators), 3),
    )
        .prop_map(|(pieces, separators)| {
            let mut password = pieces[0].clone();
            for (i, piece) in pieces.iter().enumerate().skip(1) {
                password.push_str(separators[i]);
                password.push_str(piece);
            }
            (password, pieces)
        })
}

/// Fails when `text` holds the password or any of its pieces.
fn hides(text: &str, password: &str, pieces: &[String]) -> Result<(), TestCaseError> {
    prop_assert!(!text.contains(password), "the password leaked: {}", text);
    for piece in pieces {
        prop_assert!(!text.contains(piece.as_str()), "{} leaked: {}", piece, text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Any text whose scheme `open` does not know: `Config` while
    /// connecting, naming the problem, showing the URL only as
    /// `redact_url` shows it.
    #[test]
    fn text_that_is_not_a_store_url_is_a_config_error(
        url in prop_oneof![
            hostile_string(40),
            (hostile_string(8), hostile_string(30)).prop_map(|(s, r)| format!("{s}://{r}")),
            (prop::sample::select(KNOWN.to_vec()), "[0-9a-z+ _-]{1,3}", hostile_string(20))
                .prop_map(|(k, extra, r)| format!("{k}{extra}://{r}")),
        ]
        .prop_filter("an unknown scheme", |u| {
            scheme_of(u).is_none_or(|s| !KNOWN.contains(&s.as_str()))
        }),
    ) {
        let err = open(&url, OpenOptions::default()).expect_err("opened a store");
        prop_assert_eq!(err.kind(), ErrorKind::Config);
        prop_assert_eq!(err.operation(), Some(Operation::Connect));
        let what = if url.contains(':') { "unknown store URL scheme" } else { "is not a store URL" };
        prop_assert!(err.message().contains(what), "{}", err);
        prop_assert!(err.message().contains(&redact_url(&url)), "{}", err);
    }

    /// `scheme://user:PASSWORD@host/…` with an unknown scheme: `Config`,
    /// and no piece of the password in the error, however the password
    /// breaks the URL.
    #[test]
    fn unknown_schemes_never_show_the_password(
        scheme in "[a-z][a-z0-9+.-]{0,8}".prop_filter("unknown", |s| !KNOWN.contains(&s.as_str())),
        user in "[a-z0-9_]{0,6}",
        (password, pieces) in password(true),
        host in "[a-z0-9.-]{1,10}(:[0-9]{1,5})?",
        tail in "(/[a-z0-9]{0,6})?(\\?[a-z]{1,6}=[a-z0-9]{0,6})?",
    ) {
        let url = format!("{scheme}://{user}:{password}@{host}{tail}");
        let err = open(&url, OpenOptions::default()).expect_err("opened a store");
        prop_assert_eq!(err.kind(), ErrorKind::Config);
        hides(&err.to_string(), &password, &pieces)?;
        hides(&format!("{err:?}"), &password, &pieces)?;
    }

    /// Malformed Redis, PostgreSQL and MongoDB URLs (a port that is not
    /// one, so nothing is dialled), with a password that may break the
    /// URL further: `Config` within the time limit, and no piece of the
    /// password in the error's message. The whole password is not in the
    /// `Debug` form (with the driver errors) either. (No `@` in these
    /// passwords: `u:a@b/c@127.0.0.1:1` is a valid URL of host `b`, which
    /// would be dialled.)
    #[test]
    fn malformed_backend_urls_are_config_errors_without_the_password(
        scheme in prop::sample::select(vec!["redis", "postgres", "postgresql", "mongodb"]),
        user in "[a-z0-9_]{1,6}",
        (password, pieces) in password(false),
        port in prop::sample::select(vec!["99999", "65536", "notaport", "1x", "-1", "0x50"]),
        tail in prop::sample::select(vec!["", "/", "/0", "/db", "/db?tls=true", "/?x=1"]),
    ) {
        let url = format!("{scheme}://{user}:{password}@127.0.0.1:{port}{tail}");
        let err = open(&url, OpenOptions::default()).expect_err("opened a store");
        prop_assert_eq!(err.kind(), ErrorKind::Config, "{}", err);
        prop_assert_eq!(err.operation(), Some(Operation::Connect));
        hides(&err.to_string(), &password, &pieces)?;
        let debug = format!("{err:?}");
        prop_assert!(!debug.contains(&password), "the password leaked: {}", debug);
    }

    /// Any `memory:` URL, in any case, with any namespace, opens a working
    /// memory store.
    #[test]
    fn memory_urls_open_a_working_store(
        scheme in "[mM][eE][mM][oO][rR][yY]",
        rest in hostile_string(20),
        namespace in prop::option::of(hostile_string(12)),
        key in "[a-z0-9:]{1,12}",
        value in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let url = format!("{scheme}:{rest}");
        let mut options = OpenOptions::default();
        if let Some(ns) = namespace {
            options = options.namespace(ns);
        }
        let store = open(&url, options).unwrap();
        prop_assert_eq!(store.capabilities().backend, "memory");
        let key = Key::new(key).unwrap();
        fast(store.put(&key, value.clone().into(), PutMode::Create.into())).unwrap();
        let read = fast(store.get(&key)).unwrap().unwrap();
        prop_assert_eq!(&read.value[..], &value[..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// SQLite files with hostile names and options, in a temporary
    /// directory: a working store (whose file exists, for a plain name) or
    /// a `Config` error, never a panic.
    #[test]
    fn sqlite_paths_open_a_working_store_or_are_config_errors(
        name in prop_oneof![
            "[A-Za-z0-9_-]{1,16}\\.db",
            prop::collection::vec(
                prop_oneof![
                    4 => proptest::char::range('a', 'z'),
                    1 => prop::sample::select(vec![
                        ' ', '%', '#', '?', '&', '=', ':', '@', '+', 'é', '🦀', '\'', '"', '*', '\\',
                    ]),
                ],
                1..16,
            )
            .prop_map(String::from_iter),
        ],
        query in prop::sample::select(vec![
            "", "", "", "?mode=rwc", "?mode=bogus", "?cache=shared", "?bogus=1", "?", "#x",
        ]),
        // (Not `SQLITE::memory:`: sqlx reads that as a file name, which
        // would be created in the working directory.)
        memory in prop::sample::select(vec![
            None, None, None,
            Some("sqlite::memory:"), Some("sqlite://:memory:"),
            Some("sqlite::memory:?cache=shared"), Some("sqlite::memory:?bogus=1"),
        ]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let url = match memory {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}/{name}{query}", dir.path().display()),
        };
        let plain = memory.is_none()
            && query.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        match open(&url, OpenOptions::default()) {
            Ok(store) => {
                prop_assert_eq!(store.capabilities().backend, "sqlite");
                let key = Key::new("k").unwrap();
                fast(store.put(&key, "v".into(), PutMode::Upsert.into())).unwrap();
                let read = fast(store.get(&key)).unwrap().unwrap();
                prop_assert_eq!(&read.value[..], b"v");
                if plain {
                    prop_assert!(dir.path().join(&name).is_file(), "no file for {}", url);
                }
            }
            Err(e) => {
                prop_assert!(!plain, "{}: {}", url, e);
                prop_assert_eq!(e.kind(), ErrorKind::Config, "{}: {}", url, e);
            }
        }
    }
}

/// The cases the properties above first failed on: a password with an
/// unescaped `/` was shown whole by the `cannot connect to …` message of
/// PostgreSQL and MongoDB (`redact_url` did not find it), and in part as
/// MongoDB's database name (taken from the path that the `/` started).
#[test]
fn passwords_with_unescaped_slashes_are_not_shown() {
    for url in [
        "postgres://u:Secret/Password@127.0.0.1:99999/db",
        "mongodb://u:Secret/Password@127.0.0.1:99999/",
        "mongodb://_:Secret//Password@127.0.0.1:99999",
        "mongodb://a:Secret//Password?Other@127.0.0.1:99999",
        "mongodb://a:S@cret/Password@127.0.0.1:99999/",
        "unknown://u:Secret/Password@h/db",
    ] {
        let err = open(url, OpenOptions::default()).expect_err(url);
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        let shown = err.to_string();
        assert!(
            !shown.contains("Secret") && !shown.contains("Password"),
            "{shown}"
        );
    }
}
