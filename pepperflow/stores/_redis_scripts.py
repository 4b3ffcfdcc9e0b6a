"""The Lua scripts of :class:`~pepperflow.stores.redis.RedisStore`.

Every write is one script, so a key's new state, its version, its TTL, its
expiry-index entry and its changelog entry commit together or not at all.

Every script gets the namespace's bookkeeping keys first::

    KEYS[1] {ns}:seq   the last seq (INCR per change)
    KEYS[2] {ns}:log   the changelog: a stream whose entry ids are 0-<seq>
    KEYS[3] {ns}:idx   sorted set: live key -> seq of its last set
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
``TIME``, so every process agrees). The same bytes go to the changelog.

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
local NOW = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.17g', x) end
local NOW_STR = fmt(NOW)
local pack = cmsgpack.pack

local function emit(blob, seq)
  redis.call('XADD', LOG, 'MAXLEN', '~', MAXLEN, '0-' .. seq, 'c', blob)
end

local function forget_ttl(key)
  redis.call('ZREM', EXP, key)
  redis.call('HDEL', TTLV, key)
end

-- Commit the expiry of ``key`` if it is due (or Redis already dropped it).
local function expire_if_due(hk, key)
  local score = redis.call('ZSCORE', EXP, key)
  if not score then return end
  local alive = redis.call('EXISTS', hk) == 1
  if alive and tonumber(score) > NOW then return end
  local version = tonumber(redis.call('HGET', TTLV, key) or '0')
  local seq = redis.call('INCR', SEQ)
  emit(pack({kind='expire', store=STORE, key=key, version=version, seq=seq,
             committed_at=NOW}), seq)
  forget_ttl(key)
  redis.call('ZREM', IDX, key)
  if alive then redis.call('DEL', hk) end
end

local function counts()
  return {redis.call('ZCARD', IDX), redis.call('ZCARD', EXP)}
end
"""

# ARGV[4] ttl seconds or '', ARGV[5] if_version or '', ARGV[6] expires_at
# (absolute, for restore) or '', ARGV[7] created_at or '' (restore),
# ARGV[8..] one encoded head per entry hash.
# Returns {1, keys, ttl_keys, now, expires_at, v1, seq1, created1, ...}
# or {0, actual_version} on a compare-and-set conflict.
_SET = r"""
local ttl = tonumber(ARGV[4])
local if_version = tonumber(ARGV[5])
local expires = tonumber(ARGV[6])
if ttl then expires = NOW + ttl end
local out = {1, 0, 0, NOW_STR, expires and fmt(expires) or ''}
for i = 6, #KEYS do
  local hk = KEYS[i]
  local key = string.sub(hk, KPL + 1)
  expire_if_due(hk, key)
  local cur = redis.call('HMGET', hk, 'v', 'c')
  local version = tonumber(cur[1] or '0')
  if if_version and version ~= if_version then return {0, version} end
  local created = cur[2]
  if ARGV[7] ~= '' then created = ARGV[7] end
  if not created then created = NOW_STR end
  version = version + 1
  local seq = redis.call('INCR', SEQ)
  local head = ARGV[i + 2]
  local tail = pack('version') .. pack(version) .. pack('seq') .. pack(seq)
    .. pack('committed_at') .. pack(NOW) .. pack('created_at') .. pack(tonumber(created))
  local fields = string.byte(head, 1) + 4
  if expires then
    tail = tail .. pack('expires_at') .. pack(expires)
    fields = fields + 1
  end
  local blob = string.char(fields) .. string.sub(head, 2) .. tail
  redis.call('HSET', hk, 'v', version, 'c', created, 'b', blob)
  if expires then
    redis.call('PEXPIREAT', hk, math.floor(expires * 1000) - 1)
    redis.call('ZADD', EXP, fmt(expires), key)
    redis.call('HSET', TTLV, key, version)
  elseif redis.call('ZREM', EXP, key) == 1 then
    redis.call('HDEL', TTLV, key)
    redis.call('PERSIST', hk)
  end
  redis.call('ZADD', IDX, seq, key)
  emit(blob, seq)
  out[#out + 1] = version
  out[#out + 1] = seq
  out[#out + 1] = created
end
local c = counts()
out[2], out[3] = c[1], c[2]
return out
"""

# ARGV[4] if_version or ''. Deletes the entry hashes that exist.
# Returns {1, keys, ttl_keys, now, v1, seq1, ...} (0, 0 for a key that did
# not exist) or {0, actual_version} on a compare-and-set conflict.
_DELETE = r"""
local if_version = tonumber(ARGV[4])
local out = {1, 0, 0, NOW_STR}
for i = 6, #KEYS do
  local hk = KEYS[i]
  local key = string.sub(hk, KPL + 1)
  expire_if_due(hk, key)
  local version = tonumber(redis.call('HGET', hk, 'v') or '0')
  if if_version and version ~= if_version then return {0, version} end
  if version == 0 then
    out[#out + 1] = 0
    out[#out + 1] = 0
  else
    local seq = redis.call('INCR', SEQ)
    redis.call('DEL', hk)
    redis.call('ZREM', IDX, key)
    forget_ttl(key)
    emit(pack({kind='delete', store=STORE, key=key, version=version, seq=seq,
               committed_at=NOW}), seq)
    out[#out + 1] = version
    out[#out + 1] = seq
  end
end
local c = counts()
out[2], out[3] = c[1], c[2]
return out
"""

# ARGV[4] the most keys to expire. Returns {expired, keys, ttl_keys,
# next deadline or '', last seq}.
_SWEEP = r"""
local due = redis.call('ZRANGEBYSCORE', EXP, '-inf', NOW_STR, 'LIMIT', 0, tonumber(ARGV[4]))
for _, key in ipairs(due) do
  expire_if_due(KPREFIX .. key, key)
end
local nxt = redis.call('ZRANGE', EXP, 0, 0, 'WITHSCORES')
local c = counts()
return {#due, c[1], c[2], nxt[2] or '', tonumber(redis.call('GET', SEQ) or '0')}
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

# Returns {seq, now, blob, ...}: every live entry in commit order, at one seq.
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

# ARGV[4] first seq, ARGV[5] last seq, ARGV[6] COUNT. Returns {first seq
# still in the changelog (0 if empty), seq, blob, seq, blob, ...}.
_RANGE = r"""
local first = redis.call('XRANGE', LOG, '-', '+', 'COUNT', 1)
local out = {0}
if first[1] then out[1] = tonumber(string.sub(first[1][1], 3)) end
local entries = redis.call('XRANGE', LOG, '0-' .. ARGV[4], '0-' .. ARGV[5],
                          'COUNT', tonumber(ARGV[6]))
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


class Script:
    """One Lua script: its source and the SHA1 that ``EVALSHA`` runs."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, body: str) -> None:
        self.name = name
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
