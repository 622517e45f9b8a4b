//! Counts the round trips each operation makes, through a counting TCP
//! proxy between the contender and the server (the conformance suite's
//! `FaultProxy`): every burst of client bytes after a server reply is one
//! round trip.

use anyhow::{Context, Result};
use serde::Serialize;
use store_conformance::proxy::FaultProxy;

use crate::Workload;
use crate::backends;
use crate::harness::{self, LIFECYCLE_OPS};
use crate::target::Role;

/// Operations per count; the least of [`REPEATS`] counts is kept, so that
/// a driver's background traffic (MongoDB's heartbeats) cannot inflate it.
const OPS: u64 = 20;
const REPEATS: usize = 3;

/// Round trips per operation of one contender.
#[derive(Clone, Debug, Serialize)]
pub struct Counted {
    /// `redis`, `postgres` or `mongodb`.
    pub backend: String,
    /// The contender's label.
    pub contender: String,
    /// Ours, floor or peer.
    pub role: Role,
    /// What was counted: a workload (a) operation, `session lifecycle`
    /// (per whole lifecycle of 42 calls), `get_fresh, token fresh` or
    /// `get_fresh, refreshing`.
    pub operation: String,
    /// Round trips per operation.
    pub round_trips: f64,
}

/// Lets the round trips a call leaves behind land before a count is read:
/// sqlx pings a connection after the call that used it has returned.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

/// `host:port` of a server URL (after any `user:password@`).
fn authority(url: &str) -> Result<String> {
    let rest = url.split_once("://").context("not a URL")?.1;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    Ok(host.to_owned())
}

/// Counts, for `backend` on `url`, every contender's round trips per
/// operation. Writes under `tag` and removes it after.
pub async fn count(backend: &'static str, url: &str, tag: &str) -> Result<Vec<Counted>> {
    let proxy = FaultProxy::start(authority(url)?).await?;
    let mut through = proxy.url(url);
    if backend == "mongodb" {
        // Talk to the proxy itself, not to the address the server reports.
        through.push(if through.contains('?') { '&' } else { '?' });
        through.push_str("directConnection=true");
    }
    let setup = backends::open(backend, Some(&through), tag).await?;
    let mut out = Vec::new();
    for c in setup.contenders.iter().filter(|c| c.role != Role::Layer) {
        let mut record = |operation: &str, trips: f64| {
            out.push(Counted {
                backend: backend.to_owned(),
                contender: c.label.clone(),
                role: c.role,
                operation: operation.to_owned(),
                round_trips: trips,
            });
        };
        for workload in [
            Workload::Get,
            Workload::Upsert,
            Workload::Create,
            Workload::UpdateIf,
            Workload::Lifecycle,
        ] {
            if !c.target.runs(workload) {
                continue;
            }
            let per = if workload == Workload::Lifecycle {
                LIFECYCLE_OPS
            } else {
                1
            };
            // Warm up: connections opened, statements prepared.
            harness::steps(c, workload, 2 * per).await?;
            let mut least = f64::MAX;
            for _ in 0..REPEATS {
                settle().await;
                let before = proxy.round_trips();
                harness::steps(c, workload, OPS * per).await?;
                settle().await;
                let made = proxy.round_trips() - before;
                least = least.min(made as f64 / OPS as f64);
            }
            record(workload.name(), least);
        }
        if c.target.runs(Workload::Refresh) {
            let (mut fresh, mut refreshing) = (f64::MAX, f64::MAX);
            for user in 0..REPEATS {
                // A user of its own, never refreshed before: the first call
                // refreshes, the second finds the token fresh.
                let user = 1_000_000 + user;
                settle().await;
                let before = proxy.round_trips();
                let ran = c.target.refresh(user).await?;
                settle().await;
                let middle = proxy.round_trips();
                let again = c.target.refresh(user).await?;
                settle().await;
                let after = proxy.round_trips();
                anyhow::ensure!(
                    ran && !again,
                    "{}: the token refresh ran {ran}, {again}",
                    c.label
                );
                refreshing = refreshing.min((middle - before) as f64);
                fresh = fresh.min((after - middle) as f64);
            }
            record("get_fresh, token fresh", fresh);
            record("get_fresh, refreshing", refreshing);
        }
    }
    setup.cleanup().await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn authority_drops_credentials_and_path() {
        assert_eq!(
            authority("postgres://u:p@127.0.0.1:5432/db?x=1").unwrap(),
            "127.0.0.1:5432"
        );
        assert_eq!(
            authority("redis://127.0.0.1:6379/").unwrap(),
            "127.0.0.1:6379"
        );
        assert_eq!(
            authority("mongodb://localhost:27017").unwrap(),
            "localhost:27017"
        );
        assert!(authority("nonsense").is_err());
    }
}
