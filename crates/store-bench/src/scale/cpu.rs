//! Where the time of a phase goes, measured from `/proc`: the CPU time of
//! the bench process, of the processes it ran (storectl), of the server
//! process and everything it forked (PostgreSQL's backends), and how busy
//! the machine's CPUs were. On a system without `/proc`, or a server that
//! does not run on this machine, the missing figures are `None`.

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Clock ticks per second of the figures in `/proc` (`getconf CLK_TCK`).
fn ticks_per_sec() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// A process's `(ppid, utime + stime, cutime + cstime)` in ticks.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): ppid is field 4, utime..cstime 14..17.
    let num = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some((
        u32::try_from(num(4)?).ok()?,
        num(14)? + num(15)?,
        num(16)? + num(17)?,
    ))
}

/// The CPU ticks of `root` and of every process under it now (the ones
/// that ended and were waited for count in `root`'s children's time). A
/// child reaped while the processes are read would be counted twice or
/// not at all, so the reading is repeated until `root`'s children's time
/// stays the same across it.
fn tree_ticks(root: u32) -> Option<u64> {
    for _ in 0..10 {
        let (_, own, waited) = stat(root)?;
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut ticks: HashMap<u32, u64> = HashMap::new();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ppid, t, _)) = stat(pid) {
                children.entry(ppid).or_default().push(pid);
                ticks.insert(pid, t);
            }
        }
        let (_, _, waited_after) = stat(root)?;
        if waited_after != waited {
            continue;
        }
        let mut total = own + waited;
        let mut stack = children.get(&root).cloned().unwrap_or_default();
        while let Some(pid) = stack.pop() {
            total += ticks.get(&pid).copied().unwrap_or(0);
            if let Some(more) = children.get(&pid) {
                stack.extend(more);
            }
        }
        return Some(total);
    }
    None
}

/// The machine's `(busy, iowait, total)` ticks over all CPUs.
fn machine_ticks() -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = *v.get(3)?;
    let iowait = *v.get(4)?;
    Some((total - idle - iowait, iowait, total))
}

/// The PID of the process listening on loopback TCP `port`, from
/// `/proc/net/tcp{,6}` and the sockets in `/proc/*/fd`.
pub fn listener_pid(port: u16) -> Option<u32> {
    let wanted = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address, rem_address, st (0A: LISTEN), …, inode (10).
            if f.len() > 9 && f[1].ends_with(&wanted) && f[3] == "0A" {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if inodes.iter().any(|i| link.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// The port of a server URL (`scheme://[user[:password]@]host[:port][/…]`),
/// or the scheme's default port.
pub fn url_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // The first host of a list.
    let host = host.split(',').next()?;
    let after_ipv6 = host.rsplit_once(']').map_or(host, |(_, p)| p);
    match after_ipv6.rsplit_once(':') {
        Some((_, port)) => port.parse().ok(),
        None => match scheme {
            "redis" => Some(6379),
            "postgres" | "postgresql" => Some(5432),
            "mongodb" => Some(27017),
            "mysql" | "mariadb" => Some(3306),
            _ => None,
        },
    }
}

/// What the CPUs did between two [`Sample`]s.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuShare {
    /// Wall-clock seconds between the samples.
    pub wall_secs: f64,
    /// Cores the bench process kept busy on average (the client, and the
    /// store itself for in-process backends).
    pub bench_cores: Option<f64>,
    /// Cores the processes the bench ran and waited for kept busy
    /// (storectl).
    pub child_cores: Option<f64>,
    /// Cores the server process and everything it forked kept busy.
    pub server_cores: Option<f64>,
    /// The share of all the machine's CPU time that was busy, 0 to 1
    /// (other work on the machine included).
    pub machine_busy: Option<f64>,
    /// The share of all CPU time spent idle waiting for the disk.
    pub machine_iowait: Option<f64>,
    /// The machine's logical CPUs.
    pub cpus: usize,
}

impl CpuShare {
    /// Cores kept busy by processes other than the bench, storectl and the
    /// server (other work on the machine), when the figures are there.
    pub fn other_cores(&self) -> Option<f64> {
        let busy = self.machine_busy? * self.cpus as f64;
        let ours = self.bench_cores.unwrap_or(0.0)
            + self.child_cores.unwrap_or(0.0)
            + self.server_cores.unwrap_or(0.0);
        Some((busy - ours).max(0.0))
    }
}

/// The CPU counters at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    at: Instant,
    own: Option<(u64, u64)>,
    server: Option<u64>,
    machine: Option<(u64, u64, u64)>,
}

impl Sample {
    /// Reads the counters now; `server` is the server's PID.
    pub fn now(server: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            own: stat(std::process::id()).map(|(_, own, waited)| (own, waited)),
            server: server.and_then(tree_ticks),
            machine: machine_ticks(),
        }
    }

    /// What happened from `self` to `later`.
    pub fn until(&self, later: &Sample) -> CpuShare {
        let wall = later.at.duration_since(self.at).as_secs_f64();
        let tps = ticks_per_sec();
        let cores = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if wall > 0.0 => Some(b.saturating_sub(a) as f64 / tps / wall),
            _ => None,
        };
        let (busy, iowait) = match (self.machine, later.machine) {
            (Some((b0, w0, t0)), Some((b1, w1, t1))) if t1 > t0 => {
                let t = (t1 - t0) as f64;
                (
                    Some(b1.saturating_sub(b0) as f64 / t),
                    Some(w1.saturating_sub(w0) as f64 / t),
                )
            }
            _ => (None, None),
        };
        CpuShare {
            wall_secs: wall,
            bench_cores: cores(self.own.map(|o| o.0), later.own.map(|o| o.0)),
            child_cores: cores(self.own.map(|o| o.1), later.own.map(|o| o.1)),
            server_cores: cores(self.server, later.server),
            machine_busy: busy,
            machine_iowait: iowait,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The resident memory of the bench process, bytes (`VmRSS`).
pub fn rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_urls() {
        assert_eq!(url_port("redis://127.0.0.1:26379/"), Some(26379));
        assert_eq!(url_port("postgres://u:p@h:25432/db"), Some(25432));
        assert_eq!(url_port("mongodb://h1:27103,h2:1/"), Some(27103));
        assert_eq!(url_port("mysql://u:p@h/db"), Some(3306));
        assert_eq!(url_port("redis://[::1]:7000"), Some(7000));
        assert_eq!(url_port("nonsense"), None);
    }

    #[test]
    fn own_cpu_is_counted() {
        let a = Sample::now(Some(std::process::id()));
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(150) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let share = a.until(&Sample::now(Some(std::process::id())));
        assert!(x > 0);
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(share.bench_cores.unwrap() > 0.0, "{share:?}");
            assert!(share.server_cores.is_some(), "{share:?}");
            assert!(rss_bytes().unwrap() > 0);
        }
    }
}
