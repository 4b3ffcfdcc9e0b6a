-- ARGV[4] '1' (when a store opens) probes whether the server has the
-- commands the scripts use (ZMSCORE, SET ... PXAT: Redis 6.2) and whether
-- ARGV[5] exists: the seq key of an earlier layout of the namespace.
-- Replies with its head, a msgpack array: last seq, live keys, keys with a
-- ttl, supported, earlier layout, whether the namespace keeps an index.
local seq, keys, ttl_keys = counts()
local supported, earlier = true, false
if ARGV[4] == '1' then
  local r = redis.pcall('ZMSCORE', EXP, '')
  supported = type(r) == 'table' and r.err == nil
  earlier = redis.call('EXISTS', ARGV[5]) == 1
end
local indexed = redis.call('HEXISTS', IX, '') == 1
return {'\150' .. cmsgpack.pack(seq, keys, ttl_keys, supported, earlier, indexed)}
