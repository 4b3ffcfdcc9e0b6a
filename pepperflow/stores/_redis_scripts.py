"""The Lua scripts of :class:`~pepperflow.stores.redis.RedisStore`.

Every write is one script, so a key's new state, its version, its TTL, its
expiry-index entry and its changelog entry commit together or not at all.

Every script gets the namespace's bookkeeping keys first::

    KEYS[1] {ns}:log   the changelog: a stream, one entry per script that changed
                       something (per 1,000 changes): id 0-<its last seq>,
                       per change a field (its seq as a msgpack int) whose
                       value is the change (msgpack)
    KEYS[2] {ns}:meta  hash: live key -> <created_at as a msgpack float64>
                       (9 bytes), 't' if the key has a ttl else '-', then
                       its version as a msgpack int (the index of live keys:
                       counts, scans, snapshots); and the field '' (never a
                       key: keys are not empty) -> the last seq
    KEYS[3] {ns}:exp   sorted set: key with a ttl -> its deadline (seconds)
    KEYS[4..]          entries {ns}:k:<key>: strings, the encoded last set

and ``ARGV[1]`` the store's name, ``ARGV[2]`` the changelog's approximate
maximum length, ``ARGV[3]`` the entry prefix. An entry is the encoded
:class:`~pepperflow.streams.SetChange` of the key's last set: the client
encodes ``kind``, ``store``, ``key``, ``value`` and ``metadata`` as a
msgpack map, and the script writes the entry's map with ``version``,
``seq``, ``committed_at``, ``created_at`` and ``expires_at`` added before
those fields (it owns the clock: the server's ``TIME``, so every process
agrees). The same bytes go to the changelog, where one entry holds every
change of one script, a field per change (a ``set_many`` of up to 1,000
keys is one entry).

A write reads its keys' meta values and the last seq with one ``HMGET``
and writes them back with one ``HSET``; the ttl flag in the meta value
spares the keys without a ttl any look at the expiry index. A batch writes
its entries with one ``MSET`` (per 1,000 keys).

The scripts reach entries they derive from the key names they are given
or from the meta hash (the same hash tag, so the same cluster slot).
"""

from __future__ import annotations

import hashlib

__all__ = ["Script", "SCRIPTS"]

# A script starts with the parts it needs: every command a script runs
# costs 1-2 microseconds of the server's time, so read scripts skip the
# clock and the write helpers.
_BASE = r"""
local LOG, META, EXP = KEYS[1], KEYS[2], KEYS[3]
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

_LOG = r"""
-- Append the changelog entry of seqs first..last: id 0-<last>, then
-- ``...``: per change a field (its seq as a msgpack int) and its value (the
-- change as msgpack), so no script joins the changes into one string. The
-- changelog is trimmed (approximately) when the seq passes a multiple of
-- 64, not on every entry.
local function log_append(first, last, ...)
  if math.floor(last / 64) ~= math.floor((first - 1) / 64) then
    redis.call('XADD', LOG, 'MAXLEN', '~', MAXLEN, '0-' .. last, ...)
  else
    redis.call('XADD', LOG, '0-' .. last, ...)
  end
end
"""

_WRITE = r"""
-- The last seq is the meta hash's field '': read_metas() reads it with the
-- keys' meta values, next_seq() counts on from it, and the script writes
-- it back with the meta values it sets (or finish() does). The changelog
-- gets one entry per script (per CHUNK changes of it).
local SEQ_READ, SEQ_FIRST, SEQ_NOW = 0, nil, nil
local SEQ_FIELD_NEW = true  -- no seq yet: writing it adds a field that is not a key
local function next_seq()
  if SEQ_NOW then
    SEQ_NOW = SEQ_NOW + 1
  else
    SEQ_NOW = SEQ_READ + 1
    SEQ_FIRST = SEQ_NOW
  end
  return SEQ_NOW
end

-- How the counts of live keys and of keys with a ttl changed (returned to
-- the client for its statistics, instead of counting on every write).
local D_KEYS, D_TTL = 0, 0

-- The meta values of ``names`` (false for none); reads the last seq too.
local function read_metas(names)
  local n, metas = #names, {}
  for i = 1, n, CHUNK do
    local part = redis.call('HMGET', META, '', unpack(names, i, math.min(i + CHUNK - 1, n)))
    if i == 1 and part[1] then SEQ_READ, SEQ_FIELD_NEW = tonumber(part[1]), false end
    for j = 2, #part do metas[i + j - 2] = part[j] end
  end
  return metas
end

-- The changes made, as the changelog's fields and values: packed seq,
-- change, packed seq, change, ...
local PENDING, N_PENDING = {}, 0
local function emit(seq, blob)
  PENDING[N_PENDING + 1] = pack(seq)
  PENDING[N_PENDING + 2] = blob
  N_PENDING = N_PENDING + 2
end

-- Every write script calls finish() before it returns (seq_written: the
-- script wrote the seq with its meta values): the changes go to the
-- changelog, an entry per CHUNK changes (Lua's unpack has a limit).
local function finish(seq_written)
  if not SEQ_NOW then return end
  if not seq_written then
    D_KEYS = D_KEYS + redis.call('HSET', META, '', SEQ_NOW) - (SEQ_FIELD_NEW and 1 or 0)
  end
  for i = 1, N_PENDING, 2 * CHUNK do
    local j = math.min(i + 2 * CHUNK - 1, N_PENDING)
    local first = SEQ_FIRST + (i - 1) / 2
    log_append(first, first + (j - i - 1) / 2, unpack(PENDING, i, j))
  end
end

-- The version in a meta value (its msgpack int from the 11th byte on).
local unpack_one = cmsgpack.unpack_one
local function meta_version(meta)
  if not meta then return 0 end
  local _, version = unpack_one(meta, 10)
  return version
end

-- The deadlines of the keys among ``names`` whose meta value says they
-- have a ttl, by index (nil for the others; none looked up when none has).
local function deadlines(names, metas)
  local at, which = {}, {}
  for i = 1, #names do
    local meta = metas[i]
    if meta and string.byte(meta, 10) == 116 then
      at[#at + 1] = i
      which[#which + 1] = names[i]
    end
  end
  local out = {}
  for i = 1, #which, CHUNK do
    local scores = redis.call('ZMSCORE', EXP, unpack(which, i, math.min(i + CHUNK - 1, #which)))
    for j = 1, #scores do
      if scores[j] then out[at[i + j - 1]] = tonumber(scores[j]) end
    end
  end
  return out
end

-- Commit the expiry of ``key`` (at ``version``): its expire change, and it
-- leaves every index.
local function expire(key, version)
  local seq = next_seq()
  emit(seq, pack({kind='expire', store=STORE, key=key, version=version, seq=seq,
                  committed_at=NOW}))
  D_TTL = D_TTL - redis.call('ZREM', EXP, key)
  D_KEYS = D_KEYS - redis.call('HDEL', META, key)
  redis.call('DEL', KPREFIX .. key)
end

-- ``key`` (at ``version``) has deadline ``score`` (a number, or nil for
-- none): expire it if it is due or Redis already dropped it (Redis drops
-- an entry 1 ms before its deadline, so one more than 2 ms ahead is
-- alive). True if it expired.
local function expire_if_due(key, version, score)
  if not score or score > NOW + 0.002 then return false end
  if score > NOW and redis.call('EXISTS', KPREFIX .. key) == 1 then return false end
  expire(key, version)
  return true
end
"""

_COUNTS = r"""
-- The last seq, the live keys, the keys with a ttl.
local function counts()
  local seq = redis.call('HGET', META, '')
  local keys = redis.call('HLEN', META)
  if seq then keys = keys - 1 end
  return tonumber(seq or '0'), keys, redis.call('ZCARD', EXP)
end
"""

# An entry is a msgpack map: its header, the fields a set script knows,
# then the head's fields (the head without its own map header of 5 fields).
# Its start: the map header (a fixmap of 9 fields, 10 with expires_at),
# then the version's name; field names are msgpack fixstr (0xa0 + length).
_ENTRY = r"""
local P_START, P_START_EXPIRES = '\137\167version', '\138\167version'
local P_SEQ, P_CREATED = '\163seq', '\170created_at'
local P_NOW = pack(NOW)
local P_COMMITTED = '\172committed_at' .. P_NOW
"""

# One key: ARGV[4] ttl seconds or '', ARGV[5] if_version or '', ARGV[6]
# expires_at (absolute, for restore) or '', ARGV[7] created_at or ''
# (restore), ARGV[8] the key, ARGV[9] its head without the head's first byte
# (its map header). Straight-line code: every closure, table or command
# costs on every call, and this is the write most made.
# Returns {1, change of keys, change of ttl keys, now, last seq, expires_at
# or '', version, seq, created_at (msgpack float64)} or {0, actual_version,
# change of keys, change of ttl keys, last seq (0: none)} on a
# compare-and-set conflict (a due expiry may still have been committed).
_SET = r"""
local key = ARGV[8]
local entry = KPREFIX .. key
local m = redis.call('HMGET', META, key, '')
local meta, seq = m[1], tonumber(m[2] or '0')
local version = 0
if meta then
  local _, old = cmsgpack.unpack_one(meta, 10)
  version = old
end
local seq_field_new = m[2] and 0 or 1
local first, d_keys, d_ttl, expired = seq + 1, 0, 0, nil
-- The meta value says whether the key has a ttl; only then is the expiry
-- index read: a due expiry commits first (as expire_if_due does).
local had_ttl = meta and string.byte(meta, 10) == 116
if had_ttl then
  local score = tonumber(redis.call('ZSCORE', EXP, key))
  if not score then
    had_ttl = false
  elseif score <= NOW + 0.002 and (score <= NOW or redis.call('EXISTS', entry) == 0) then
    seq = seq + 1
    expired = pack({kind='expire', store=STORE, key=key, version=version, seq=seq,
                    committed_at=NOW})
    d_ttl = -redis.call('ZREM', EXP, key)
    d_keys = -redis.call('HDEL', META, key)
    redis.call('DEL', entry)
    meta, had_ttl, version = false, false, 0
  end
end
local if_version = tonumber(ARGV[5])
if if_version and version ~= if_version then
  if expired then
    d_keys = d_keys + redis.call('HSET', META, '', seq) - seq_field_new
    log_append(first, seq, pack(seq), expired)
  end
  return {0, version, d_keys, d_ttl, expired and seq or 0}
end
version = version + 1
seq = seq + 1
local pv, ps = pack(version), pack(seq)
local created = meta and string.sub(meta, 1, 9) or P_NOW
if ARGV[7] ~= '' then created = pack(tonumber(ARGV[7])) end
local expires = tonumber(ARGV[6])
if ARGV[4] ~= '' then expires = NOW + tonumber(ARGV[4]) end
local blob, expires_str, flag
if expires then
  expires_str, flag = string.format('%.17g', expires), 't'
  blob = P_START_EXPIRES .. pv .. P_SEQ .. ps .. P_COMMITTED ..
    P_CREATED .. created .. '\170expires_at' .. pack(expires) .. ARGV[9]
  -- Redis drops the entry 1 ms before its deadline: reads never see it after.
  redis.call('SET', entry, blob, 'PXAT', math.floor(expires * 1000) - 1)
  d_ttl = d_ttl + redis.call('ZADD', EXP, expires_str, key)
else
  flag = '-'
  blob = P_START .. pv .. P_SEQ .. ps .. P_COMMITTED .. P_CREATED .. created .. ARGV[9]
  redis.call('SET', entry, blob)  -- a SET without a ttl drops the old one
  if had_ttl then d_ttl = d_ttl - redis.call('ZREM', EXP, key) end
end
d_keys = d_keys + redis.call('HSET', META, key, created .. flag .. pv, '', seq) - seq_field_new
if expired then
  log_append(first, seq, pack(first), expired, ps, blob)
else
  log_append(first, seq, ps, blob)
end
return {1, d_keys, d_ttl, NOW_STR, seq, expires_str or '', version, seq, created}
"""

# Many keys: ARGV[4] ttl seconds or '', ARGV[5] a msgpack array of the keys,
# ARGV[6] one of their heads, each without its first byte (its map header)
# and as a msgpack str, ARGV[7] '1' for each key's version, seq and
# created_at (msgpack float64) in the reply. (Two strings that cmsgpack
# splits, not thousands of arguments or a split in Lua: most of a large
# set_many's cost is the script's. The entries share the namespace's hash
# tag, so they are in the slot of the declared keys.)
# Returns {1, change of keys, change of ttl keys, now, last seq, expires_at
# or '', v1, seq1, created1, ...}.
_SET_MANY = r"""
local expires = ARGV[4] ~= '' and NOW + tonumber(ARGV[4]) or nil
local details = ARGV[7] == '1'
local expires_str = expires and string.format('%.17g', expires)
local out = {1, 0, 0, NOW_STR, 0, expires_str or ''}
local start, P_EXPIRES, FLAG = P_START, '', '-'
if expires then
  start, P_EXPIRES, FLAG = P_START_EXPIRES, '\170expires_at' .. pack(expires), 't'
end
local names, heads = cmsgpack.unpack(ARGV[5]), cmsgpack.unpack(ARGV[6])
local n = #names
local metas = read_metas(names)
-- The expiries due among these keys commit first; the keys that keep a
-- ttl they had lose it unless this set gives one.
local had_ttl = {}
local scores = deadlines(names, metas)
for i = 1, n do
  local score = scores[i]
  if score then
    if expire_if_due(names[i], meta_version(metas[i]), score) then
      metas[i] = false
    else
      had_ttl[#had_ttl + 1] = names[i]
    end
  end
end
-- MSET / HSET calls built in place, run every CHUNK keys; the last HSET
-- writes the seq too. (The loop builds the commands in place and counts
-- their lengths: a call or a # per key shows.)
local entries, new_meta, ne, nm = {'MSET'}, {'HSET', META}, 1, 2
for i = 1, n do
  local key, meta = names[i], metas[i]
  local version, created = 1, P_NOW
  if meta then
    local _, old = unpack_one(meta, 10)
    version = old + 1
    created = string.sub(meta, 1, 9)
  end
  local seq = next_seq()
  local pv, ps = pack(version), pack(seq)
  local blob = start .. pv .. P_SEQ .. ps .. P_COMMITTED .. P_CREATED ..
    created .. P_EXPIRES .. heads[i]
  if expires then
    -- Redis drops the entry 1 ms before its deadline: reads never see it after.
    redis.call('SET', KPREFIX .. key, blob, 'PXAT', math.floor(expires * 1000) - 1)
  else
    entries[ne + 1] = KPREFIX .. key
    entries[ne + 2] = blob
    ne = ne + 2
  end
  new_meta[nm + 1] = key
  new_meta[nm + 2] = created .. FLAG .. pv
  nm = nm + 2
  if nm > 2 * CHUNK then
    if ne > 1 then redis.call(unpack(entries, 1, ne)) end
    D_KEYS = D_KEYS + redis.call(unpack(new_meta, 1, nm))
    entries, new_meta, ne, nm = {'MSET'}, {'HSET', META}, 1, 2
  end
  PENDING[N_PENDING + 1] = ps
  PENDING[N_PENDING + 2] = blob
  N_PENDING = N_PENDING + 2
  if details then
    out[#out + 1] = version
    out[#out + 1] = seq
    out[#out + 1] = created
  end
end
if ne > 1 then redis.call(unpack(entries, 1, ne)) end
new_meta[nm + 1] = ''
new_meta[nm + 2] = SEQ_NOW
D_KEYS = D_KEYS + redis.call(unpack(new_meta, 1, nm + 2)) - (SEQ_FIELD_NEW and 1 or 0)
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
finish(true)
out[2], out[3], out[5] = D_KEYS, D_TTL, SEQ_NOW
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
for i = 4, #KEYS do names[#names + 1] = string.sub(KEYS[i], KPL + 1) end
local metas = read_metas(names)
local scores = deadlines(names, metas)
for i, key in ipairs(names) do
  local version = meta_version(metas[i])
  if scores[i] and expire_if_due(key, version, scores[i]) then version = 0 end
  if if_version and version ~= if_version then
    finish(false)
    return {0, version, D_KEYS, D_TTL, SEQ_NOW or 0}
  end
  if version == 0 then
    out[#out + 1] = 0
    out[#out + 1] = 0
  else
    local seq = next_seq()
    redis.call('DEL', KEYS[i + 3])
    D_KEYS = D_KEYS - redis.call('HDEL', META, key)
    if scores[i] then D_TTL = D_TTL - redis.call('ZREM', EXP, key) end
    emit(seq, pack({kind='delete', store=STORE, key=key, version=version, seq=seq,
                    committed_at=NOW}))
    out[#out + 1] = version
    out[#out + 1] = seq
  end
end
finish(false)
out[2], out[3], out[5] = D_KEYS, D_TTL, SEQ_NOW or 0
return out
"""

# ARGV[4] the most keys to expire. Returns {expired, keys, ttl_keys,
# next deadline or '', last seq, now}.
_SWEEP = r"""
local due = redis.call('ZRANGEBYSCORE', EXP, '-inf', NOW_STR, 'LIMIT', 0, tonumber(ARGV[4]))
if #due > 0 then
  local metas = read_metas(due)
  for i, key in ipairs(due) do
    expire(key, meta_version(metas[i]))
  end
  finish(false)
end
local nxt = redis.call('ZRANGE', EXP, 0, 0, 'WITHSCORES')
local seq, keys, ttl_keys = counts()
return {#due, keys, ttl_keys, nxt[2] or '', seq, NOW_STR}
"""

# ARGV[4] cursor, ARGV[5] MATCH pattern, ARGV[6] COUNT. Returns
# {next cursor, live key, ...}: keys Redis already dropped are left out.
_SCAN = r"""
local r = redis.call('HSCAN', META, ARGV[4], 'MATCH', ARGV[5], 'COUNT', tonumber(ARGV[6]))
local out = {r[1]}
local fields = r[2]
for i = 1, #fields, 2 do
  local key = fields[i]
  if key ~= '' and redis.call('EXISTS', KPREFIX .. key) == 1 then out[#out + 1] = key end
end
return out
"""

# Returns {seq, now, blob, ...}: every live entry at one seq (the client
# sorts them by seq).
_SNAPSHOT = r"""
local out = {tonumber(redis.call('HGET', META, '') or '0'), NOW_STR}
local names = redis.call('HKEYS', META)
for i = 1, #names, CHUNK do
  local keys = {}
  for j = i, math.min(i + CHUNK - 1, #names) do
    if names[j] ~= '' then keys[#keys + 1] = KPREFIX .. names[j] end
  end
  if #keys > 0 then
    for _, blob in ipairs(redis.call('MGET', unpack(keys))) do
      if blob then out[#out + 1] = blob end
    end
  end
end
return out
"""

# The entries of KEYS[4..] (false for a missing or expired key; Redis drops
# an entry before its deadline).
_GET_MANY = r"""
local out = {}
for i = 4, #KEYS, CHUNK do
  for _, blob in ipairs(redis.call('MGET', unpack(KEYS, i, math.min(i + CHUNK - 1, #KEYS)))) do
    out[#out + 1] = blob
  end
end
return out
"""

# ARGV[4] first seq, ARGV[6] the most entries to read. Returns {the oldest
# entry's seq (0 if empty), seq, n, change 1, ..., change n, seq, n, ...}:
# the entries from the one holding ARGV[4] on (an entry's id is the last
# seq of its changes).
_RANGE = r"""
local first = redis.call('XRANGE', LOG, '-', '+', 'COUNT', 1)
local out = {0}
if first[1] then out[1] = tonumber(string.sub(first[1][1], 3)) end
local entries = redis.call('XRANGE', LOG, '0-' .. ARGV[4], '+', 'COUNT', tonumber(ARGV[6]))
for _, e in ipairs(entries) do
  local fields = e[2]
  out[#out + 1] = tonumber(string.sub(e[1], 3))
  out[#out + 1] = #fields / 2
  for i = 2, #fields, 2 do out[#out + 1] = fields[i] end
end
return out
"""

# Returns {seq, keys, ttl_keys}.
# ARGV[4] 'probe' (when a store opens) adds whether the server has the
# commands the scripts use (ZMSCORE, SET ... PXAT: Redis 6.2) and whether
# ARGV[5] exists: the seq key of an earlier layout of the namespace.
_STATUS = r"""
local seq, keys, ttl_keys = counts()
local out = {seq, keys, ttl_keys}
if ARGV[4] == 'probe' then
  local r = redis.pcall('ZMSCORE', EXP, '')
  out[4] = (type(r) == 'table' and r.err == nil) and 1 or 0
  out[5] = redis.call('EXISTS', ARGV[5])
end
return out
"""


_WRITES = frozenset({"set", "set_many", "delete", "sweep"})


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


_WRITER = (_BASE, _CLOCK, _LOG, _WRITE)

SCRIPTS = {
    script.name: script
    for script in [
        Script("set", _BASE, _CLOCK, _LOG, _ENTRY, _SET),
        Script("set_many", *_WRITER, _ENTRY, _SET_MANY),
        Script("delete", *_WRITER, _DELETE),
        Script("sweep", *_WRITER, _COUNTS, _SWEEP),
        Script("scan", _BASE, _SCAN),
        Script("snapshot", _BASE, _CLOCK, _SNAPSHOT),
        Script("get_many", _BASE, _GET_MANY),
        Script("range", _BASE, _RANGE),
        Script("status", _BASE, _COUNTS, _STATUS),
    ]
}
