//! The raw floors: each driver doing the work in the fewest round trips,
//! with none of the contract (no owner index, no server-side versions
//! where the driver has none, the client's clock).

mod memory;
mod mongo;
mod redis;
mod sql;

pub use self::memory::MemoryFloor;
pub use self::mongo::MongoFloor;
pub use self::redis::{RedisFloor, delete_matching};
pub use self::sql::{MySqlFloor, PostgresFloor, SqliteFloor};
