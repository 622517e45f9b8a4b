//! A linearizability checker: random concurrent operations against real
//! stores, and a search that decides whether what they returned could have
//! come from the contract's sequential model.
//!
//! One module of about 1,000 lines (and its tests) on purpose: the recorder,
//! the sequential model and the search share the history types and are
//! read as one algorithm.
//!
//! [`record`] runs tasks over several independently connected store
//! objects, each issuing random single-key operations (`get`, every
//! [`PutMode`], `delete` with and without a version, `touch`, with and
//! without owners and expiries) on a few keys, and keeps each call's
//! invocation and response instants and its result. [`check`] then decides,
//! key by key (single-key operations on different keys are independent, so
//! a history is linearizable exactly when every key's sub-history is), whether
//! some order of the calls, each placed between its invocation and its
//! response, explains every result. The search is the Wing & Gong algorithm
//! with Lowe's memoization of (linearized calls, model state), as in Jepsen's
//! Knossos and Porcupine.
//!
//! - A call that failed with a retryable error (`Unavailable`) has an
//!   unknown outcome: it may have taken effect at any instant after its
//!   invocation, or never. Its response time is taken as infinite.
//! - Versions are the store's: the model learns each one from the call that
//!   returned it. A write whose outcome is unknown leaves a version the
//!   model does not know, which the next read of it binds.
//! - Expiry is kept out of the model's time: every expiry in the mix lies
//!   hours ahead, so nothing expires while a history runs, and the model
//!   checks expiries as stored values (to the millisecond). Expiring
//!   entries are covered by the suite's other behaviours.
//! - Owners are checked as stored values; `list_by_owner` reads many keys
//!   and is covered by the race behaviours instead.
//!
//! ```
//! use std::sync::Arc;
//! use store_conformance::linearizability::{HistoryConfig, check, record};
//! use store_core::{Clock, Store, SystemClock};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(store_memory::MemoryStore::new());
//! let config = HistoryConfig::new(4, 20, 2).with_seed(7);
//! let history = record(&[store.clone(), store], &config, SystemClock.now(), "demo").await;
//! let summary = check(&history).expect("a linearizable history");
//! assert_eq!(summary.operations, 80);
//! # });
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store_core::{Entry, ErrorKind, Expiry, Key, Owner, PutMode, PutOptions, Store, Version};

/// The owners a history writes with.
const OWNERS: [&str; 2] = ["alice", "bob"];

/// How many search steps one key's sub-history may take before the check
/// gives up (a history of a few hundred calls needs far fewer).
const MAX_STEPS: u64 = 20_000_000;

/// The shape of one recorded history.
///
/// ```
/// let config = store_conformance::linearizability::HistoryConfig::new(6, 25, 3).with_seed(42);
/// assert_eq!(config.tasks(), 6);
/// ```
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    tasks: usize,
    ops_per_task: usize,
    keys: usize,
    seed: u64,
}

impl HistoryConfig {
    /// `tasks` concurrent tasks, each issuing `ops_per_task` calls on
    /// `keys` keys, with a random seed.
    pub fn new(tasks: usize, ops_per_task: usize, keys: usize) -> Self {
        Self {
            tasks: tasks.max(1),
            ops_per_task,
            keys: keys.max(1),
            seed: rand::rng().random(),
        }
    }

    /// The seed of the random choices (each task's calls derive from it;
    /// the interleaving is the machine's).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many tasks run at once.
    pub fn tasks(&self) -> usize {
        self.tasks
    }

    /// How many calls each task makes.
    pub fn ops_per_task(&self) -> usize {
        self.ops_per_task
    }

    /// How many keys the calls spread over.
    pub fn keys(&self) -> usize {
        self.keys
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// A write's precondition, as [`PutMode`] but printable in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `PutMode::Upsert`.
    Upsert,
    /// `PutMode::Create`.
    Create,
    /// `PutMode::Update`.
    Update,
    /// `PutMode::UpdateIf(version)`.
    UpdateIf(Version),
}

/// What one call asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `get(key)`.
    Get,
    /// `put(key, value, options)`; `value` is unique in the history.
    Put {
        /// The mode.
        mode: Mode,
        /// The value written (its bytes are `v<value>`).
        value: u64,
        /// The expiry written, ms since the epoch.
        expires_at: Option<i64>,
        /// The owner written: an index into the history's owners.
        owner: Option<u8>,
    },
    /// `delete(key, if_version)`.
    Delete {
        /// The version the delete is conditional on.
        if_version: Option<Version>,
    },
    /// `touch(key, expires_at)`.
    Touch {
        /// The new expiry, ms since the epoch.
        expires_at: i64,
    },
}

/// An entry as a `get` returned it, in the model's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seen {
    /// The value written (`u64::MAX` for bytes no call of the history wrote).
    pub value: u64,
    /// Its version.
    pub version: Version,
    /// Its expiry, ms since the epoch.
    pub expires_at: Option<i64>,
    /// Its owner (index; `u8::MAX` for an owner no call wrote).
    pub owner: Option<u8>,
}

/// What one call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A `get`'s result.
    Got(Option<Seen>),
    /// A `put` succeeded with this version.
    Written(Version),
    /// A `delete`'s result.
    Deleted(bool),
    /// A `touch` succeeded.
    Touched,
    /// A definite refusal: `AlreadyExists`, `NotFound` or
    /// `VersionMismatch`. Nothing was written.
    Refused(ErrorKind),
    /// A retryable failure (`Unavailable`): the call may or may not have
    /// taken effect.
    Unknown,
}

/// One call of a history.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The task that made it.
    pub task: usize,
    /// The store object it went through.
    pub store: usize,
    /// The key (an index).
    pub key: usize,
    /// What it asked.
    pub call: Call,
    /// What it returned.
    pub outcome: Outcome,
    /// When it was invoked, since the history started.
    pub invoked: Duration,
    /// When it returned, since the history started.
    pub returned: Duration,
}

/// A recorded history: every call of every task.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The calls, task after task, each task's in order.
    pub operations: Vec<Operation>,
    /// Errors that are neither a refusal the contract allows for the call
    /// nor retryable (each a bug of its own), as text.
    pub unexpected: Vec<String>,
    /// The configuration it was recorded with.
    pub tasks: usize,
    /// How many store objects the tasks used.
    pub stores: usize,
    /// How many keys the calls used.
    pub keys: usize,
    /// The seed.
    pub seed: u64,
}

/// What a successful check covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Calls checked.
    pub operations: usize,
    /// Calls whose outcome was unknown.
    pub unknown: usize,
    /// Keys (independent sub-histories) checked.
    pub keys: usize,
    /// Search steps taken, over all keys.
    pub steps: u64,
}

/// A history that no order of its calls explains, with a readable trace;
/// or one the search could not decide within its step budget
/// ([`Violation::is_inconclusive`]).
#[derive(Debug, Clone)]
pub struct Violation {
    trace: String,
    inconclusive: bool,
}

impl Violation {
    /// Whether the search gave up (a key's calls, many of them of unknown
    /// outcome, allowed more orders than the step budget covers) rather
    /// than proved that no order explains the history.
    ///
    /// ```
    /// use store_conformance::linearizability::{HistoryConfig, check, record};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store: std::sync::Arc<dyn store_core::Store> = std::sync::Arc::new(store_memory::MemoryStore::new());
    /// let now = store_core::SystemClock.now();
    /// # use store_core::Clock;
    /// let history = record(&[store], &HistoryConfig::new(2, 10, 1), now, "doc").await;
    /// assert!(check(&history).map_err(|v| v.is_inconclusive()).is_ok());
    /// # });
    /// ```
    pub fn is_inconclusive(&self) -> bool {
        self.inconclusive
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.trace)
    }
}

impl std::error::Error for Violation {}

/// Runs `config.tasks` tasks over `stores` (task `t` uses
/// `stores[t % stores.len()]`), each making `config.ops_per_task` random
/// calls on keys `<prefix>-0`, `<prefix>-1`, … Expiries are written hours
/// after `now`.
///
/// # Panics
/// When a task panics.
pub async fn record(
    stores: &[Arc<dyn Store>],
    config: &HistoryConfig,
    now: Expiry,
    prefix: &str,
) -> History {
    assert!(!stores.is_empty(), "at least one store");
    let keys: Arc<Vec<Key>> = Arc::new(
        (0..config.keys)
            .map(|k| Key::new(format!("{prefix}-{k}")).expect("a valid key"))
            .collect(),
    );
    let seen: Arc<Mutex<HashMap<usize, Vec<Version>>>> = Arc::default();
    let start = Instant::now();
    let base = now.as_unix_millis() + 3 * 3600 * 1000;
    let mut handles = Vec::new();
    for task in 0..config.tasks {
        let store = stores[task % stores.len()].clone();
        let (keys, seen) = (keys.clone(), seen.clone());
        let mut rng = StdRng::seed_from_u64(config.seed ^ (task as u64).wrapping_mul(0x9e37_79b9));
        let ops = config.ops_per_task;
        let store_index = task % stores.len();
        handles.push(tokio::spawn(async move {
            let mut done = Vec::with_capacity(ops);
            let mut unexpected = Vec::new();
            for i in 0..ops {
                let key = rng.random_range(0..keys.len());
                let value = ((task as u64) << 32) | i as u64;
                let call = random_call(&mut rng, value, base, &seen, key);
                let invoked = start.elapsed();
                let outcome = perform(&*store, &keys[key], &call).await;
                let returned = start.elapsed();
                let outcome = match outcome {
                    Ok(o) => o,
                    Err(e) => {
                        unexpected.push(format!("task {task}, {}: {e}", describe(&call)));
                        continue;
                    }
                };
                let learnt = match &outcome {
                    Outcome::Written(v) => Some(*v),
                    Outcome::Got(Some(s)) => Some(s.version),
                    _ => None,
                };
                if let Some(v) = learnt {
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(key)
                        .or_default()
                        .push(v);
                }
                done.push(Operation {
                    task,
                    store: store_index,
                    key,
                    call,
                    outcome,
                    invoked,
                    returned,
                });
            }
            (done, unexpected)
        }));
    }
    let mut history = History {
        tasks: config.tasks,
        stores: stores.len(),
        keys: config.keys,
        seed: config.seed,
        ..History::default()
    };
    for h in handles {
        let (ops, unexpected) = h.await.expect("a history task panicked");
        history.operations.extend(ops);
        history.unexpected.extend(unexpected);
    }
    history
}

fn random_call(
    rng: &mut StdRng,
    value: u64,
    base: i64,
    seen: &Mutex<HashMap<usize, Vec<Version>>>,
    key: usize,
) -> Call {
    let expiry = |rng: &mut StdRng| base + rng.random_range(0..3_600_000i64);
    let version = |rng: &mut StdRng| {
        let known = seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .and_then(|vs| {
                // Mostly one of the latest versions, so that conditional
                // calls often succeed.
                let from = vs.len().saturating_sub(3);
                (!vs.is_empty()).then(|| vs[rng.random_range(from..vs.len())])
            });
        match known {
            Some(v) if rng.random_bool(0.85) => v,
            _ => Version::from_u64(rng.random()),
        }
    };
    match rng.random_range(0..100) {
        0..30 => Call::Get,
        30..72 => {
            let mode = match rng.random_range(0..4) {
                0 => Mode::Upsert,
                1 => Mode::Create,
                2 => Mode::Update,
                _ => Mode::UpdateIf(version(rng)),
            };
            let expires_at = rng.random_bool(0.5).then(|| expiry(rng));
            let owner = match rng.random_range(0..3) {
                0 => None,
                n => Some(n as u8 - 1),
            };
            Call::Put {
                mode,
                value,
                expires_at,
                owner,
            }
        }
        72..90 => Call::Delete {
            if_version: rng.random_bool(0.5).then(|| version(rng)),
        },
        _ => Call::Touch {
            expires_at: expiry(rng),
        },
    }
}

/// Makes the call; `Err` for an error the contract does not allow here.
async fn perform(store: &dyn Store, key: &Key, call: &Call) -> Result<Outcome, store_core::Error> {
    let result = match call {
        Call::Get => store.get(key).await.map(|e| Outcome::Got(e.map(seen))),
        Call::Put {
            mode,
            value,
            expires_at,
            owner,
        } => {
            let mode = match *mode {
                Mode::Upsert => PutMode::Upsert,
                Mode::Create => PutMode::Create,
                Mode::Update => PutMode::Update,
                Mode::UpdateIf(v) => PutMode::UpdateIf(v),
            };
            let mut options = PutOptions::new(mode);
            if let Some(ms) = expires_at {
                options = options.expires_at(Expiry::from_unix_millis(*ms)?);
            }
            if let Some(o) = owner {
                options = options.owner(Owner::new(OWNERS[usize::from(*o)])?);
            }
            let bytes = Bytes::from(format!("v{value}"));
            store
                .put(key, bytes, options)
                .await
                .map(|w| Outcome::Written(w.version))
        }
        Call::Delete { if_version } => store.delete(key, *if_version).await.map(Outcome::Deleted),
        Call::Touch { expires_at } => store
            .touch(key, Expiry::from_unix_millis(*expires_at)?)
            .await
            .map(|()| Outcome::Touched),
    };
    match result {
        Ok(o) => Ok(o),
        Err(e) if refusal_allowed(call, e.kind()) => Ok(Outcome::Refused(e.kind())),
        Err(e) if e.is_retryable() => Ok(Outcome::Unknown),
        Err(e) => Err(e),
    }
}

/// Whether the contract lets `call` be refused with `kind`.
fn refusal_allowed(call: &Call, kind: ErrorKind) -> bool {
    match call {
        Call::Get => false,
        Call::Put { mode, .. } => matches!(
            (mode, kind),
            (Mode::Create, ErrorKind::AlreadyExists)
                | (Mode::Update, ErrorKind::NotFound)
                | (
                    Mode::UpdateIf(_),
                    ErrorKind::NotFound | ErrorKind::VersionMismatch
                )
        ),
        Call::Delete { if_version } => if_version.is_some() && kind == ErrorKind::VersionMismatch,
        Call::Touch { .. } => kind == ErrorKind::NotFound,
    }
}

fn seen(entry: Entry) -> Seen {
    let value = std::str::from_utf8(&entry.value)
        .ok()
        .and_then(|s| s.strip_prefix('v'))
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let owner = entry.owner.map(|o| {
        OWNERS
            .iter()
            .position(|n| *n == o.as_str())
            .map_or(u8::MAX, |i| i as u8)
    });
    Seen {
        value,
        version: entry.version,
        expires_at: entry.expires_at.map(Expiry::as_unix_millis),
        owner,
    }
}

/// Totals of the histories [`run`] recorded and checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Histories checked.
    pub histories: usize,
    /// Histories recorded but left undecided, the search having given up
    /// ([`Violation::is_inconclusive`]); not counted in `histories`.
    pub inconclusive: usize,
    /// Calls checked, over all histories.
    pub operations: usize,
    /// Calls whose outcome was unknown.
    pub unknown: usize,
    /// Keys (independent sub-histories) checked.
    pub keys: usize,
    /// Tasks per history.
    pub tasks: usize,
    /// Store objects per history.
    pub stores: usize,
    /// The seed of the first history (history `i` uses `seed + i`).
    pub seed: u64,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} histories linearizable ({} more undecided): {} calls ({} of unknown outcome) on \
             {} keys, {} tasks over {} store objects each (seed {})",
            self.histories,
            self.inconclusive,
            self.operations,
            self.unknown,
            self.keys,
            self.tasks,
            self.stores,
            self.seed
        )
    }
}

/// How long [`run`] records histories by default: 1.5 s, or
/// `STORE_LINEARIZABILITY_SECS` seconds when set.
pub fn budget_from_env() -> Duration {
    std::env::var("STORE_LINEARIZABILITY_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_millis(1500), Duration::from_secs_f64)
}

/// Records and checks histories shaped by `config` over `stores`, one
/// after another, until `budget` has passed and at least two were decided.
/// The seed of history `i` is `config`'s plus `i`;
/// `STORE_LINEARIZABILITY_SEED` fixes `config`'s seed to replay a failure's
/// choices.
///
/// A history the search cannot decide within its step budget (it gave up:
/// many calls of unknown outcome, as under connection cuts on a slow
/// network, allow more orders than it covers) proves nothing either way:
/// it is counted in [`RunSummary::inconclusive`] and another is recorded.
///
/// # Panics
/// On the first history that is not linearizable, with its trace; when
/// fewer than two histories were decided after 20 times `budget` (and at
/// least 20 undecided), with the last undecided one's trace.
pub async fn run(
    stores: &[Arc<dyn Store>],
    config: &HistoryConfig,
    now: Expiry,
    budget: Duration,
    prefix: &str,
) -> RunSummary {
    let seed = std::env::var("STORE_LINEARIZABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(config.seed);
    let started = Instant::now();
    let mut total = RunSummary {
        tasks: config.tasks,
        stores: stores.len(),
        seed,
        ..RunSummary::default()
    };
    while total.histories < 2 || started.elapsed() < budget {
        let index = total.histories + total.inconclusive;
        let round = config.clone().with_seed(seed.wrapping_add(index as u64));
        let name = format!("{prefix}-h{index}");
        let history = record(stores, &round, now, &name).await;
        // The search is CPU work: off the runtime's threads, so that what
        // runs beside it (a proxy cutting connections on a schedule) keeps
        // its pace.
        let checked = tokio::task::spawn_blocking(move || check(&history))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        match checked {
            Ok(summary) => {
                total.histories += 1;
                total.operations += summary.operations;
                total.unknown += summary.unknown;
                total.keys += summary.keys;
            }
            Err(undecided) if undecided.is_inconclusive() => {
                total.inconclusive += 1;
                if total.histories < 2
                    && total.inconclusive >= 20
                    && started.elapsed() > budget * 20
                {
                    panic!(
                        "only {} of {} histories could be decided; the last undecided one:\n\
                         {undecided}",
                        total.histories,
                        total.histories + total.inconclusive
                    );
                }
            }
            Err(violation) => panic!("{violation}"),
        }
    }
    total
}

// ------------------------------------------------------------------ model

/// A version as the model knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ver {
    Known(Version),
    /// Written by a call whose outcome is unknown: any version.
    Unknown,
}

impl Ver {
    fn matches(self, v: Version) -> bool {
        match self {
            Ver::Known(k) => k == v,
            Ver::Unknown => true,
        }
    }

    /// Whether a comparison with `v` can fail.
    fn may_differ(self, v: Version) -> bool {
        match self {
            Ver::Known(k) => k != v,
            Ver::Unknown => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Rec {
    value: u64,
    version: Ver,
    expires_at: Option<i64>,
    owner: Option<u8>,
}

/// The sequential model of one key: absent, or an entry.
type State = Option<Rec>;

/// The states the model may be in after `op` runs on `state`: none when
/// its outcome is impossible there.
fn step(state: State, op: &Operation) -> Vec<State> {
    let unknown = op.outcome == Outcome::Unknown;
    match &op.call {
        Call::Get => match (&op.outcome, state) {
            (Outcome::Unknown, s) => vec![s],
            (Outcome::Got(None), None) => vec![None],
            (Outcome::Got(Some(seen)), Some(r))
                if r.value == seen.value
                    && r.expires_at == seen.expires_at
                    && r.owner == seen.owner
                    && r.version.matches(seen.version) =>
            {
                vec![Some(Rec {
                    version: Ver::Known(seen.version),
                    ..r
                })]
            }
            _ => vec![],
        },
        Call::Put {
            mode,
            value,
            expires_at,
            owner,
        } => {
            let written = |version| {
                Some(Rec {
                    value: *value,
                    version,
                    expires_at: *expires_at,
                    owner: *owner,
                })
            };
            // Whether the write can apply, and whether it can be refused
            // (with which kind), from this state.
            let (applies, refused) = match (mode, state) {
                (Mode::Upsert, _) => (true, None),
                (Mode::Create, None) => (true, None),
                (Mode::Create, Some(_)) => (false, Some(ErrorKind::AlreadyExists)),
                (Mode::Update, Some(_)) => (true, None),
                (Mode::Update | Mode::UpdateIf(_), None) => (false, Some(ErrorKind::NotFound)),
                (Mode::UpdateIf(v), Some(r)) => (
                    r.version.matches(*v),
                    r.version
                        .may_differ(*v)
                        .then_some(ErrorKind::VersionMismatch),
                ),
            };
            let mut next = Vec::new();
            match &op.outcome {
                Outcome::Written(v) if applies => next.push(written(Ver::Known(*v))),
                Outcome::Refused(kind) if refused == Some(*kind) => next.push(state),
                _ if unknown => {
                    if applies {
                        next.push(written(Ver::Unknown));
                    }
                    if refused.is_some() {
                        next.push(state);
                    }
                }
                _ => {}
            }
            next
        }
        Call::Delete { if_version } => {
            let (deletes, refused) = match (if_version, state) {
                (_, None) => (false, false),
                (None, Some(_)) => (true, false),
                (Some(v), Some(r)) => (r.version.matches(*v), r.version.may_differ(*v)),
            };
            let mut next = Vec::new();
            match &op.outcome {
                Outcome::Deleted(true) if deletes => next.push(None),
                Outcome::Deleted(false) if state.is_none() => next.push(None),
                Outcome::Refused(ErrorKind::VersionMismatch) if refused => next.push(state),
                _ if unknown => {
                    if deletes || state.is_none() {
                        next.push(None);
                    }
                    if refused {
                        next.push(state);
                    }
                }
                _ => {}
            }
            next
        }
        Call::Touch { expires_at } => match (&op.outcome, state) {
            (Outcome::Touched | Outcome::Unknown, Some(r)) => vec![Some(Rec {
                expires_at: Some(*expires_at),
                ..r
            })],
            (Outcome::Refused(ErrorKind::NotFound) | Outcome::Unknown, None) => vec![None],
            _ => vec![],
        },
    }
}

// ------------------------------------------------------------------ search

/// Decides whether `history` is linearizable, key by key.
///
/// # Errors
/// A [`Violation`] with a readable trace of the first key whose calls no
/// order explains, or of the errors the contract does not allow.
pub fn check(history: &History) -> Result<Summary, Violation> {
    if !history.unexpected.is_empty() {
        return Err(Violation {
            inconclusive: false,
            trace: format!(
                "errors the contract does not allow for these calls (seed {}):\n  {}",
                history.seed,
                history.unexpected.join("\n  ")
            ),
        });
    }
    let mut by_key: BTreeMap<usize, Vec<&Operation>> = BTreeMap::new();
    for op in &history.operations {
        by_key.entry(op.key).or_default().push(op);
    }
    let mut summary = Summary {
        operations: history.operations.len(),
        unknown: history
            .operations
            .iter()
            .filter(|o| o.outcome == Outcome::Unknown)
            .count(),
        keys: by_key.len(),
        steps: 0,
    };
    for (key, ops) in by_key {
        match check_key(&ops) {
            Ok(steps) => summary.steps += steps,
            Err(failure) => {
                return Err(Violation {
                    inconclusive: failure.gave_up,
                    trace: failure.render(history, key, &ops),
                });
            }
        }
    }
    Ok(summary)
}

/// Why one key's calls are not linearizable: the longest order found, and
/// the calls none of which could come next.
struct Failure {
    gave_up: bool,
    prefix: Vec<(usize, State)>,
    stuck: Vec<usize>,
}

/// A call or a response, in time order.
#[derive(Clone, Copy)]
struct Event {
    op: usize,
    call: bool,
}

/// Wing & Gong's search over one key's calls, with a cache of the
/// (linearized set, state) pairs already explored.
fn check_key(ops: &[&Operation]) -> Result<u64, Failure> {
    let n = ops.len();
    // Events sorted by time; at equal times calls first (the more
    // permissive reading). A call of unknown outcome never returns.
    let mut events: Vec<(Duration, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoked, true, i));
        let ret = if op.outcome == Outcome::Unknown {
            Duration::MAX
        } else {
            op.returned
        };
        events.push((ret, false, i));
    }
    events.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let events: Vec<Event> = events
        .into_iter()
        .map(|(_, call, op)| Event { op, call })
        .collect();
    // A doubly linked list over the events, with a sentinel head at index
    // `len`; `ret_of[op]` and `call_of[op]` index into it.
    let len = events.len();
    let head = len;
    let mut next = vec![usize::MAX; len + 1];
    let mut prev = vec![usize::MAX; len + 1];
    let mut call_of = vec![0; n];
    let mut ret_of = vec![0; n];
    let mut last = head;
    for (i, e) in events.iter().enumerate() {
        next[last] = i;
        prev[i] = last;
        last = i;
        if e.call {
            call_of[e.op] = i;
        } else {
            ret_of[e.op] = i;
        }
    }
    const END: usize = usize::MAX;
    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, op: usize| {
        for i in [call_of[op], ret_of[op]] {
            let (p, nx) = (prev[i], next[i]);
            next[p] = nx;
            if nx != END {
                prev[nx] = p;
            }
        }
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, op: usize| {
        for i in [ret_of[op], call_of[op]] {
            let (p, nx) = (prev[i], next[i]);
            next[p] = i;
            if nx != END {
                prev[nx] = i;
            }
        }
    };

    struct Frame {
        op: usize,
        before: State,
        rest: Vec<State>,
    }
    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut state: State = None;
    let mut entry = next[head];
    let mut steps = 0u64;
    // The deepest order found, the state after each of its calls, and the
    // calls that were candidates to come next.
    let candidates_at = |next: &Vec<usize>| {
        let mut out = Vec::new();
        let mut i = next[head];
        while i != END && events[i].call {
            out.push(events[i].op);
            i = next[i];
        }
        out
    };
    let mut best: (Vec<(usize, State)>, Vec<usize>) = (Vec::new(), candidates_at(&next));

    while next[head] != END {
        steps += 1;
        if steps > MAX_STEPS {
            return Err(Failure {
                gave_up: true,
                prefix: best.0,
                stuck: best.1,
            });
        }
        if entry != END && events[entry].call {
            let op = events[entry].op;
            linearized[op / 64] |= 1 << (op % 64);
            let mut candidates: Vec<State> = step(state, ops[op])
                .into_iter()
                .filter(|s| cache.insert((linearized.clone(), *s)))
                .collect();
            if let Some(s) = candidates.pop() {
                stack.push(Frame {
                    op,
                    before: state,
                    rest: candidates,
                });
                state = s;
                lift(&mut next, &mut prev, op);
                entry = next[head];
                if stack.len() > best.0.len() {
                    let mut after: Vec<State> = stack.iter().skip(1).map(|f| f.before).collect();
                    after.push(state);
                    let prefix = stack.iter().map(|f| f.op).zip(after).collect();
                    best = (prefix, candidates_at(&next));
                }
            } else {
                linearized[op / 64] &= !(1 << (op % 64));
                entry = next[entry];
            }
        } else {
            // A response (or the end): every call before it was tried.
            let Some(mut frame) = stack.pop() else {
                return Err(Failure {
                    gave_up: false,
                    prefix: best.0,
                    stuck: best.1,
                });
            };
            if let Some(s) = frame.rest.pop() {
                state = s;
                stack.push(frame);
                entry = next[head];
                continue;
            }
            let op = frame.op;
            state = frame.before;
            linearized[op / 64] &= !(1 << (op % 64));
            unlift(&mut next, &mut prev, op);
            entry = next[call_of[op]];
        }
    }
    Ok(steps)
}

impl Failure {
    fn render(&self, history: &History, key: usize, ops: &[&Operation]) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "not linearizable: key {key} ({} calls on it; history of {} calls by {} tasks over {} \
             store objects and {} keys, seed {})",
            ops.len(),
            history.operations.len(),
            history.tasks,
            history.stores,
            history.keys,
            history.seed
        );
        if self.gave_up {
            let _ = writeln!(t, "the search gave up after {MAX_STEPS} steps");
        }
        let shown = 12;
        let skip = self.prefix.len().saturating_sub(shown);
        let _ = writeln!(
            t,
            "the longest order that explains the results places {} calls; its last {}:",
            self.prefix.len(),
            self.prefix.len() - skip
        );
        for (op, after) in &self.prefix[skip..] {
            let _ = writeln!(t, "  {}  => state {}", line(ops[*op]), state_text(*after));
        }
        if !self.stuck.is_empty() {
            let _ = writeln!(
                t,
                "no call can come next; the candidates (invoked before the first pending \
                 response) were:"
            );
            for op in &self.stuck {
                let _ = writeln!(t, "  {}", line(ops[*op]));
            }
        }
        t
    }
}

fn line(op: &Operation) -> String {
    let returned = if op.outcome == Outcome::Unknown {
        "?".to_owned()
    } else {
        format!("{:.3}", op.returned.as_secs_f64() * 1e3)
    };
    format!(
        "[{:>9.3} .. {:>9} ms] task {} (store {}): {} -> {}",
        op.invoked.as_secs_f64() * 1e3,
        returned,
        op.task,
        op.store,
        describe(&op.call),
        outcome_text(&op.outcome)
    )
}

fn describe(call: &Call) -> String {
    match call {
        Call::Get => "get".into(),
        Call::Put {
            mode,
            value,
            expires_at,
            owner,
        } => {
            let mode = match mode {
                Mode::Upsert => "Upsert".to_owned(),
                Mode::Create => "Create".to_owned(),
                Mode::Update => "Update".to_owned(),
                Mode::UpdateIf(v) => format!("UpdateIf({v})"),
            };
            format!(
                "put {mode} value {}{}{}",
                value_text(*value),
                expires_at.map_or(String::new(), |e| format!(" expires {e}")),
                owner.map_or(String::new(), |o| format!(" owner {}", owner_text(o)))
            )
        }
        Call::Delete { if_version: None } => "delete".into(),
        Call::Delete {
            if_version: Some(v),
        } => format!("delete if {v}"),
        Call::Touch { expires_at } => format!("touch {expires_at}"),
    }
}

fn value_text(v: u64) -> String {
    if v == u64::MAX {
        "<bytes no call wrote>".into()
    } else {
        format!("t{}#{}", v >> 32, v & 0xffff_ffff)
    }
}

fn owner_text(o: u8) -> &'static str {
    OWNERS.get(usize::from(o)).copied().unwrap_or("<unknown>")
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Got(None) => "None".into(),
        Outcome::Got(Some(s)) => format!(
            "{} v{}{}{}",
            value_text(s.value),
            s.version,
            s.expires_at
                .map_or(String::new(), |e| format!(" expires {e}")),
            s.owner
                .map_or(String::new(), |o| format!(" owner {}", owner_text(o)))
        ),
        Outcome::Written(v) => format!("Ok(v{v})"),
        Outcome::Deleted(b) => format!("Ok({b})"),
        Outcome::Touched => "Ok".into(),
        Outcome::Refused(k) => format!("Err({k})"),
        Outcome::Unknown => "Err(Unavailable): outcome unknown".into(),
    }
}

fn state_text(s: State) -> String {
    match s {
        None => "absent".into(),
        Some(r) => format!(
            "{} {}",
            value_text(r.value),
            match r.version {
                Ver::Known(v) => format!("v{v}"),
                Ver::Unknown => "v?".into(),
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(task: usize, call: Call, outcome: Outcome, invoked: u64, returned: u64) -> Operation {
        Operation {
            task,
            store: 0,
            key: 0,
            call,
            outcome,
            invoked: Duration::from_millis(invoked),
            returned: Duration::from_millis(returned),
        }
    }

    fn put(mode: Mode, value: u64) -> Call {
        Call::Put {
            mode,
            value,
            expires_at: None,
            owner: None,
        }
    }

    fn got(value: u64, version: u64) -> Outcome {
        Outcome::Got(Some(Seen {
            value,
            version: Version::from_u64(version),
            expires_at: None,
            owner: None,
        }))
    }

    fn history(operations: Vec<Operation>) -> History {
        History {
            operations,
            tasks: 2,
            stores: 1,
            keys: 1,
            ..History::default()
        }
    }

    #[test]
    fn overlapping_calls_may_take_either_order() {
        // A create and a read that overlap: the read may see the entry.
        let h = history(vec![
            op(0, put(Mode::Create, 1), written(10), 0, 10),
            op(1, Call::Get, got(1, 10), 1, 5),
        ]);
        check(&h).expect("linearizable");
    }

    #[test]
    fn a_read_after_a_delete_returned_must_not_see_the_entry() {
        let h = history(vec![
            op(0, put(Mode::Create, 1), written(10), 0, 1),
            op(
                0,
                Call::Delete { if_version: None },
                Outcome::Deleted(true),
                2,
                3,
            ),
            op(1, Call::Get, got(1, 10), 4, 5),
        ]);
        let v = check(&h).expect_err("stale read");
        let text = v.to_string();
        assert!(text.contains("not linearizable: key 0"), "{text}");
        assert!(text.contains("get -> t0#1"), "{text}");
    }

    #[test]
    fn two_creates_cannot_both_win() {
        let h = history(vec![
            op(0, put(Mode::Create, 1), written(10), 0, 10),
            op(1, put(Mode::Create, 2), written(11), 0, 10),
        ]);
        assert!(check(&h).is_err());
    }

    #[test]
    fn an_unknown_outcome_may_apply_late_or_never() {
        // The upsert failed with Unavailable, yet a read long after sees it:
        // allowed. Another history where nothing ever sees it: allowed too.
        let late = history(vec![
            op(0, put(Mode::Upsert, 1), Outcome::Unknown, 0, 1),
            op(1, Call::Get, Outcome::Got(None), 5, 6),
            op(1, Call::Get, got(1, 99), 7, 8),
        ]);
        check(&late).expect("applied late");
        let never = history(vec![
            op(0, put(Mode::Upsert, 1), Outcome::Unknown, 0, 1),
            op(1, Call::Get, Outcome::Got(None), 5, 6),
        ]);
        check(&never).expect("never applied");
        // But it cannot apply before it was invoked.
        let early = history(vec![
            op(1, Call::Get, got(1, 99), 0, 1),
            op(0, put(Mode::Upsert, 1), Outcome::Unknown, 2, 3),
        ]);
        assert!(check(&early).is_err());
    }

    fn written(version: u64) -> Outcome {
        Outcome::Written(Version::from_u64(version))
    }

    fn cas(expected: u64, value: u64) -> Call {
        put(Mode::UpdateIf(Version::from_u64(expected)), value)
    }

    #[test]
    fn compare_and_swap_follows_the_versions() {
        // Created as version 10, then swapped from 10 to 11.
        let start = vec![
            op(0, put(Mode::Create, 1), written(10), 0, 1),
            op(0, cas(10, 2), written(11), 2, 3),
        ];
        let mut ok = start.clone();
        ok.push(op(
            1,
            cas(10, 3),
            Outcome::Refused(ErrorKind::VersionMismatch),
            4,
            5,
        ));
        ok.push(op(1, Call::Get, got(2, 11), 6, 7));
        check(&history(ok)).expect("linearizable");
        // A second swap from 10 succeeding too is a lost update.
        let mut lost_update = start;
        lost_update.push(op(1, cas(10, 3), written(12), 4, 5));
        assert!(check(&history(lost_update)).is_err());
    }

    #[test]
    fn touch_keeps_the_version_and_needs_an_entry() {
        let h = history(vec![
            op(0, put(Mode::Create, 1), written(10), 0, 1),
            op(0, Call::Touch { expires_at: 5 }, Outcome::Touched, 2, 3),
            op(
                1,
                Call::Get,
                Outcome::Got(Some(Seen {
                    value: 1,
                    version: Version::from_u64(10),
                    expires_at: Some(5),
                    owner: None,
                })),
                4,
                5,
            ),
        ]);
        check(&h).expect("linearizable");
        let on_missing = history(vec![op(
            0,
            Call::Touch { expires_at: 5 },
            Outcome::Touched,
            0,
            1,
        )]);
        assert!(check(&on_missing).is_err());
    }

    #[test]
    fn a_many_call_history_of_one_task_checks_quickly() {
        let mut ops = Vec::new();
        let mut version = 0;
        for i in 0..2_000u64 {
            version += 1;
            ops.push(op(
                0,
                put(Mode::Upsert, i),
                Outcome::Written(Version::from_u64(version)),
                2 * i,
                2 * i + 1,
            ));
        }
        let summary = check(&history(ops)).expect("linearizable");
        assert!(summary.steps < 10_000, "{}", summary.steps);
    }
}
