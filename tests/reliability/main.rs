//! Reliability of every backend under faults and load: the server backends
//! through a fault-injecting proxy (stall, cut, refuse, latency), every
//! backend in a bounded soak. One module per backend of the registry
//! (`crates/store/backends.txt`), so test names read `redis::…`.
//!
//! `STORE_SOAK_SECS` sets the soak's length (default 5 s; `just soak` runs
//! 120 s).

mod faults;
mod linearizability;
mod round_trips;
mod soak;

/// One module per backend of the registry: the fault and round-trip tests
/// where the backend talks to a server (through a proxy), the soak on every
/// backend.
macro_rules! reliability_tests {
    ($($name:ident { test_url: $url:literal, servers: [$($server:literal),*] };)*) => {
        $(reliability_tests!(@backend $name [$($server),*]);)*
    };
    (@backend $name:ident []) => {
        mod $name {
            use crate::{faults, soak};

            fn backend() -> faults::Backend {
                faults::Backend::named(stringify!($name))
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn soak_keeps_every_acknowledged_session() {
                soak::run(backend()).await;
            }
        }
    };
    (@backend $name:ident [$($server:literal),+]) => {
        mod $name {
            use crate::{faults, linearizability, round_trips, soak};

            fn backend() -> faults::Backend {
                faults::Backend::named(stringify!($name))
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn one_round_trip_per_single_key_operation() {
                round_trips::single_key_operations(backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn stalled_server_fails_every_operation_within_the_timeout() {
                faults::stalled_server(backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn cut_connections_lose_no_acknowledged_write() {
                faults::cut_connections(backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn refused_connections_write_nothing() {
                faults::refused_connections(backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn soak_keeps_every_acknowledged_session() {
                soak::run(backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn linearizable_while_connections_are_cut() {
                linearizability::under_cuts(backend()).await;
            }
        }
    };
}

store::for_each_backend!(reliability_tests);
