//! The database side of each operation: the data layout (bucket key
//! names), the Lua scripts that make each write one atomic step on the
//! server, running them, and reading their replies.
//!
//! Data layout under a bucket base `<namespace>:{<bucket>}:` (the braces are a
//! Redis Cluster hash tag, so everything of one bucket lives in one slot):
//!
//! - `<base>e:<key>`: a string: a 40-byte ASCII header, the owner, the
//!   value. Header: `s1`, the version (20 digits), the expiry in Unix ms (15
//!   digits, or 15 `-` for none), the owner's length (3 digits). The key's
//!   native expiry is `PEXPIREAT expiry - 1`, so Redis treats it as gone at
//!   `expiry` (Redis keeps a key until now > its expiry). A read is one
//!   `GET`; `touch` rewrites the 15 expiry bytes in place (`SETRANGE`).
//! - `<base>o:<owner>`: a set of the keys of that owner in this bucket; it
//!   expires with its last member, and has no expiry while it holds an
//!   entry without one.
//! - `<base>n`: the bucket's version counter, started at the server's time
//!   in microseconds so that versions are not reused even after the counter
//!   is lost.
//!
//! Scripts reply with an array whose first element is a status word. The
//! server's `TIME` decides expiry (one clock for every client).

use std::sync::{Arc, LazyLock};

use futures::future::try_join_all;
use redis::{ErrorKind as RedisKind, ServerErrorKind, Value};
use store_core::{Error, Expiry, Key, Operation, Owner, Result, Version, validate};

use crate::BACKEND;
use crate::codec::{FOREIGN_STRING, FOREIGN_TYPE};
use crate::connect::RedisStore;
use crate::error::{bad_reply, classify, foreign};

/// A script's source and its SHA-1 (for `EVALSHA`).
pub(crate) struct Lua {
    pub(crate) source: &'static str,
    pub(crate) hash: String,
}

impl Lua {
    fn new(source: &'static str) -> Self {
        let hash = redis::Script::new(source).get_hash().to_owned();
        Self { source, hash }
    }
}

/// Shared Lua prelude: reading an entry's header (`head`: state, version,
/// owner, expiry), extending an owner set so that it lives at least as long
/// as its members (`index`), and giving a set that no longer holds an entry
/// without expiry the expiry of its last member (`settle`; it also drops
/// stale members on the way).
macro_rules! prelude {
    () => {
        r#"
local function head(key)
  local h = redis.pcall('GETRANGE', key, 0, 295)
  if type(h) == 'table' then return 'type' end
  if h == '' then return 'none' end
  if #h < 40 or string.sub(h, 1, 2) ~= 's1' then return 'foreign' end
  local olen = tonumber(string.sub(h, 38, 40))
  if not olen or #h < 40 + olen then return 'foreign' end
  local owner = false
  if olen > 0 then owner = string.sub(h, 41, 40 + olen) end
  return 'ok', string.sub(h, 3, 22), owner, tonumber(string.sub(h, 23, 37))
end
local function index(set, member, exp)
  local fresh = redis.call('EXISTS', set) == 0
  redis.call('SADD', set, member)
  if exp == '' then
    redis.call('PERSIST', set)
  elseif fresh then
    redis.call('PEXPIREAT', set, exp)
  else
    redis.call('PEXPIREAT', set, exp, 'GT')
  end
end
local function settle(set, owner, entries)
  if redis.call('PTTL', set) ~= -1 then return end
  local last = 0
  for _, m in ipairs(redis.call('SMEMBERS', set)) do
    local state, ver, o, exp = head(entries .. m)
    if state ~= 'ok' or o ~= owner then
      redis.call('SREM', set, m)
    elseif not exp then
      return
    elseif exp > last then
      last = exp
    end
  end
  if last > 0 then redis.call('PEXPIREAT', set, string.format('%.0f', last)) end
end
"#
    };
}

/// `put` in every mode.
///
/// KEYS: entry, counter. ARGV: mode (`U`, `C`, `P` = update, `I` =
/// update-if), value, expiry (decimal) or `''`, owner or `''`, expected
/// version (20 digits) or `''`, owner-set prefix, member, and the header
/// after the version (expiry field, owner length, owner).
pub(crate) static PUT: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = ARGV[3]
if exp ~= '' and tonumber(exp) <= now then
  return {'past', string.format('%.0f', now)}
end
local state, ver, old_owner = head(KEYS[1])
if state == 'type' or state == 'foreign' then return {state} end
local mode = ARGV[1]
if mode == 'C' then
  if state == 'ok' then return {'exists'} end
elseif mode ~= 'U' then
  if state ~= 'ok' then return {'missing'} end
  if mode == 'I' and ver ~= ARGV[5] then return {'mismatch'} end
end
local n = redis.call('INCR', KEYS[2])
if n == 1 then
  n = redis.call('INCRBY', KEYS[2], string.format('%.0f', now * 1000))
end
local nv = string.format('%020.0f', n)
local owner = ARGV[4]
local blob = 's1' .. nv .. ARGV[8] .. ARGV[2]
if exp == '' then
  redis.call('SET', KEYS[1], blob)
else
  redis.call('SET', KEYS[1], blob, 'PXAT', string.format('%.0f', tonumber(exp) - 1))
end
local entries = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[7])
if old_owner and old_owner ~= owner then
  redis.call('SREM', ARGV[6] .. old_owner, ARGV[7])
  settle(ARGV[6] .. old_owner, old_owner, entries)
end
if owner ~= '' then
  index(ARGV[6] .. owner, ARGV[7], exp)
  if exp ~= '' then settle(ARGV[6] .. owner, owner, entries) end
end
return {'ok', nv}
"#
    ))
});

/// `touch`: a new expiry, same value and version.
///
/// KEYS: entry. ARGV: expiry (decimal), owner-set prefix, member, expiry
/// as its 15-digit header field.
pub(crate) static TOUCH: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = ARGV[1]
if tonumber(exp) <= now then
  return {'past', string.format('%.0f', now)}
end
local state, ver, owner = head(KEYS[1])
if state == 'none' then return {'missing'} end
if state ~= 'ok' then return {state} end
local pxat = string.format('%.0f', tonumber(exp) - 1)
if tonumber(exp) - 1 <= now then
  -- PEXPIREAT at or before now deletes at once, while SET ... PXAT now
  -- keeps the key for the current millisecond, as the contract wants.
  local whole = redis.call('GET', KEYS[1])
  redis.call('SET', KEYS[1], string.sub(whole, 1, 22) .. ARGV[4] .. string.sub(whole, 38), 'PXAT', pxat)
else
  redis.call('SETRANGE', KEYS[1], 22, ARGV[4])
  redis.call('PEXPIREAT', KEYS[1], pxat)
end
if owner then
  index(ARGV[2] .. owner, ARGV[3], exp)
  settle(ARGV[2] .. owner, owner, string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[3]))
end
return {'ok', ver}
"#
    ))
});

/// `delete`, optionally conditional on a version.
///
/// KEYS: entry. ARGV: expected version (20 digits) or `''`, owner-set
/// prefix, member.
pub(crate) static DELETE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local state, ver, owner = head(KEYS[1])
if state == 'none' then return {'missing'} end
if state ~= 'ok' then return {state} end
if ARGV[1] ~= '' and ver ~= ARGV[1] then return {'mismatch'} end
redis.call('DEL', KEYS[1])
if owner then
  redis.call('SREM', ARGV[2] .. owner, ARGV[3])
  settle(ARGV[2] .. owner, owner, string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[3]))
end
return {'ok'}
"#
    ))
});

/// `list_by_owner` in one bucket: the live entries of the owner, as flat
/// pairs (key, stored string). Members whose entry is
/// gone, expired or re-owned are removed from the set.
///
/// KEYS: owner set. ARGV: entry-key prefix, owner.
pub(crate) static LIST_OWNER: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. m
  local state, ver, owner = head(k)
  if state == 'ok' and owner == ARGV[2] then
    out[#out + 1] = m
    out[#out + 1] = redis.call('GET', k)
  else
    redis.call('SREM', KEYS[1], m)
  end
end
return out
"#
    ))
});

/// `delete_by_owner` in one bucket: deletes the live entries of the owner
/// and the set; returns how many entries were deleted.
///
/// KEYS: owner set. ARGV: entry-key prefix, owner.
pub(crate) static DELETE_OWNER: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. m
  local state, ver, owner = head(k)
  if state == 'ok' and owner == ARGV[2] then
    redis.call('DEL', k)
    n = n + 1
  end
end
redis.call('DEL', KEYS[1])
return n
"#
    ))
});

/// The Redis key names of one bucket (one hash slot).
pub(crate) struct Bucket {
    /// `<namespace>:{<bucket>}:e:`, followed by the key.
    pub(crate) entries: Box<str>,
    /// `<namespace>:{<bucket>}:o:`, followed by the owner.
    pub(crate) owners: Box<str>,
    /// `<namespace>:{<bucket>}:n`, the version counter.
    pub(crate) counter: Box<str>,
}

/// The key names of `buckets` buckets under `namespace`.
pub(crate) fn bases(namespace: &str, buckets: u16) -> Arc<[Bucket]> {
    (0..buckets)
        .map(|b| Bucket {
            entries: format!("{namespace}:{{{b}}}:e:").into(),
            owners: format!("{namespace}:{{{b}}}:o:").into(),
            counter: format!("{namespace}:{{{b}}}:n").into(),
        })
        .collect()
}

/// The Redis key of `key`'s entry in `bucket`.
pub(crate) fn entry_key(bucket: &Bucket, key: &Key) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.entries.len() + key.as_str().len());
    k.extend_from_slice(bucket.entries.as_bytes());
    k.extend_from_slice(key.as_str().as_bytes());
    k
}

/// FNV-1a: a stable hash (part of the data layout) choosing a key's bucket.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl RedisStore {
    /// The bucket that holds `key`.
    pub(crate) fn base_of(&self, key: &Key) -> &Bucket {
        &self.bases[self.bucket_of(key)]
    }

    /// The index of the bucket that holds `key`.
    pub(crate) fn bucket_of(&self, key: &Key) -> usize {
        let n = self.bases.len();
        if n == 1 {
            0
        } else {
            (fnv1a(key.as_str().as_bytes()) % n as u64) as usize
        }
    }

    /// Runs an owner script on the owner's set of every bucket, concurrently.
    pub(crate) async fn on_owner_sets(
        &self,
        lua: &Lua,
        owner: &Owner,
        op: Operation,
    ) -> Result<Vec<Value>> {
        let calls = self.bases.iter().map(|base| async move {
            let set = format!("{}{}", base.owners, owner.as_str());
            let args: [&[u8]; 2] = [base.entries.as_bytes(), owner.as_str().as_bytes()];
            self.eval(lua, &[set.as_bytes()], &args, op).await
        });
        try_join_all(calls).await
    }

    /// Runs `lua` by its hash, sending its source when the server does not
    /// know it.
    pub(crate) async fn eval(
        &self,
        lua: &Lua,
        keys: &[&[u8]],
        args: &[&[u8]],
        op: Operation,
    ) -> Result<Value> {
        let conn = self.conn.clone();
        let build = |verb: &str, script: &[u8]| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(script).arg(keys.len());
            for k in keys {
                cmd.arg(*k);
            }
            for a in args {
                cmd.arg(*a);
            }
            cmd
        };
        let writes = matches!(
            op,
            Operation::Put | Operation::Delete | Operation::Touch | Operation::DeleteByOwner
        );
        let acks = self.config.replica_acks.filter(|_| writes);
        // With `wait_for_replicas`, the script and a `WAIT` go in one
        // pipeline (on a cluster, to the script's node).
        let send = |cmd: redis::Cmd| {
            let mut conn = conn.clone();
            async move {
                match acks {
                    None => cmd.query_async::<Value>(&mut conn).await.map(|v| (v, None)),
                    Some((replicas, timeout)) => {
                        let mut wait = redis::cmd("WAIT");
                        wait.arg(replicas)
                            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
                        let (value, acked): (Value, u32) = redis::pipe()
                            .add_command(cmd)
                            .add_command(wait)
                            .query_async(&mut conn)
                            .await?;
                        Ok((value, Some(acked)))
                    }
                }
            }
        };
        let first = send(build("EVALSHA", lua.hash.as_bytes())).await;
        let (value, acked) = match first {
            // A restarted or flushed server forgot the script: send it whole
            // (EVAL also caches it again).
            Err(e) if e.kind() == RedisKind::Server(ServerErrorKind::NoScript) => {
                send(build("EVAL", lua.source.as_bytes()))
                    .await
                    .map_err(|e| classify(e, op))?
            }
            other => other.map_err(|e| classify(e, op))?,
        };
        if let (Some(acked), Some((replicas, timeout))) = (acked, acks) {
            if acked < replicas {
                return Err(Error::new(
                    store_core::ErrorKind::Unavailable,
                    format!(
                        "the write was applied on the Redis master but acknowledged by {acked} \
                         of {replicas} replicas within {timeout:?} (wait_for_replicas); a \
                         failover now could lose it"
                    ),
                )
                .in_context(BACKEND, op));
            }
        }
        Ok(value)
    }
}

/// A script reply: a status word and its data.
pub(crate) struct Reply {
    pub(crate) status: Vec<u8>,
    rest: std::vec::IntoIter<Value>,
    op: Operation,
}

impl Reply {
    pub(crate) fn new(value: Value, op: Operation) -> Result<Self> {
        let Value::Array(items) = value else {
            return Err(bad_reply(op));
        };
        let mut rest = items.into_iter();
        let status = match rest.next() {
            Some(Value::BulkString(s)) => s,
            Some(Value::SimpleString(s)) => s.into_bytes(),
            _ => return Err(bad_reply(op)),
        };
        Ok(Self { status, rest, op })
    }

    fn next_str(&mut self) -> Result<String> {
        match self.rest.next() {
            Some(Value::BulkString(s)) => String::from_utf8(s).map_err(|_| bad_reply(self.op)),
            _ => Err(bad_reply(self.op)),
        }
    }

    pub(crate) fn version(&mut self) -> Result<Version> {
        let s = self.next_str()?;
        s.parse::<u64>()
            .map(Version::from_u64)
            .map_err(|_| bad_reply(self.op))
    }

    /// The `InvalidInput` for an expiry not after the server's time.
    pub(crate) fn past(&mut self, expires_at: Option<Expiry>, op: Operation) -> Error {
        let now = self
            .next_str()
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|ms| Expiry::from_unix_millis(ms).ok());
        match (expires_at, now) {
            (Some(e), Some(now)) => match validate::expiry(e, now) {
                Err(err) => err.in_context(BACKEND, op),
                Ok(()) => bad_reply(op),
            },
            _ => bad_reply(op),
        }
    }

    pub(crate) fn unexpected(&self, status: &[u8]) -> Error {
        match status {
            b"type" => foreign(self.op, FOREIGN_TYPE),
            b"foreign" => foreign(self.op, FOREIGN_STRING),
            _ => bad_reply(self.op),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_tagged() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let b = bases("app", 3);
        assert_eq!(&*b[2].owners, "app:{2}:o:");
        assert_eq!(&*b[2].counter, "app:{2}:n");
        let key = Key::new("k").unwrap();
        assert_eq!(entry_key(&b[0], &key), b"app:{0}:e:k");
    }
}
