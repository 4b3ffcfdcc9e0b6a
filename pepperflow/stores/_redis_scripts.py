"""The Lua scripts of :class:`~pepperflow.stores.redis.RedisStore`.

Every write is one script, so a key's new state, its version, its TTL, its
expiry-index entry and its changelog entry commit together or not at all.

Every script gets the namespace's bookkeeping keys first::

    KEYS[1] {ns}:seq   the last seq (INCR per change)
    KEYS[2] {ns}:log   the changelog: a stream, one entry per script that changed
                       something: id 0-<its last seq>, field c = msgpack array
                       of its changes
    KEYS[3] {ns}:idx   sorted set: live key -> seq of the set that created it
    KEYS[4] {ns}:exp   sorted set: key with a ttl -> its deadline (seconds)
    KEYS[5] {ns}:ttlv  hash: key with a ttl -> its version (for its expire change)
    KEYS[6..]          entry hashes {ns}:k:<key> (fields v, c, b)

and ``ARGV[1]`` the store's name, ``ARGV[2]`` the changelog's approximate
maximum length, ``ARGV[3]`` the entry-hash prefix. An entry hash holds the
version (``v``), the creation time (``c``, a string of the exact double)
and the encoded :class:`~pepperflow.streams.SetChange` (``b``): the client
encodes ``kind``, ``store``, ``key``, ``value`` and ``metadata`` as a
msgpack map, and the script appends ``version``, ``seq``, ``committed_at``,
``created_at`` and ``expires_at`` (it owns the clock: the server's
``TIME``, so every process agrees). The same bytes go to the changelog,
where one entry holds every change of one script (a ``set_many`` is one
entry).

The sweep and scan scripts reach entry hashes they derive from the index
(the same hash tag, so the same cluster slot).
"""

from __future__ import annotations

import hashlib

__all__ = ["Script", "SCRIPTS"]

_PRELUDE = r"""
local SEQ, LOG, IDX, EXP, TTLV = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local STORE, MAXLEN, KPREFIX = ARGV[1], ARGV[2], ARGV[3]
local KPL = #KPREFIX
local t = redis.call('TIME')
-- The decimal string and the double agree exactly (the client parses the string).
local NOW_STR = t[1] .. '.' .. string.sub('00000' .. t[2], -6)
local NOW = tonumber(NOW_STR)
local function fmt(x) return string.format('%.17g', x) end
local pack = cmsgpack.pack

-- The first seq comes from INCR; more are counted here and written back
-- by finish(). The changelog gets one entry per script.
local SEQ_FIRST, SEQ_NOW = nil, nil
local function next_seq()
  if SEQ_NOW then
    SEQ_NOW = SEQ_NOW + 1
  else
    SEQ_NOW = redis.call('INCR', SEQ)
    SEQ_FIRST = SEQ_NOW
  end
  return SEQ_NOW
end

local PENDING = {}
local function emit(blob)
  PENDING[#PENDING + 1] = blob
end

-- A msgpack array of the changes made (each already msgpack).
local function batch()
  local n = #PENDING
  local header
  if n < 16 then header = string.char(0x90 + n)
  elseif n < 65536 then header = string.char(0xdc) .. struct.pack('>I2', n)
  else header = string.char(0xdd) .. struct.pack('>I4', n) end
  return header .. table.concat(PENDING)
end

-- Every script calls finish() before it returns. The changelog is trimmed
-- (approximately) when the seq passes a multiple of 64, not on every entry.
local function finish()
  if SEQ_NOW then
    if SEQ_NOW > SEQ_FIRST then redis.call('SET', SEQ, SEQ_NOW) end
    if math.floor(SEQ_NOW / 64) ~= math.floor((SEQ_FIRST - 1) / 64) then
      redis.call('XADD', LOG, 'MAXLEN', '~', MAXLEN, '0-' .. SEQ_NOW, 'c', batch())
    else
      redis.call('XADD', LOG, '0-' .. SEQ_NOW, 'c', batch())
    end
  end
end

local HAS_EXP = redis.call('EXISTS', EXP) == 1
-- How the counts of live keys and of keys with a ttl changed (returned to
-- the client for its statistics, instead of ZCARDs on every write).
local D_KEYS, D_TTL = 0, 0

local function forget_ttl(key)
  if HAS_EXP and redis.call('ZREM', EXP, key) == 1 then
    redis.call('HDEL', TTLV, key)
    D_TTL = D_TTL - 1
    return true
  end
  return false
end

-- Commit the expiry of ``key`` if it is due (or Redis already dropped it).
local function expire_if_due(hk, key)
  if not HAS_EXP then return end
  local score = redis.call('ZSCORE', EXP, key)
  if not score then return end
  local alive = redis.call('EXISTS', hk) == 1
  if alive and tonumber(score) > NOW then return end
  local version = tonumber(redis.call('HGET', TTLV, key) or '0')
  local seq = next_seq()
  emit(pack({kind='expire', store=STORE, key=key, version=version, seq=seq,
             committed_at=NOW}))
  forget_ttl(key)
  D_KEYS = D_KEYS - redis.call('ZREM', IDX, key)
  if alive then redis.call('DEL', hk) end
end

local function counts()
  return {redis.call('ZCARD', IDX), redis.call('ZCARD', EXP)}
end
"""

# ARGV[4] ttl seconds or '', ARGV[5] if_version or '', ARGV[6] expires_at
# (absolute, for restore) or '', ARGV[7] created_at or '' (restore),
# ARGV[8] the encoded heads back to back, ARGV[9] their lengths
# ("12,40,..."), ARGV[10] the keys (UTF-8) back to back, ARGV[11] their
# lengths in bytes. (Passing them as two strings, not thousands of
# arguments, halves a large set_many's cost; the entry hashes share the
# namespace's hash tag, so they are in the slot of the declared keys.)
# Returns {1, change of keys, change of ttl keys, now, last seq (0: none),
# expires_at, v1, seq1, created1, ...} or {0, actual_version, change of keys,
# change of ttl keys, last seq} on a compare-and-set conflict (a due expiry
# may still have been committed).
_SET = r"""
local ttl = tonumber(ARGV[4])
local if_version = tonumber(ARGV[5])
local expires = tonumber(ARGV[6])
if ttl then expires = NOW + ttl end
local out = {1, 0, 0, NOW_STR, 0, expires and fmt(expires) or ''}
-- msgpack of the field names (fixstr: 0xa0 + length)
local P_VERSION, P_SEQ, P_COMMITTED = '\167version', '\163seq', '\172committed_at'
local P_CREATED, P_EXPIRES, P_NOW = '\170created_at', '\170expires_at', pack(NOW)
local P_EXPIRES_AT = expires and pack(expires)
local function split(blob, sizes)
  if not string.find(sizes, ',', 1, true) then return {blob} end
  local parts, at = {}, 1
  for n in string.gmatch(sizes, '%d+') do
    n = tonumber(n)
    parts[#parts + 1] = string.sub(blob, at, at + n - 1)
    at = at + n
  end
  return parts
end
local heads, names = split(ARGV[8], ARGV[9]), split(ARGV[10], ARGV[11])
local index = {}
local function flush_index()
  if #index > 0 then
    D_KEYS = D_KEYS + redis.call('ZADD', IDX, unpack(index))
    index = {}
  end
end
for i = 1, #names do
  local key = names[i]
  local hk = KPREFIX .. key
  expire_if_due(hk, key)
  local cur = redis.call('HMGET', hk, 'v', 'c')
  local version = tonumber(cur[1] or '0')
  if if_version and version ~= if_version then
    finish()
    return {0, version, D_KEYS, D_TTL, SEQ_NOW or 0}
  end
  local created = cur[2]
  if ARGV[7] ~= '' then created = ARGV[7] end
  if not created then created = NOW_STR end
  version = version + 1
  local seq = next_seq()
  local head = heads[i]
  local blob
  if expires then
    blob = table.concat({string.char(string.byte(head, 1) + 5), string.sub(head, 2),
      P_VERSION, pack(version), P_SEQ, pack(seq), P_COMMITTED, P_NOW,
      P_CREATED, pack(tonumber(created)), P_EXPIRES, P_EXPIRES_AT})
  else
    blob = table.concat({string.char(string.byte(head, 1) + 4), string.sub(head, 2),
      P_VERSION, pack(version), P_SEQ, pack(seq), P_COMMITTED, P_NOW,
      P_CREATED, pack(tonumber(created))})
  end
  redis.call('HSET', hk, 'v', version, 'c', created, 'b', blob)
  if expires then
    redis.call('PEXPIREAT', hk, math.floor(expires * 1000) - 1)
    D_TTL = D_TTL + redis.call('ZADD', EXP, fmt(expires), key)
    redis.call('HSET', TTLV, key, version)
    HAS_EXP = true
  elseif forget_ttl(key) then
    redis.call('PERSIST', hk)
  end
  if version == 1 then
    index[#index + 1] = seq
    index[#index + 1] = key
    if #index >= 1000 then flush_index() end
  end
  emit(blob)
  out[#out + 1] = version
  out[#out + 1] = seq
  out[#out + 1] = created
end
flush_index()
finish()
out[2], out[3], out[5] = D_KEYS, D_TTL, SEQ_NOW or 0
return out
"""

# ARGV[4] if_version or ''. Deletes the entry hashes that exist.
# Returns {1, change of keys, change of ttl keys, now, last seq (0: none), v1,
# seq1, ...} (0, 0 for a key that did not exist) or, on a compare-and-set
# conflict, {0, actual_version, change of keys, change of ttl keys, last seq}.
_DELETE = r"""
local if_version = tonumber(ARGV[4])
local out = {1, 0, 0, NOW_STR, 0}
for i = 6, #KEYS do
  local hk = KEYS[i]
  local key = string.sub(hk, KPL + 1)
  expire_if_due(hk, key)
  local version = tonumber(redis.call('HGET', hk, 'v') or '0')
  if if_version and version ~= if_version then
    finish()
    return {0, version, D_KEYS, D_TTL, SEQ_NOW or 0}
  end
  if version == 0 then
    out[#out + 1] = 0
    out[#out + 1] = 0
  else
    local seq = next_seq()
    redis.call('DEL', hk)
    D_KEYS = D_KEYS - redis.call('ZREM', IDX, key)
    forget_ttl(key)
    emit(pack({kind='delete', store=STORE, key=key, version=version, seq=seq,
               committed_at=NOW}))
    out[#out + 1] = version
    out[#out + 1] = seq
  end
end
finish()
out[2], out[3], out[5] = D_KEYS, D_TTL, SEQ_NOW or 0
return out
"""

# ARGV[4] the most keys to expire. Returns {expired, keys, ttl_keys,
# next deadline or '', last seq, now}.
_SWEEP = r"""
local due = redis.call('ZRANGEBYSCORE', EXP, '-inf', NOW_STR, 'LIMIT', 0, tonumber(ARGV[4]))
for _, key in ipairs(due) do
  expire_if_due(KPREFIX .. key, key)
end
finish()
local nxt = redis.call('ZRANGE', EXP, 0, 0, 'WITHSCORES')
local c = counts()
return {#due, c[1], c[2], nxt[2] or '', tonumber(redis.call('GET', SEQ) or '0'), NOW_STR}
"""

# ARGV[4] cursor, ARGV[5] MATCH pattern, ARGV[6] COUNT. Returns
# {next cursor, live key, ...}: keys past their deadline are left out.
_SCAN = r"""
local r = redis.call('ZSCAN', IDX, ARGV[4], 'MATCH', ARGV[5], 'COUNT', tonumber(ARGV[6]))
local out = {r[1]}
local members = r[2]
for i = 1, #members, 2 do
  local key = members[i]
  if redis.call('EXISTS', KPREFIX .. key) == 1 then
    local score = redis.call('ZSCORE', EXP, key)
    if not score or tonumber(score) > NOW then out[#out + 1] = key end
  end
end
return out
"""

# Returns {seq, now, blob, ...}: every live entry at one seq (in the order
# the keys were created; the client sorts them by seq).
_SNAPSHOT = r"""
local out = {tonumber(redis.call('GET', SEQ) or '0'), NOW_STR}
for _, key in ipairs(redis.call('ZRANGE', IDX, 0, -1)) do
  local blob = redis.call('HGET', KPREFIX .. key, 'b')
  if blob then
    local score = redis.call('ZSCORE', EXP, key)
    if not score or tonumber(score) > NOW then out[#out + 1] = blob end
  end
end
return out
"""

# The entry hashes' blobs (false for a missing or expired key).
_GET_MANY = r"""
local out = {}
for i = 6, #KEYS do
  local blob = redis.call('HGET', KEYS[i], 'b')
  if blob then
    local score = redis.call('ZSCORE', EXP, string.sub(KEYS[i], KPL + 1))
    if score and tonumber(score) <= NOW then blob = false end
  end
  out[#out + 1] = blob or false
end
return out
"""

# ARGV[4] first seq, ARGV[6] the most entries to read. Returns {the oldest
# entry's seq (0 if empty), seq, batch, seq, batch, ...}: the entries from
# the one holding ARGV[4] on (an entry's id is its batch's last seq).
_RANGE = r"""
local first = redis.call('XRANGE', LOG, '-', '+', 'COUNT', 1)
local out = {0}
if first[1] then out[1] = tonumber(string.sub(first[1][1], 3)) end
local entries = redis.call('XRANGE', LOG, '0-' .. ARGV[4], '+', 'COUNT', tonumber(ARGV[6]))
for _, e in ipairs(entries) do
  out[#out + 1] = tonumber(string.sub(e[1], 3))
  out[#out + 1] = e[2][2]
end
return out
"""

# Returns {seq, keys, ttl_keys}.
_STATUS = r"""
local c = counts()
return {tonumber(redis.call('GET', SEQ) or '0'), c[1], c[2]}
"""


_WRITES = frozenset({"set", "delete", "sweep"})


class Script:
    """One Lua script: its source and the SHA1 that ``EVALSHA`` runs."""

    __slots__ = ("name", "sha", "source", "writes")

    def __init__(self, name: str, body: str) -> None:
        self.name = name
        self.writes = name in _WRITES  # it may commit changes
        self.source = _PRELUDE + body
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"


SCRIPTS = {
    name: Script(name, body)
    for name, body in {
        "set": _SET,
        "delete": _DELETE,
        "sweep": _SWEEP,
        "scan": _SCAN,
        "snapshot": _SNAPSHOT,
        "get_many": _GET_MANY,
        "range": _RANGE,
        "status": _STATUS,
    }.items()
}
