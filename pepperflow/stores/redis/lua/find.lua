-- The store's index answers a lookup (index.lua keeps it): ARGV[4] the
-- terms (a msgpack array of str), ARGV[5]/ARGV[6] created_at's bounds and
-- ARGV[7]/ARGV[8] expires_at's (scores, '' for none), ARGV[9]/ARGV[10] the
-- keys' ZRANGEBYLEX bounds ('' for none). The candidates are the smallest of
-- the sets these name (every key when none), kept when they have every
-- term. When the smallest is the keys in order (a range, or all), ARGV[11]
-- 'asc' or 'desc' walks them in that order instead, and stops once ARGV[12]
-- candidates were kept (a lookup ordered by key with a page: it reads about
-- the page, not every candidate). Replies with its
-- head, a msgpack array of now, the entries read and whether a walk stopped
-- before the end, then the live entries of the candidates (Redis drops an
-- entry before its deadline); the client checks the bounds and the pattern
-- exactly, orders and pages them.
if redis.call('HEXISTS', IX, '') == 0 then
  error('PFSTATE the index ' .. IX .. ' was lost (deleted or evicted): open the store'
        .. ' again to rebuild it', 0)
end
local terms = cmsgpack.unpack(ARGV[4])
local function bound(i, default)
  if ARGV[i] == '' then return default end
  return ARGV[i]
end
local function keeps(key, served)
  for j, term in ipairs(terms) do
    if j ~= served and redis.call('SISMEMBER', TPREFIX .. term, key) == 0 then
      return false
    end
  end
  return true
end
local wanted, more = {}, false
local function take(keys, served)
  for i = 1, #keys do
    if keeps(keys[i], served) then wanted[#wanted + 1] = KPREFIX .. keys[i] end
  end
end
local function walk(desc, want)
  local lo, hi = bound(9, '-'), bound(10, '+')
  while #wanted < want do
    local n = want - #wanted
    local keys
    if desc then
      keys = redis.call('ZREVRANGEBYLEX', KEYORDER, hi, lo, 'LIMIT', 0, n)
    else
      keys = redis.call('ZRANGEBYLEX', KEYORDER, lo, hi, 'LIMIT', 0, n)
    end
    take(keys, 0)
    if #keys < n then return end
    if desc then hi = '(' .. keys[#keys] else lo = '(' .. keys[#keys] end
  end
  more = true
end
-- The smallest candidate set: its fetch, and whether it is the keys in
-- order (a range of them, or all), which a walk can read in part.
local function smallest()
  local best, size, ordered = nil, nil, false
  local function consider(n, fetch, keys)
    if not size or n < size then best, size, ordered = fetch, n, keys end
  end
  for i, term in ipairs(terms) do
    consider(redis.call('SCARD', TPREFIX .. term), function()
      return redis.call('SMEMBERS', TPREFIX .. term), i
    end, false)
  end
  for _, r in ipairs({{CREATED, 5}, {EXP, 7}}) do
    local zset, i = r[1], r[2]
    if ARGV[i] ~= '' or ARGV[i + 1] ~= '' then
      local lo, hi = bound(i, '-inf'), bound(i + 1, '+inf')
      consider(redis.call('ZCOUNT', zset, lo, hi), function()
        return redis.call('ZRANGEBYSCORE', zset, lo, hi), 0
      end, false)
    end
  end
  local lo, hi = bound(9, '-'), bound(10, '+')
  if ARGV[9] ~= '' or not best then
    consider(redis.call('ZLEXCOUNT', KEYORDER, lo, hi), function()
      return redis.call('ZRANGEBYLEX', KEYORDER, lo, hi), 0
    end, true)
  end
  return best, ordered
end
local fetch, ordered = smallest()
if ordered and ARGV[11] ~= '' then
  walk(ARGV[11] == 'desc', tonumber(ARGV[12]))
else
  take(fetch())
end
-- The candidates are found at run time: it asks for the entries it does not
-- declare (keys.lua), and runs again with them declared.
for i = 1, #wanted do need(wanted[i]) end
if NEED then return needed() end
local out = {'\147' .. cmsgpack.pack(NOW) .. cmsgpack.pack(#wanted) .. cmsgpack.pack(more)}
for i = 1, #wanted, CHUNK do
  local blobs = redis.call('MGET', unpack(wanted, i, math.min(i + CHUNK - 1, #wanted)))
  for _, blob in ipairs(blobs) do
    if blob then out[#out + 1] = blob end
  end
end
return out
