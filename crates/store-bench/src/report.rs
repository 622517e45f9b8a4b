//! The results as markdown tables, JSON, and the performance document.
//!
//! About 1,000 lines on purpose: every table and paragraph of
//! `docs/performance.md` is written here, in the order the document reads.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::Workload;
use crate::harness::{Goal, LIFECYCLE_OPS, Measured};
use crate::machine::Meta;
use crate::roundtrips::Counted;
use crate::target::{Role, TOKEN_LIFETIME, USERS};

/// One row of a goal table: `of` against `to` on `backend`, per level.
struct GoalRow {
    backend: String,
    /// The second column.
    label: String,
    workload: Workload,
    of: Role,
    to: Role,
    /// How a miss is named in the list under the table.
    miss: String,
}

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The machine, versions and command.
    pub meta: Meta,
    /// One entry per contender per cell.
    pub results: Vec<Measured>,
    /// Round trips per operation, per contender.
    pub round_trips: Vec<Counted>,
}

/// `x` rounded, with thousands separated by commas.
pub fn rate(x: f64) -> String {
    let whole = x.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds with three significant digits or so.
pub fn micros(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The goals the document states that a cell of `workload` on `backend`
/// at `tasks` tasks decides: the floor goal of workload (a) at 1 and 16
/// tasks (and the memory store's 0.5× at 1 task), the peer goals of
/// workload (b) at every level.
pub fn goals(backend: &str, workload: Workload, tasks: usize) -> Vec<Goal> {
    let goal = |of, to, at_least| Goal { of, to, at_least };
    match workload {
        Workload::Get | Workload::Upsert | Workload::Create | Workload::UpdateIf => {
            let mut goals = Vec::new();
            if tasks == 1 || tasks == 16 {
                goals.push(goal(Role::Ours, Role::Floor, 0.9));
            }
            if backend == "memory" && tasks == 1 {
                goals.push(goal(Role::Ours, Role::Floor, 0.5));
            }
            goals
        }
        Workload::Lifecycle => {
            let mut goals = vec![
                goal(Role::Ours, Role::Peer, 1.0),
                goal(Role::Adapter, Role::Peer, 1.0),
            ];
            if backend == "redis" || backend == "postgres" {
                goals.push(goal(Role::Ours, Role::Peer, 1.2));
            }
            goals
        }
        Workload::Refresh => Vec::new(),
    }
}

/// A ratio and its verdict against `goal`: two decimals, or three where
/// two would round a miss up to the threshold (`0.995 ✗`, not `1.00 ✗`).
fn mark(ratio: f64, goal: f64) -> String {
    if ratio >= goal {
        format!("{ratio:.2} ✓")
    } else if format!("{ratio:.2}")
        .parse::<f64>()
        .is_ok_and(|shown| shown >= goal)
    {
        format!("{ratio:.3} ✗")
    } else {
        format!("{ratio:.2} ✗")
    }
}

impl Report {
    fn find(
        &self,
        workload: Workload,
        backend: &str,
        tasks: usize,
        role: Role,
    ) -> Option<&Measured> {
        self.results.iter().find(|m| {
            m.workload == workload && m.backend == backend && m.tasks == tasks && m.role == role
        })
    }

    fn ratio(&self, m: &Measured, to: Role) -> Option<f64> {
        self.find(m.workload, &m.backend, m.tasks, to)
            .map(|other| crate::harness::ratio(m, other))
    }

    fn backends(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for m in &self.results {
            if !seen.contains(&m.backend) {
                seen.push(m.backend.clone());
            }
        }
        seen
    }

    fn levels(&self) -> Vec<usize> {
        let mut levels: Vec<usize> = self.results.iter().map(|m| m.tasks).collect();
        levels.sort_unstable();
        levels.dedup();
        levels
    }

    fn workloads(&self) -> Vec<Workload> {
        Workload::ALL
            .into_iter()
            .filter(|w| self.results.iter().any(|m| m.workload == *w))
            .collect()
    }

    /// The table of one workload: a row per contender per cell.
    fn table(&self, workload: Workload) -> String {
        let mut out = String::new();
        let peer = workload == Workload::Lifecycle;
        let refresh = workload == Workload::Refresh;
        out.push_str("| backend | tasks | contender | ops/s | p50 µs | p99 µs | × floor |");
        if peer {
            out.push_str(" × peer |");
        }
        if refresh {
            out.push_str(" refreshes |");
        }
        out.push_str("\n|---|---:|---|---:|---:|---:|---:|");
        if peer {
            out.push_str("---:|");
        }
        if refresh {
            out.push_str("---:|");
        }
        out.push('\n');
        for backend in self.backends() {
            for tasks in self.levels() {
                let mut rows: Vec<&Measured> = self
                    .results
                    .iter()
                    .filter(|m| {
                        m.workload == workload
                            && m.backend == backend
                            && m.tasks == tasks
                            && m.role != Role::Layer
                    })
                    .collect();
                rows.sort_by_key(|m| m.role);
                for m in rows {
                    let vs = |r: Role| {
                        self.ratio(m, r)
                            .map_or_else(|| "n/a".to_owned(), |x| format!("{x:.2}"))
                    };
                    let _ = write!(
                        out,
                        "| {} | {} | {} | {} | {} | {} | {} |",
                        backend,
                        tasks,
                        m.contender,
                        rate(m.ops_per_sec),
                        micros(m.p50_us),
                        micros(m.p99_us),
                        vs(Role::Floor)
                    );
                    if peer {
                        let _ = write!(out, " {} |", vs(Role::Peer));
                    }
                    if refresh {
                        let _ = write!(out, " {} |", m.refreshes.unwrap_or(0));
                    }
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Every workload's table, as markdown.
    pub fn tables(&self) -> String {
        let mut out = String::new();
        for w in self.workloads() {
            let _ = writeln!(out, "### {}\n\n{}", w.name(), self.table(w));
        }
        if self.results.iter().any(|m| m.role == Role::Layer) {
            let _ = writeln!(
                out,
                "### layers (ops/s with the layer ÷ bare store)\n\n{}",
                self.layers_table()
            );
        }
        if !self.round_trips.is_empty() {
            let _ = writeln!(
                out,
                "### round trips per operation\n\n{}",
                self.trips_table()
            );
        }
        out
    }

    /// Each layer's rate divided by the bare store's, same cell.
    fn layers_table(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for m in self.results.iter().filter(|m| m.role == Role::Layer) {
            let layer = m
                .contender
                .split(" + ")
                .nth(1)
                .unwrap_or(&m.contender)
                .to_owned();
            if !names.contains(&layer) {
                names.push(layer);
            }
        }
        let mut out = String::from("| backend | operation | tasks |");
        for n in &names {
            let _ = write!(out, " {n} |");
        }
        out.push_str("\n|---|---|---:|");
        out.push_str(&"---:|".repeat(names.len()));
        out.push('\n');
        for backend in self.backends() {
            for w in [Workload::Get, Workload::Upsert] {
                for tasks in self.levels() {
                    let Some(bare) = self.find(w, &backend, tasks, Role::Ours) else {
                        continue;
                    };
                    let cells: Vec<String> = names
                        .iter()
                        .map(|n| {
                            self.results
                                .iter()
                                .find(|m| {
                                    m.role == Role::Layer
                                        && m.workload == w
                                        && m.backend == backend
                                        && m.tasks == tasks
                                        && m.contender.ends_with(&format!(" + {n}"))
                                })
                                .map_or_else(
                                    || "n/a".to_owned(),
                                    |m| format!("{:.2}", crate::harness::ratio(m, bare)),
                                )
                        })
                        .collect();
                    if cells.iter().all(|c| c == "n/a") {
                        continue;
                    }
                    let _ = writeln!(
                        out,
                        "| {backend} | {} | {tasks} | {} |",
                        w.name(),
                        cells.join(" | ")
                    );
                }
            }
        }
        out
    }

    fn trips_table(&self) -> String {
        let mut out = String::from(
            "| backend | operation | ours | raw floor | ours via tower-sessions | peer |\n|---|---|---:|---:|---:|---:|\n",
        );
        let mut keys: Vec<(String, String)> = Vec::new();
        for c in &self.round_trips {
            let k = (c.backend.clone(), c.operation.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for (backend, operation) in keys {
            let cell = |role: Role| {
                self.round_trips
                    .iter()
                    .find(|c| c.backend == backend && c.operation == operation && c.role == role)
                    .map_or_else(|| "n/a".to_owned(), |c| format!("{:.2}", c.round_trips))
            };
            let _ = writeln!(
                out,
                "| {backend} | {operation} | {} | {} | {} | {} |",
                cell(Role::Ours),
                cell(Role::Floor),
                cell(Role::Adapter),
                cell(Role::Peer)
            );
        }
        out
    }

    /// `of`'s rate divided by `to`'s, for `workload` on `backend` at `tasks`.
    fn ratio_of(
        &self,
        workload: Workload,
        backend: &str,
        tasks: usize,
        of: Role,
        to: Role,
    ) -> Option<f64> {
        let a = self.find(workload, backend, tasks, of)?;
        let b = self.find(workload, backend, tasks, to)?;
        Some(crate::harness::ratio(a, b))
    }

    /// Writes a goal's table (a column per level, a row per `rows` entry
    /// that has a cell) and returns how many cells meet `goal`, how many
    /// there are, and the misses, each named `<miss> at <tasks>`.
    fn goal_table(
        &self,
        out: &mut String,
        column: &str,
        rows: &[GoalRow],
        levels: &[usize],
        goal: f64,
    ) -> (usize, usize, Vec<String>) {
        let mut head = format!("| backend | {column} |");
        let mut rule = String::from("|---|---|");
        for t in levels {
            let _ = write!(head, " {t} task{} |", if *t == 1 { "" } else { "s" });
            rule.push_str("---:|");
        }
        let _ = writeln!(out, "{head}\n{rule}");
        let (mut met, mut all) = (0, 0);
        let mut below = Vec::new();
        for r in rows {
            let mut line = format!("| {} | {} |", r.backend, r.label);
            let mut any = false;
            for &t in levels {
                match self.ratio_of(r.workload, &r.backend, t, r.of, r.to) {
                    Some(x) => {
                        any = true;
                        all += 1;
                        if x >= goal {
                            met += 1;
                        } else {
                            below.push(format!("{} at {t}", r.miss));
                        }
                        let _ = write!(line, " {} |", mark(x, goal));
                    }
                    None => line.push_str(" n/a |"),
                }
            }
            if any {
                let _ = writeln!(out, "{line}");
            }
        }
        (met, all, below)
    }

    fn goal_floor(&self, out: &mut String) {
        let levels: Vec<usize> = self
            .levels()
            .into_iter()
            .filter(|t| *t == 1 || *t == 16)
            .collect();
        let _ = writeln!(
            out,
            "### Goal: our store ≥ 0.9× the raw floor on workload (a) at 1 and 16 tasks\n"
        );
        let rows: Vec<GoalRow> = self
            .backends()
            .into_iter()
            .flat_map(|backend| {
                [
                    Workload::Get,
                    Workload::Upsert,
                    Workload::Create,
                    Workload::UpdateIf,
                ]
                .map(|w| GoalRow {
                    miss: format!("{backend} {}", w.name()),
                    label: w.name().to_owned(),
                    backend: backend.clone(),
                    workload: w,
                    of: Role::Ours,
                    to: Role::Floor,
                })
            })
            .collect();
        let (met, all, below) = self.goal_table(out, "operation", &rows, &levels, 0.9);
        let _ = writeln!(out, "\nMet in {met} of {all} cells.");
        if !below.is_empty() {
            let _ = writeln!(out, " Below 0.9×: {}.", below.join("; "));
        }
        out.push('\n');
    }

    fn goal_peer(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "### Goal: our store ≥ the tower-sessions store on workload (b), at every level\n"
        );
        let rows: Vec<GoalRow> = self
            .backends()
            .into_iter()
            .flat_map(|backend| {
                [
                    (Role::Ours, "the `Store` trait"),
                    (Role::Adapter, "`store-tower-sessions`"),
                ]
                .map(|(of, through)| GoalRow {
                    miss: format!("{backend} through {through}"),
                    label: through.to_owned(),
                    backend: backend.clone(),
                    workload: Workload::Lifecycle,
                    of,
                    to: Role::Peer,
                })
            })
            .collect();
        let (met, all, below) = self.goal_table(out, "ours through", &rows, &self.levels(), 1.0);
        let _ = writeln!(
            out,
            "\nEach cell is our ops/s divided by the peer's, same backend, same run. Met in {met} of {all} cells."
        );
        if !below.is_empty() {
            let _ = writeln!(out, " Below 1×: {}.", below.join("; "));
        }
        out.push('\n');
    }

    fn goal_memory(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "### Goal: the memory store within 2× of the floor (`RwLock<HashMap>` × 64) on one task, and scaling with 16 tasks\n"
        );
        let _ = writeln!(
            out,
            "| operation | ours ÷ floor, 1 task | ours, 16 tasks ÷ 1 task | floor, 16 tasks ÷ 1 task |\n|---|---:|---:|---:|"
        );
        for w in [
            Workload::Get,
            Workload::Upsert,
            Workload::Create,
            Workload::UpdateIf,
        ] {
            let one = self.find(w, "memory", 1, Role::Ours);
            let one_floor = self.find(w, "memory", 1, Role::Floor);
            let many = self.find(w, "memory", 16, Role::Ours);
            let many_floor = self.find(w, "memory", 16, Role::Floor);
            let (Some(one), Some(one_floor)) = (one, one_floor) else {
                continue;
            };
            let r = crate::harness::ratio(one, one_floor);
            let scale = |a: Option<&Measured>, b: &Measured| {
                a.map_or_else(
                    || "n/a".to_owned(),
                    |a| format!("{:.2}", crate::harness::ratio(a, b)),
                )
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                w.name(),
                mark(r, 0.5),
                scale(many, one),
                scale(many_floor, one_floor)
            );
        }
        out.push('\n');
    }

    /// The trait's lifecycle on Redis and PostgreSQL, against the peer:
    /// the goal there is 1.2× or more, at every level.
    fn goal_peer_margin(&self, out: &mut String) {
        let rows: Vec<GoalRow> = ["redis", "postgres"]
            .into_iter()
            .filter(|b| self.backends().iter().any(|have| have == b))
            .map(|backend| GoalRow {
                miss: backend.to_owned(),
                label: "the `Store` trait".to_owned(),
                backend: backend.to_owned(),
                workload: Workload::Lifecycle,
                of: Role::Ours,
                to: Role::Peer,
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### Goal: 1.2× the tower-sessions store or more on workload (b) on Redis and PostgreSQL, through the `Store` trait\n"
        );
        let (met, all, below) = self.goal_table(out, "ours through", &rows, &self.levels(), 1.2);
        let _ = writeln!(out, "\nMet in {met} of {all} cells.");
        if !below.is_empty() {
            let _ = writeln!(out, " Below 1.2×: {}.", below.join("; "));
        }
        out.push('\n');
    }

    /// SQLite's tail: the p99 of each key-value operation at 16 tasks,
    /// against 10 ms.
    fn goal_sqlite_p99(&self, out: &mut String) {
        const LIMIT_US: f64 = 10_000.0;
        let cells: Vec<(Workload, &Measured, Option<&Measured>)> = [
            Workload::Get,
            Workload::Upsert,
            Workload::Create,
            Workload::UpdateIf,
        ]
        .into_iter()
        .filter_map(|w| {
            let ours = self.find(w, "sqlite_file", 16, Role::Ours)?;
            Some((w, ours, self.find(w, "sqlite_file", 16, Role::Floor)))
        })
        .collect();
        if cells.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### Goal: SQLite p99 under 10 ms at 16 tasks\n\n\
             | operation | ours, p99 µs | raw floor, p99 µs | |\n|---|---:|---:|---|"
        );
        let mut missed = Vec::new();
        for (w, ours, floor) in &cells {
            let ok = ours.p99_us < LIMIT_US;
            if !ok {
                missed.push(w.name());
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                w.name(),
                micros(ours.p99_us),
                floor.map_or_else(|| "n/a".to_owned(), |f| micros(f.p99_us)),
                if ok { "✓" } else { "✗" }
            );
        }
        let _ = writeln!(
            out,
            "\nMet in {} of {} cells.{}\n",
            cells.len() - missed.len(),
            cells.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(" At 10 ms or more: {}.", missed.join(", "))
            }
        );
    }

    /// Writes the performance document at `path` and its charts in
    /// `perf/` next to it.
    pub fn write_doc(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let charts = dir.join("perf");
        std::fs::create_dir_all(&charts)
            .with_context(|| format!("creating {}", charts.display()))?;
        let backends = self.backends();
        let levels = self.levels();
        let kv: Vec<Workload> = [
            Workload::Get,
            Workload::Upsert,
            Workload::Create,
            Workload::UpdateIf,
        ]
        .into_iter()
        .filter(|w| self.workloads().contains(w))
        .collect();
        let mut drawn = Vec::new();
        for (file, title, workloads) in [
            ("kv.svg", "(a) key-value, 200-byte values", kv),
            (
                "lifecycle.svg",
                "(b) session lifecycle: create, 20 × (load + touch), delete",
                vec![Workload::Lifecycle],
            ),
            (
                "refresh.svg",
                "(c) token refresh: get_fresh on 1,000 users",
                vec![Workload::Refresh],
            ),
        ] {
            let workloads: Vec<Workload> = workloads
                .into_iter()
                .filter(|w| self.workloads().contains(w))
                .collect();
            if workloads.is_empty() {
                continue;
            }
            crate::chart::draw(
                &charts.join(file),
                title,
                &workloads,
                &levels,
                &backends,
                &self.results,
            )?;
            drawn.push((workloads, file));
        }

        let m = &self.meta;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Performance\n\n\
             <!-- Generated by `just bench` (crates/store-bench); do not edit by hand. -->\n\n\
             Every store of this workspace, measured in one run beside the raw driver doing the \
             same work in the fewest round trips (the *floor*) and beside the tower-sessions \
             stores (the *peers*), on the same servers. Absolute rates depend on the machine; \
             compare the ratios, which are taken within one cell of one run.\n"
        );
        let _ = writeln!(
            out,
            "Re-run it:\n\n```bash\njust bench   # starts Redis, PostgreSQL and MongoDB on loopback, \
             runs everything, rewrites this file\n# or, against servers of your own:\n\
             STORE_TEST_REDIS_URL=redis://127.0.0.1:6379/ \\\n\
             STORE_TEST_POSTGRES_URL=postgres://user@127.0.0.1:5432/db \\\n\
             STORE_TEST_MONGODB_URL=mongodb://127.0.0.1:27017/ \\\n\
             \u{20} cargo run --release -p store-bench -- --doc docs/performance.md\n```\n"
        );
        let _ = writeln!(out, "## This run\n");
        let _ = writeln!(
            out,
            "- **Command:** `{}` ({}; {:.0} s)",
            m.command, m.date, m.took_secs
        );
        let _ = writeln!(
            out,
            "- **Machine:** {}, {} CPUs, {}; {}. The bench and the servers share these CPUs.",
            m.cpu, m.cpus, m.memory, m.os
        );
        let _ = writeln!(
            out,
            "- **Toolchain:** {}, {}.",
            m.rustc,
            if cfg!(debug_assertions) {
                "a debug build: these figures are not comparable with a release run"
            } else {
                "release profile"
            }
        );
        let servers: Vec<String> = m.servers.iter().map(|(b, s)| format!("{b}: {s}")).collect();
        let _ = writeln!(out, "- **Servers (loopback):** {}.", servers.join("; "));
        let crates: Vec<String> = m.crates.iter().map(|(c, v)| format!("{c} {v}")).collect();
        let _ = writeln!(out, "- **Crates:** {}.", crates.join(", "));
        let _ = writeln!(
            out,
            "- **Method:** the whole matrix is measured {passes}, one pass after the other, so \
             that each cell is measured at moments minutes apart. In each cell (workload × \
             backend × concurrency) of a pass the contenders take turns, {rounds} rounds of {ms} \
             ms each after a 50 ms warm-up, in an order that changes each round so that each \
             contender goes first, and follows each other one, equally often (a turn can \
             leave work behind that the next one pays for). Where a cell \
             decides a goal below and its ratio is still within two standard errors of the \
             goal's threshold after those rounds (the error taken from the ratios of the two \
             contenders' turns in the same round), the two contenders run more rounds, up to \
             {max} in the pass, until it is not. A rate is the cell's operations over its timed \
             seconds in all passes; a ratio, and so every verdict, is {ratio_rule}; a latency \
             percentile is {latency_rule}. A \
             task gives its thread to the others every millisecond, so the tasks of a memory \
             cell, whose operations never wait, run side by side. The bench and the servers \
             share the CPUs, so single ratios move between runs: on the 2-core machine of the \
             checked-in figures, by about ±0.1 from one pass to the next where a server is \
             CPU-bound at 16 tasks; a ratio far from its threshold, or the same side of it in \
             every cell, is what a run shows. The control run measures that spread: \
             `cargo run --release -p store-bench -- --control` compares each of ours with an \
             identical copy of itself (true ratio 1), and how far its ratios stray from 1 is how \
             close to a threshold a ratio can lie and still get the same verdict in every run.\n",
            passes = match m.passes {
                1 => "once".to_owned(),
                n => format!("{n} times"),
            },
            ratio_rule = match m.passes {
                1 => "the ratio of the two rates".to_owned(),
                n => format!("the median of the cell's {n} per-pass ratios"),
            },
            latency_rule = match m.passes {
                1 => "over all rounds",
                _ => "the median of its passes'",
            },
            rounds = m.rounds,
            ms = m.round_ms,
            max = m.max_rounds,
        );

        let _ = writeln!(out, "## The workloads and the contenders\n");
        let _ = writeln!(
            out,
            "- **(a) key-value:** `get` of a present key, `put(Upsert)`, `put(Create)` of a new \
             key and `put(UpdateIf)` with the version last written, a 200-byte value with an \
             expiry an hour ahead; each task on {} keys of its own.\n\
             - **(b) session lifecycle**, what a web app does per visitor: create, 20 × (load + \
             touch), delete: {} calls. Ours through the `Store` trait (`put(Create)`, `get`, \
             `touch`, `delete`), and through our tower-sessions adapter; the peers through their \
             `SessionStore` trait as tower-sessions drives it (`create`, `load`, `save` with the \
             slid expiry, `delete`). Rates count calls, not sessions.\n\
             - **(c) token refresh:** `TokenStore::get_fresh` on {} users whose tokens stay \
             valid {} ms after a refresh: most calls read a fresh token, and up to {} refreshes a \
             second race for their users. The refresh itself costs nothing here, so this measures \
             the store. The floor reads the token and, when it has expired, writes a new one, \
             with no lease: racing callers may refresh one user twice. The `refreshes` \
             column counts the refreshes each contender ran in the cell.\n",
            crate::harness::KEYS_PER_TASK,
            LIFECYCLE_OPS,
            rate(USERS as f64),
            TOKEN_LIFETIME.as_millis(),
            rate(USERS as f64 * 1000.0 / TOKEN_LIFETIME.as_millis() as f64),
        );
        let _ = writeln!(
            out,
            "| backend | ours | raw floor | peer |\n|---|---|---|---|\n\
             | memory | `MemoryStore` | `RwLock<HashMap>` × 64 (a hash table per lock, the lock chosen by the key's hash) | tower-sessions `MemoryStore` 0.15 |\n\
             | redis | `RedisStore` (one multiplexed connection) | `redis` crate on one `ConnectionManager`: `GET`, `SET … PX`, `SET … NX PX`, a one-script compare-and-set, `PEXPIRE`, `DEL` | tower-sessions-redis-store 0.16 (fred, a pool of 6 as its README sets up) |\n\
             | postgres | `PostgresStore` (pool of 10) | sqlx on a pool of 10: one plain statement per operation | tower-sessions-sqlx-store 0.15 `PostgresStore` (pool of 10, sqlx's default settings, as its README sets up) |\n\
             | sqlite_file | `SqliteStore` (file, WAL, pool of 10) | sqlx, same file settings and pool | tower-sessions-sqlx-store 0.15 `SqliteStore` (same pool settings); each contender in a database file of its own |\n\
             | mongodb | `MongoStore` | `mongodb` crate: `find_one`, `update_one` with upsert, `insert_one`, a conditional `update_one`, `delete_one` | none: no tower-sessions MongoDB store on the same core version |\n\
             | mysql | `MySqlStore` (pool of 10) | sqlx on a pool of 10: one plain statement per operation | tower-sessions-sqlx-store 0.15 `MySqlStore` (pool of 10) |\n\n\
             Ours via tower-sessions is `store-tower-sessions`' `TowerStore` over the same store, \
             driven like the peers.\n"
        );

        let _ = writeln!(out, "## Goals\n");
        self.goal_floor(&mut out);
        self.goal_peer(&mut out);
        self.goal_peer_margin(&mut out);
        self.goal_sqlite_p99(&mut out);
        self.goal_memory(&mut out);
        if !self.round_trips.is_empty() {
            let _ = writeln!(
                out,
                "### Goal: one round trip per single-key operation\n\n\
                 Counted, not estimated: each contender runs through a TCP proxy between it and \
                 the server (the conformance suite's `FaultProxy`), which counts every burst of \
                 client bytes after a server reply as one round trip. Each figure is the least of \
                 3 counts of 20 operations one after the other, after a warm-up; a lifecycle is \
                 the whole of its {LIFECYCLE_OPS} calls. SQLite and memory run in process and \
                 have no round trips.\n\n{}",
                self.trips_table()
            );
            if self.round_trips.iter().any(|c| c.backend == "postgres") {
                let _ = writeln!(
                    out,
                    "The floor's and the peer's PostgreSQL and MySQL figures count 2 per call: \
                     the call's own round trip, and the ping sqlx 0.8 sends when a connection \
                     goes back to its pool, after the caller has its answer. Ours count 1: \
                     store-sqlx keeps the connection of a call that succeeded for the next \
                     call instead of giving it back after each one, so that ping is not sent \
                     (a connection goes back to the pool, with its ping, after 250 ms unused, \
                     after a call that failed or was cut short, and at least every 250 ms). \
                     Neither pings before each call (sqlx's `test_before_acquire`, off in \
                     store-sqlx). The peer's create is a transaction of four statements, \
                     which is why its lifecycle takes more. The reliability tests \
                     (`…::one_round_trip_per_single_key_operation`) check one round trip per \
                     call for every single-key operation on each server.\n"
                );
            }
            let refresh: Vec<&crate::roundtrips::Counted> = self
                .round_trips
                .iter()
                .filter(|c| c.role == Role::Ours && c.operation == "get_fresh, refreshing")
                .collect();
            if !refresh.is_empty() {
                let _ = writeln!(
                    out,
                    "### Goal: a token refresh in at most 3 round trips\n\n\
                     | backend | ours | floor | |\n|---|---:|---:|---|"
                );
                for c in &refresh {
                    let floor = self.round_trips.iter().find(|f| {
                        f.role == Role::Floor
                            && f.backend == c.backend
                            && f.operation == c.operation
                    });
                    let _ = writeln!(
                        out,
                        "| {} | {:.2} | {} | {} |",
                        c.backend,
                        c.round_trips,
                        floor.map_or_else(|| "n/a".to_owned(), |f| format!("{:.2}", f.round_trips)),
                        if c.round_trips <= 3.0 { "✓" } else { "✗" }
                    );
                }
                let _ = writeln!(
                    out,
                    "\nA refresh is 3 store calls (read, take the lease, write the new token), \
                     one round trip each; the floor's 2 calls count 2 each on a sqlx pool, \
                     as the table above explains.\n"
                );
            }
        }
        out.push_str(&crate::report::notes(self));
        // The last scale run's section, from perf/scale.json (a scale run
        // rewrites only that section; see `scale::doc`).
        out.push_str(&crate::scale::doc::section_for(path)?);

        let _ = writeln!(out, "## Charts\n");
        for (_, file) in &drawn {
            let _ = writeln!(out, "![{file}](perf/{file})\n");
        }
        let _ = writeln!(out, "## Every cell\n");
        out.push_str(&self.tables());
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// The least and the greatest ratio of `of` to `to` over `workloads`,
/// `backend` and `levels`, as `"a–b"` (or one figure).
fn span(
    report: &Report,
    workloads: &[Workload],
    backend: &str,
    levels: &[usize],
    of: Role,
    to: Role,
) -> Option<String> {
    let ratios: Vec<f64> = workloads
        .iter()
        .flat_map(|w| levels.iter().map(move |t| (*w, *t)))
        .filter_map(|(w, t)| report.ratio_of(w, backend, t, of, to))
        .collect();
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if ratios.is_empty() {
        None
    } else if format!("{lo:.2}") == format!("{hi:.2}") {
        Some(format!("{lo:.2}×"))
    } else {
        Some(format!("{lo:.2}–{hi:.2}×"))
    }
}

/// What the numbers mean, written against the figures of this run: why a
/// goal is missed where it is, and what the difference buys.
/// At each of `levels` where both ran: the rate of the Redis contender
/// `store-redis + <layer>` on `workload`, divided by the bare store's.
fn redis_layer_ratios(
    report: &Report,
    workload: Workload,
    layer: &str,
    levels: &[usize],
) -> Vec<(usize, f64)> {
    let suffix = format!(" + {layer}");
    levels
        .iter()
        .filter_map(|&t| {
            let bare = report.find(workload, "redis", t, Role::Ours)?;
            let layered = report.results.iter().find(|m| {
                m.role == Role::Layer
                    && m.workload == workload
                    && m.backend == "redis"
                    && m.tasks == t
                    && m.contender.ends_with(&suffix)
            })?;
            Some((t, crate::harness::ratio(layered, bare)))
        })
        .collect()
}

pub fn notes(report: &Report) -> String {
    const WRITES: [Workload; 3] = [Workload::Upsert, Workload::Create, Workload::UpdateIf];
    let low = [1, 16];
    let all = report.levels();
    let mut out = String::from("## What the figures show\n\n");
    let mut say = |text: String| {
        out.push_str("- ");
        out.push_str(&text);
        out.push('\n');
    };
    if let Some(reads) = span(
        report,
        &[Workload::Get],
        "redis",
        &low,
        Role::Ours,
        Role::Floor,
    ) {
        let reads_pg = span(
            report,
            &[Workload::Get],
            "postgres",
            &low,
            Role::Ours,
            Role::Floor,
        );
        let reads_mongo = span(
            report,
            &[Workload::Get],
            "mongodb",
            &low,
            Role::Ours,
            Role::Floor,
        );
        say(format!(
            "**Reads cost what the raw driver's read costs** over the network: `get` is \
             {reads} of a bare `GET` on Redis{}{}, in one round trip.",
            reads_pg
                .map(|r| format!(", {r} of a plain `SELECT` on PostgreSQL"))
                .unwrap_or_default(),
            reads_mongo
                .map(|r| format!(", {r} of `find_one` on MongoDB"))
                .unwrap_or_default(),
        ));
    }
    if let Some(w) = span(report, &WRITES, "redis", &low, Role::Ours, Role::Floor) {
        let cas = span(
            report,
            &[Workload::UpdateIf],
            "redis",
            &low,
            Role::Ours,
            Role::Floor,
        )
        .unwrap_or_default();
        say(format!(
            "**Redis writes are {w} of the bare commands.** `put(Upsert)`, `put(Create)` \
             and `put(Update)` are one `SET` (plain, `NX`, `XX`) of the entry with its \
             header and native expiry, like the floor's; the version is 64 random bits \
             drawn in the client, so no write asks the server for a counter, and the \
             entry's bytes carry the header (version, expiry, owner) the floor's do not. \
             `put(UpdateIf)` must compare on the server and is one script, as the floor's \
             compare-and-set is: ours is {cas} of it. With an owner, the `SET` and the \
             owner set's change go in one `MULTI`/`EXEC`."
        ));
    }
    if let Some(w) = span(report, &WRITES, "postgres", &low, Role::Ours, Role::Floor) {
        say(format!(
            "**PostgreSQL writes are {w} of plain statements.** The floor's table has a \
             primary key and nothing else; ours also keeps an expiry index (so purging \
             expired rows is a range scan) and an owner index (so \"log this user out \
             everywhere\" is a lookup), and every write carries a fresh version, 64 random \
             bits drawn in the process and bound as a parameter, so that writers share no \
             counter and compare-and-swap has no ABA. `put(Create)` is an `INSERT … ON CONFLICT DO UPDATE … WHERE` the \
             existing row has expired, so an expired row is replaced atomically instead of \
             failing. Against that, ours keeps its connections between calls and so skips \
             the ping sqlx sends when a connection goes back to the pool, which the floor \
             pays on every call (see the round trips)."
        ));
    }
    if let Some(w) = span(
        report,
        &WRITES,
        "sqlite_file",
        &low,
        Role::Ours,
        Role::Floor,
    ) {
        say(format!(
            "**SQLite writes are {w} of plain statements.** SQLite has one writer at a \
             time: where the floor's pool connections wait for the database lock in turn \
             (its busy timeout), ours hands every write to one writer connection of its \
             own, which runs the writes queued meanwhile in one transaction, so no write \
             waits on the lock and a commit serves many. Ours also keeps the expiry and \
             owner indexes the floor's table lacks; versions are drawn in the process, \
             as on PostgreSQL."
        ));
    }
    if let Some(w) = span(report, &WRITES, "mysql", &low, Role::Ours, Role::Floor) {
        say(format!(
            "**MySQL writes are {w} of plain statements.** As on PostgreSQL, ours keeps an \
             expiry index and an owner index the floor's table lacks, and each write \
             carries a version drawn in the process; `put(Create)` \
             is one `INSERT … ON DUPLICATE KEY UPDATE` that replaces only an expired row. \
             Against that, ours keeps its connections between calls and so skips the \
             `COM_PING` sqlx sends when a connection goes back to the pool, a round trip of \
             its own on MySQL that the floor pays on every call."
        ));
    }
    if let Some(w) = span(report, &WRITES, "mongodb", &low, Role::Ours, Role::Floor) {
        say(format!(
            "**MongoDB writes are {w} of plain driver calls**, one call each like the \
             floor's: `put(Create)` of a new key is one `insertOne` (only a key that is \
             there takes a second, filtered upsert that replaces an expired document), and \
             versions come from a block reserved ahead (one `$inc` per 1,000 writes), not \
             from an extra round trip."
        ));
    }
    if let Some(m) = span(
        report,
        &[Workload::Get, Workload::Upsert, Workload::UpdateIf],
        "memory",
        &[1],
        Role::Ours,
        Role::Floor,
    ) {
        let below: Vec<&str> = [
            Workload::Get,
            Workload::Upsert,
            Workload::Create,
            Workload::UpdateIf,
        ]
        .into_iter()
        .filter(|w| {
            let ours = report.find(*w, "memory", 1, Role::Ours);
            let floor = report.find(*w, "memory", 1, Role::Floor);
            matches!((ours, floor), (Some(o), Some(f)) if crate::harness::ratio(o, f) < 0.5)
        })
        .map(Workload::name)
        .collect();
        let verdict = if below.is_empty() {
            "within the goal".to_owned()
        } else {
            format!(
                "at the edge of the goal, and past it for {} in this run (a few tens of \
                 nanoseconds decide it, and the bench's own timing is part of every \
                 figure)",
                below.join(", ")
            )
        };
        say(format!(
            "**In memory, a call costs about 2× the floor's bare hash table** ({m} on one task), \
             {verdict}. A call is a few hundred nanoseconds, and the store's own work shows \
             at that scale: the caller builds a checked `Key`, the store reads the clock, \
             takes a version, keeps the expiry and the owner index, and the call goes \
             through `dyn Store`, one more boxed future than the floor's. Both split the \
             map in shards, each behind its own lock, so both scale with 16 tasks on 2 \
             cores and the ratio stays about the same (a single lock for the floor made \
             its 16-task rate swing threefold between rounds as the two threads met on it \
             or not)."
        ));
    }
    let peer_redis = span(
        report,
        &[Workload::Lifecycle],
        "redis",
        &all,
        Role::Ours,
        Role::Peer,
    );
    let adapter_redis = span(
        report,
        &[Workload::Lifecycle],
        "redis",
        &all,
        Role::Adapter,
        Role::Peer,
    );
    if let (Some(ours), Some(adapter)) = (peer_redis, adapter_redis) {
        say(format!(
            "**The session lifecycle on Redis is {ours} of tower-sessions-redis-store through \
             the `Store` trait and {adapter} through our tower-sessions adapter.** The peer \
             sends bare `SET NX`, `GET`, `SET XX` and `DEL` through a pool of 6 connections; \
             ours sends `SET NX`, `GET` and `DEL` on one multiplexed connection, and \
             `touch` is one script, since it rewrites the expiry inside the stored header \
             and keeps the owner's set alive as long as the entry, which needs the owner \
             the server holds. What that buys: a millisecond expiry (the peer rounds to \
             whole seconds with `EXAT`), an owner index so that a user's sessions can be \
             listed and revoked, and versions for compare-and-swap. The adapter saves the \
             whole record with `SET … XX`, and hashes the id (SHA-256) so that a copy \
             of the database holds no usable cookie."
        ));
    }
    let peer_sqlite = span(
        report,
        &[Workload::Lifecycle],
        "sqlite_file",
        &all,
        Role::Ours,
        Role::Peer,
    );
    if let Some(ours) = peer_sqlite {
        let adapter = span(
            report,
            &[Workload::Lifecycle],
            "sqlite_file",
            &all,
            Role::Adapter,
            Role::Peer,
        )
        .unwrap_or_default();
        say(format!(
            "**On SQLite the lifecycle is {ours} of tower-sessions-sqlx-store ({adapter} \
             through the adapter).** The peer's table has no index but its primary key and no \
             versions; ours writes the expiry and owner indexes on create and touch, \
             through its one writer connection. In exchange: purging expired \
             sessions is an index range scan instead of a table scan, a user's sessions can \
             be listed and revoked, and a save never brings back a session deleted meanwhile."
        ));
    }
    let peer_pg = span(
        report,
        &[Workload::Lifecycle],
        "postgres",
        &all,
        Role::Ours,
        Role::Peer,
    );
    if let Some(ours) = peer_pg {
        say(format!(
            "**On PostgreSQL the lifecycle is {ours} of tower-sessions-sqlx-store**: its \
             create is a transaction of four statements (`BEGIN`, an existence check, the \
             upsert, `COMMIT`), and with sqlx's default pool settings, which its README \
             uses, each call also pings its connection first; ours is one statement per \
             call and one round trip before the caller has its answer (see the round \
             trips)."
        ));
    }
    let peer_mem = span(
        report,
        &[Workload::Lifecycle],
        "memory",
        &all,
        Role::Ours,
        Role::Peer,
    );
    if let Some(ours) = peer_mem {
        say(format!(
            "**In memory the lifecycle is {ours} of tower-sessions' `MemoryStore`**: that \
             store is one `Mutex<HashMap>`, quick for a single task and serialising every \
             task behind it as they grow, while ours is sharded. Through our tower-sessions \
             adapter each call also hashes the session id (SHA-256) and encodes the whole \
             record, which costs more than the map itself in memory and nothing visible \
             against a network round trip."
        ));
    }
    // The cache layer's `get` over Redis, against the bare store.
    let cache = redis_layer_ratios(report, Workload::Get, "cache", &low);
    let cache = (!cache.is_empty()).then(|| {
        let lo = cache.iter().map(|(_, r)| *r).fold(f64::INFINITY, f64::min);
        let hi = cache
            .iter()
            .map(|(_, r)| *r)
            .fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.0}–{hi:.0}×")
    });
    // The scan index's writes over Redis, against the bare store.
    let indexed = redis_layer_ratios(report, Workload::Upsert, "scan index", &low);
    if !indexed.is_empty() {
        let cells = indexed
            .iter()
            .map(|(t, r)| format!("{r:.2}× at {t} task{}", if *t == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", ");
        say(format!(
            "**Redis scan index** (column \"scan index\" of the layers table: the same \
             store with `RedisConfig::scan_index` on, whose scans read an index of the \
             namespace instead of walking the whole database): `put(Upsert)` runs at {cells} \
             of the bare store, as each write becomes a `MULTI` of `SET`, `SADD` and \
             `PEXPIREAT` instead of one `SET`; `get` does the same work as without it. \
             That is why the index is off by default."
        ));
    }
    if report.results.iter().any(|m| m.role == Role::Layer) {
        say(format!(
            "**Layers** (the table \"layers\" under every cell): over Redis, encryption, \
             retry and tracing cost about as much as the run-to-run noise, because a round \
             trip dwarfs an XChaCha20-Poly1305 pass over 200 bytes, a retry check or a span; \
             the cache turns Redis reads into memory reads{}, as long as a write in another \
             process may stay unseen for `max_age`. Over the memory store every layer is \
             expensive in relative terms, since a bare call takes a few hundred nanoseconds \
             and sealing an envelope or opening a span takes microseconds.",
            cache
                .map(|c| format!(" ({c} the bare store's `get` rate at 1 and 16 tasks)"))
                .unwrap_or_default()
        ));
    }
    if report
        .results
        .iter()
        .any(|m| m.workload == Workload::Refresh)
    {
        let refreshing = report
            .round_trips
            .iter()
            .filter(|c| c.role == Role::Ours && c.operation == "get_fresh, refreshing")
            .map(|c| format!("{} on {}", c.round_trips, c.backend))
            .collect::<Vec<_>>()
            .join(", ");
        say(format!(
            "**Token refresh:** a fresh token is one read, as for the floor. When a token has \
             expired, ours takes a lease kept in the token's own entry (compare-and-swap \
             against the token it read), then writes the new token with compare-and-swap \
             against the lease, which also releases it, so that exactly one caller \
             refreshes a user, across processes too, and a refresh token that rotates is \
             used once. That is {} round trips where the floor makes 2 (a read \
             and a write, with no lease: racing callers may each refresh the same user). \
             With tokens valid for only {} ms, refreshes are a large share of the calls \
             here, which is why the ratio is lowest where round trips are dearest; with \
             real token lifetimes (minutes to hours) nearly every call is the one-read path.",
            if refreshing.is_empty() {
                "several".to_owned()
            } else {
                refreshing
            },
            TOKEN_LIFETIME.as_millis()
        ));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Timing;

    fn cell(workload: Workload, backend: &str, tasks: usize, role: Role, ops: f64) -> Measured {
        Measured {
            workload,
            backend: backend.to_owned(),
            tasks,
            contender: format!("{backend} {role}"),
            role,
            ops: ops as u64,
            secs: 1.0,
            ops_per_sec: ops,
            round_rates: vec![ops],
            pass_rates: Vec::new(),
            p50_us: 1.0,
            p99_us: 2.0,
            refreshes: None,
        }
    }

    /// Two backends; redis misses the floor goal on `put(Upsert)` at 16
    /// tasks and the peer goal through the adapter at 64; memory has no
    /// 64-task cells.
    fn report() -> Report {
        let mut results = Vec::new();
        for (backend, levels) in [("memory", &[1, 16][..]), ("redis", &[1, 16, 64][..])] {
            for &t in levels {
                for w in [Workload::Get, Workload::Upsert] {
                    let ours = if backend == "redis" && w == Workload::Upsert && t == 16 {
                        50.0
                    } else {
                        95.0
                    };
                    results.push(cell(w, backend, t, Role::Ours, ours));
                    results.push(cell(w, backend, t, Role::Floor, 100.0));
                }
                results.push(cell(Workload::Lifecycle, backend, t, Role::Ours, 120.0));
                let adapter = if backend == "redis" && t == 64 {
                    80.0
                } else {
                    100.0
                };
                results.push(cell(
                    Workload::Lifecycle,
                    backend,
                    t,
                    Role::Adapter,
                    adapter,
                ));
                results.push(cell(Workload::Lifecycle, backend, t, Role::Peer, 100.0));
            }
        }
        Report {
            meta: Meta::gather(
                &[],
                "store-bench",
                Timing {
                    rounds: 1,
                    max_rounds: 1,
                    round: std::time::Duration::from_millis(1),
                    warmup: std::time::Duration::ZERO,
                },
                1,
                std::time::Duration::ZERO,
            ),
            results,
            round_trips: Vec::new(),
        }
    }

    #[test]
    fn a_miss_is_never_shown_at_its_threshold() {
        assert_eq!(mark(0.9951, 1.0), "0.995 ✗");
        assert_eq!(mark(0.8949, 0.9), "0.89 ✗");
        assert_eq!(mark(1.0, 1.0), "1.00 ✓");
        assert_eq!(mark(0.5012, 0.5), "0.50 ✓");
    }

    #[test]
    fn goal_tables_count_and_name_the_misses() {
        let report = report();
        let mut out = String::new();
        report.goal_floor(&mut out);
        assert!(out.contains("| backend | operation | 1 task | 16 tasks |\n|---|---|---:|---:|\n"));
        assert!(
            out.contains("| memory | get | 0.95 ✓ | 0.95 ✓ |\n"),
            "{out}"
        );
        assert!(
            out.contains("| redis | put(Upsert) | 0.95 ✓ | 0.50 ✗ |\n"),
            "{out}"
        );
        assert!(
            !out.contains("put(Create)"),
            "rows without cells are left out: {out}"
        );
        assert!(
            out.contains("Met in 7 of 8 cells.\n Below 0.9×: redis put(Upsert) at 16.\n"),
            "{out}"
        );

        let mut out = String::new();
        report.goal_peer(&mut out);
        assert!(out.contains(
            "| backend | ours through | 1 task | 16 tasks | 64 tasks |\n|---|---|---:|---:|---:|\n"
        ));
        assert!(
            out.contains("| memory | the `Store` trait | 1.20 ✓ | 1.20 ✓ | n/a |\n"),
            "{out}"
        );
        assert!(
            out.contains("| redis | `store-tower-sessions` | 1.00 ✓ | 1.00 ✓ | 0.80 ✗ |\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "Met in 9 of 10 cells.\n Below 1×: redis through `store-tower-sessions` at 64.\n"
            ),
            "{out}"
        );
    }
}
