//! What a reader needs to compare a run with theirs: the machine, the
//! versions of everything measured, the command.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::harness::Timing;

/// The crates whose versions the report lists, as `Cargo.lock` resolves
/// them.
const CRATES: [&str; 10] = [
    "redis",
    "sqlx",
    "mongodb",
    "fred",
    "tower-sessions-core",
    "tower-sessions-memory-store",
    "tower-sessions-redis-store",
    "tower-sessions-sqlx-store",
    "tokio",
    "libsqlite3-sys",
];

/// The machine, the versions and the command of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    /// When the run ended (UTC, RFC 3339).
    pub date: String,
    /// The command line.
    pub command: String,
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs the run could use.
    pub cpus: usize,
    /// Total memory.
    pub memory: String,
    /// Operating system and kernel.
    pub os: String,
    /// `rustc --version`.
    pub rustc: String,
    /// Each backend's server and version.
    pub servers: Vec<(String, String)>,
    /// Each measured crate and its version(s).
    pub crates: Vec<(String, String)>,
    /// Passes over the whole matrix; a ratio is the median of its passes'.
    #[serde(default = "one")]
    pub passes: usize,
    /// Rounds per cell in each pass.
    pub rounds: usize,
    /// The most rounds of a cell whose goal is undecided.
    #[serde(default)]
    pub max_rounds: usize,
    /// One turn, milliseconds.
    pub round_ms: u128,
    /// The run's wall-clock time, seconds.
    pub took_secs: f64,
}

fn one() -> usize {
    1
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_owned()
}

fn command(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| first_line(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

fn memory() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let kb: u64 = info
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn os() -> String {
    let name = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|r| {
            r.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    format!("{name}, kernel {}", command("uname", &["-r"]))
}

/// `name` → every version of it in the workspace's `Cargo.lock`.
fn locked_versions() -> Vec<(String, String)> {
    let lock = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock");
    let Ok(text) = std::fs::read_to_string(lock) else {
        return Vec::new();
    };
    let mut found: Vec<(String, Vec<String>)> =
        CRATES.iter().map(|c| (c.to_string(), Vec::new())).collect();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            if let Some((_, versions)) = found.iter_mut().find(|(c, _)| *c == n) {
                versions.push(v.trim_matches('"').to_owned());
            }
        }
    }
    found
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(c, v)| (c, v.join(" and ")))
        .collect()
}

impl Meta {
    /// Reads the machine and the versions.
    pub fn gather(
        servers: &[(String, String)],
        command_line: &str,
        timing: Timing,
        passes: usize,
        took: Duration,
    ) -> Self {
        Self {
            date: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            command: command_line.to_owned(),
            cpu: cpu_model(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory: memory(),
            os: os(),
            rustc: command("rustc", &["--version"]),
            servers: servers.to_vec(),
            crates: locked_versions(),
            passes,
            rounds: timing.rounds,
            max_rounds: timing.max_rounds,
            round_ms: timing.round.as_millis(),
            took_secs: took.as_secs_f64(),
        }
    }
}
