//! `store-bench`: every store of this workspace beside the raw driver
//! doing the same work and beside the tower-sessions stores, in the same
//! run, on the same servers.
//!
//! Three workloads, each at 1, 16 and 64 concurrent tasks:
//! - (a) key-value: `get`, `put(Upsert)`, `put(Create)`, `put(UpdateIf)`
//!   with a 200-byte value;
//! - (b) a session lifecycle: create, 20 × (load + touch), delete;
//! - (c) token refresh: `get_fresh` on 1,000 users whose tokens expire
//!   every 500 ms.
//!
//! ```text
//! just bench                       # starts the servers, writes docs/performance.md
//! store-bench --backends memory,sqlite_file --tasks 1,16
//! store-bench --json > results.json
//! just bench-scale                 # the scale mode: 1,000,000 sessions per backend
//! store-bench --scale 10000 --scale-backends memory,redis
//! ```
//!
//! The scale mode (`--scale [N]`, see [`scale`]) loads N live sessions
//! (default 1,000,000) into each backend and compares `get` and `put`
//! latency with 10,000, measures the bytes per session and the rates of
//! loading, copying (`storectl copy`) and purging them, and what limits
//! each; with `--doc` it rewrites only the scale section of the document
//! (from `perf/scale.json`, which normal runs keep).
//!
//! Server URLs come from the test suite's variables
//! (`STORE_TEST_REDIS_URL`, `STORE_TEST_POSTGRES_URL`,
//! `STORE_TEST_MONGODB_URL`). Prints a markdown table (or JSON with
//! `--json`); with `--doc PATH` it also writes the performance document
//! and an SVG chart per workload next to it.

// A binary: `pub` in its modules means crate-wide, nothing is exported.
#![allow(unreachable_pub)]

mod backends;
mod chart;
mod floor;
mod harness;
mod machine;
mod ours;
mod report;
mod roundtrips;
mod scale;
mod target;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::harness::Timing;

/// One operation the harness times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// (a) `get` of a present key.
    Get,
    /// (a) `put(Upsert)`.
    Upsert,
    /// (a) `put(Create)` of a new key.
    Create,
    /// (a) `put(UpdateIf)` with the version last written.
    UpdateIf,
    /// (b) one call of a session lifecycle.
    Lifecycle,
    /// (c) one `get_fresh`.
    Refresh,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 6] = [
        Workload::Get,
        Workload::Upsert,
        Workload::Create,
        Workload::UpdateIf,
        Workload::Lifecycle,
        Workload::Refresh,
    ];

    /// The name tables use.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Upsert => "put(Upsert)",
            Workload::Create => "put(Create)",
            Workload::UpdateIf => "put(UpdateIf)",
            Workload::Lifecycle => "session lifecycle",
            Workload::Refresh => "token refresh",
        }
    }
}

/// Benchmarks every backend's store beside its raw driver and the
/// tower-sessions stores, in the same run, on the same servers.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Backends to run, comma-separated (default: every backend of the
    /// registry, `crates/store/backends.txt`).
    #[arg(long, value_delimiter = ',')]
    backends: Vec<String>,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    tasks: Vec<usize>,
    /// Workloads, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Workload::ALL)]
    workloads: Vec<Workload>,
    /// Passes over the whole matrix, one after the other: every cell is
    /// measured once per pass, minutes apart, and a ratio is the median of
    /// its passes' ratios, so that a stretch of minutes in which the
    /// machine runs slow for one contender decides nothing alone.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Rounds per cell in each pass: each contender runs once per round, in
    /// an order that changes from round to round so that each contender goes
    /// first, and follows each other one, equally often (8 by default; in
    /// the scale mode, the timed turns of each operation per level and size,
    /// 6 by default).
    /// Many short turns rather than a few long ones: on a machine whose
    /// speed changes from one fraction of a second to the next, the
    /// contenders then meet the same conditions.
    #[arg(long)]
    rounds: Option<usize>,
    /// The most rounds of a cell in one pass while its goal is undecided
    /// after --rounds (its ratio within two standard errors of the goal's
    /// threshold, the error taken from the ratios of the same rounds'
    /// turns): the contenders the goal compares run more rounds until it
    /// is decided or this many have run (6 × --rounds by default).
    #[arg(long)]
    max_rounds: Option<usize>,
    /// Length of one contender's turn in a round.
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    round: Duration,
    /// A few milliseconds per cell: checks that everything runs, measures
    /// nothing worth reading.
    #[arg(long)]
    quick: bool,
    /// Print the results as JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Also write the performance document here, with an SVG chart per
    /// workload in `perf/` next to it.
    #[arg(long)]
    doc: Option<PathBuf>,
    /// Skip counting round trips.
    #[arg(long)]
    no_round_trips: bool,
    /// A control run (an A/A test), to see how far this machine lets a
    /// ratio stray from the truth: each backend's raw floor is replaced by
    /// a second store of ours and its peer by our tower-sessions adapter on
    /// a third, so that "× floor" compares our store, and "× peer" our
    /// adapter, with an identical copy of itself (true ratio 1). Counts no
    /// round trips; writes no document.
    #[arg(long, conflicts_with_all = ["doc", "scale"])]
    control: bool,
    /// The scale mode instead of the workloads: each backend holding N live
    /// sessions (default 1,000,000) against holding --scale-base; `get`
    /// and `put` latency, bytes per session, load, copy and purge rates.
    /// With --doc, rewrites only the document's scale section.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1000000", value_parser = parse_count)]
    scale: Option<u64>,
    /// Scale mode: the backends, comma-separated (default: memory, redis,
    /// postgres, sqlite_file, mongodb; mysql on request).
    #[arg(long, value_delimiter = ',', requires = "scale")]
    scale_backends: Vec<String>,
    /// Scale mode: the size N is compared with.
    #[arg(long, value_name = "N", default_value_t = scale::DEFAULT_BASE, value_parser = parse_count)]
    scale_base: u64,
    /// Scale mode: concurrent tasks loading the sessions.
    #[arg(long, value_name = "TASKS", default_value_t = 64)]
    scale_load_tasks: usize,
    /// Scale mode: the concurrency levels at which `get` and `put` are
    /// timed, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    scale_tasks: Vec<usize>,
    /// Scale mode: one timed turn (--rounds of each operation per level
    /// and size).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    scale_round: Duration,
    /// Scale mode: the storectl binary for the copy (default: `storectl`
    /// next to this binary, as `cargo build --release -p storectl` puts it).
    #[arg(long, value_name = "PATH")]
    storectl: Option<PathBuf>,
    /// Scale mode: how long the purge may run; past it, the purge stops
    /// after the current `delete_expired` call and its rate is taken over
    /// what it removed.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    scale_purge_limit: Duration,
    /// Scale mode: skip the `storectl copy` phase.
    #[arg(long, requires = "scale")]
    no_copy: bool,
    /// Rewrite the scale section of the --doc document from the
    /// `perf/scale.json` next to it, measuring nothing.
    #[arg(long, requires = "doc", conflicts_with = "scale")]
    scale_render: bool,
}

/// A count such as `1000000`, `1_000_000` or `1,000,000`.
fn parse_count(s: &str) -> Result<u64, String> {
    s.replace(['_', ','], "")
        .parse()
        .map_err(|_| format!("{s:?} is not a count"))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // The tracing layer is measured as production runs it: a subscriber
    // at INFO, its DEBUG events filtered out (and nothing written).
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("store-bench: a tracing subscriber was already set");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("store-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    if let Some(n) = args.scale {
        return run_scale(&args, n).await;
    }
    if let (true, Some(path)) = (args.scale_render, &args.doc) {
        let report = scale::doc::load(path)?.with_context(|| {
            format!(
                "no scale results at {}",
                scale::doc::json_path(path).display()
            )
        })?;
        scale::doc::write(report, path)?;
        eprintln!("rewrote the scale section of {}", path.display());
        return Ok(());
    }
    anyhow::ensure!(args.passes > 0, "--passes must be at least 1");
    let passes = if args.quick { 1 } else { args.passes };
    let timing = if args.quick {
        Timing {
            rounds: 1,
            max_rounds: 1,
            round: Duration::from_millis(30),
            warmup: Duration::ZERO,
        }
    } else {
        let rounds = args.rounds.unwrap_or(8);
        anyhow::ensure!(rounds > 0, "--rounds must be at least 1");
        Timing {
            rounds,
            max_rounds: args.max_rounds.unwrap_or(6 * rounds),
            round: args.round,
            warmup: Duration::from_millis(50),
        }
    };
    anyhow::ensure!(
        !args.tasks.is_empty() && args.tasks.iter().all(|&t| (1..=1024).contains(&t)),
        "--tasks must list levels between 1 and 1024"
    );
    let wanted = if args.backends.is_empty() {
        backends::all().into_iter().map(str::to_owned).collect()
    } else {
        args.backends.clone()
    };
    let mut chosen = Vec::new();
    for name in &wanted {
        let name = backends::named(name)?;
        chosen.push((name, backends::server_url(name)?));
    }
    let tag = format!("bench_{}", std::process::id());
    let started = std::time::Instant::now();

    let turns_per_cell = |contenders: usize| (contenders * timing.rounds) as u64;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} {msg}")
            .expect("template"),
    );

    let mut passes_results = Vec::new();
    let mut servers_seen = Vec::new();
    for pass in 0..passes {
        let mut results = Vec::new();
        for (name, url) in &chosen {
            bar.set_message(format!(
                "{name}: setting up (pass {} of {passes})",
                pass + 1
            ));
            let mut backend = backends::open(name, url.as_deref(), &tag).await?;
            if args.control {
                backend = backends::control(backend, url.as_deref(), &tag).await?;
            }
            if pass == 0 {
                servers_seen.push((backend.name.to_owned(), backend.server.clone()));
            }
            let cells: u64 = args
                .workloads
                .iter()
                .map(|w| {
                    let n = backend
                        .contenders
                        .iter()
                        .filter(|c| c.target.runs(*w))
                        .count();
                    turns_per_cell(n) * args.tasks.len() as u64
                })
                .sum();
            bar.inc_length(cells);
            let outcome = async {
                for &workload in &args.workloads {
                    for &tasks in &args.tasks {
                        let progress = |msg: &str| {
                            bar.set_message(msg.to_owned());
                            if bar.length().is_some_and(|len| bar.position() >= len) {
                                bar.inc_length(1);
                            }
                            bar.inc(1);
                        };
                        let measured = harness::cell(
                            name,
                            &backend.contenders,
                            workload,
                            tasks,
                            timing,
                            &report::goals(name, workload, tasks),
                            &progress,
                        )
                        .await?;
                        results.extend(measured);
                    }
                }
                Ok::<(), anyhow::Error>(())
            }
            .await;
            let cleaned = backend.cleanup().await;
            outcome?;
            cleaned.with_context(|| format!("{name}: cleaning up"))?;
        }
        passes_results.push(results);
    }
    let results = harness::merge_passes(passes_results);

    let mut trips = Vec::new();
    if !args.no_round_trips && !args.control {
        for (name, url) in &chosen {
            if let Some(url) = url {
                bar.set_message(format!("{name}: counting round trips"));
                trips.extend(roundtrips::count(name, url, &format!("{tag}_rt")).await?);
            }
        }
    }
    bar.finish_and_clear();

    let report = report::Report {
        meta: machine::Meta::gather(
            &servers_seen,
            &args_line(),
            timing,
            passes,
            started.elapsed(),
        ),
        results,
        round_trips: trips,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if args.control {
            println!(
                "Control run: \"× floor\" is our store and \"× peer\" our adapter against an \
                 identical copy of itself (true ratio 1).\n"
            );
        }
        println!("{}", report.tables());
    }
    if let Some(path) = &args.doc {
        report.write_doc(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The scale mode: every chosen backend in turn, then the results as
/// markdown (or JSON), and with `--doc` the document's scale section.
async fn run_scale(args: &Args, n: u64) -> Result<()> {
    anyhow::ensure!(n >= 1, "--scale must be at least 1");
    anyhow::ensure!(
        (1..=n).contains(&args.scale_base),
        "--scale-base must be between 1 and --scale"
    );
    let rounds = args.rounds.unwrap_or(6);
    anyhow::ensure!(rounds > 0, "--rounds must be at least 1");
    anyhow::ensure!(
        (1..=4096).contains(&args.scale_load_tasks),
        "--scale-load-tasks must be between 1 and 4096"
    );
    anyhow::ensure!(
        !args.scale_tasks.is_empty() && args.scale_tasks.iter().all(|&t| (1..=1024).contains(&t)),
        "--scale-tasks must list levels between 1 and 1024"
    );
    let wanted: Vec<String> = if args.scale_backends.is_empty() {
        scale::DEFAULT_BACKENDS
            .iter()
            .map(|b| (*b).to_owned())
            .collect()
    } else {
        args.scale_backends.clone()
    };
    let mut chosen = Vec::new();
    for name in &wanted {
        let name = scale::subject::KNOWN
            .into_iter()
            .find(|k| k == name)
            .with_context(|| {
                format!(
                    "the scale mode does not know the backend {name:?}; choose from {}",
                    scale::subject::KNOWN.join(", ")
                )
            })?;
        chosen.push((name, backends::server_url(backends::named(name)?)?));
    }
    let storectl = if args.no_copy {
        None
    } else {
        let path = match &args.storectl {
            Some(path) => path.clone(),
            None => std::env::current_exe()?
                .parent()
                .context("no directory of this binary")?
                .join("storectl"),
        };
        anyhow::ensure!(
            path.is_file(),
            "no storectl binary at {} (build it with `cargo build --release -p storectl`, pass \
             --storectl PATH, or skip the copy with --no-copy)",
            path.display()
        );
        Some(path)
    };
    let settings = scale::Settings {
        n,
        base: args.scale_base,
        load_tasks: args.scale_load_tasks,
        tasks: args.scale_tasks.clone(),
        rounds,
        round: args.scale_round,
        storectl,
        purge_limit: args.scale_purge_limit,
    };
    let tag = format!("scale_{}", std::process::id());
    let started = std::time::Instant::now();
    let timing = Timing {
        rounds: settings.rounds,
        max_rounds: settings.rounds,
        round: settings.round,
        warmup: settings.round / 2,
    };
    let report_of = |results: &[scale::BackendScale]| {
        let servers: Vec<(String, String)> = results
            .iter()
            .map(|b| (b.backend.clone(), b.server.clone()))
            .collect();
        scale::ScaleReport {
            meta: machine::Meta::gather(&servers, &args_line(), timing, 1, started.elapsed()),
            commit: scale::commit(),
            load_tasks: settings.load_tasks,
            tasks: settings.tasks.clone(),
            backends: results.to_vec(),
        }
    };
    let mut results = Vec::new();
    let mut report = report_of(&results);
    for (name, url) in &chosen {
        results.push(scale::backend(name, url.as_deref(), &tag, &settings).await?);
        report = report_of(&results);
        // Written after every backend, so that a run stopped halfway keeps
        // what it measured.
        if let Some(path) = &args.doc {
            report = scale::doc::write(report, path)?;
            eprintln!(
                "wrote {} and its scale section, from {}",
                path.display(),
                scale::doc::json_path(path).display()
            );
        }
    }
    let failed: Vec<String> = results
        .iter()
        .filter_map(|b| b.error.as_ref().map(|e| format!("{}: {e}", b.backend)))
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", scale::doc::render(&report));
    }
    anyhow::ensure!(
        failed.is_empty(),
        "the scale run failed on {}",
        failed.join("; ")
    );
    Ok(())
}

/// The command line as run, for the report.
fn args_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "store-bench".to_owned()
    } else {
        format!("store-bench {}", args.join(" "))
    }
}
