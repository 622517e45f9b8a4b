//! The linearizability checker on each server backend behind a
//! [`FaultProxy`] that cuts every connection every 30 to 120 ms: calls cut
//! short have an unknown outcome, and every history must still be
//! linearizable (nothing applied twice, nothing half-applied, no stale read
//! after a reconnect).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use store_conformance::linearizability::{HistoryConfig, budget_from_env, run};
use store_conformance::proxy::Fault;
use store_core::{Clock, Store, SystemClock};

use crate::faults::{Backend, Server};

/// Six tasks over three store objects, each with its own connections
/// through the proxy, while the proxy adds 1 ms of latency and cuts every
/// connection every 30 to 120 ms.
pub(crate) async fn under_cuts(backend: Backend) {
    let Some(server) = Server::provision(backend).await else {
        return;
    };
    let (proxy, first) = server.proxied().await;
    let through = proxy.url(server.url());
    let mut stores: Vec<Arc<dyn Store>> = vec![first];
    for _ in 0..2 {
        stores.push(server.open_at(&through).await);
    }
    proxy.set(Fault::Latency(Duration::from_millis(1)));
    let connections_before = proxy.accepted();
    // At least 3 s of cuts, longer with STORE_LINEARIZABILITY_SECS.
    let budget = budget_from_env().max(Duration::from_secs(3));
    let config = HistoryConfig::new(6, 30, 3);
    let checking = run(&stores, &config, SystemClock.now(), budget, "cut");
    let cutter = async {
        let started = Instant::now();
        let mut cuts = 0u32;
        while started.elapsed() < budget {
            let pause = rand::rng().random_range(30..120);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            proxy.cut();
            cuts += 1;
        }
        cuts
    };
    let (summary, cuts) = tokio::join!(checking, cutter);
    proxy.set(Fault::Pass);
    let reconnects = proxy.accepted() - connections_before;
    println!("{backend:?}: {cuts} cuts, {reconnects} new connections; {summary}");
    assert!(cuts >= 20, "only {cuts} cuts");
    // Each cut the calls felt made the stores connect again (a call cut
    // short may still succeed: the MongoDB driver retries a write once).
    assert!(
        reconnects >= 10,
        "only {reconnects} new connections: the cuts did not reach the calls"
    );
    assert!(
        summary.operations > summary.unknown,
        "no call went through between the cuts"
    );
}
