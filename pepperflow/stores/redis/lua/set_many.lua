-- Many keys: ARGV[4] ttl seconds or '', ARGV[5] a msgpack array of the keys,
-- ARGV[6] one of their heads, each without its first byte (its map header)
-- and as a msgpack str, ARGV[7] '1' for the changes in the reply, ARGV[8]
-- a msgpack array of their terms (an array of str each) or '' for a store
-- without index=; KEYS[4..3+n] are the keys' entries, in the same order.
-- (The keys and heads are two strings that cmsgpack splits, not thousands
-- of arguments or a split in Lua: most of a large set_many's cost is the
-- script's.)
-- The arguments are checked and the meta values decoded before the first
-- write (args.lua).
local expires = number_arg(4, 'ttl must be positive seconds', 0)
if expires then expires = NOW + expires end
local px = expires and pxat(expires)
local expires_str = expires and string.format('%.17g', expires)
local start, P_EXPIRES, FLAG = P_START, '', '-'
if expires then
  start, P_EXPIRES, FLAG = P_START_EXPIRES, '\170expires_at' .. pack(expires), 't'
end
local names, heads = cmsgpack.unpack(ARGV[5]), cmsgpack.unpack(ARGV[6])
if type(names) ~= 'table' or type(heads) ~= 'table' or #names == 0 or #names ~= #heads then
  refuse('the keys and their heads must be msgpack arrays of one length > 0', ARGV[5])
end
local n = #names
local terms = ix_terms_arg(8, true)
if terms and #terms ~= n then refuse('one array of terms per key', ARGV[8]) end
local metas = read_metas(names)
ix_read(names, terms ~= nil)
if NEED then return needed() end
local versions = {}
for i = 1, n do
  local key = names[i]
  if type(key) ~= 'string' or key == '' or type(heads[i]) ~= 'string' then
    refuse('every key must be a non-empty str with a head', key)
  end
  versions[i] = meta_version(metas[i])
end
-- The expiries due among these keys commit first; the keys that keep a
-- ttl they had lose it unless this set gives one.
local had_ttl = {}
local scores = deadlines(names, metas)
for i = 1, n do
  local score = scores[i]
  if score then
    if expire_if_due(names[i], versions[i], score) then
      metas[i], versions[i] = false, 0
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
  local version, created = versions[i] + 1, P_NOW
  if meta then created = string.sub(meta, 1, 9) end
  local pv, ps = pack(version), pack(next_seq())
  local blob = start .. pv .. P_SEQ .. ps .. P_COMMITTED .. P_CREATED ..
    created .. P_EXPIRES .. heads[i]
  if expires then
    redis.call('SET', KEYS[3 + i], blob, 'PXAT', px)
  else
    entries[ne + 1] = KEYS[3 + i]
    entries[ne + 2] = blob
    ne = ne + 2
  end
  if terms then ix_put(key, terms[i], created) end
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
return reply(true, 0, n, expires, ARGV[7] == '1')
