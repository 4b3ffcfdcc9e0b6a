-- The sets of concurrent writers of one process, each its own set, in one
-- script (the client's batching, _batching.py): ARGV[4] a msgpack array of
-- the keys (a key may come more than once: its sets apply in order),
-- ARGV[5] their heads as set_many's, ARGV[6] a msgpack array of their ttls
-- (0: none), ARGV[7] of their if_versions (-1: none), ARGV[8] '1' for the
-- changes in the reply, ARGV[9] a msgpack array of their terms (an array of
-- str each) or '' for a store without index=. Each set is what set.lua
-- does for one key; a compare-and-set that does not match skips its set
-- alone. Everything is read and every change built first, then the
-- changelog append (it fails, PFSTATE, before any write when the meta hash
-- was lost), then the writes: each key's entry, meta value and expiry
-- once, in their final state. Replies with a head
-- [change of keys, change of ttl keys, now, last seq, nearest deadline set,
-- per set its key's new version, or -1 - the key's version on a conflict],
-- then the changes committed when asked.
local names, heads = cmsgpack.unpack(ARGV[4]), cmsgpack.unpack(ARGV[5])
local ttls, ifs = cmsgpack.unpack(ARGV[6]), cmsgpack.unpack(ARGV[7])
local n = type(names) == 'table' and #names or 0
if n == 0 or type(heads) ~= 'table' or type(ttls) ~= 'table' or type(ifs) ~= 'table'
   or #heads ~= n or #ttls ~= n or #ifs ~= n then
  refuse('the keys, heads, ttls and if_versions must be msgpack arrays of one length > 0', ARGV[4])
end
local terms = ix_terms_arg(9, true)
if terms and #terms ~= n then refuse('one array of terms per key', ARGV[9]) end
-- Each key once, in the order first seen; its state as the sets go.
local keys, at = {}, {}
for i = 1, n do
  local key, ttl, want = names[i], ttls[i], ifs[i]
  if type(key) ~= 'string' or key == '' or type(heads[i]) ~= 'string' then
    refuse('every key must be a non-empty str with a head', key)
  end
  if type(ttl) ~= 'number' or ttl < 0 or ttl ~= ttl or ttl == math.huge then
    refuse('ttl must be positive seconds', ttl)
  end
  if type(want) ~= 'number' or want < -1 or want ~= math.floor(want) then
    refuse('if_version must be a whole number >= 0', want)
  end
  if ttl > 0 then pxat(NOW + ttl) end
  if not at[key] then
    keys[#keys + 1] = key
    at[key] = #keys
  end
end
local metas = read_metas(keys, true)
-- A store without index= only checks that the namespace keeps none.
ix_read(terms and keys or {}, terms ~= nil)
if NEED then return needed() end
local scores = deadlines(keys, metas)
-- A due expiry commits first (as write.lua's expire_if_due), written below.
local versions, had_ttl, expired = {}, {}, {}
for j = 1, #keys do
  local key, version, score = keys[j], meta_version(metas[j]), scores[j]
  if score and score <= NOW + 0.002 and (score <= NOW or
      redis.call('EXISTS', KPREFIX .. key) == 0) then
    local seq = next_seq()
    emit(seq, pack({kind='expire', store=STORE, key=key, version=version, seq=seq,
                    committed_at=NOW}))
    expired[#expired + 1] = key
    metas[j], version, score = false, 0, nil
  end
  versions[j], had_ttl[j] = version, score ~= nil
end
local results, nearest, final, px, indexed = {}, nil, {}, {}, {}
for i = 1, n do
  local j, ttl, want = at[names[i]], ttls[i], ifs[i]
  local version = versions[j]
  if want >= 0 and version ~= want then
    results[i] = -1 - version
  else
    version = version + 1
    local pv, ps = pack(version), pack(next_seq())
    local meta = metas[j]
    local created = meta and string.sub(meta, 1, 9) or P_NOW
    local blob, flag
    if ttl > 0 then
      local expires = NOW + ttl
      flag, px[j] = 't', expires
      blob = P_START_EXPIRES .. pv .. P_SEQ .. ps .. P_COMMITTED .. P_CREATED ..
        created .. '\170expires_at' .. pack(expires) .. heads[i]
      if not nearest or expires < nearest then nearest = expires end
    else
      flag, px[j] = '-', false
      blob = P_START .. pv .. P_SEQ .. ps .. P_COMMITTED .. P_CREATED .. created .. heads[i]
    end
    metas[j], versions[j], final[j] = created .. flag .. pv, version, blob
    if terms then indexed[#indexed + 1] = i end
    PENDING[N_PENDING + 1], PENDING[N_PENDING + 2] = ps, blob
    N_PENDING = N_PENDING + 2
    results[i] = version
  end
end
finish(true)  -- the append; the seq is written with the meta values below
for _, key in ipairs(expired) do
  D_TTL = D_TTL - redis.call('ZREM', EXP, key)
  D_KEYS = D_KEYS - redis.call('HDEL', META, key)
  redis.call('DEL', KPREFIX .. key)
  ix_drop(key)
end
for _, i in ipairs(indexed) do
  local key = names[i]
  ix_put(key, terms[i], string.sub(metas[at[key]], 1, 9))
end
-- Each key set: its entry (MSET for those without a ttl), its meta value
-- and the seq (one HSET), its expiry.
local entries, new_meta, ne, nm = {'MSET'}, {'HSET', META}, 1, 2
for j = 1, #keys do
  local blob, key = final[j], keys[j]
  if blob then
    local expires = px[j]
    if expires then
      redis.call('SET', KPREFIX .. key, blob, 'PXAT', pxat(expires))
      D_TTL = D_TTL + redis.call('ZADD', EXP, string.format('%.17g', expires), key)
    else
      entries[ne + 1], entries[ne + 2], ne = KPREFIX .. key, blob, ne + 2
      if had_ttl[j] then D_TTL = D_TTL - redis.call('ZREM', EXP, key) end
    end
    new_meta[nm + 1], new_meta[nm + 2], nm = key, metas[j], nm + 2
  end
end
if ne > 1 then redis.call(unpack(entries, 1, ne)) end
if SEQ_NOW then
  new_meta[nm + 1], new_meta[nm + 2] = '', SEQ_NOW
  D_KEYS = D_KEYS + redis.call(unpack(new_meta, 1, nm + 2)) - (SEQ_FIELD_NEW and 1 or 0)
end
local out = {'\150' .. pack(D_KEYS, D_TTL, NOW, SEQ_NOW or 0, nearest) .. pack(results)}
if ARGV[8] == '1' then return with_changes(out) end
return out
