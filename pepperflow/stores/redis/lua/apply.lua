-- Another store's changes, one per key, and a sink's mark, at once
-- (apply_changes): ARGV[4] a msgpack array of the keys, ARGV[5] a msgpack
-- array of their deadlines (0: none), ARGV[6] their created_at, each a
-- msgpack float64 (9 bytes) end to end, ARGV[7] their heads as set_many's
-- (an empty head: remove the key), ARGV[8] the mark's name or '', ARGV[9]
-- the mark, ARGV[10] '1' for the changes in the reply, ARGV[11] a msgpack
-- array of their terms (an array of str each; empty for a removal) or ''
-- for a store without index=. KEYS[4] is the
-- namespace's marks hash. A set whose deadline has passed removes its key;
-- a removal expires the key if it is due, else deletes it. Replies as every
-- write script (write.lua's reply()), with the count of keys set or
-- removed and the nearest deadline it set.
local names, deadlines_at, heads = cmsgpack.unpack(ARGV[4]), cmsgpack.unpack(ARGV[5]),
  cmsgpack.unpack(ARGV[7])
local born_all = ARGV[6]
local n = #names
local terms = ix_terms_arg(11, true)
if terms and #terms ~= n then refuse('one array of terms per key', ARGV[11]) end
local sets = nil  -- index.lua's ix_read(): true, false, or nil for removals only
if terms then
  sets = true
else
  for i = 1, n do
    if heads[i] ~= '' then sets = false end
  end
end
local metas = read_metas(names)
ix_read(names, sets)
if NEED then return needed() end
local scores = deadlines(names, metas)
local changed, nearest = 0, nil
for i = 1, n do
  local key, meta, score, at = names[i], metas[i], scores[i], deadlines_at[i]
  local version = meta_version(meta)
  if score and expire_if_due(key, version, score) then meta, score, version = false, nil, 0 end
  local entry = KPREFIX .. key
  if heads[i] ~= '' and (at == 0 or at > NOW) then
    version = version + 1
    local seq = next_seq()
    local pv, ps = pack(version), pack(seq)
    local born = string.sub(born_all, 9 * i - 8, 9 * i)
    local blob, flag
    if at ~= 0 then
      flag = 't'
      blob = P_START_EXPIRES .. pv .. P_SEQ .. ps .. P_COMMITTED .. P_CREATED .. born ..
        '\170expires_at' .. pack(at) .. heads[i]
      -- Redis drops the entry 1 ms before its deadline: reads never see it after.
      redis.call('SET', entry, blob, 'PXAT', math.floor(at * 1000) - 1)
      D_TTL = D_TTL + redis.call('ZADD', EXP, string.format('%.17g', at), key)
      if not nearest or at < nearest then nearest = at end
    else
      flag = '-'
      blob = P_START .. pv .. P_SEQ .. ps .. P_COMMITTED .. P_CREATED .. born .. heads[i]
      redis.call('SET', entry, blob)  -- a SET without a ttl drops the old one
      if score then D_TTL = D_TTL - redis.call('ZREM', EXP, key) end
    end
    D_KEYS = D_KEYS + redis.call('HSET', META, key, born .. flag .. pv)
    if terms then ix_put(key, terms[i], born) end
    emit(seq, blob)
    changed = changed + 1
  elseif version ~= 0 then
    local seq = next_seq()
    redis.call('DEL', entry)
    D_KEYS = D_KEYS - redis.call('HDEL', META, key)
    if score then D_TTL = D_TTL - redis.call('ZREM', EXP, key) end
    ix_drop(key)
    emit(seq, pack({kind='delete', store=STORE, key=key, version=version, seq=seq,
                    committed_at=NOW}))
    changed = changed + 1
  end
end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[4], ARGV[8], ARGV[9]) end
finish(false)
return reply(true, 0, changed, nearest, ARGV[10] == '1')
