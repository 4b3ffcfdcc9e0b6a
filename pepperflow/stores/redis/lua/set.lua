-- One key: ARGV[4] ttl seconds or '', ARGV[5] if_version or '', ARGV[6]
-- expires_at (absolute, for restore) or '', ARGV[7] created_at or ''
-- (restore), ARGV[8] the key, ARGV[9] its head without the head's first
-- byte (its map header), ARGV[10] '1' for the changes in the reply, ARGV[11]
-- its terms (a msgpack array of str) or '' for a store without index=.
-- Straight-line code: every closure, table or command costs on every
-- call, and this is the write most made. Replies as every write script
-- (write.lua's reply()); on a compare-and-set conflict the head says the
-- key's version, and a due expiry may still have been committed.
-- Everything that can fail comes first: the checks of its arguments
-- (args.lua), its reads, then its first write, the changelog append.
local key = ARGV[8]
if key == '' then refuse('the key must not be empty', key) end
local ttl = number_arg(4, 'ttl must be positive seconds', 0)
local if_version = int_arg(5, 'if_version must be a whole number >= 0', 0)
local expires = number_arg(6, 'expires_at must be positive seconds', 0)
local created_at = number_arg(7, 'created_at must be finite seconds', -math.huge)
local terms = ix_terms_arg(11, false)
if ttl then expires = NOW + ttl end
local px = expires and pxat(expires)
local entry = KPREFIX .. key
local m = redis.call('HMGET', META, key, '')
local meta, seq = m[1], tonumber(m[2] or '0')
ix_read(terms and {key} or {}, terms ~= nil)  -- without index=: whether it keeps one
if NEED then return needed() end
local version = 0
if meta then
  local _, old = cmsgpack.unpack_one(meta, 10)
  version = old
end
local seq_field_new = m[2] and 0 or 1
local first, d_keys, d_ttl, expired = seq + 1, 0, 0, nil
-- The meta value says whether the key has a ttl; only then is the expiry
-- index read: a due expiry commits first (as write.lua's expire_if_due).
local had_ttl = meta and string.byte(meta, 10) == 116
if had_ttl then
  local score = tonumber(redis.call('ZSCORE', EXP, key))
  if not score then
    had_ttl = false
  elseif score <= NOW + 0.002 and (score <= NOW or redis.call('EXISTS', entry) == 0) then
    seq = seq + 1
    expired = pack({kind='expire', store=STORE, key=key, version=version, seq=seq,
                    committed_at=NOW})
    meta, had_ttl, version = false, false, 0
  end
end
local details = ARGV[10] == '1'
if if_version and version ~= if_version then
  if not expired then
    return {'\152' .. pack(false, version, 0, 0, 0, NOW, 0, nil)}
  end
  log_append(first, seq, pack(seq), expired)
  d_ttl = -redis.call('ZREM', EXP, key)
  d_keys = -redis.call('HDEL', META, key)
  redis.call('DEL', entry)
  ix_drop(key)
  d_keys = d_keys + redis.call('HSET', META, '', seq) - seq_field_new
  local out = {'\152' .. pack(false, version, 0, d_keys, d_ttl, NOW, seq, nil)}
  if details then out[2] = expired end
  return out
end
version = version + 1
seq = seq + 1
local pv, ps = pack(version), pack(seq)
local created = meta and string.sub(meta, 1, 9) or P_NOW
if created_at then created = pack_time(created_at) end
local blob, flag
if expires then
  flag = 't'
  blob = P_START_EXPIRES .. pv .. P_SEQ .. ps .. P_COMMITTED ..
    P_CREATED .. created .. '\170expires_at' .. pack(expires) .. ARGV[9]
else
  flag = '-'
  blob = P_START .. pv .. P_SEQ .. ps .. P_COMMITTED .. P_CREATED .. created .. ARGV[9]
end
if expired then
  log_append(first, seq, pack(first), expired, ps, blob)
  d_ttl = -redis.call('ZREM', EXP, key)
  d_keys = -redis.call('HDEL', META, key)
  redis.call('DEL', entry)
else
  log_append(first, seq, ps, blob)
end
if expires then
  redis.call('SET', entry, blob, 'PXAT', px)
  d_ttl = d_ttl + redis.call('ZADD', EXP, string.format('%.17g', expires), key)
else
  redis.call('SET', entry, blob)  -- a SET without a ttl drops the old one
  if had_ttl then d_ttl = d_ttl - redis.call('ZREM', EXP, key) end
end
d_keys = d_keys + redis.call('HSET', META, key, created .. flag .. pv, '', seq) - seq_field_new
if terms then ix_put(key, terms, created) end
local out = {'\152' .. pack(true, version, 1, d_keys, d_ttl, NOW, seq, expires)}
if details then
  if expired then out[2], out[3] = expired, blob else out[2] = blob end
end
return out
