//! Security checks on sessions and tokens, with every `tracing` event of
//! the store captured at TRACE level:
//! - no session id (the cookie value, also as hex or standard base64 of its
//!   bytes, or any 12 characters of it) and no token appears in a log line,
//!   nor in the `Debug` or `Display` of anything a caller can get hold of:
//!   sessions, ids, handles, the stores, entries, scan pages, and errors
//!   with their whole source chain;
//! - the backend holds a session under the SHA-256 of its id, never the
//!   id, and the stored value and owner do not contain it (`Sessions` and
//!   the tower-sessions adapter);
//! - two `Sessions` in different namespaces (memory prefixes, Redis
//!   prefixes, one nested in the other) cannot load, save, touch, cycle,
//!   flush, list or revoke each other's sessions, nor read each other's
//!   tokens.

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store_conformance::logs::CapturedLog;
use store_conformance::provision::{Service, service_url};
use store_core::{
    Clock, Entry, ErrorKind, Expiry, Key, ManualClock, Owner, PutMode, PutOptions, Store,
};
use store_layers::TracedStore;
use store_memory::{MemoryConfig, MemoryStore};
use store_session::{Expiring, RefreshError, SessionConfig, SessionId, Sessions, TokenStore};
use store_tower_sessions::TowerStore;
use time::OffsetDateTime;
use tower_sessions_core::SessionStore;
use tower_sessions_core::session::{Id, Record};

/// How many consecutive characters of a secret count as a leak.
const WINDOW: usize = 12;

/// Captures every event and span of this thread at TRACE level until the
/// guard is dropped (the tests run on a current-thread runtime, so every
/// task of the test is polled on this thread).
fn capture() -> (CapturedLog, tracing::subscriber::DefaultGuard) {
    let captured = CapturedLog::default();
    let guard = tracing::subscriber::set_default(captured.subscriber());
    (captured, guard)
}

/// The secrets of a test, each in every form it could leak in.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    /// A session id: its cookie text, and its 32 bytes as hex and as
    /// standard base64.
    fn session(&mut self, id: &SessionId) {
        let text = id.expose();
        let raw = URL_SAFE_NO_PAD.decode(text).expect("an id is base64");
        self.add("session id", text);
        self.add("session id (hex)", &hex(&raw));
        self.add("session id (base64)", &STANDARD.encode(&raw));
    }

    /// A tower-sessions id: its cookie text, and its number in decimal
    /// and hex.
    fn tower(&mut self, id: &Id) {
        self.add("tower session id", &id.to_string());
        self.add("tower session id (decimal)", &id.0.to_string());
        self.add("tower session id (hex)", &format!("{:x}", id.0));
    }

    fn add(&mut self, what: &str, text: &str) {
        assert!(text.len() >= WINDOW, "{what} is too short to test");
        self.0.push((what.to_owned(), text.to_owned()));
    }

    /// The first secret (or 12 consecutive characters of one) in `text`.
    fn find_in(&self, text: &str) -> Option<String> {
        for (what, secret) in &self.0 {
            if text.contains(secret.as_str()) {
                return Some(format!("the whole {what} {secret:?}"));
            }
            for start in 0..=secret.len() - WINDOW {
                let part = &secret[start..start + WINDOW];
                if text.contains(part) {
                    return Some(format!("{part:?} of the {what} {secret:?}"));
                }
            }
        }
        None
    }

    fn assert_absent(&self, place: &str, text: &str) {
        if let Some(found) = self.find_in(text) {
            panic!("{found} leaked into {place}:\n{text}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything shown to a caller: `Debug` (plain and pretty), `Display`,
/// and errors with their source chain.
#[derive(Default)]
struct Shown(Vec<(String, String)>);

impl Shown {
    fn debug(&mut self, what: &str, value: &(impl Debug + ?Sized)) {
        self.0
            .push((what.to_owned(), format!("{value:?}\n{value:#?}")));
    }

    fn display(&mut self, what: &str, value: &(impl Display + ?Sized)) {
        self.0.push((what.to_owned(), value.to_string()));
    }

    fn both(&mut self, what: &str, value: &(impl Debug + Display + ?Sized)) {
        self.debug(what, value);
        self.display(what, value);
    }

    fn error(&mut self, what: &str, error: &(dyn StdError + 'static)) {
        let mut text = format!("{error}\n{error:?}\n{error:#?}");
        let mut source = error.source();
        while let Some(s) = source {
            text.push_str(&format!("\ncaused by: {s}\n{s:?}"));
            source = s.source();
        }
        self.0.push((what.to_owned(), text));
    }

    fn assert_clean(&self, secrets: &Secrets) {
        for (what, text) in &self.0 {
            secrets.assert_absent(what, text);
        }
    }
}

/// An entry as a scan returns it.
type Stored = (Key, Entry);

/// Two namespaces of one backend, and what they are called.
type Pair = (Arc<dyn Store>, Arc<dyn Store>, String);

/// Every live entry of `store`'s namespace.
async fn entries(store: &(impl Store + ?Sized)) -> Vec<Stored> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.scan(cursor.as_ref(), 1000).await.expect("scan");
        all.extend(page.entries);
        cursor = page.next;
        if cursor.is_none() {
            return all;
        }
    }
}

/// The keys of every live entry of `store`'s namespace.
async fn keys(store: &(impl Store + ?Sized)) -> HashSet<String> {
    entries(store)
        .await
        .into_iter()
        .map(|(k, _)| k.as_str().to_owned())
        .collect()
}

/// The key a session id must be stored under, computed here
/// independently: `session:` and the SHA-256 of the id.
fn hashed_key(prefix: &str, id: &str) -> String {
    format!("{prefix}:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(id)))
}

/// An OAuth token pair, recognisable in any output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct OAuth {
    access: String,
    refresh: String,
    expires_at: i64,
}

impl Expiring for OAuth {
    fn expires_at(&self) -> Expiry {
        Expiry::from_unix_millis(self.expires_at).expect("in range")
    }
}

/// A fresh token text of `kind` (as GitHub's `gho_`, `ghr_`), random.
fn token_text(kind: &str) -> String {
    format!("{kind}{}", SessionId::generate().unwrap().expose())
}

fn oauth(clock: &ManualClock, valid_for: Duration) -> OAuth {
    OAuth {
        access: token_text("gho_"),
        refresh: token_text("ghr_"),
        expires_at: clock.now().checked_add(valid_for).unwrap().as_unix_millis(),
    }
}

fn owner(name: &str) -> Owner {
    Owner::new(name).unwrap()
}

const SEC: Duration = Duration::from_secs(1);

/// A whole session and token lifecycle on a traced `MemoryStore`: no id
/// and no token in the log, in any `Debug`/`Display` or error; sessions
/// stored under the hash of their id only.
#[tokio::test]
async fn sessions_and_tokens_never_show_ids_or_tokens_and_store_only_hashes() {
    let (captured, guard) = capture();
    let clock = ManualClock::starting_now();
    let root = MemoryStore::with_config(
        MemoryConfig::default()
            .clock(clock.clone())
            .max_value_len(4096),
    )
    .unwrap();
    let traced = TracedStore::new(root.clone());
    let store: Arc<dyn Store> = Arc::new(traced.clone());
    let config = SessionConfig::default()
        .idle_timeout(600 * SEC)
        .absolute_lifetime(3600 * SEC)
        .touch_interval(60 * SEC)
        .clock(clock.clone());
    let sessions = Sessions::new(store.clone(), config.clone());
    let (alice, bob) = (owner("alice"), owner("bob"));
    let mut secrets = Secrets::default();
    let mut shown = Shown::default();
    // Every entry the backend held at some point, and the ids live then.
    let mut snapshots: Vec<(Vec<Stored>, Vec<SessionId>)> = Vec::new();

    // Create and save.
    let mut s = sessions.create(Some(alice.clone())).await.unwrap();
    secrets.session(s.id());
    assert_eq!(
        s.id().key().as_str(),
        hashed_key("session", s.id().expose())
    );
    s.insert("cart", &vec!["book", "pen"]).unwrap();
    sessions.save(&mut s).await.unwrap();
    shown.debug("a created session", &s);
    shown.both("a session id", s.id());
    shown.both("a session key", &s.id().key());
    shown.debug("a session's expiry", &s.expires_at());
    snapshots.push((entries(&root).await, vec![s.id().clone()]));

    // Load, with a touch (the expiry moves by more than the interval).
    clock.advance(120 * SEC);
    let loaded = sessions.load(s.id()).await.unwrap().expect("live");
    assert!(loaded.expires_at() > s.expires_at(), "the load touched");
    assert_eq!(loaded.get::<Vec<String>>("cart").unwrap().len(), 2);
    shown.debug("a loaded session", &loaded);

    // Cycle the id (login): the old id stops working.
    let old = s.id().clone();
    sessions.cycle_id(&mut s).await.unwrap();
    secrets.session(s.id());
    assert_ne!(s.id(), &old);
    assert!(sessions.load(&old).await.unwrap().is_none());
    shown.debug("a cycled session", &s);
    snapshots.push((entries(&root).await, vec![s.id().clone()]));

    // The copy loaded under the old id: cycling or saving it fails, and
    // brings nothing back.
    let err = sessions.cycle_id(&mut loaded.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    shown.error("cycle_id of a cycled-away session", &err);
    let err = sessions.save(&mut loaded.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    shown.error("save of a cycled-away session", &err);
    assert!(sessions.load(&old).await.unwrap().is_none());

    // A save the store refuses (the value is too large): the store's own
    // error, and the traced layer's log of it.
    let mut big = s.clone();
    big.insert("blob", &"x".repeat(8192)).unwrap();
    let err = sessions.save(&mut big).await.unwrap_err();
    shown.error("save of a value the store refuses", &err);

    // Other devices; listing and revoking through the owner index.
    let phone = sessions.create(Some(alice.clone())).await.unwrap();
    secrets.session(phone.id());
    let tablet = sessions.create(Some(alice.clone())).await.unwrap();
    secrets.session(tablet.id());
    let bobs = sessions.create(Some(bob.clone())).await.unwrap();
    secrets.session(bobs.id());
    snapshots.push((
        entries(&root).await,
        vec![
            s.id().clone(),
            phone.id().clone(),
            tablet.id().clone(),
            bobs.id().clone(),
        ],
    ));
    let listed = sessions.list_for(&alice).await.unwrap();
    assert_eq!(listed.len(), 3);
    shown.debug("alice's sessions", &listed);
    for info in &listed {
        shown.both("a session handle", &info.handle);
    }
    assert!(
        !sessions.revoke(&bob, &phone.id().key()).await.unwrap(),
        "bob revoked one of alice's sessions"
    );
    assert!(sessions.revoke(&alice, &phone.id().key()).await.unwrap());
    assert!(sessions.load(phone.id()).await.unwrap().is_none());
    assert_eq!(sessions.revoke_all_except(&alice, s.id()).await.unwrap(), 1);
    assert!(sessions.load(tablet.id()).await.unwrap().is_none());
    assert_eq!(sessions.revoke_all(&alice).await.unwrap(), 1);
    let err = sessions.save(&mut s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    shown.error("save of a revoked session", &err);
    assert!(sessions.load(bobs.id()).await.unwrap().is_some());

    // Logout.
    assert!(sessions.flush(bobs.id()).await.unwrap());
    assert!(!sessions.flush(bobs.id()).await.unwrap());
    assert!(sessions.load(bobs.id()).await.unwrap().is_none());

    // Expiry: past the absolute lifetime a load finds nothing and a save
    // fails.
    let mut late = sessions.create(None).await.unwrap();
    secrets.session(late.id());
    clock.advance(3601 * SEC);
    assert!(sessions.load(late.id()).await.unwrap().is_none());
    let err = sessions.save(&mut late).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    shown.error("save of an expired session", &err);
    let err = sessions.cycle_id(&mut late).await.unwrap_err();
    shown.error("cycle_id of an expired session", &err);

    // A forged or damaged cookie: refused, without echoing it.
    let text = late.id().expose();
    let mut changed = text.to_owned();
    changed.replace_range(5..6, "+");
    for bad in [
        format!("{text}A"),
        text[1..].to_owned(),
        changed,
        format!("{}=", &text[..42]),
    ] {
        let err = SessionId::parse(&bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        shown.error("parse of a damaged cookie", &err);
    }

    // A stored value that is not a session record.
    let corrupt = SessionId::generate().unwrap();
    secrets.session(&corrupt);
    store
        .put(
            &corrupt.key(),
            "not a session".into(),
            PutOptions::new(PutMode::Create),
        )
        .await
        .unwrap();
    let err = sessions.load(&corrupt).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encoding, "{err}");
    shown.error("load of a corrupt record", &err);

    // Tokens: create, conflicting writes, refresh, a failed refresh, a
    // value of another type.
    let tokens: TokenStore<OAuth> = TokenStore::new(store.clone(), "github")
        .unwrap()
        .with_clock(clock.clone())
        .with_refresh_lease(5 * SEC);
    let first = oauth(&clock, 60 * SEC);
    secrets.add("access token", &first.access);
    secrets.add("refresh token", &first.refresh);
    let v1 = tokens.update("alice", None, &first).await.unwrap();
    let err = tokens.update("alice", None, &first).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    shown.error("a token create over an existing one", &err);
    let second = oauth(&clock, 60 * SEC);
    secrets.add("access token", &second.access);
    secrets.add("refresh token", &second.refresh);
    tokens.update("alice", Some(v1), &second).await.unwrap();
    let err = tokens.update("alice", Some(v1), &first).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VersionMismatch, "{err}");
    shown.error("a token update from a stale version", &err);
    let read = tokens.get("alice").await.unwrap().expect("stored");
    assert!(read.value == second);
    shown.debug("a read token", &read);

    let refreshed = oauth(&clock, 3600 * SEC);
    secrets.add("access token", &refreshed.access);
    secrets.add("refresh token", &refreshed.refresh);
    let calls = AtomicUsize::new(0);
    let got = tokens
        .get_fresh("alice", 120 * SEC, |current| {
            calls.fetch_add(1, Ordering::SeqCst);
            assert!(current.is_some_and(|c| c == second));
            let refreshed = refreshed.clone();
            async move { Ok::<_, std::io::Error>(refreshed) }
        })
        .await
        .unwrap();
    assert!(got == refreshed);
    let got = tokens
        .get_fresh("alice", 120 * SEC, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(std::io::Error::other("must not be called")) }
        })
        .await
        .unwrap();
    assert!(got == refreshed);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one refresh");

    let expiring = oauth(&clock, SEC);
    secrets.add("access token", &expiring.access);
    secrets.add("refresh token", &expiring.refresh);
    tokens.set("bob", &expiring).await.unwrap();
    let Err(err) = tokens
        .get_fresh("bob", 120 * SEC, |_| async {
            Err::<OAuth, _>(std::io::Error::other("the provider refused the grant"))
        })
        .await
    else {
        panic!("a failed refresh returned a token");
    };
    assert!(matches!(err, RefreshError::Refresh(_)));
    shown.error("a failed refresh", &err);
    assert!(tokens.get("bob").await.unwrap().unwrap().value == expiring);

    let numbers: TokenStore<u64> = TokenStore::new(store.clone(), "github").unwrap();
    let err = numbers.get("alice").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encoding, "{err}");
    shown.error("a token of another type", &err);
    let err: RefreshError<std::io::Error> = RefreshError::Store(err);
    shown.error("a token store error", &err);
    let stored_tokens = entries(&root).await;
    assert!(tokens.delete("bob").await.unwrap());

    // The objects themselves, with everything still in them.
    shown.debug("the sessions", &sessions);
    shown.debug("the session config", &config);
    shown.debug("the token store", &tokens);
    shown.debug("the dyn store", &store);
    shown.debug("the traced store", &traced);
    shown.debug("the memory store", &root);
    let page = root.scan(None, 1000).await.unwrap();
    shown.debug("a scan page", &page);
    for (key, entry) in &page.entries {
        shown.both("a stored key", key);
        shown.debug("a stored entry", entry);
    }
    drop(guard);

    // The log: one line per store call, none with a secret.
    let log = captured.text();
    assert!(
        log.lines().count() >= 40 && log.contains("operation=\"put\""),
        "the capture missed the store's events:\n{log}"
    );
    secrets.assert_absent("the log", &log);
    shown.assert_clean(&secrets);

    // The backend: session keys are the hash of the id; neither the key,
    // the value nor the owner holds an id or a token.
    let sessions_only = Secrets(
        secrets
            .0
            .iter()
            .filter(|(what, _)| what.starts_with("session id"))
            .cloned()
            .collect(),
    );
    for (stored, live) in &snapshots {
        let keys: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
        for id in live {
            let hashed = hashed_key("session", id.expose());
            assert!(keys.contains(&hashed.as_str()), "{hashed} in {keys:?}");
            assert!(!keys.contains(&id.expose()), "an id is a key");
        }
        for (key, entry) in stored {
            secrets.assert_absent("a stored key", key.as_str());
            secrets.assert_absent("a stored owner", &format!("{:?}", entry.owner));
            sessions_only.assert_absent(
                &format!("the value under {key}"),
                &String::from_utf8_lossy(&entry.value),
            );
        }
    }
    for (key, _) in &stored_tokens {
        secrets.assert_absent("a stored key", key.as_str());
    }
}

/// The tower-sessions adapter: ids stored hashed, never logged or shown.
#[tokio::test]
async fn tower_adapter_never_shows_ids_and_stores_only_hashes() {
    let (captured, guard) = capture();
    let root = MemoryStore::new();
    let traced = TracedStore::new(root.clone());
    let tower = TowerStore::new(Arc::new(traced));
    let mut secrets = Secrets::default();
    let mut shown = Shown::default();
    let in_an_hour = OffsetDateTime::now_utc() + time::Duration::hours(1);

    let mut record = Record {
        id: Id::default(),
        data: HashMap::from([("user".to_owned(), serde_json::json!("alice"))]),
        expiry_date: in_an_hour,
    };
    tower.create(&mut record).await.unwrap();
    secrets.tower(&record.id);
    record
        .data
        .insert("cart".to_owned(), serde_json::json!(["book"]));
    tower.save(&record).await.unwrap();
    let loaded = tower.load(&record.id).await.unwrap().expect("live");
    assert_eq!(loaded.data, record.data);

    let stored = entries(&root).await;
    assert_eq!(stored.len(), 1);
    let (key, entry) = &stored[0];
    assert_eq!(
        key.as_str(),
        hashed_key("tower-session", &record.id.to_string())
    );
    secrets.assert_absent("a stored key", key.as_str());
    secrets.assert_absent("a stored value", &String::from_utf8_lossy(&entry.value));
    shown.debug("a stored entry", entry);

    // An error: a corrupt record.
    root.put(key, "not json".into(), PutMode::Upsert.into())
        .await
        .unwrap();
    let err = tower.load(&record.id).await.unwrap_err();
    shown.error("load of a corrupt record", &err);

    // Logout; a later save does not bring the session back.
    tower.delete(&record.id).await.unwrap();
    assert!(tower.load(&record.id).await.unwrap().is_none());
    tower.save(&record).await.unwrap();
    assert!(tower.load(&record.id).await.unwrap().is_none());
    assert!(entries(&root).await.is_empty());

    shown.debug("the tower store", &tower);
    drop(guard);
    let log = captured.text();
    assert!(
        log.lines().count() >= 8,
        "the capture missed the store's events:\n{log}"
    );
    secrets.assert_absent("the log", &log);
    shown.assert_clean(&secrets);
}

/// A session created through `a` is out of reach of `b`: `b` cannot load,
/// save, touch, cycle, flush, list or revoke it, nor read `a`'s tokens;
/// and `a`'s session is untouched afterwards.
async fn namespaces_are_sealed(a: Arc<dyn Store>, b: Arc<dyn Store>, label: &str) {
    let config = SessionConfig::default()
        .idle_timeout(300 * SEC)
        .absolute_lifetime(600 * SEC)
        .touch_interval(Duration::ZERO);
    let (sa, sb) = (
        Sessions::new(a.clone(), config.clone()),
        Sessions::new(b.clone(), config),
    );
    let carol = owner("carol");
    let mut s = sa.create(Some(carol.clone())).await.unwrap();
    s.insert("n", &1).unwrap();
    sa.save(&mut s).await.unwrap();
    let key = s.id().key();
    let before = a.get(&key).await.unwrap().expect("stored in a");
    let b_before = keys(&*b).await;

    assert!(sb.load(s.id()).await.unwrap().is_none(), "{label}: load");
    let mut copy = s.clone();
    copy.insert("n", &2).unwrap();
    let err = sb.save(&mut copy).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{label}: save: {err}");
    let far = from_now(3600 * SEC);
    let err = b.touch(&key, far).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{label}: touch: {err}");
    let err = sb.cycle_id(&mut s.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{label}: cycle_id: {err}");
    assert!(!sb.flush(s.id()).await.unwrap(), "{label}: flush");
    assert!(
        sb.list_for(&carol).await.unwrap().is_empty(),
        "{label}: list"
    );
    assert!(!sb.revoke(&carol, &key).await.unwrap(), "{label}: revoke");
    let keep = SessionId::generate().unwrap();
    assert_eq!(
        sb.revoke_all_except(&carol, &keep).await.unwrap(),
        0,
        "{label}: revoke_all_except"
    );
    assert_eq!(
        sb.revoke_all(&carol).await.unwrap(),
        0,
        "{label}: revoke_all"
    );
    assert!(!b.delete(&key, None).await.unwrap(), "{label}: delete");
    assert_eq!(keys(&*b).await, b_before, "{label}: b gained entries");

    let ta: TokenStore<String> = TokenStore::new(a.clone(), "oauth").unwrap();
    let tb: TokenStore<String> = TokenStore::new(b.clone(), "oauth").unwrap();
    ta.set("carol", &"gho_carol".to_owned()).await.unwrap();
    assert!(
        tb.get("carol").await.unwrap().is_none(),
        "{label}: token get"
    );
    assert!(!tb.delete("carol").await.unwrap(), "{label}: token delete");
    let err = tb
        .update("carol", Some(before.version), &"x".to_owned())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::NotFound | ErrorKind::VersionMismatch),
        "{label}: token update: {err}"
    );
    assert!(
        tb.get("carol").await.unwrap().is_none(),
        "{label}: token get"
    );

    let after = a.get(&key).await.unwrap().expect("still in a");
    assert_eq!(after.version, before.version, "{label}: changed in a");
    assert_eq!(after.value, before.value, "{label}: changed in a");
    assert_eq!(after.expires_at, before.expires_at, "{label}: touched in a");
    assert_eq!(after.owner, before.owner, "{label}: owner in a");
    let back = sa.load(s.id()).await.unwrap().expect("live in a");
    assert_eq!(back.get::<i32>("n"), Some(1), "{label}");
    assert_eq!(sa.list_for(&carol).await.unwrap().len(), 1, "{label}");
    assert!(sa.flush(s.id()).await.unwrap());
    assert!(ta.delete("carol").await.unwrap());
}

/// The system time plus `by`, for a raw `touch`.
fn from_now(by: Duration) -> Expiry {
    store_core::SystemClock.now().checked_add(by).unwrap()
}

/// Both ways round for each pair.
async fn all_pairs(pairs: Vec<Pair>) {
    for (a, b, label) in pairs {
        namespaces_are_sealed(a.clone(), b.clone(), &format!("{label} a->b")).await;
        namespaces_are_sealed(b, a, &format!("{label} b->a")).await;
    }
}

#[tokio::test]
async fn memory_prefixes_are_sealed_for_sessions() {
    let root = MemoryStore::new();
    let app = root.with_namespace("app").unwrap();
    let nested = root.with_namespace("app:tenant2").unwrap();
    let longer = root.with_namespace("appx").unwrap();
    all_pairs(vec![
        (
            Arc::new(root.clone()),
            Arc::new(app.clone()),
            "memory '' / 'app'".to_owned(),
        ),
        (
            Arc::new(app.clone()),
            Arc::new(nested),
            "memory 'app' / 'app:tenant2'".to_owned(),
        ),
        (
            Arc::new(app),
            Arc::new(longer),
            "memory 'app' / 'appx'".to_owned(),
        ),
    ])
    .await;
}

#[tokio::test]
async fn redis_prefixes_are_sealed_for_sessions() {
    let Some(url) = service_url(Service::Redis).await else {
        return;
    };
    let base = store_redis::RedisStore::connect(&url)
        .await
        .expect("connect");
    let ns = store_conformance::random_namespace();
    let app = base.with_namespace(&ns).unwrap();
    let nested = base.with_namespace(format!("{ns}:tenant2")).unwrap();
    let longer = base.with_namespace(format!("{ns}x")).unwrap();
    all_pairs(vec![
        (
            Arc::new(app.clone()),
            Arc::new(nested),
            "redis 'ns' / 'ns:tenant2'".to_owned(),
        ),
        (
            Arc::new(app),
            Arc::new(longer),
            "redis 'ns' / 'nsx'".to_owned(),
        ),
    ])
    .await;
}
