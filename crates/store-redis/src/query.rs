//! The Lua scripts that make each write one atomic step on the server.
//!
//! Data layout under a bucket base `<prefix>:{<bucket>}:` (the braces are a
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
