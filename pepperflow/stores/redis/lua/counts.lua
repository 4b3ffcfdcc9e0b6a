-- The last seq, the live keys, the keys with a ttl.
local function counts()
  local seq = redis.call('HGET', META, '')
  local keys = redis.call('HLEN', META)
  if seq then keys = keys - 1 end
  return tonumber(seq or '0'), keys, redis.call('ZCARD', EXP)
end
