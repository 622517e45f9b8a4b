//! Reliability of the server backends under faults and load: through a
//! fault-injecting proxy (stall, cut, refuse, latency) and in a bounded
//! soak. One module per backend, so test names read `redis::…`.
//!
//! `STORE_SOAK_SECS` sets the soak's length (default 5 s; `just soak` runs
//! 120 s).

mod faults;
mod linearizability;
mod round_trips;
mod soak;

mod redis {
    use crate::{faults, linearizability, round_trips, soak};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_round_trip_per_single_key_operation() {
        round_trips::single_key_operations(faults::Backend::Redis).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn stalled_server_fails_every_operation_within_the_timeout() {
        faults::stalled_server(faults::Backend::Redis).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cut_connections_lose_no_acknowledged_write() {
        faults::cut_connections(faults::Backend::Redis).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn refused_connections_write_nothing() {
        faults::refused_connections(faults::Backend::Redis).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn soak_keeps_every_acknowledged_session() {
        soak::run(faults::Backend::Redis).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn linearizable_while_connections_are_cut() {
        linearizability::under_cuts(faults::Backend::Redis).await;
    }
}

mod postgres {
    use crate::{faults, linearizability, round_trips, soak};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_round_trip_per_single_key_operation() {
        round_trips::single_key_operations(faults::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn stalled_server_fails_every_operation_within_the_timeout() {
        faults::stalled_server(faults::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cut_connections_lose_no_acknowledged_write() {
        faults::cut_connections(faults::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn refused_connections_write_nothing() {
        faults::refused_connections(faults::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn soak_keeps_every_acknowledged_session() {
        soak::run(faults::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn linearizable_while_connections_are_cut() {
        linearizability::under_cuts(faults::Backend::Postgres).await;
    }
}

mod mongodb {
    use crate::{faults, linearizability, round_trips, soak};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_round_trip_per_single_key_operation() {
        round_trips::single_key_operations(faults::Backend::MongoDb).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn stalled_server_fails_every_operation_within_the_timeout() {
        faults::stalled_server(faults::Backend::MongoDb).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cut_connections_lose_no_acknowledged_write() {
        faults::cut_connections(faults::Backend::MongoDb).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn refused_connections_write_nothing() {
        faults::refused_connections(faults::Backend::MongoDb).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn soak_keeps_every_acknowledged_session() {
        soak::run(faults::Backend::MongoDb).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn linearizable_while_connections_are_cut() {
        linearizability::under_cuts(faults::Backend::MongoDb).await;
    }
}

mod sqlite_file {
    use crate::{faults, soak};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn soak_keeps_every_acknowledged_session() {
        soak::run(faults::Backend::SqliteFile).await;
    }
}
