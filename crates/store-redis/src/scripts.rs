//! The Lua scripts that make each write one atomic step on the server.
//!
//! Data layout under a bucket base `<prefix>:{<bucket>}:` (the braces are a
//! Redis Cluster hash tag, so everything of one bucket lives in one slot):
//!
//! - `<base>e:<key>`: a hash with the fields `d` (value bytes), `v`
//!   (version, decimal), `x` (expiry, Unix ms, absent when none) and `o`
//!   (owner, absent when none); its native expiry is `PEXPIREAT x - 1`, so
//!   Redis treats it as gone at `x` (Redis keeps a key until now > expiry).
//! - `<base>o:<owner>`: a set of the keys of that owner in this bucket; it
//!   expires no earlier than its last member.
//! - `<base>n`: the bucket's version counter, started at the server's time
//!   in microseconds so that versions are not reused even after the counter
//!   is lost.
//!
//! Scripts reply with an array whose first element is a status word. The
//! server's `TIME` decides expiry (one clock for every client).

use std::sync::LazyLock;

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

/// Shared Lua prelude: the server's time in ms, and how an owner set is
/// extended so that it lives at least as long as its members.
macro_rules! prelude {
    () => {
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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
"#
    };
}

/// `put` in every mode.
///
/// KEYS: entry, counter. ARGV: mode (`U`, `C`, `P` = update, `I` =
/// update-if), value, expiry or `''`, owner or `''`, expected version or
/// `''`, owner-set prefix, member.
pub(crate) static PUT: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local exp = ARGV[3]
if exp ~= '' and tonumber(exp) <= now then
  return {'past', string.format('%.0f', now)}
end
local cur = redis.pcall('HMGET', KEYS[1], 'v', 'o')
if cur.err then return {'type'} end
local ver, old_owner = cur[1], cur[2]
if not ver and redis.call('EXISTS', KEYS[1]) == 1 then return {'foreign'} end
local mode = ARGV[1]
if mode == 'C' then
  if ver then return {'exists'} end
elseif mode ~= 'U' then
  if not ver then return {'missing'} end
  if mode == 'I' and ver ~= ARGV[5] then return {'mismatch'} end
end
local n = redis.call('INCR', KEYS[2])
if n == 1 then
  n = redis.call('INCRBY', KEYS[2], string.format('%.0f', now * 1000))
end
local nv = string.format('%.0f', n)
if ver then redis.call('DEL', KEYS[1]) end
local owner = ARGV[4]
if exp == '' then
  if owner == '' then
    redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', nv)
  else
    redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', nv, 'o', owner)
  end
else
  if owner == '' then
    redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', nv, 'x', exp)
  else
    redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', nv, 'x', exp, 'o', owner)
  end
  redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', tonumber(exp) - 1))
end
if old_owner and old_owner ~= owner then
  redis.call('SREM', ARGV[6] .. old_owner, ARGV[7])
end
if owner ~= '' then index(ARGV[6] .. owner, ARGV[7], exp) end
return {'ok', nv}
"#
    ))
});

/// `touch`: a new expiry, same value and version.
///
/// KEYS: entry. ARGV: expiry, owner-set prefix, member.
pub(crate) static TOUCH: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        prelude!(),
        r#"
local exp = ARGV[1]
if tonumber(exp) <= now then
  return {'past', string.format('%.0f', now)}
end
local cur = redis.pcall('HMGET', KEYS[1], 'v', 'o')
if cur.err then return {'type'} end
if not cur[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'foreign'} end
  return {'missing'}
end
redis.call('HSET', KEYS[1], 'x', exp)
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', tonumber(exp) - 1))
if cur[2] then index(ARGV[2] .. cur[2], ARGV[3], exp) end
return {'ok', cur[1]}
"#
    ))
});

/// `delete`, optionally conditional on a version.
///
/// KEYS: entry. ARGV: expected version or `''`, owner-set prefix, member.
pub(crate) static DELETE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local cur = redis.pcall('HMGET', KEYS[1], 'v', 'o')
if cur.err then return {'type'} end
if not cur[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'foreign'} end
  return {'missing'}
end
if ARGV[1] ~= '' and cur[1] ~= ARGV[1] then return {'mismatch'} end
redis.call('DEL', KEYS[1])
if cur[2] then redis.call('SREM', ARGV[2] .. cur[2], ARGV[3]) end
return {'ok'}
"#,
    )
});

/// `list_by_owner` in one bucket: the live entries of the owner, as flat
/// quadruples (key, value, version, expiry or nil). Members whose entry is
/// gone, expired or re-owned are removed from the set.
///
/// KEYS: owner set. ARGV: entry-key prefix, owner.
pub(crate) static LIST_OWNER: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.pcall('HMGET', ARGV[1] .. m, 'd', 'v', 'x', 'o')
  if r.err or not r[2] or r[4] ~= ARGV[2] then
    redis.call('SREM', KEYS[1], m)
  else
    out[#out + 1] = m
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
    out[#out + 1] = r[3]
  end
end
return out
"#,
    )
});

/// `delete_by_owner` in one bucket: deletes the live entries of the owner
/// and the set; returns how many entries were deleted.
///
/// KEYS: owner set. ARGV: entry-key prefix, owner.
pub(crate) static DELETE_OWNER: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. m
  local r = redis.pcall('HMGET', k, 'v', 'o')
  if not r.err and r[1] and r[2] == ARGV[2] then
    redis.call('DEL', k)
    n = n + 1
  end
end
redis.call('DEL', KEYS[1])
return n
"#,
    )
});
