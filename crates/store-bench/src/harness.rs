//! Runs cells: one workload, on one backend, at one concurrency level, for
//! every contender of that backend, in alternating rounds so that drift
//! on the machine hits every contender alike, in an order that gives each
//! contender every other one as its predecessor equally often.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use rand::Rng;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::Workload;
use crate::target::{Role, Session, Target, USERS};

/// The value size of workload (a) and the session data of (b).
pub const VALUE_LEN: usize = 200;

/// Keys each task reads and writes in workload (a).
pub const KEYS_PER_TASK: usize = 128;

/// A task that has not given its worker thread to the other tasks for
/// this long does so. An operation that never waits (the memory backends)
/// would otherwise keep its thread for the whole turn, and "16 tasks"
/// would be as many tasks as the runtime has threads, one after the other.
const YIELD_EVERY: Duration = Duration::from_millis(1);

/// Operations a session lifecycle makes: create, 20 × (load + touch),
/// delete.
pub const LIFECYCLE_OPS: u64 = 42;

/// How long and how often each contender runs in a cell.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Rounds per cell; each contender runs once per round.
    pub rounds: usize,
    /// The most rounds a cell runs while one of its goals is undecided
    /// (see [`cell`]); `rounds` or fewer turns this off.
    pub max_rounds: usize,
    /// The length of one contender's turn in a round.
    pub round: Duration,
    /// An untimed turn before the first round.
    pub warmup: Duration,
}

/// One contender on one backend, with the per-task state it keeps across
/// cells (keys, versions, the session in progress).
pub struct Contender {
    /// What the tables call it, e.g. `store-redis`.
    pub label: String,
    /// Ours, the raw floor or a peer.
    pub role: Role,
    /// The implementation.
    pub target: Arc<dyn Target>,
    /// The most tasks it runs with (the layers stop at 16).
    max_tasks: usize,
    tasks: Mutex<Vec<TaskState>>,
}

impl Contender {
    /// A contender with no task state yet.
    pub fn new(label: impl Into<String>, role: Role, target: impl Target) -> Self {
        Self {
            label: label.into(),
            role,
            target: Arc::new(target),
            max_tasks: usize::MAX,
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Runs only at concurrency levels up to `tasks`.
    pub fn up_to(mut self, tasks: usize) -> Self {
        self.max_tasks = tasks;
        self
    }

    /// Whether it takes part in a cell of `workload` at `tasks`.
    pub fn runs(&self, workload: Workload, tasks: usize) -> bool {
        tasks <= self.max_tasks && self.target.runs(workload)
    }

    /// Writes the keys of workload (a) for `tasks` tasks (once).
    pub async fn prepare(&self, tasks: usize) -> Result<()> {
        let mut states = self.tasks.lock().await;
        let value = Bytes::from(vec![b'v'; VALUE_LEN]);
        while states.len() < tasks {
            let t = states.len();
            let get_keys: Vec<String> = (0..KEYS_PER_TASK).map(|i| format!("g:{t}:{i}")).collect();
            let cas_keys: Vec<String> = (0..KEYS_PER_TASK).map(|i| format!("u:{t}:{i}")).collect();
            let mut versions = Vec::new();
            if self.target.runs(Workload::Get) {
                self.target.seed(&get_keys, &value).await?;
                versions = self.target.seed(&cas_keys, &value).await?;
            }
            states.push(TaskState {
                task: t,
                get_keys,
                cas_keys,
                versions,
                next: 0,
                created: 0,
                session: None,
            });
        }
        Ok(())
    }

    /// Ends the sessions left in progress by the last lifecycle round.
    pub async fn finish_sessions(&self) -> Result<()> {
        let mut states = self.tasks.lock().await;
        for state in states.iter_mut() {
            if let Some((session, _)) = state.session.take() {
                self.target.session_delete(session).await?;
            }
        }
        Ok(())
    }
}

struct TaskState {
    task: usize,
    get_keys: Vec<String>,
    cas_keys: Vec<String>,
    versions: Vec<u64>,
    next: usize,
    created: u64,
    /// The session in progress, and how many of its operations are done.
    session: Option<(Session, u64)>,
}

impl TaskState {
    /// One operation of `workload`; returns whether it ran a token refresh.
    async fn step(
        &mut self,
        target: &dyn Target,
        workload: Workload,
        value: &Bytes,
    ) -> Result<bool> {
        let i = self.next % KEYS_PER_TASK;
        self.next += 1;
        match workload {
            Workload::Get => {
                target
                    .get(&self.get_keys[i])
                    .await?
                    .context("a seeded key is missing")?;
            }
            Workload::Upsert => target.upsert(&self.get_keys[i], value).await?,
            Workload::Create => {
                self.created += 1;
                let key = format!("c:{}:{}", self.task, self.created);
                target.create(&key, value).await?;
            }
            Workload::UpdateIf => {
                let new = target
                    .update_if(&self.cas_keys[i], value, self.versions[i])
                    .await?;
                self.versions[i] = new;
            }
            Workload::Lifecycle => match self.session.take() {
                None => {
                    self.created += 1;
                    let session = target.session_create(self.created, value).await?;
                    self.session = Some((session, 1));
                }
                Some((session, done)) if done == LIFECYCLE_OPS - 1 => {
                    target.session_delete(session).await?;
                }
                Some((mut session, done)) => {
                    if done % 2 == 1 {
                        target.session_load(&mut session).await?;
                    } else {
                        target.session_touch(&mut session).await?;
                    }
                    self.session = Some((session, done + 1));
                }
            },
            Workload::Refresh => {
                let user = rand::rng().random_range(0..USERS);
                return target.refresh(user).await;
            }
        }
        Ok(false)
    }
}

/// What one contender did in one cell, over all its rounds.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    /// The workload's name.
    pub workload: Workload,
    /// The backend's name (`redis`, `sqlite_file`, …).
    pub backend: String,
    /// Concurrent tasks.
    pub tasks: usize,
    /// The contender's label.
    pub contender: String,
    /// Ours, floor or peer.
    pub role: Role,
    /// Operations completed.
    pub ops: u64,
    /// Seconds spent in timed rounds.
    pub secs: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Operations per second in each round, in round order (the rounds of
    /// every pass, pass after pass).
    pub round_rates: Vec<f64>,
    /// Operations per second in each pass over the whole matrix, in pass
    /// order (see [`merge_passes`]).
    #[serde(default)]
    pub pass_rates: Vec<f64>,
    /// Median latency of one operation, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency of one operation, microseconds.
    pub p99_us: f64,
    /// Token refreshes that ran (workload c only).
    pub refreshes: Option<u64>,
}

struct Turn {
    ops: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
    refreshes: u64,
}

/// Runs `contender` with `tasks` tasks for `length`.
async fn turn(
    contender: &Contender,
    workload: Workload,
    tasks: usize,
    length: Duration,
) -> Result<Turn> {
    let mut states = contender.tasks.lock().await;
    let taken: Vec<TaskState> = states.drain(..tasks).collect();
    let created_before: Vec<(usize, u64)> = taken.iter().map(|s| (s.task, s.created)).collect();
    let refreshes = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + length;
    let mut handles = Vec::with_capacity(tasks);
    for mut state in taken {
        let target = contender.target.clone();
        let refreshes = refreshes.clone();
        handles.push(tokio::spawn(async move {
            let value = Bytes::from(vec![b'v'; VALUE_LEN]);
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
            let mut ops = 0u64;
            let mut outcome = Ok(());
            let mut next_yield = start + YIELD_EVERY;
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                if t0 >= next_yield {
                    tokio::task::yield_now().await;
                    next_yield = Instant::now() + YIELD_EVERY;
                }
                match state.step(target.as_ref(), workload, &value).await {
                    Ok(refreshed) => {
                        if refreshed {
                            refreshes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
                hist.saturating_record(t0.elapsed().as_nanos() as u64);
                ops += 1;
            }
            (state, hist, ops, outcome)
        }));
    }
    let mut total = Turn {
        ops: 0,
        elapsed: Duration::ZERO,
        hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds"),
        refreshes: 0,
    };
    let mut failure = None;
    let mut returned = Vec::with_capacity(tasks);
    for handle in handles {
        let (state, hist, ops, outcome) = handle.await.context("a bench task panicked")?;
        returned.push(state);
        total.hist.add(&hist).expect("same bounds");
        total.ops += ops;
        if let Err(e) = outcome {
            failure.get_or_insert(e);
        }
    }
    total.elapsed = start.elapsed();
    total.refreshes = refreshes.load(Ordering::Relaxed);
    if workload == Workload::Create {
        // Untimed: the keys this turn created, for contenders that hold
        // them in this process (see `Target::forget`).
        let keys: Vec<String> = returned
            .iter()
            .flat_map(|s| {
                let from = created_before
                    .iter()
                    .find(|(task, _)| *task == s.task)
                    .map_or(s.created, |(_, created)| *created);
                (from + 1..=s.created).map(move |n| format!("c:{}:{n}", s.task))
            })
            .collect();
        contender.target.forget(&keys).await?;
    }
    // Put the states back in task order, before the ones not used.
    returned.sort_by_key(|s| s.task);
    let rest: Vec<TaskState> = std::mem::take(&mut *states);
    *states = returned;
    states.extend(rest);
    match failure {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

/// A goal a cell is measured against: the ops/s of the contender in role
/// `of` divided by that of the one in role `to` is at least `at_least`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Goal {
    /// The role whose rate is divided.
    pub of: Role,
    /// The role it is divided by.
    pub to: Role,
    /// The threshold.
    pub at_least: f64,
}

/// Whether `goal` is still undecided after the rounds so far: the ratio of
/// the two contenders' rates over all their rounds lies within two
/// standard errors of the threshold, the error estimated from the ratios
/// of their turns in the same round. `roles`, `rates` (each contender's
/// rates as (round, rate), a contender that sat a round out has none for
/// it) and `totals` (operations and seconds) are in the same contender
/// order.
fn undecided(
    goal: &Goal,
    roles: &[Role],
    rates: &[Vec<(usize, f64)>],
    totals: &[(u64, f64)],
) -> bool {
    let at = |role: Role| roles.iter().position(|r| *r == role);
    let (Some(of), Some(to)) = (at(goal.of), at(goal.to)) else {
        return false;
    };
    let rate = |(ops, secs): (u64, f64)| ops as f64 / secs;
    let ratio = rate(totals[of]) / rate(totals[to]);
    // Only rounds both ran: a turn is compared with its own round's.
    let paired: Vec<f64> = rates[of]
        .iter()
        .filter_map(|&(round, x)| {
            let &(_, y) = rates[to].iter().find(|&&(r, _)| r == round)?;
            Some(x / y)
        })
        .collect();
    let n = paired.len() as f64;
    if n < 2.0 {
        return true;
    }
    let mean = paired.iter().sum::<f64>() / n;
    let var = paired.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let error = (var / n).sqrt();
    (ratio - goal.at_least).abs() < 2.0 * error
}

/// Runs one cell: every contender of `contenders` that runs `workload`,
/// `timing.rounds` times, in the order of [`turn_order`]. While one of
/// `goals` is undecided after that (its ratio within two standard errors
/// of its threshold), the contenders of the undecided goals run more
/// rounds, up to `timing.max_rounds`. Calls `progress` after each turn.
pub async fn cell(
    backend: &str,
    contenders: &[Contender],
    workload: Workload,
    tasks: usize,
    timing: Timing,
    goals: &[Goal],
    progress: &dyn Fn(&str),
) -> Result<Vec<Measured>> {
    let running: Vec<&Contender> = contenders
        .iter()
        .filter(|c| c.runs(workload, tasks))
        .collect();
    for c in &running {
        c.prepare(tasks).await?;
        if !timing.warmup.is_zero() {
            turn(c, workload, tasks, timing.warmup)
                .await
                .with_context(|| format!("{backend}: {} {}", c.label, workload.name()))?;
        }
    }
    let mut sums: Vec<Option<Turn>> = running.iter().map(|_| None).collect();
    let mut rates: Vec<Vec<(usize, f64)>> = running.iter().map(|_| Vec::new()).collect();
    let mut round = 0;
    loop {
        let wanted: Vec<bool> = if round < timing.rounds {
            vec![true; running.len()]
        } else if round < timing.max_rounds {
            let roles: Vec<Role> = running.iter().map(|c| c.role).collect();
            let totals: Vec<(u64, f64)> = sums
                .iter()
                .map(|t| {
                    t.as_ref()
                        .map_or((0, 1.0), |t| (t.ops, t.elapsed.as_secs_f64()))
                })
                .collect();
            let open: Vec<&Goal> = goals
                .iter()
                .filter(|g| undecided(g, &roles, &rates, &totals))
                .collect();
            running
                .iter()
                .map(|c| open.iter().any(|g| g.of == c.role || g.to == c.role))
                .collect()
        } else {
            break;
        };
        if !wanted.contains(&true) {
            break;
        }
        for at in turn_order(round, running.len()) {
            if !wanted[at] {
                continue;
            }
            let c = running[at];
            progress(&format!(
                "{backend} · {} · {tasks} tasks · {}",
                workload.name(),
                c.label
            ));
            let t = turn(c, workload, tasks, timing.round)
                .await
                .with_context(|| format!("{backend}: {} {}", c.label, workload.name()))?;
            rates[at].push((round, t.ops as f64 / t.elapsed.as_secs_f64()));
            match &mut sums[at] {
                Some(sum) => {
                    sum.ops += t.ops;
                    sum.elapsed += t.elapsed;
                    sum.refreshes += t.refreshes;
                    sum.hist.add(&t.hist).expect("same bounds");
                }
                slot => *slot = Some(t),
            }
        }
        round += 1;
    }
    Ok(running
        .iter()
        .zip(sums)
        .zip(rates)
        .filter_map(|((c, sum), round_rates)| {
            let sum = sum?;
            let secs = sum.elapsed.as_secs_f64();
            Some(Measured {
                workload,
                backend: backend.to_owned(),
                tasks,
                contender: c.label.clone(),
                role: c.role,
                ops: sum.ops,
                secs,
                ops_per_sec: sum.ops as f64 / secs,
                round_rates: round_rates.into_iter().map(|(_, rate)| rate).collect(),
                pass_rates: vec![sum.ops as f64 / secs],
                p50_us: sum.hist.value_at_quantile(0.5) as f64 / 1000.0,
                p99_us: sum.hist.value_at_quantile(0.99) as f64 / 1000.0,
                refreshes: (workload == Workload::Refresh).then_some(sum.refreshes),
            })
        })
        .collect())
}

/// The order of the turns of `n` contenders in round `round` of a cell:
/// the rows of a Williams design, one after the other. Each row is an
/// order of all `n`; over `n` rounds (`2n` when `n` is odd) each contender
/// goes first equally often and follows each other contender equally
/// often. A turn can leave work behind that the next one pays for (the
/// kernel writing back a file's pages, a server's deferred work), so a
/// fixed order, in which a contender always follows the same one, would
/// favour some contenders over others by a few percent.
///
/// ```text
/// n = 4: 0 1 3 2 · 1 2 0 3 · 2 3 1 0 · 3 0 2 1 · (again)
/// ```
pub fn turn_order(round: usize, n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    // The first row: 0, 1, n-1, 2, n-2, …; row r adds r to each (mod n);
    // for an odd n the second n rows are the first n reversed.
    let (mut low, mut high) = (1, n);
    let first = (0..n).map(|j| match j {
        0 => 0,
        _ if j % 2 == 1 => {
            low += 1;
            low - 1
        }
        _ => {
            high -= 1;
            high
        }
    });
    let period = if n % 2 == 0 { n } else { 2 * n };
    let row = round % period;
    let mut order: Vec<usize> = first.map(|c| (c + row) % n).collect();
    if row >= n {
        order.reverse();
    }
    order
}

/// The median of `values` (the mean of the middle two for an even
/// count); `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// `a`'s rate divided by `b`'s: the median of the ratios of their passes
/// where both ran every pass, otherwise the ratio of their overall rates.
pub fn ratio(a: &Measured, b: &Measured) -> f64 {
    if !a.pass_rates.is_empty() && a.pass_rates.len() == b.pass_rates.len() {
        let per_pass: Vec<f64> = a
            .pass_rates
            .iter()
            .zip(&b.pass_rates)
            .map(|(x, y)| x / y)
            .collect();
        if let Some(m) = median(&per_pass) {
            return m;
        }
    }
    a.ops_per_sec / b.ops_per_sec
}

/// Folds the cells of several passes over the whole matrix into one cell
/// per (workload, backend, tasks, contender), in the first pass's order:
/// operations and seconds add up, each pass's rate is kept in
/// `pass_rates` (what [`ratio`] takes the median of), and the latency
/// percentiles are the median of the passes'.
pub fn merge_passes(passes: Vec<Vec<Measured>>) -> Vec<Measured> {
    let mut passes = passes.into_iter();
    let Some(mut merged) = passes.next() else {
        return Vec::new();
    };
    let mut p50s: Vec<Vec<f64>> = merged.iter().map(|m| vec![m.p50_us]).collect();
    let mut p99s: Vec<Vec<f64>> = merged.iter().map(|m| vec![m.p99_us]).collect();
    for pass in passes {
        for m in pass {
            let Some(at) = merged.iter().position(|c| {
                c.workload == m.workload
                    && c.backend == m.backend
                    && c.tasks == m.tasks
                    && c.contender == m.contender
            }) else {
                p50s.push(vec![m.p50_us]);
                p99s.push(vec![m.p99_us]);
                merged.push(m);
                continue;
            };
            let c = &mut merged[at];
            c.ops += m.ops;
            c.secs += m.secs;
            c.ops_per_sec = c.ops as f64 / c.secs;
            c.round_rates.extend(m.round_rates);
            c.pass_rates.extend(m.pass_rates);
            c.refreshes = match (c.refreshes, m.refreshes) {
                (Some(x), Some(y)) => Some(x + y),
                (x, y) => x.or(y),
            };
            p50s[at].push(m.p50_us);
            p99s[at].push(m.p99_us);
        }
    }
    for ((c, p50), p99) in merged.iter_mut().zip(&p50s).zip(&p99s) {
        c.p50_us = median(p50).unwrap_or(c.p50_us);
        c.p99_us = median(p99).unwrap_or(c.p99_us);
    }
    merged
}

/// Runs `n` operations of `workload` one after the other on the
/// contender's first task (for counting round trips, not timing).
pub async fn steps(contender: &Contender, workload: Workload, n: u64) -> Result<()> {
    contender.prepare(1).await?;
    let mut states = contender.tasks.lock().await;
    let value = Bytes::from(vec![b'v'; VALUE_LEN]);
    for _ in 0..n {
        states[0]
            .step(contender.target.as_ref(), workload, &value)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOAL: Goal = Goal {
        of: Role::Ours,
        to: Role::Floor,
        at_least: 0.9,
    };

    fn rounds(rates: &[f64]) -> Vec<(usize, f64)> {
        rates.iter().copied().enumerate().collect()
    }

    fn decide(ours: &[f64], floor: &[f64]) -> bool {
        let total = |r: &[f64]| ((r.iter().sum::<f64>() * 0.2) as u64, 0.2 * r.len() as f64);
        undecided(
            &GOAL,
            &[Role::Floor, Role::Ours],
            &[rounds(floor), rounds(ours)],
            &[total(floor), total(ours)],
        )
    }

    #[test]
    fn every_round_is_an_order_of_all_and_each_follows_each_equally_often() {
        for n in 1..=9 {
            let period = if n % 2 == 0 { n } else { 2 * n };
            let mut first = vec![0; n];
            let mut follows = vec![vec![0; n]; n];
            for round in 0..period {
                let order = turn_order(round, n);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "n = {n}, round {round}");
                assert_eq!(order, turn_order(round + period, n), "n = {n}: periodic");
                first[order[0]] += 1;
                for pair in order.windows(2) {
                    follows[pair[1]][pair[0]] += 1;
                }
            }
            assert!(first.iter().all(|&f| f == period / n), "n = {n}: {first:?}");
            for (b, before) in follows.iter().enumerate() {
                for (a, &count) in before.iter().enumerate() {
                    let want = if a == b { 0 } else { period / n };
                    assert_eq!(count, want, "n = {n}: {b} after {a}");
                }
            }
        }
        assert_eq!(turn_order(0, 4), [0, 1, 3, 2]);
        assert_eq!(turn_order(1, 4), [1, 2, 0, 3]);
        assert!(turn_order(0, 0).is_empty());
    }

    #[test]
    fn a_ratio_far_from_the_threshold_is_decided() {
        assert!(!decide(
            &[50.0, 52.0, 49.0, 51.0],
            &[100.0, 101.0, 99.0, 100.0]
        ));
        assert!(!decide(
            &[99.0, 101.0, 100.0, 98.0],
            &[100.0, 101.0, 99.0, 100.0]
        ));
    }

    #[test]
    fn a_noisy_ratio_near_the_threshold_is_not() {
        assert!(decide(
            &[80.0, 100.0, 85.0, 97.0],
            &[100.0, 95.0, 101.0, 99.0]
        ));
        // One round says nothing about the spread.
        assert!(decide(&[50.0], &[100.0]));
    }

    #[test]
    fn a_goal_without_both_contenders_is_never_open() {
        assert!(!undecided(
            &GOAL,
            &[Role::Ours],
            &[vec![(0, 1.0)]],
            &[(1, 1.0)]
        ));
    }

    #[test]
    fn rounds_are_paired_by_number_not_by_position() {
        // The floor sat round 1 out. Paired by position the ratios would
        // be 0.5, 0.5, 1.0 and 0.25, a spread wide enough to leave the goal
        // open; paired by round, ours is steady at 0.5.
        let floor = vec![(0, 100.0), (2, 200.0), (3, 100.0), (4, 200.0)];
        let ours = vec![(0, 50.0), (1, 100.0), (2, 100.0), (3, 50.0), (4, 100.0)];
        let total = |r: &[(usize, f64)]| {
            let sum: f64 = r.iter().map(|(_, x)| x * 0.2).sum();
            (sum as u64, 0.2 * r.len() as f64)
        };
        let (floor_total, ours_total) = (total(&floor), total(&ours));
        let goal = Goal {
            at_least: 0.55,
            ..GOAL
        };
        assert!(!undecided(
            &goal,
            &[Role::Floor, Role::Ours],
            &[floor, ours],
            &[floor_total, ours_total],
        ));
    }

    fn measured(contender: &str, role: Role, ops: u64, secs: f64, p99_us: f64) -> Measured {
        Measured {
            workload: Workload::Get,
            backend: "redis".to_owned(),
            tasks: 16,
            contender: contender.to_owned(),
            role,
            ops,
            secs,
            ops_per_sec: ops as f64 / secs,
            round_rates: vec![ops as f64 / secs],
            pass_rates: vec![ops as f64 / secs],
            p50_us: p99_us / 10.0,
            p99_us,
            refreshes: None,
        }
    }

    #[test]
    fn passes_add_up_and_a_ratio_is_the_median_of_theirs() {
        // Pass 2 ran while the machine was slow for ours alone: its ratio
        // (0.5) would pull a pooled ratio to 0.84, the median keeps 0.95.
        let passes = vec![
            vec![
                measured("ours", Role::Ours, 950, 1.0, 100.0),
                measured("floor", Role::Floor, 1000, 1.0, 90.0),
            ],
            vec![
                measured("floor", Role::Floor, 1000, 1.0, 95.0),
                measured("ours", Role::Ours, 500, 1.0, 900.0),
            ],
            vec![
                measured("ours", Role::Ours, 1920, 2.0, 110.0),
                measured("floor", Role::Floor, 2000, 2.0, 80.0),
            ],
        ];
        let merged = merge_passes(passes);
        assert_eq!(merged.len(), 2);
        let (ours, floor) = (&merged[0], &merged[1]);
        assert_eq!(
            (ours.contender.as_str(), floor.contender.as_str()),
            ("ours", "floor")
        );
        assert_eq!((ours.ops, ours.secs), (3370, 4.0));
        assert_eq!(ours.pass_rates, vec![950.0, 500.0, 960.0]);
        assert_eq!(ours.round_rates.len(), 3);
        assert_eq!(ours.p99_us, 110.0);
        assert_eq!(floor.p99_us, 90.0);
        assert!((ratio(ours, floor) - 0.95).abs() < 1e-9);
        // Without per-pass rates the overall rates are divided.
        let pooled = |m: &Measured| Measured {
            pass_rates: Vec::new(),
            ..m.clone()
        };
        assert!((ratio(&pooled(ours), &pooled(floor)) - 3370.0 / 4000.0).abs() < 1e-9);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
