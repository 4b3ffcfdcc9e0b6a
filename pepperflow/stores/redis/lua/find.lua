-- The store's index answers a lookup (index.lua keeps it): ARGV[4] the
-- terms (a msgpack array of str), ARGV[5]/ARGV[6] created_at's bounds and
-- ARGV[7]/ARGV[8] expires_at's (scores, '' for none), ARGV[9]/ARGV[10] the
-- keys' ZRANGEBYLEX bounds ('' for none). The candidates are the smallest of
-- the sets these name (every key when none), kept when they have every
-- term. Replies with its head, a msgpack array of now, then the live entries
-- of the candidates (Redis drops an entry before its deadline); the client
-- checks the bounds and the pattern exactly, orders and pages them.
if redis.call('HEXISTS', IX, '') == 0 then
  error('PFSTATE the index ' .. IX .. ' was lost (deleted or evicted): open the store'
        .. ' again to rebuild it', 0)
end
local terms = cmsgpack.unpack(ARGV[4])
local function bound(i, default)
  if ARGV[i] == '' then return default end
  return ARGV[i]
end
local best, size = nil, nil
local function consider(n, fetch)
  if not size or n < size then best, size = fetch, n end
end
for i, term in ipairs(terms) do
  consider(redis.call('SCARD', TPREFIX .. term), function()
    return redis.call('SMEMBERS', TPREFIX .. term), i
  end)
end
for _, r in ipairs({{CREATED, 5}, {EXP, 7}}) do
  local zset, i = r[1], r[2]
  if ARGV[i] ~= '' or ARGV[i + 1] ~= '' then
    local lo, hi = bound(i, '-inf'), bound(i + 1, '+inf')
    consider(redis.call('ZCOUNT', zset, lo, hi), function()
      return redis.call('ZRANGEBYSCORE', zset, lo, hi), 0
    end)
  end
end
if ARGV[9] ~= '' then
  consider(redis.call('ZLEXCOUNT', KEYORDER, ARGV[9], ARGV[10]), function()
    return redis.call('ZRANGEBYLEX', KEYORDER, ARGV[9], ARGV[10]), 0
  end)
end
if not best then
  best = function() return redis.call('ZRANGE', KEYORDER, 0, -1), 0 end
end
local keys, served = best()
local out = {'\145' .. cmsgpack.pack(NOW)}
local wanted = {}
for i = 1, #keys do
  local key, keep = keys[i], true
  for j, term in ipairs(terms) do
    if j ~= served and redis.call('SISMEMBER', TPREFIX .. term, key) == 0 then
      keep = false
      break
    end
  end
  if keep then wanted[#wanted + 1] = KPREFIX .. key end
end
for i = 1, #wanted, CHUNK do
  local blobs = redis.call('MGET', unpack(wanted, i, math.min(i + CHUNK - 1, #wanted)))
  for _, blob in ipairs(blobs) do
    if blob then out[#out + 1] = blob end
  end
end
return out
