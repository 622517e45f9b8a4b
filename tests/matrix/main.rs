//! The workspace matrix: every backend × the whole conformance suite, and
//! × the session and token behaviours of `store-session`. One module per
//! backend, so test names read `memory::…`.

mod encrypted_memory;
mod encrypted_redis;
mod layers;
mod memory;
mod memory_real_clock;
mod mongodb;
mod mysql;
mod postgres;
mod redis;
mod redis_cluster;
mod redis_cluster_indexed;
mod redis_indexed;
mod redis_sentinel;
mod sql;
mod sqlite_file;
mod sqlite_memory;
mod template;
