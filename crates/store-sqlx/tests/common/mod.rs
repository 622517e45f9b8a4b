//! Helpers for the tests that start a database server of their own.

use std::time::Duration;

/// Whether the tests run as root (servers then run as their own user).
pub(crate) fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs a database tool and fails the test with its output if it fails.
pub(crate) fn run(cmd: &mut std::process::Command) {
    let out = cmd.output().expect("run a database tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Another name of the server at `host:port`, one a certificate issued for
/// `host` alone does not name: an address `host` resolves to, else
/// `127.0.0.1` or `localhost` (a local daemon publishes its ports there
/// too). The first that accepts a TCP connection on `port` wins.
///
/// # Panics
/// When none does (a remote daemon known by its IP address only: give
/// `DOCKER_HOST` its name instead).
pub(crate) async fn another_name(host: &str, port: u16) -> String {
    let mut candidates: Vec<String> = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() {
        if let Ok(addrs) = tokio::net::lookup_host((host, port)).await {
            candidates.extend(addrs.map(|a| match a.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                std::net::IpAddr::V4(ip) => ip.to_string(),
            }));
        }
    }
    candidates.extend(["127.0.0.1".to_owned(), "localhost".to_owned()]);
    for candidate in candidates.into_iter().filter(|c| c != host) {
        let bare = candidate.trim_start_matches('[').trim_end_matches(']');
        let connect = tokio::net::TcpStream::connect((bare, port));
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), connect).await {
            return candidate;
        }
    }
    panic!(
        "no other name reaches {host}:{port}, so no host the certificate does not name can be \
         tried; name the Docker host by a DNS name (DOCKER_HOST=tcp://NAME:PORT)"
    );
}
