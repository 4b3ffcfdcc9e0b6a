-- One key: ARGV[4] ttl seconds or '', ARGV[5] if_version or '', ARGV[6]
-- expires_at (absolute, for restore) or '', ARGV[7] created_at or ''
-- (restore), ARGV[8] the key, ARGV[9] its head without the head's first
-- byte (its map header), ARGV[10] '1' for the changes in the reply.
-- Straight-line code: every closure, table or command costs on every
-- call, and this is the write most made. Replies as every write script
-- (write.lua's reply()); on a compare-and-set conflict the head says the
-- key's version, and a due expiry may still have been committed.
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
    d_ttl = -redis.call('ZREM', EXP, key)
    d_keys = -redis.call('HDEL', META, key)
    redis.call('DEL', entry)
    meta, had_ttl, version = false, false, 0
  end
end
local details = ARGV[10] == '1'
local if_version = tonumber(ARGV[5])
if if_version and version ~= if_version then
  if not expired then
    return {'\152' .. pack(false, version, 0, d_keys, d_ttl, NOW, 0, nil)}
  end
  d_keys = d_keys + redis.call('HSET', META, '', seq) - seq_field_new
  log_append(first, seq, pack(seq), expired)
  local out = {'\152' .. pack(false, version, 0, d_keys, d_ttl, NOW, seq, nil)}
  if details then out[2] = expired end
  return out
end
version = version + 1
seq = seq + 1
local pv, ps = pack(version), pack(seq)
local created = meta and string.sub(meta, 1, 9) or P_NOW
if ARGV[7] ~= '' then created = pack(tonumber(ARGV[7])) end
local expires = tonumber(ARGV[6])
if ARGV[4] ~= '' then expires = NOW + tonumber(ARGV[4]) end
local blob, flag
if expires then
  flag = 't'
  blob = P_START_EXPIRES .. pv .. P_SEQ .. ps .. P_COMMITTED ..
    P_CREATED .. created .. '\170expires_at' .. pack(expires) .. ARGV[9]
  -- Redis drops the entry 1 ms before its deadline: reads never see it after.
  redis.call('SET', entry, blob, 'PXAT', math.floor(expires * 1000) - 1)
  d_ttl = d_ttl + redis.call('ZADD', EXP, string.format('%.17g', expires), key)
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
local out = {'\152' .. pack(true, version, 1, d_keys, d_ttl, NOW, seq, expires)}
if details then
  if expired then out[2], out[3] = expired, blob else out[2] = blob end
end
return out
