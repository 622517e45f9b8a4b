//! Random concurrent histories checked for linearizability.

use super::*;

/// Six tasks over three store objects (each with connections of its own
/// where the backend has them) make random calls on three keys: every
/// `PutMode`, `get`, `delete` with and without a version, `touch`, with
/// and without owners and expiries. Every history recorded within the time
/// budget ([`linearizability::budget_from_env`](crate::linearizability::budget_from_env))
/// is linearizable against the contract's sequential model.
pub async fn linearizable_under_concurrency(fx: Fixture) {
    use crate::linearizability::{HistoryConfig, budget_from_env, run};
    let stores = vec![fx.store().clone(), fx.connect().await, fx.connect().await];
    let config = HistoryConfig::new(6, 30, 3);
    let summary = run(&stores, &config, fx.now(), budget_from_env(), "lin").await;
    // The test's thread carries its name (`redis::linearizable_…`).
    let row = std::thread::current().name().map_or_else(
        || fx.store().capabilities().backend.to_owned(),
        str::to_owned,
    );
    println!("{row}: {summary}");
}

/// This group's behaviours, in the order they run: the one list from which
/// [`conformance_tests!`](crate::conformance_tests), the re-exports of
/// [`behaviours`](crate::behaviours) and [`GROUPS`](crate::GROUPS) are built.
#[doc(hidden)]
#[macro_export]
macro_rules! __behaviours_linearizable {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            linearizable_under_concurrency,
        }
    };
}
