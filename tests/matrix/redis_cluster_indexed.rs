//! `RedisStore` on a 3-master Redis Cluster with the scan index on
//! (`RedisConfig::scan_index`): 16 hash-slot buckets, each with its own
//! index sets in its slot. The backend is the `redis_cluster` row's, with
//! that config.

use store_redis::RedisConfig;

use crate::redis_cluster::RedisClusterBackend;

fn provision() -> impl Future<Output = Option<RedisClusterBackend>> {
    RedisClusterBackend::provision_with(RedisConfig::default().scan_index(true))
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
