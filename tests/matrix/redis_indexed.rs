//! `RedisStore` on one Redis server with the scan index on
//! (`RedisConfig::scan_index`): every write also keeps the namespace's
//! index, and scans read it instead of walking the database. The backend
//! is the `redis` row's, with that config.

use store_redis::RedisConfig;

use crate::redis::RedisBackend;

fn provision() -> impl Future<Output = Option<RedisBackend>> {
    RedisBackend::provision_with(RedisConfig::default().scan_index(true))
}

store_conformance::conformance_tests!(provision());
store_session::session_tests!(provision());
