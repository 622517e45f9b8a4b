//! The Redis floor: `redis` crate calls on one multiplexed
//! `ConnectionManager`, the same kind of connection our store uses.

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::ConnectionManager;

use crate::Workload;
use crate::target::{Session, TTL, Target, floor_refresh};

/// Compare-and-set in one round trip: the value's version lives in a
/// second key of the same name plus `:v` (`0` when absent).
const CAS: &str = r"
local v = redis.call('GET', KEYS[2]) or '0'
if v ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return redis.call('INCR', KEYS[2])";

/// `GET`, `SET … PX`, `SET … NX PX`, a one-script compare-and-set,
/// `PEXPIRE` and `DEL`, each one command.
pub struct RedisFloor {
    conn: ConnectionManager,
    prefix: String,
    cas: redis::Script,
}

impl RedisFloor {
    /// A floor on `url`, writing keys under `prefix:`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let conn = redis::Client::open(url)?
            .get_connection_manager()
            .await
            .context("redis floor: connect")?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            cas: redis::Script::new(CAS),
        })
    }

    fn name(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    async fn set(&self, name: &str, value: &[u8], nx: bool) -> Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(name)
            .arg(value)
            .arg("PX")
            .arg(TTL.as_millis() as u64);
        if nx {
            cmd.arg("NX");
        }
        let reply: Option<String> = cmd.query_async(&mut self.conn.clone()).await?;
        Ok(reply.is_some())
    }
}

#[async_trait]
impl Target for RedisFloor {
    fn runs(&self, _workload: Workload) -> bool {
        true
    }

    async fn seed(&self, keys: &[String], value: &Bytes) -> Result<Vec<u64>> {
        let mut pipe = redis::pipe();
        for k in keys {
            let name = self.name(k);
            pipe.cmd("SET")
                .arg(&name)
                .arg(&value[..])
                .arg("PX")
                .arg(TTL.as_millis() as u64)
                .ignore();
            pipe.cmd("DEL").arg(format!("{name}:v")).ignore();
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(vec![0; keys.len()])
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.name(key))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(v.map(Bytes::from))
    }

    async fn upsert(&self, key: &str, value: &Bytes) -> Result<()> {
        self.set(&self.name(key), value, false).await?;
        Ok(())
    }

    async fn create(&self, key: &str, value: &Bytes) -> Result<()> {
        if !self.set(&self.name(key), value, true).await? {
            bail!("create: the key exists");
        }
        Ok(())
    }

    async fn update_if(&self, key: &str, value: &Bytes, version: u64) -> Result<u64> {
        let name = self.name(key);
        let new: i64 = self
            .cas
            .key(&name)
            .key(format!("{name}:v"))
            .arg(version)
            .arg(&value[..])
            .arg(TTL.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        u64::try_from(new).map_err(|_| anyhow!("update_if: version mismatch"))
    }

    async fn session_create(&self, n: u64, data: &Bytes) -> Result<Session> {
        let _ = n;
        let name = self.name(&format!("s:{:032x}", rand::random::<u128>()));
        if !self.set(&name, data, true).await? {
            bail!("create: the session exists");
        }
        Ok(Box::new(name))
    }

    async fn session_load(&self, session: &mut Session) -> Result<()> {
        let name = session.downcast_ref::<String>().context("not a key")?;
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(name)
            .query_async(&mut self.conn.clone())
            .await?;
        v.context("a live session is missing")?;
        Ok(())
    }

    async fn session_touch(&self, session: &mut Session) -> Result<()> {
        let name = session.downcast_ref::<String>().context("not a key")?;
        let set: bool = redis::cmd("PEXPIRE")
            .arg(name)
            .arg(TTL.as_millis() as u64)
            .query_async(&mut self.conn.clone())
            .await?;
        if !set {
            bail!("a live session is missing");
        }
        Ok(())
    }

    async fn session_delete(&self, session: Session) -> Result<()> {
        let name = session
            .downcast::<String>()
            .map_err(|_| anyhow!("not a key"))?;
        let n: u64 = redis::cmd("DEL")
            .arg(name.as_str())
            .query_async(&mut self.conn.clone())
            .await?;
        if n != 1 {
            bail!("a live session was not deleted");
        }
        Ok(())
    }

    async fn refresh(&self, user: usize) -> Result<bool> {
        floor_refresh(self, &format!("tok:u{user}")).await
    }

    async fn cleanup(&self) -> Result<()> {
        delete_matching(&self.conn, &format!("{}:*", self.prefix)).await
    }
}

/// Deletes every key matching `pattern` (SCAN + UNLINK).
pub async fn delete_matching(conn: &ConnectionManager, pattern: &str) -> Result<()> {
    let mut conn = conn.clone();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let _: u64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
