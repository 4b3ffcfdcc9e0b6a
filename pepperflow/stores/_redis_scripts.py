"""The Lua scripts of :class:`~pepperflow.stores.redis.RedisStore`.

Every write is one script, so a key's new state, its version, its TTL, its
expiry-index entry and its changelog entry commit together or not at all.

Every script gets the namespace's bookkeeping keys first::

    KEYS[1] {ns}:seq   the last seq (INCR per change)
    KEYS[2] {ns}:log   the changelog: a stream, one entry per script that changed
                       something: id 0-<its last seq>, field c = msgpack array
                       of its changes
    KEYS[3] {ns}:meta  hash: live key -> <created_at as a msgpack float64>
                       (9 bytes) then <version> in decimal (the index
                       of live keys: counts, scans, snapshots)
    KEYS[4] {ns}:exp   sorted set: key with a ttl -> its deadline (seconds)
    KEYS[5..]          entries {ns}:k:<key>: strings, the encoded last set

and ``ARGV[1]`` the store's name, ``ARGV[2]`` the changelog's approximate
maximum length, ``ARGV[3]`` the entry prefix. An entry is the encoded
:class:`~pepperflow.streams.SetChange` of the key's last set: the client
encodes ``kind``, ``store``, ``key``, ``value`` and ``metadata`` as a
msgpack map, and the script writes the entry's map with ``version``,
``seq``, ``committed_at``, ``created_at`` and ``expires_at`` added before
those fields (it owns the clock: the server's ``TIME``, so every process
agrees). The same bytes go to the
changelog, where one entry holds every change of one script (a
``set_many`` is one entry). Versions and creation times live in one hash,
so a batch reads them with one ``HMGET`` and writes its entries with one
``MSET``.

The scripts reach entries they derive from the key names they are given
or from the meta hash (the same hash tag, so the same cluster slot).
"""

from __future__ import annotations

import hashlib

__all__ = ["Script", "SCRIPTS"]

# A script starts with the parts it needs: a closure or a command run on
# every call costs about a microsecond, so read scripts skip the clock and
# the write helpers.
_BASE = r"""
local SEQ, LOG, META, EXP = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local STORE, MAXLEN, KPREFIX = ARGV[1], ARGV[2], ARGV[3]
local KPL = #KPREFIX
local CHUNK = 1000  -- arguments per bulk command (Lua's unpack has a limit)
"""

_CLOCK = r"""
local t = redis.call('TIME')
-- The decimal string and the double agree exactly (the client parses the string).
local NOW_STR = t[1] .. '.' .. string.sub('00000' .. t[2], -6)
local NOW = tonumber(NOW_STR)
local pack = cmsgpack.pack
"""

_WRITE = r"""
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

local PENDING, N_PENDING = {}, 0
local function emit(blob)
  N_PENDING = N_PENDING + 1
  PENDING[N_PENDING] = blob
end

-- Every script calls finish() before it returns: the changelog entry is a
-- msgpack array of the changes made (each already msgpack). The changelog
-- is trimmed (approximately) when the seq passes a multiple of 64, not on
-- every entry.
local function finish()
  if not SEQ_NOW then return end
  if SEQ_NOW > SEQ_FIRST then redis.call('SET', SEQ, SEQ_NOW) end
  local n, header = N_PENDING, nil
  if n == 1 then header = '\145'
  elseif n < 16 then header = string.char(0x90 + n)
  elseif n < 65536 then header = string.char(0xdc) .. struct.pack('>I2', n)
  else header = string.char(0xdd) .. struct.pack('>I4', n) end
  local batch = header .. table.concat(PENDING)
  if math.floor(SEQ_NOW / 64) ~= math.floor((SEQ_FIRST - 1) / 64) then
    redis.call('XADD', LOG, 'MAXLEN', '~', MAXLEN, '0-' .. SEQ_NOW, 'c', batch)
  else
    redis.call('XADD', LOG, '0-' .. SEQ_NOW, 'c', batch)
  end
end

local HAS_EXP = redis.call('EXISTS', EXP) == 1
-- How the counts of live keys and of keys with a ttl changed (returned to
-- the client for its statistics, instead of counting on every write).
local D_KEYS, D_TTL = 0, 0

-- A meta value: created_at packed (msgpack float64, 9 bytes) then the
-- version in decimal -> version, packed created_at.
local function parse_meta(meta)
  if not meta then return 0, nil end
  return tonumber(string.sub(meta, 10)), string.sub(meta, 1, 9)
end

-- The ttl helpers exist only when the namespace has keys with a ttl (every
-- closure costs on every call).
local expire, expire_if_due, deadlines
if HAS_EXP then

-- Commit the expiry of ``key``: its expire change, and it leaves every index.
expire = function(key)
  local version = parse_meta(redis.call('HGET', META, key))
  local seq = next_seq()
  emit(pack({kind='expire', store=STORE, key=key, version=version, seq=seq,
             committed_at=NOW}))
  D_TTL = D_TTL - redis.call('ZREM', EXP, key)
  D_KEYS = D_KEYS - redis.call('HDEL', META, key)
  redis.call('DEL', KPREFIX .. key)
end

-- ``key`` has deadline ``score`` (a number, or nil for none): expire it if
-- it is due or Redis already dropped it (Redis drops an entry 1 ms before
-- its deadline, so one more than 2 ms ahead is alive). True if it expired.
expire_if_due = function(key, score)
  if not score or score > NOW + 0.002 then return false end
  if score > NOW and redis.call('EXISTS', KPREFIX .. key) == 1 then return false end
  expire(key)
  return true
end

-- The deadlines of ``keys`` (numbers, or false for none).
deadlines = function(keys)
  local out = {}
  for i = 1, #keys, CHUNK do
    local scores = redis.call('ZMSCORE', EXP, unpack(keys, i, math.min(i + CHUNK - 1, #keys)))
    for j = 1, #scores do out[i + j - 1] = scores[j] and tonumber(scores[j]) end
  end
  return out
end

end

"""

_COUNTS = r"""
local function counts()
  return {redis.call('HLEN', META), redis.call('ZCARD', EXP)}
end
"""

# ARGV[4] ttl seconds or '', ARGV[5] if_version or '', ARGV[6] expires_at
# (absolute, for restore) or '', ARGV[7] created_at or '' (restore),
# ARGV[8] the encoded heads back to back, ARGV[9] their lengths
# ("12,40,..."), ARGV[10] the keys (UTF-8) back to back, ARGV[11] their
# lengths in bytes, ARGV[12] '1' for each key's version, seq and created_at
# (msgpack float64) in the reply. (Passing them as two strings, not thousands of arguments,
# halves a large set_many's cost; the entries share the namespace's hash
# tag, so they are in the slot of the declared keys.)
# Returns {1, change of keys, change of ttl keys, now, last seq (0: none),
# expires_at, v1, seq1, created1, ...} or {0, actual_version, change of keys,
# change of ttl keys, last seq} on a compare-and-set conflict (a due expiry
# may still have been committed).
_SET = r"""
local ttl = tonumber(ARGV[4])
local if_version = tonumber(ARGV[5])
local expires = tonumber(ARGV[6])
if ttl then expires = NOW + ttl end
local details = ARGV[12] == '1'
local expires_str = expires and string.format('%.17g', expires)
local out = {1, 0, 0, NOW_STR, 0, expires_str or ''}
-- An entry is a msgpack map: its header, the fields this script knows, then
-- the head's fields (the head without its own map header of 5 fields).
-- msgpack of the field names (fixstr: 0xa0 + length)
local P_VERSION, P_SEQ, P_CREATED = '\167version', '\163seq', '\170created_at'
local P_NOW = pack(NOW)
local P_COMMITTED = '\172committed_at' .. P_NOW
local HEADER, P_EXPIRES = '\137', ''  -- fixmap of 9 fields
if expires then HEADER, P_EXPIRES = '\138', '\170expires_at' .. pack(expires) end
-- The heads (each without its first byte, its map header) and the keys,
-- cut by their lengths. (Closures cost on every call: the loops are inline.)
local heads, names
if not string.find(ARGV[9], ',', 1, true) then
  heads, names = {string.sub(ARGV[8], 2)}, {ARGV[10]}
else
  heads, names = {}, {}
  local at, count = 1, 0
  for size in string.gmatch(ARGV[9], '%d+') do
    count = count + 1
    heads[count] = string.sub(ARGV[8], at + 1, at + size - 1)
    at = at + size
  end
  at, count = 1, 0
  for size in string.gmatch(ARGV[11], '%d+') do
    count = count + 1
    names[count] = string.sub(ARGV[10], at, at + size - 1)
    at = at + size
  end
end
local n = #names
-- The expiries due among these keys commit first.
local had_ttl = {}
if HAS_EXP then
  local scores = deadlines(names)
  for i = 1, n do
    local score = scores[i]
    if score and not expire_if_due(names[i], score) then had_ttl[#had_ttl + 1] = names[i] end
  end
end
local metas, single = nil, n == 1
if single then
  metas = {redis.call('HGET', META, names[1])}
elseif n <= CHUNK then
  metas = redis.call('HMGET', META, unpack(names))
else
  metas = {}
  for i = 1, n, CHUNK do
    local part = redis.call('HMGET', META, unpack(names, i, math.min(i + CHUNK - 1, n)))
    for j = 1, #part do metas[i + j - 1] = part[j] end
  end
end
-- MSET / HSET calls built in place, run every CHUNK keys. (The loop inlines
-- the helpers and counts the lengths: a call or a # per key shows.)
local entries, new_meta, ne, nm = nil, nil, 1, 2
if not single then entries, new_meta = {'MSET'}, {'HSET', META} end
local created_arg = ARGV[7] ~= '' and pack(tonumber(ARGV[7])) or nil
for i = 1, n do
  local key, meta = names[i], metas[i]
  local version, created = 0, created_arg or P_NOW
  if meta then
    version = tonumber(string.sub(meta, 10))
    created = created_arg or string.sub(meta, 1, 9)
  end
  if if_version and version ~= if_version then
    finish()
    return {0, version, D_KEYS, D_TTL, SEQ_NOW or 0}
  end
  version = version + 1
  local seq = next_seq()
  local blob = HEADER .. P_VERSION .. pack(version) .. P_SEQ .. pack(seq) .. P_COMMITTED ..
    P_CREATED .. created .. P_EXPIRES .. heads[i]
  if expires then
    -- Redis drops the entry 1 ms before its deadline: reads never see it after.
    redis.call('SET', KPREFIX .. key, blob, 'PXAT', math.floor(expires * 1000) - 1)
  elseif single then
    redis.call('SET', KPREFIX .. key, blob)  -- a SET without a ttl drops the old one
  else
    entries[ne + 1] = KPREFIX .. key
    entries[ne + 2] = blob
    ne = ne + 2
  end
  if single then
    D_KEYS = D_KEYS + redis.call('HSET', META, key, created .. version)
  else
    new_meta[nm + 1] = key
    new_meta[nm + 2] = created .. version
    nm = nm + 2
  end
  if nm > 2 * CHUNK then
    if not expires then redis.call(unpack(entries, 1, ne)) end
    D_KEYS = D_KEYS + redis.call(unpack(new_meta, 1, nm))
    entries, new_meta, ne, nm = {'MSET'}, {'HSET', META}, 1, 2
  end
  N_PENDING = N_PENDING + 1
  PENDING[N_PENDING] = blob
  if details then
    out[#out + 1] = version
    out[#out + 1] = seq
    out[#out + 1] = created
  end
end
if nm > 2 then
  if not expires then redis.call(unpack(entries, 1, ne)) end
  D_KEYS = D_KEYS + redis.call(unpack(new_meta, 1, nm))
end
if expires then
  for i = 1, n, CHUNK do
    local call = {'ZADD', EXP}
    for j = i, math.min(i + CHUNK - 1, n) do
      call[#call + 1] = expires_str
      call[#call + 1] = names[j]
    end
    D_TTL = D_TTL + redis.call(unpack(call))
  end
else
  for i = 1, #had_ttl, CHUNK do
    D_TTL = D_TTL - redis.call('ZREM', EXP, unpack(had_ttl, i, math.min(i + CHUNK - 1, #had_ttl)))
  end
end
finish()
out[2], out[3], out[5] = D_KEYS, D_TTL, SEQ_NOW or 0
return out
"""

# ARGV[4] if_version or ''. Deletes the entries that exist.
# Returns {1, change of keys, change of ttl keys, now, last seq (0: none), v1,
# seq1, ...} (0, 0 for a key that did not exist) or, on a compare-and-set
# conflict, {0, actual_version, change of keys, change of ttl keys, last seq}.
_DELETE = r"""
local if_version = tonumber(ARGV[4])
local out = {1, 0, 0, NOW_STR, 0}
local names = {}
for i = 5, #KEYS do names[#names + 1] = string.sub(KEYS[i], KPL + 1) end
local scores = HAS_EXP and deadlines(names) or {}
for i, key in ipairs(names) do
  if scores[i] then expire_if_due(key, scores[i]) end
  local version = parse_meta(redis.call('HGET', META, key))
  if if_version and version ~= if_version then
    finish()
    return {0, version, D_KEYS, D_TTL, SEQ_NOW or 0}
  end
  if version == 0 then
    out[#out + 1] = 0
    out[#out + 1] = 0
  else
    local seq = next_seq()
    redis.call('DEL', KEYS[i + 4])
    D_KEYS = D_KEYS - redis.call('HDEL', META, key)
    if scores[i] then D_TTL = D_TTL - redis.call('ZREM', EXP, key) end
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
  expire(key)
end
finish()
local nxt = redis.call('ZRANGE', EXP, 0, 0, 'WITHSCORES')
local c = counts()
return {#due, c[1], c[2], nxt[2] or '', tonumber(redis.call('GET', SEQ) or '0'), NOW_STR}
"""

# ARGV[4] cursor, ARGV[5] MATCH pattern, ARGV[6] COUNT. Returns
# {next cursor, live key, ...}: keys Redis already dropped are left out.
_SCAN = r"""
local r = redis.call('HSCAN', META, ARGV[4], 'MATCH', ARGV[5], 'COUNT', tonumber(ARGV[6]))
local out = {r[1]}
local fields = r[2]
for i = 1, #fields, 2 do
  local key = fields[i]
  if redis.call('EXISTS', KPREFIX .. key) == 1 then out[#out + 1] = key end
end
return out
"""

# Returns {seq, now, blob, ...}: every live entry at one seq (the client
# sorts them by seq).
_SNAPSHOT = r"""
local out = {tonumber(redis.call('GET', SEQ) or '0'), NOW_STR}
local names = redis.call('HKEYS', META)
for i = 1, #names, CHUNK do
  local keys = {}
  for j = i, math.min(i + CHUNK - 1, #names) do keys[#keys + 1] = KPREFIX .. names[j] end
  for _, blob in ipairs(redis.call('MGET', unpack(keys))) do
    if blob then out[#out + 1] = blob end
  end
end
return out
"""

# The entries of KEYS[5..] (false for a missing or expired key; Redis drops
# an entry before its deadline).
_GET_MANY = r"""
local out = {}
for i = 5, #KEYS, CHUNK do
  for _, blob in ipairs(redis.call('MGET', unpack(KEYS, i, math.min(i + CHUNK - 1, #KEYS)))) do
    out[#out + 1] = blob
  end
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
# ARGV[4] 'probe' (when a store opens) adds whether the server has the
# commands the scripts use (ZMSCORE, SET ... PXAT: Redis 6.2).
_STATUS = r"""
local c = counts()
local out = {tonumber(redis.call('GET', SEQ) or '0'), c[1], c[2]}
if ARGV[4] == 'probe' then
  local r = redis.pcall('ZMSCORE', EXP, '')
  out[4] = (type(r) == 'table' and r.err == nil) and 1 or 0
end
return out
"""


_WRITES = frozenset({"set", "delete", "sweep"})


class Script:
    """One Lua script: its source and the SHA1 that ``EVALSHA`` runs."""

    __slots__ = ("name", "sha", "source", "writes")

    def __init__(self, name: str, *parts: str) -> None:
        self.name = name
        self.writes = name in _WRITES  # it may commit changes
        self.source = "".join(parts)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"


_WRITER = (_BASE, _CLOCK, _WRITE)

SCRIPTS = {
    script.name: script
    for script in [
        Script("set", *_WRITER, _SET),
        Script("delete", *_WRITER, _DELETE),
        Script("sweep", *_WRITER, _COUNTS, _SWEEP),
        Script("scan", _BASE, _SCAN),
        Script("snapshot", _BASE, _CLOCK, _SNAPSHOT),
        Script("get_many", _BASE, _GET_MANY),
        Script("range", _BASE, _RANGE),
        Script("status", _BASE, _COUNTS, _STATUS),
    ]
}
