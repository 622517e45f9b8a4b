//! The database side of each operation: the data layout (bucket key
//! names), the commands and the few Lua scripts of each write, sending
//! them, and reading their replies.
//!
//! Data layout under a bucket base `<namespace>:{<bucket>}:` (the braces are a
//! Redis Cluster hash tag, so everything of one bucket lives in one slot):
//!
//! - `<base>e:<key>`: a string: a 40-byte ASCII header, the owner, the
//!   value. Header: `s1`, the version (20 digits), the expiry in Unix ms (15
//!   digits, or 15 `-` for none), the owner's length (3 digits). The key's
//!   native expiry is `PXAT expiry - 1`, so Redis treats it as gone at
//!   `expiry` (Redis keeps a key until now > its expiry). A read is one
//!   `GET`; `touch` rewrites the 15 expiry bytes in place (`SETRANGE`).
//! - `<base>x:<owner>`: a set of the keys of that owner in this bucket that
//!   were written with an expiry. Its own expiry is never before any of its
//!   members' (each write and touch raises it: `PEXPIREAT … NX`, then
//!   `… GT`), so it goes away by itself after its last member.
//! - `<base>p:<owner>`: the same for keys written without an expiry; it has
//!   no expiry.
//! - `<base>o:<owner>` (written by earlier versions of this store, which
//!   kept both kinds in one set): read and cleaned by the owner scripts,
//!   raised by `touch`, never added to.
//! - With [`scan_index`](crate::RedisConfig::scan_index) on:
//!   `<base>i:<end>`, a set of the keys written or touched with an expiry
//!   in the window that ends at `<end>` (Unix ms), which expires at `<end>`
//!   itself (see the windows in `scan.rs`); `<base>i:p`, the keys written
//!   without an expiry. A member whose entry has gone since is stale: it
//!   goes with its window's set, or (in `i:p`) is removed by deletes and
//!   by the scans that meet it.
//!
//! A set member whose entry was deleted, expired or written with another
//! owner since is stale: owner scripts check each member's header, so
//! `list_by_owner` and `delete_by_owner` stay exact, and remove the stale
//! members they meet. A write whose set has just reached a power of two
//! members (from 32 on) also cleans that set, so a set stays within about
//! twice its live members.
//!
//! Versions are random 64-bit values drawn in the client (never 0), so a
//! write needs no counter on the server: `get`, `put` in the `Upsert`,
//! `Create` and `Update` modes and `delete` are each one command, or one
//! `MULTI`/`EXEC` when an owner set changes with the entry. Only what must
//! compare on the server is a script: `put(UpdateIf)`, a conditional
//! `delete`, `touch` (it keeps the owner set's expiry ahead of the entry's,
//! and the owner is in the stored header) and the owner calls. Scripts reply
//! with an array whose first element is a status word.

use std::sync::{Arc, LazyLock};

use futures::future::try_join_all;
use redis::{ErrorKind as RedisKind, Pipeline, ServerErrorKind, Value};
use store_core::{Error, Key, Operation, Owner, Result, Version};

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
/// owner).
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
  return 'ok', string.sub(h, 3, 22), owner
end
"#
    };
}

/// `put(UpdateIf)`: writes the entry only if it holds the expected version.
///
/// KEYS: entry, owner set (or none), index set (or none). ARGV: expected
/// version (20 digits), the stored string, its `PXAT` (decimal) or `''`,
/// member, the owner set's expiry (decimal) or `''`, `1` when an owner set
/// is given, the index set's expiry (decimal), `-` for an index set
/// without one, or `''` for none.
pub(crate) static PUT_IF: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local state, ver = head(KEYS[1])
if state == 'none' then return {'missing'} end
if state ~= 'ok' then return {state} end
if ver ~= ARGV[1] then return {'mismatch'} end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
end
if ARGV[7] ~= '' then
  redis.call('SADD', KEYS[#KEYS], ARGV[4])
  if ARGV[7] ~= '-' then redis.call('PEXPIREAT', KEYS[#KEYS], ARGV[7], 'NX') end
end
if ARGV[6] == '1' then
  redis.call('SADD', KEYS[2], ARGV[4])
  if ARGV[5] ~= '' then
    redis.call('PEXPIREAT', KEYS[2], ARGV[5], 'NX')
    redis.call('PEXPIREAT', KEYS[2], ARGV[5], 'GT')
  end
  return {'ok', redis.call('SCARD', KEYS[2])}
end
return {'ok'}
"#
    ))
});

/// `touch`: a new expiry, same value and version; the owner's sets (if the
/// entry has an owner) expire no earlier than it.
///
/// KEYS: entry. ARGV: `PXAT` (decimal), expiry as its 15-digit header field,
/// `1` when the `PXAT` is not after the caller's clock (then the entry is
/// rewritten with `SET … PXAT`, which keeps it for the current millisecond,
/// where `PEXPIREAT` would delete it at once), the expiry (decimal), the
/// prefixes of the `x:` and `o:` sets; with an index set (KEYS[2]), the
/// member and the index set's expiry (decimal).
pub(crate) static TOUCH: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local state, ver, owner = head(KEYS[1])
if state == 'none' then return {'missing'} end
if state ~= 'ok' then return {state} end
if ARGV[3] == '1' then
  local whole = redis.call('GET', KEYS[1])
  redis.call('SET', KEYS[1], string.sub(whole, 1, 22) .. ARGV[2] .. string.sub(whole, 38), 'PXAT', ARGV[1])
else
  redis.call('SETRANGE', KEYS[1], 22, ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
if KEYS[2] then
  redis.call('SADD', KEYS[2], ARGV[7])
  redis.call('PEXPIREAT', KEYS[2], ARGV[8], 'NX')
end
if owner then
  redis.call('PEXPIREAT', ARGV[5] .. owner, ARGV[4], 'GT')
  redis.call('PEXPIREAT', ARGV[6] .. owner, ARGV[4], 'GT')
end
return {'ok'}
"#
    ))
});

/// A conditional `delete`: deletes the entry only if it holds the expected
/// version, and drops it from its owner's sets.
///
/// KEYS: entry, and the `i:p` index set when the store keeps an index.
/// ARGV: expected version (20 digits), member, the prefixes of the `x:`,
/// `p:` and `o:` sets.
pub(crate) static DELETE_IF: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local state, ver, owner = head(KEYS[1])
if state == 'none' then return {'missing'} end
if state ~= 'ok' then return {state} end
if ver ~= ARGV[1] then return {'mismatch'} end
redis.call('DEL', KEYS[1])
if KEYS[2] then redis.call('SREM', KEYS[2], ARGV[2]) end
if owner then
  for i = 3, 5 do redis.call('SREM', ARGV[i] .. owner, ARGV[2]) end
end
return {'ok'}
"#
    ))
});

/// Cleans one owner set: removes the members whose entry is gone or has
/// another owner. Returns how many members are left.
///
/// KEYS: the set. ARGV: entry-key prefix, owner.
pub(crate) static TIDY: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local state, ver, owner = head(ARGV[1] .. m)
  if state ~= 'ok' or owner ~= ARGV[2] then redis.call('SREM', KEYS[1], m) end
end
return redis.call('SCARD', KEYS[1])
"#
    ))
});

/// `list_by_owner` in one bucket: the live entries of the owner, as flat
/// pairs (key, stored string). Members whose entry is gone, expired or
/// re-owned are removed from the sets.
///
/// KEYS: the owner's `x:`, `p:` and `o:` sets. ARGV: entry-key prefix,
/// owner.
pub(crate) static LIST_OWNER: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local out, seen = {}, {}
for i = 1, 3 do
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    local k = ARGV[1] .. m
    local state, ver, owner = head(k)
    if state == 'ok' and owner == ARGV[2] then
      if not seen[m] then
        seen[m] = true
        out[#out + 1] = m
        out[#out + 1] = redis.call('GET', k)
      end
    else
      redis.call('SREM', KEYS[i], m)
    end
  end
end
return out
"#
    ))
});

/// `delete_by_owner` in one bucket: deletes the live entries of the owner
/// and its sets; returns how many entries were deleted.
///
/// KEYS: the owner's `x:`, `p:` and `o:` sets, and the `i:p` index set
/// when the store keeps an index. ARGV: entry-key prefix, owner.
pub(crate) static DELETE_OWNER: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local n = 0
for i = 1, 3 do
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    local k = ARGV[1] .. m
    local state, ver, owner = head(k)
    if state == 'ok' and owner == ARGV[2] then
      redis.call('DEL', k)
      if KEYS[4] then redis.call('SREM', KEYS[4], m) end
      n = n + 1
    end
  end
  redis.call('DEL', KEYS[i])
end
return n
"#
    ))
});

/// Removes from the `i:p` index set the given members whose entry is
/// gone (a scan met them); returns how many it removed.
///
/// KEYS: the `i:p` set. ARGV: entry-key prefix, then the members.
pub(crate) static INDEX_TIDY: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local n = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    n = n + redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return n
"#,
    )
});

/// The Redis key names of one bucket (one hash slot).
pub(crate) struct Bucket {
    /// `<namespace>:{<bucket>}:e:`, followed by the key.
    pub(crate) entries: Box<str>,
    /// `<namespace>:{<bucket>}:x:`, followed by the owner: keys written
    /// with an expiry.
    pub(crate) expiring: Box<str>,
    /// `<namespace>:{<bucket>}:p:`, followed by the owner: keys written
    /// without an expiry.
    pub(crate) persistent: Box<str>,
    /// `<namespace>:{<bucket>}:o:`, followed by the owner: the sets of
    /// earlier versions of this store.
    pub(crate) legacy: Box<str>,
    /// `<namespace>:{<bucket>}:i:`, followed by a window's end or `p`: the
    /// index sets a scan reads (with `scan_index` on).
    pub(crate) index: Box<str>,
}

/// The key names of `buckets` buckets under `namespace`.
pub(crate) fn bases(namespace: &str, buckets: u16) -> Arc<[Bucket]> {
    (0..buckets)
        .map(|b| Bucket {
            entries: format!("{namespace}:{{{b}}}:e:").into(),
            expiring: format!("{namespace}:{{{b}}}:x:").into(),
            persistent: format!("{namespace}:{{{b}}}:p:").into(),
            legacy: format!("{namespace}:{{{b}}}:o:").into(),
            index: format!("{namespace}:{{{b}}}:i:").into(),
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

/// Appends the Redis key of `key`'s entry in `bucket` to `cmd` as its next
/// argument, written straight into the command's buffer.
pub(crate) fn entry_key_arg(cmd: &mut redis::Cmd, bucket: &Bucket, key: &Key) {
    use redis::RedisWrite as _;
    use std::io::Write as _;
    let mut name = cmd.writer_for_next_arg();
    // The buffer is a `Vec`: writing cannot fail.
    let _ = name.write_all(bucket.entries.as_bytes());
    let _ = name.write_all(key.as_str().as_bytes());
}

/// `prefix` followed by `owner`: the name of one of an owner's sets.
pub(crate) fn set_key(prefix: &str, owner: &Owner) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + owner.as_str().len());
    k.extend_from_slice(prefix.as_bytes());
    k.extend_from_slice(owner.as_str().as_bytes());
    k
}

/// The index set of `bucket` that ends at `end` (Unix ms), or `i:p` for
/// `None`.
pub(crate) fn index_key(bucket: &Bucket, end: Option<i64>) -> Vec<u8> {
    let mut k = bucket.index.as_bytes().to_vec();
    match end {
        Some(end) => k.extend_from_slice(end.to_string().as_bytes()),
        None => k.push(b'p'),
    }
    k
}

/// A fresh version: 64 random bits from a generator seeded by the
/// operating system, never 0. Two writes of one key get the same version
/// with probability 2^-64.
pub(crate) fn fresh_version() -> Version {
    loop {
        let v: u64 = rand::random();
        if v != 0 {
            return Version::from_u64(v);
        }
    }
}

/// The cleaning threshold: a write that brings an owner set to a power of
/// two members, from this many on, cleans it.
const TIDY_FROM: i64 = 32;

/// Whether an owner set of `members` members is due for cleaning.
pub(crate) fn tidy_due(members: i64) -> bool {
    members >= TIDY_FROM && members.count_ones() == 1
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

    /// Runs an owner script on the owner's sets of every bucket,
    /// concurrently.
    pub(crate) async fn on_owner_sets(
        &self,
        lua: &Lua,
        owner: &Owner,
        op: Operation,
    ) -> Result<Vec<Value>> {
        let calls = self.bases.iter().map(|base| async move {
            let sets = [
                set_key(&base.expiring, owner),
                set_key(&base.persistent, owner),
                set_key(&base.legacy, owner),
                index_key(base, None),
            ];
            let args: [&[u8]; 2] = [base.entries.as_bytes(), owner.as_str().as_bytes()];
            // The `i:p` index set goes last, when the store keeps one.
            let keys: [&[u8]; 4] = [&sets[0], &sets[1], &sets[2], &sets[3]];
            let used = if self.config.scan_index { 4 } else { 3 };
            self.eval(lua, &keys[..used], &args, op).await
        });
        try_join_all(calls).await
    }

    /// Cleans the owner set `set` (of `owner`, in `base`) when a write left
    /// it with `members` members and that is a power of two from 32 on.
    pub(crate) async fn tidy_if_due(
        &self,
        base: &Bucket,
        set: &[u8],
        owner: &Owner,
        members: i64,
        op: Operation,
    ) -> Result<()> {
        if tidy_due(members) {
            let args: [&[u8]; 2] = [base.entries.as_bytes(), owner.as_str().as_bytes()];
            self.eval(&TIDY, &[set], &args, op).await?;
        }
        Ok(())
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
        let first = self
            .send(vec![build("EVALSHA", lua.hash.as_bytes())], op)
            .await;
        let (mut replies, acked) = match first {
            // A restarted or flushed server forgot the script: send it whole
            // (EVAL also caches it again).
            Err(e) if e.kind() == RedisKind::Server(ServerErrorKind::NoScript) => self
                .send(vec![build("EVAL", lua.source.as_bytes())], op)
                .await
                .map_err(|e| classify(e, op))?,
            other => other.map_err(|e| classify(e, op))?,
        };
        self.check_acks(acked, op)?;
        replies.pop().ok_or_else(|| bad_reply(op))
    }

    /// Sends `cmds` as one write and returns their replies in order: one
    /// command as it is, several as one `MULTI`/`EXEC` transaction. With
    /// [`wait_for_replicas`](crate::RedisConfig::wait_for_replicas), a `WAIT`
    /// follows in the same round trip (on a cluster, to the same node) and
    /// too few acknowledgements are a retryable `Unavailable`.
    pub(crate) async fn write(&self, cmds: Vec<redis::Cmd>, op: Operation) -> Result<Vec<Value>> {
        let (replies, acked) = self.send(cmds, op).await.map_err(|e| classify(e, op))?;
        self.check_acks(acked, op)?;
        Ok(replies)
    }

    /// The round trip of [`write`](Self::write) and [`eval`](Self::eval):
    /// the replies of `cmds` and, with `wait_for_replicas`, how many
    /// replicas acknowledged.
    async fn send(
        &self,
        cmds: Vec<redis::Cmd>,
        op: Operation,
    ) -> redis::RedisResult<(Vec<Value>, Option<u32>)> {
        let writes = matches!(
            op,
            Operation::Put | Operation::Delete | Operation::Touch | Operation::DeleteByOwner
        );
        let acks = self.config.replica_acks.filter(|_| writes);
        let mut conn = self.conn.clone();
        let count = cmds.len();
        if count == 1 && acks.is_none() {
            let reply: Value = cmds[0].query_async(&mut conn).await?;
            return Ok((vec![reply], None));
        }
        let transaction = count > 1;
        let mut pipe: Pipeline = redis::pipe();
        if transaction {
            pipe.cmd("MULTI");
        }
        for cmd in cmds {
            pipe.add_command(cmd);
        }
        if transaction {
            pipe.cmd("EXEC");
        }
        if let Some((replicas, timeout)) = acks {
            pipe.cmd("WAIT")
                .arg(replicas)
                .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        }
        let mut replies: Vec<Value> = pipe.query_async(&mut conn).await?;
        let acked = match acks {
            None => None,
            Some(_) => match replies.pop() {
                Some(Value::Int(n)) => Some(u32::try_from(n).unwrap_or(0)),
                _ => return Err(redis_bad_reply()),
            },
        };
        if transaction {
            match replies.pop() {
                Some(Value::Array(results)) if results.len() == count => Ok((results, acked)),
                _ => Err(redis_bad_reply()),
            }
        } else {
            Ok((replies, acked))
        }
    }

    /// The `Unavailable` of a write that fewer replicas than asked
    /// acknowledged.
    fn check_acks(&self, acked: Option<u32>, op: Operation) -> Result<()> {
        if let (Some(acked), Some((replicas, timeout))) = (acked, self.config.replica_acks) {
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
        Ok(())
    }
}

/// A reply shaped unlike what the commands sent answer, as a driver error
/// (classified like any other).
fn redis_bad_reply() -> redis::RedisError {
    redis::RedisError::from((
        RedisKind::Parse,
        "unexpected reply to a transaction or WAIT",
    ))
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

    /// The next element, an integer.
    pub(crate) fn int(&mut self) -> Result<i64> {
        match self.rest.next() {
            Some(Value::Int(n)) => Ok(n),
            _ => Err(bad_reply(self.op)),
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
        assert_eq!(&*b[2].expiring, "app:{2}:x:");
        assert_eq!(&*b[2].persistent, "app:{2}:p:");
        assert_eq!(&*b[2].legacy, "app:{2}:o:");
        let key = Key::new("k").unwrap();
        assert_eq!(entry_key(&b[0], &key), b"app:{0}:e:k");
        let mut cmd = redis::cmd("GET");
        entry_key_arg(&mut cmd, &b[0], &key);
        assert_eq!(
            cmd.get_packed_command(),
            redis::cmd("GET").arg("app:{0}:e:k").get_packed_command()
        );
    }
}
