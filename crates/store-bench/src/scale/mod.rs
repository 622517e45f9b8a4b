//! The scale mode (`store-bench --scale [N]`): each backend holding N live
//! sessions (default 1,000,000) against holding 10,000.
//!
//! For each backend, in a namespace of the run's own:
//! 1. load 10,000 sessions through the `Store` trait (`put(Create)` from
//!    many concurrent tasks; a 200-byte value, an owner, an expiry an hour
//!    ahead) and time `get` and `put(Upsert)` of random live sessions;
//! 2. load the rest up to N the same way, measure the stored size, time
//!    `get` and `put` again with the same sampling;
//! 3. copy the N sessions with `storectl copy` to another namespace of the
//!    same server (SQLite: another file) and remove the copy;
//! 4. purge them: `Store::delete_expired` with the store's clock moved two
//!    hours ahead, so every session has expired for the store while the
//!    server's own clock (MongoDB's TTL monitor) leaves them alone; on
//!    Redis, whose `delete_expired` has nothing to do, every session's
//!    expiry is moved (`touch`) to one instant and the server's own expiry
//!    is watched until it has removed them all;
//! 5. remove whatever is left.
//!
//! Each phase also records where the CPU time went (the bench process,
//! storectl, the server and what it forked, the whole machine), which is
//! what the report's "what limits it" is written from. The results go to
//! `perf/scale.json` next to the performance document, and the document's
//! scale section is rewritten from it (see [`doc`]); a normal run of the
//! bench keeps that section.

pub mod cpu;
pub mod doc;
pub mod subject;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use store_core::{Clock, ErrorKind, Expiry, Key, Owner, PutMode, PutOptions, Store, SystemClock};

use crate::machine::Meta;
use cpu::{CpuShare, Sample};
use subject::{Cache, Probe, Size, Subject};

/// The default number of live sessions: one million.
pub const DEFAULT_N: u64 = 1_000_000;

/// The default size the large figures are compared with.
pub const DEFAULT_BASE: u64 = 10_000;

/// The backends a scale run covers by default: every one with a server on
/// a test machine, plus memory and a SQLite file (`--scale-backends` adds
/// `mysql`).
pub const DEFAULT_BACKENDS: [&str; 5] = ["memory", "redis", "postgres", "sqlite_file", "mongodb"];

/// The value size of a session.
pub const VALUE_LEN: usize = 200;

/// How far a session's expiry is ahead when it is written.
pub const TTL: Duration = Duration::from_secs(3600);

/// How far ahead the store's clock is moved for the purge.
pub const PURGE_AHEAD: Duration = Duration::from_secs(2 * 3600);

/// The goal: p99 at N within this factor of p99 at the base size.
pub const GOAL: f64 = 1.5;

/// Sessions per owner (user): user `i / 2` owns sessions `i`.
pub const SESSIONS_PER_OWNER: u64 = 2;

/// How long the server's own expiry (Redis) may take before the run gives
/// up waiting.
const NATIVE_EXPIRY_LIMIT: Duration = Duration::from_secs(600);

/// How a scale run goes.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Live sessions at the large size.
    pub n: u64,
    /// Live sessions at the small size the large one is compared with.
    pub base: u64,
    /// Concurrent tasks of the load (and of the Redis `touch` pass).
    pub load_tasks: usize,
    /// The concurrency levels at which `get` and `put` are timed.
    pub tasks: Vec<usize>,
    /// Rounds of each timed operation per level and size (alternating
    /// `get` and `put`, a different one first each round).
    pub rounds: usize,
    /// One timed turn.
    pub round: Duration,
    /// The `storectl` binary for the copy; `None` skips the copy.
    pub storectl: Option<PathBuf>,
    /// How long the purge may take: after it, the purge stops after the
    /// current call and the rate is taken over what it removed.
    pub purge_limit: Duration,
}

/// `get` or `put(Upsert)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `get` of a random live session.
    Get,
    /// `put(Upsert)` of a random live session (a save), same owner, expiry
    /// an hour ahead.
    Put,
}

impl Op {
    /// The name tables use.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put(Upsert)",
        }
    }
}

/// The latency of one operation at one size and concurrency.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    /// The operation.
    pub op: Op,
    /// Live sessions in the store while timing.
    pub live: u64,
    /// Concurrent tasks.
    pub tasks: usize,
    /// Operations timed.
    pub ops: u64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Median, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// Where the CPU time went while this level was timed (on every
    /// backend but Redis, both sizes were timed in the same turns).
    #[serde(default)]
    pub cpu: Option<CpuShare>,
}

/// A phase that moved many entries: the load, the purge, the copy.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Phase {
    /// Entries moved.
    pub entries: u64,
    /// Seconds it took.
    pub secs: f64,
    /// Entries per second.
    pub per_sec: f64,
    /// Where the CPU time went.
    pub cpu: CpuShare,
    /// Calls retried after a retryable error (a timeout).
    #[serde(default)]
    pub retries: u64,
}

impl Phase {
    /// `self` and then `next`, as one phase.
    fn then(&self, next: &Phase) -> Phase {
        let secs = self.secs + next.secs;
        let weigh = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some((a * self.secs + b * next.secs) / secs.max(1e-9)),
            _ => a.or(b),
        };
        let (a, b) = (&self.cpu, &next.cpu);
        Phase::new(
            self.entries + next.entries,
            secs,
            CpuShare {
                wall_secs: a.wall_secs + b.wall_secs,
                bench_cores: weigh(a.bench_cores, b.bench_cores),
                child_cores: weigh(a.child_cores, b.child_cores),
                server_cores: weigh(a.server_cores, b.server_cores),
                machine_busy: weigh(a.machine_busy, b.machine_busy),
                machine_iowait: weigh(a.machine_iowait, b.machine_iowait),
                cpus: b.cpus,
            },
            self.retries + next.retries,
        )
    }

    fn new(entries: u64, secs: f64, cpu: CpuShare, retries: u64) -> Self {
        Self {
            entries,
            secs,
            per_sec: entries as f64 / secs.max(1e-9),
            cpu,
            retries,
        }
    }
}

/// The purge of every session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Purge {
    /// How the entries were removed.
    pub method: String,
    /// The removal itself.
    pub phase: Phase,
    /// `delete_expired` calls made (0 for the server's own expiry).
    pub calls: u64,
    /// Calls that ended with a retryable error (the operation timeout),
    /// after which the purge went on with another call.
    pub timeouts: u64,
    /// Entries still stored after it, counted by the backend (`None` where
    /// it cannot count directly).
    pub left: Option<u64>,
    /// For the server's own expiry: seconds from the expiry instant until
    /// half, 90 % and all of the entries were gone.
    #[serde(default)]
    pub milestones: Vec<(String, f64)>,
    /// For the server's own expiry: the `touch` pass that moved every
    /// expiry to one instant.
    #[serde(default)]
    pub touch: Option<Phase>,
    /// The purge was stopped at the time limit before it had removed
    /// everything.
    #[serde(default)]
    pub stopped: bool,
}

/// The `storectl copy` of every session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Copy {
    /// Where to.
    pub to: String,
    /// The command, with the run's names.
    pub command: String,
    /// The copy as storectl reports it (entries written and its own
    /// seconds, without counting the source first and checking the
    /// destination after).
    pub phase: Phase,
    /// The whole command's wall-clock seconds (count, copy, check).
    pub wall_secs: f64,
    /// storectl's own summary lines.
    pub output: Vec<String>,
}

/// Everything measured on one backend.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackendScale {
    /// The bench name (`memory`, `redis`, …).
    pub backend: String,
    /// The server and its version.
    pub server: String,
    /// When this backend's run ended (UTC, RFC 3339).
    pub date: String,
    /// The command line of the run that measured it.
    #[serde(default)]
    pub command: String,
    /// Live sessions at the large size.
    pub n: u64,
    /// Live sessions at the small size.
    pub base: u64,
    /// The load from 0 to N.
    pub load: Option<Phase>,
    /// `get` and `put` at both sizes.
    pub latency: Vec<Latency>,
    /// What brought the store to rest after the load, and its seconds.
    #[serde(default)]
    pub settle: Option<(String, f64)>,
    /// The stored size at N.
    pub size: Option<Size>,
    /// The cache the large size's reads go through, with the reads that
    /// missed it while timing at N.
    #[serde(default)]
    pub cache: Option<Cache>,
    /// Timed reads of the large namespace from its start, as a copy makes.
    #[serde(default)]
    pub probe: Vec<Probe>,
    /// The copy with storectl.
    pub copy: Option<Copy>,
    /// Why the copy failed, when it did.
    #[serde(default)]
    pub copy_error: Option<String>,
    /// The purge.
    pub purge: Option<Purge>,
    /// Why a phase did not run, or what went wrong.
    pub notes: Vec<String>,
    /// The error that ended the backend's run early.
    pub error: Option<String>,
}

/// A scale run: the machine and the results per backend.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleReport {
    /// The machine, versions and command of the latest run.
    pub meta: Meta,
    /// The commit the bench was built from (`git describe`), with
    /// `-dirty` when the tree had changes.
    pub commit: String,
    /// How the latest run went.
    pub load_tasks: usize,
    /// The concurrency levels timed.
    pub tasks: Vec<usize>,
    /// Per backend, in run order.
    pub backends: Vec<BackendScale>,
}

impl ScaleReport {
    /// The backends of `earlier` that this run did not measure again, if
    /// they were measured at the same sizes, are kept (after this run's).
    pub fn merge_earlier(&mut self, earlier: ScaleReport) {
        for b in earlier.backends {
            let same_size = self
                .backends
                .first()
                .is_none_or(|first| first.n == b.n && first.base == b.base);
            if same_size && !self.backends.iter().any(|m| m.backend == b.backend) {
                self.backends.push(b);
            }
        }
    }
}

/// Mixes `x` (splitmix64): session ids spread over the key space as
/// random ids do, yet are found again from their number.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The key of session `i`: `sess:` and 32 hex digits, like the hash of a
/// 128-bit session id.
pub fn session_key(i: u64) -> Key {
    Key::new(format!(
        "sess:{:016x}{:016x}",
        mix(i),
        mix(i ^ 0xA5A5_A5A5_0000_0000)
    ))
    .expect("a valid key")
}

/// The owner of session `i`.
pub fn session_owner(i: u64) -> Owner {
    Owner::new(format!("user-{}", i / SESSIONS_PER_OWNER)).expect("a valid owner")
}

/// A session's data: 200 bytes of JSON, as a web framework serialises a
/// session (user, CSRF token, timestamps, a little state), different for
/// each write so that nothing compresses it away.
pub fn session_value(i: u64, write: u64) -> Bytes {
    let r = mix(i.wrapping_mul(31).wrapping_add(write));
    let mut s = format!(
        "{{\"user_id\":\"user-{}\",\"csrf\":\"{:016x}{:016x}\",\"created_ms\":{},\"cart\":[{},{}],\"theme\":\"dark\",\"flash\":null,\"pad\":\"",
        i / SESSIONS_PER_OWNER,
        r,
        mix(r),
        1_700_000_000_000u64 + (r % 100_000_000_000),
        r % 1000,
        (r >> 20) % 1000,
    );
    let mut x = mix(r ^ 0x55);
    while s.len() < VALUE_LEN - 2 {
        x = mix(x);
        s.push_str(&format!("{:016x}", x));
    }
    s.truncate(VALUE_LEN - 2);
    s.push_str("\"}");
    Bytes::from(s)
}

fn expiry_in(ttl: Duration) -> Result<Expiry> {
    Ok(SystemClock.now().checked_add(ttl)?)
}

fn options(mode: PutMode, i: u64) -> Result<PutOptions> {
    Ok(PutOptions::new(mode)
        .expires_at(expiry_in(TTL)?)
        .owner(session_owner(i)))
}

/// Calls `f` until it succeeds or fails with an error that is not
/// retryable, at most 5 times; counts the retries.
async fn retrying<T, F, Fut>(retries: &AtomicU64, mut f: F) -> store_core::Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = store_core::Result<T>>,
{
    let mut attempt = 0;
    loop {
        match f(attempt).await {
            Err(e) if e.is_retryable() && attempt < 4 => {
                attempt += 1;
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            other => return other,
        }
    }
}

/// Prints a progress line to stderr.
fn say(backend: &str, text: &str) {
    let t = time::OffsetDateTime::now_utc();
    eprintln!(
        "[{:02}:{:02}:{:02}] scale {backend}: {text}",
        t.hour(),
        t.minute(),
        t.second()
    );
}

/// Runs `each(i)` for every `i` of `range` from `tasks` concurrent tasks,
/// printing progress every 10 seconds. Returns the phase with its CPU
/// share and retries.
async fn for_each<F, Fut>(
    subject: &Subject,
    store: &Arc<dyn Store>,
    what: &str,
    range: Range<u64>,
    tasks: usize,
    each: F,
) -> Result<Phase>
where
    F: Fn(Arc<dyn Store>, u64, Arc<AtomicU64>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(range.start));
    let retries = Arc::new(AtomicU64::new(0));
    let each = Arc::new(each);
    let start = Sample::now(subject.server_pid);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks.max(1) {
        let (next, retries, each) = (next.clone(), retries.clone(), each.clone());
        let store = store.clone();
        let end = range.end;
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return Ok::<(), anyhow::Error>(());
                }
                each(store.clone(), i, retries.clone()).await?;
            }
        });
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(10));
    ticker.tick().await;
    let total = range.end - range.start;
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => {
                    set.abort_all();
                    return Err(e.context(format!("{}: {what}", subject.name)));
                }
                Some(Err(e)) => {
                    set.abort_all();
                    bail!("{}: a {what} task failed: {e}", subject.name);
                }
            },
            _ = ticker.tick() => {
                let done = next.load(Ordering::Relaxed).min(range.end) - range.start;
                say(subject.name, &format!(
                    "{what}: {done} of {total} ({:.0}/s)",
                    done as f64 / started.elapsed().as_secs_f64()
                ));
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = start.until(&Sample::now(subject.server_pid));
    Ok(Phase::new(
        total,
        secs,
        cpu,
        retries.load(Ordering::Relaxed),
    ))
}

/// Writes sessions `range` into `store` with `put(Create)`.
async fn load(
    subject: &Subject,
    store: &Arc<dyn Store>,
    range: Range<u64>,
    tasks: usize,
) -> Result<Phase> {
    for_each(
        subject,
        store,
        "load",
        range,
        tasks,
        |store, i, retries| async move {
            let key = session_key(i);
            let value = session_value(i, 0);
            let written = retrying(&retries, |attempt| {
                let (store, key, value) = (store.clone(), key.clone(), value.clone());
                async move {
                    match store
                        .put(
                            &key,
                            value,
                            options(PutMode::Create, i).map_err(anyhow_to_store)?,
                        )
                        .await
                    {
                        // A retry of a write that went through the first time.
                        Err(e) if attempt > 0 && e.kind() == ErrorKind::AlreadyExists => Ok(()),
                        other => other.map(drop),
                    }
                }
            })
            .await;
            written.with_context(|| format!("put(Create) of session {i}"))
        },
    )
    .await
}

fn anyhow_to_store(e: anyhow::Error) -> store_core::Error {
    store_core::Error::new(ErrorKind::InvalidInput, format!("{e:#}"))
}

/// One timed turn: `tasks` tasks doing `op` on random live sessions for
/// `length`.
async fn turn(
    store: &Arc<dyn Store>,
    op: Op,
    live: u64,
    tasks: usize,
    length: Duration,
) -> Result<(Histogram<u64>, u64, Duration)> {
    let deadline = Instant::now() + length;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let store = store.clone();
        set.spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
            let mut ops = 0u64;
            let mut rng = rand::rngs::StdRng::seed_from_u64(mix(t as u64 ^ rand::random::<u64>()));
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                let i = rng.random_range(0..live);
                let key = session_key(i);
                match op {
                    Op::Get => {
                        store
                            .get(&key)
                            .await?
                            .with_context(|| format!("live session {i} is missing"))?;
                    }
                    Op::Put => {
                        let value = session_value(i, (t as u64) << 32 | ops);
                        store.put(&key, value, options(PutMode::Upsert, i)?).await?;
                    }
                }
                hist.saturating_record(t0.elapsed().as_nanos() as u64);
                ops += 1;
            }
            Ok::<_, anyhow::Error>((hist, ops))
        });
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let mut ops = 0;
    while let Some(joined) = set.join_next().await {
        let (h, n) = joined.context("a timing task panicked")??;
        hist.add(&h).expect("same bounds");
        ops += n;
    }
    Ok((hist, ops, started.elapsed()))
}

/// Times `get` and `put(Upsert)` at every level of `settings.tasks` on
/// each of `stores` (`(live sessions, store)`), in turns that alternate
/// between the stores and the operations, a different one first each
/// round, so that whatever else the machine does hits them alike.
async fn latency(
    subject: &Subject,
    stores: &[(u64, &Arc<dyn Store>)],
    settings: &Settings,
) -> Result<Vec<Latency>> {
    let combos: Vec<(usize, Op)> = (0..stores.len())
        .flat_map(|s| [(s, Op::Get), (s, Op::Put)])
        .collect();
    // An untimed warm-up of each, as the harness does.
    for &(s, op) in &combos {
        let (live, store) = stores[s];
        turn(store, op, live, settings.tasks[0], settings.round / 2).await?;
    }
    let mut out = Vec::new();
    for &tasks in &settings.tasks {
        let mut sums: Vec<(Histogram<u64>, u64, Duration)> = combos
            .iter()
            .map(|_| {
                (
                    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds"),
                    0,
                    Duration::ZERO,
                )
            })
            .collect();
        let start = Sample::now(subject.server_pid);
        for round in 0..settings.rounds {
            for k in 0..combos.len() {
                let at = (round + k) % combos.len();
                let (s, op) = combos[at];
                let (live, store) = stores[s];
                let (h, n, took) = turn(store, op, live, tasks, settings.round)
                    .await
                    .with_context(|| format!("{}: timing {} at {live}", subject.name, op.name()))?;
                sums[at].0.add(&h).expect("same bounds");
                sums[at].1 += n;
                sums[at].2 += took;
            }
        }
        let cpu = start.until(&Sample::now(subject.server_pid));
        for (&(s, op), (hist, ops, took)) in combos.iter().zip(sums) {
            out.push(Latency {
                op,
                live: stores[s].0,
                tasks,
                ops,
                ops_per_sec: ops as f64 / took.as_secs_f64().max(1e-9),
                p50_us: hist.value_at_quantile(0.5) as f64 / 1000.0,
                p99_us: hist.value_at_quantile(0.99) as f64 / 1000.0,
                cpu: Some(cpu),
            });
        }
    }
    Ok(out)
}

/// `storectl copy` of the whole namespace to another one, then the copy
/// removed.
async fn copy(subject: &Subject, storectl: &std::path::Path) -> Result<Option<Copy>> {
    let Some(plan) = subject.copy_plan() else {
        return Ok(None);
    };
    let args = [
        "copy".to_owned(),
        "--from".to_owned(),
        plan.from.clone(),
        "--from-namespace".to_owned(),
        plan.from_namespace.clone(),
        "--to".to_owned(),
        plan.to.clone(),
        "--to-namespace".to_owned(),
        plan.to_namespace.clone(),
    ];
    let shown = format!(
        "storectl {}",
        args.iter()
            .map(|a| if a.contains("://") {
                store::redact_url(a)
            } else {
                a.clone()
            })
            .collect::<Vec<_>>()
            .join(" ")
    );
    let start = Sample::now(subject.server_pid);
    let started = Instant::now();
    let output = tokio::process::Command::new(storectl)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", storectl.display()))?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = start.until(&Sample::now(subject.server_pid));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "{}: `{shown}` failed ({}): {}{}",
            subject.name,
            output.status,
            stdout.trim(),
            stderr.trim()
        );
    }
    // "copied N entries in X s (Y entries/s); …"
    let line = stdout
        .lines()
        .find(|l| l.starts_with("copied "))
        .with_context(|| format!("storectl printed no `copied` line: {stdout}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let entries: u64 = words
        .get(1)
        .and_then(|w| w.parse().ok())
        .context("entries")?;
    let secs: f64 = words
        .iter()
        .position(|w| *w == "in")
        .and_then(|p| words.get(p + 1))
        .and_then(|w| w.parse().ok())
        .context("seconds")?;
    subject.drop_copy().await?;
    Ok(Some(Copy {
        to: plan.shown,
        command: shown,
        phase: Phase::new(entries, secs, cpu, 0),
        wall_secs: wall,
        output: stdout
            .lines()
            .filter(|l| l.starts_with("copied ") || l.starts_with("verified"))
            .map(str::to_owned)
            .collect(),
    }))
}

/// `delete_expired` until it finds nothing, with the store's clock moved
/// past every expiry.
async fn purge(subject: &Subject, n: u64, limit: Duration) -> Result<Purge> {
    subject.clock.set_ahead(PURGE_AHEAD);
    let start = Sample::now(subject.server_pid);
    let started = Instant::now();
    let (mut total, mut calls, mut timeouts) = (0u64, 0u64, 0u64);
    let mut stopped = false;
    loop {
        if started.elapsed() > limit {
            say(
                subject.name,
                &format!("the purge is past {limit:?}: stopping it"),
            );
            stopped = true;
            break;
        }
        calls += 1;
        // One call may go on batch after batch for as long as each batch
        // answers in time: the limit cuts it short too.
        let left = limit.saturating_sub(started.elapsed());
        let Ok(result) = tokio::time::timeout(left, subject.store.delete_expired()).await else {
            say(
                subject.name,
                &format!("the purge is past {limit:?}: stopping it"),
            );
            stopped = true;
            break;
        };
        match result {
            Ok(0) => break,
            Ok(k) => total += k,
            Err(e) if e.is_retryable() && timeouts < 1000 => {
                timeouts += 1;
                if timeouts == 1 {
                    say(
                        subject.name,
                        &format!("delete_expired: {e}; calling it again"),
                    );
                }
            }
            Err(e) => return Err(e).context("delete_expired"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = start.until(&Sample::now(subject.server_pid));
    let left = subject.stored().await?;
    // Entries deleted by a call that then timed out are not in `total`:
    // count what is gone.
    let removed = match left {
        Some(left) => n.saturating_sub(left),
        None => total,
    };
    Ok(Purge {
        method: format!(
            "`Store::delete_expired` with the store's clock {} h ahead",
            PURGE_AHEAD.as_secs() / 3600
        ),
        phase: Phase::new(removed, secs, cpu, 0),
        calls,
        timeouts,
        left,
        milestones: Vec::new(),
        touch: None,
        stopped,
    })
}

/// Redis: every session's expiry moved to one instant with `touch`, then
/// the server's `expired_keys` watched until it has expired them all.
async fn native_expiry(
    subject: &Subject,
    n: u64,
    settings: &Settings,
    load_rate: f64,
) -> Result<Purge> {
    // Far enough ahead that the whole `touch` pass ends before it: twice
    // the time the load took per entry, and 5 s more.
    let margin = Duration::from_secs_f64(2.0 * n as f64 / load_rate.max(100.0) + 5.0);
    let at = SystemClock.now().checked_add(margin)?;
    say(
        subject.name,
        &format!(
            "moving every expiry to {:.0} s from now",
            margin.as_secs_f64()
        ),
    );
    let touch = for_each(
        subject,
        &subject.store,
        "touch",
        0..n,
        settings.load_tasks,
        move |store, i, retries| async move {
            let key = session_key(i);
            retrying(&retries, |_| {
                let (store, key) = (store.clone(), key.clone());
                async move { store.touch(&key, at).await }
            })
            .await
            .with_context(|| format!("touch of session {i}"))
        },
    )
    .await?;
    let wait = at.saturating_duration_since(SystemClock.now());
    if wait.is_zero() {
        bail!("the touch pass ended after the expiry instant; the measurement would be wrong");
    }
    let (expired0, _) = subject.redis_counts().await?.context("not Redis")?;
    tokio::time::sleep(wait).await;
    let start = Sample::now(subject.server_pid);
    let started = Instant::now();
    let mut milestones = Vec::new();
    let marks = [(0.5, "half"), (0.9, "90 %"), (1.0, "all")];
    let mut next_mark = 0;
    loop {
        let (expired, _) = subject.redis_counts().await?.context("not Redis")?;
        let gone = expired.saturating_sub(expired0);
        while next_mark < marks.len() && gone as f64 >= marks[next_mark].0 * n as f64 {
            milestones.push((
                marks[next_mark].1.to_owned(),
                started.elapsed().as_secs_f64(),
            ));
            next_mark += 1;
        }
        if next_mark == marks.len() {
            break;
        }
        if started.elapsed() > NATIVE_EXPIRY_LIMIT {
            bail!("redis expired {gone} of {n} keys in {NATIVE_EXPIRY_LIMIT:?}; stopped waiting");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = start.until(&Sample::now(subject.server_pid));
    Ok(Purge {
        method: format!(
            "the server's own expiry (Redis's active expiry cycle; `hz` {}, \
             `active-expire-effort` {}), watched through `INFO stats` `expired_keys` every \
             20 ms; `delete_expired` returns 0 here",
            subject
                .redis_config("hz")
                .await
                .unwrap_or_else(|| "unknown".to_owned()),
            subject
                .redis_config("active-expire-effort")
                .await
                .unwrap_or_else(|| "unknown".to_owned())
        ),
        phase: Phase::new(n, secs, cpu, 0),
        calls: 0,
        timeouts: 0,
        left: None,
        milestones,
        touch: Some(touch),
        stopped: false,
    })
}

/// Every phase on one backend, filling `out` as it goes.
async fn phases(subject: &Subject, settings: &Settings, out: &mut BackendScale) -> Result<()> {
    let (n, base) = (settings.n, settings.base.min(settings.n));
    let baseline = subject.baseline().await?;
    match &subject.small {
        // The small size in a namespace of its own, timed beside the large
        // one once that is loaded.
        Some(small) => {
            say(
                subject.name,
                &format!("loading {base} sessions into a namespace of their own"),
            );
            load(subject, small, 0..base, settings.load_tasks).await?;
            // Its growth is not part of the large store's size.
            let baseline = subject.baseline().await?;
            say(subject.name, &format!("loading {n} sessions"));
            out.load = Some(load(subject, &subject.store, 0..n, settings.load_tasks).await?);
            settle(subject, out).await?;
            say(subject.name, "measuring the size");
            out.size = Some(subject.size(n, baseline).await?);
            say(
                subject.name,
                &format!("timing get and put at {base} and {n}, alternating"),
            );
            let before = subject.cache().await?;
            out.latency
                .extend(latency(subject, &[(base, small), (n, &subject.store)], settings).await?);
            out.cache = cache_delta(before, subject.cache().await?);
        }
        // Redis keeps every key of a database in one table: the small size
        // is timed first, in the namespace that then grows.
        None => {
            say(subject.name, &format!("loading {base} sessions"));
            let first = load(subject, &subject.store, 0..base, settings.load_tasks).await?;
            say(subject.name, &format!("timing get and put at {base}"));
            out.latency
                .extend(latency(subject, &[(base, &subject.store)], settings).await?);
            say(subject.name, &format!("loading up to {n}"));
            let rest = load(subject, &subject.store, base..n, settings.load_tasks).await?;
            out.load = Some(first.then(&rest));
            settle(subject, out).await?;
            say(subject.name, "measuring the size");
            out.size = Some(subject.size(n, baseline).await?);
            say(subject.name, &format!("timing get and put at {n}"));
            let before = subject.cache().await?;
            out.latency
                .extend(latency(subject, &[(n, &subject.store)], settings).await?);
            out.cache = cache_delta(before, subject.cache().await?);
        }
    }
    say(
        subject.name,
        "timing reads of the whole namespace from its start",
    );
    out.probe = subject.probe().await?;
    match (&settings.storectl, subject.copy_plan().is_some()) {
        (_, false) => out.notes.push(
            "no copy: `storectl` runs in its own process, where this process's memory store \
             cannot be reached"
                .to_owned(),
        ),
        (None, true) => out
            .notes
            .push("no copy: no storectl binary given".to_owned()),
        (Some(bin), true) => {
            say(subject.name, "storectl copy");
            // A copy that fails is a result: the purge still runs.
            match copy(subject, bin).await {
                Ok(copied) => out.copy = copied,
                Err(e) => {
                    say(subject.name, &format!("the copy failed: {e:#}"));
                    out.copy_error = Some(format!("{e:#}"));
                    subject.drop_copy().await?;
                }
            }
        }
    }
    say(subject.name, "purging");
    out.purge = Some(if subject.name == "redis" {
        let rate = out.load.as_ref().map_or(1000.0, |l| l.per_sec);
        native_expiry(subject, n, settings, rate).await?
    } else {
        purge(subject, n, settings.purge_limit).await?
    });
    Ok(())
}

/// The counters of `after` less those of `before`.
fn cache_delta(before: Option<Cache>, after: Option<Cache>) -> Option<Cache> {
    let mut after = after?;
    if let Some(before) = before {
        let less = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        after.misses = less(after.misses, before.misses);
        after.reads = less(after.reads, before.reads);
        after.small = match (after.small, before.small) {
            (Some(a), Some(b)) => Some((a.0.saturating_sub(b.0), a.1.saturating_sub(b.1))),
            _ => None,
        };
    }
    Some(after)
}

/// Brings the stores to rest after the load, as a store that grew over
/// time would be (PostgreSQL: `VACUUM (ANALYZE)`, instead of autovacuum's
/// first pass over a fresh load landing in the timing).
async fn settle(subject: &Subject, out: &mut BackendScale) -> Result<()> {
    let started = Instant::now();
    if let Some(what) = subject.settle().await? {
        let secs = started.elapsed().as_secs_f64();
        say(subject.name, &format!("{what}: {secs:.1} s"));
        out.settle = Some((what, secs));
    }
    Ok(())
}

/// Runs the scale mode on one backend; the namespace is removed whatever
/// happens. A failed phase is recorded in the result; a failed cleanup is
/// an error.
pub async fn backend(
    name: &'static str,
    url: Option<&str>,
    tag: &str,
    settings: &Settings,
) -> Result<BackendScale> {
    let mut out = BackendScale {
        backend: name.to_owned(),
        server: String::new(),
        date: String::new(),
        command: crate::args_line(),
        n: settings.n,
        base: settings.base.min(settings.n),
        load: None,
        settle: None,
        latency: Vec::new(),
        size: None,
        cache: None,
        probe: Vec::new(),
        copy: None,
        copy_error: None,
        purge: None,
        notes: Vec::new(),
        error: None,
    };
    let subject = Subject::open(name, url, tag).await?;
    out.server = subject.server.clone();
    if let Err(e) = phases(&subject, settings, &mut out).await {
        say(name, &format!("failed: {e:#}"));
        out.error = Some(format!("{e:#}"));
    }
    say(name, "removing what the run wrote");
    subject
        .cleanup()
        .await
        .with_context(|| format!("{name}: cleaning up"))?;
    out.date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(out)
}

/// The commit the bench runs from, `-dirty` when the tree has changes.
pub fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=10"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_look_like_sessions() {
        let a = session_value(1, 0);
        assert_eq!(a.len(), VALUE_LEN);
        assert_ne!(a, session_value(1, 1));
        assert!(serde_json::from_slice::<serde_json::Value>(&a).is_ok());
        assert_eq!(session_key(7), session_key(7));
        assert_ne!(session_key(7), session_key(8));
        assert_eq!(session_key(7).as_str().len(), 37);
        assert_eq!(session_owner(5).as_str(), "user-2");
    }

    /// The whole mode on the in-process backends at a tiny size: every
    /// phase runs and the section renders (the copy needs the storectl
    /// binary, which `just bench-scale` builds; it is left out here).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tiny_run_measures_every_phase() {
        let settings = Settings {
            n: 3_000,
            base: 500,
            load_tasks: 8,
            tasks: vec![1, 4],
            rounds: 2,
            round: Duration::from_millis(40),
            storectl: None,
            purge_limit: Duration::from_secs(600),
        };
        let tag = format!("scale_test_{}", std::process::id());
        let mut backends = Vec::new();
        for name in ["memory", "sqlite_file"] {
            let b = backend(name, None, &tag, &settings).await.unwrap();
            assert_eq!(b.error, None, "{b:?}");
            assert_eq!(b.load.as_ref().unwrap().entries, 3_000);
            assert_eq!(b.latency.len(), 2 * 2 * 2, "2 ops x 2 levels x 2 sizes");
            assert!(b.latency.iter().all(|l| l.ops > 0 && l.p99_us >= l.p50_us));
            if name == "sqlite_file" {
                assert!(b.size.as_ref().unwrap().bytes > 0, "{b:?}");
            }
            let purge = b.purge.as_ref().unwrap();
            assert_eq!(purge.phase.entries, 3_000, "{purge:?}");
            if name == "sqlite_file" {
                assert_eq!(purge.left, Some(0));
            }
            backends.push(b);
        }
        let report = ScaleReport {
            meta: Meta::gather(
                &[],
                "store-bench --scale 3000",
                crate::harness::Timing {
                    rounds: 2,
                    max_rounds: 2,
                    round: Duration::from_millis(40),
                    warmup: Duration::ZERO,
                },
                1,
                Duration::from_secs(1),
            ),
            commit: commit(),
            load_tasks: 8,
            tasks: vec![1, 4],
            backends,
        };
        let text = doc::render(&report);
        assert!(text.contains("| memory | get | 1 |"), "{text}");
        assert!(text.contains("| sqlite_file |"), "{text}");
        assert!(text.contains("What limits each backend"), "{text}");
    }
}
