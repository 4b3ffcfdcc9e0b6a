-- ARGV[4] first seq, ARGV[5] the most changelog entries to read. Replies
-- with its head, a msgpack array of the oldest entry's seq (0: none), then
-- the changes of the entries from the one holding ARGV[4] on (an entry's
-- id is the last seq of its changes), in seq order.
local oldest = redis.call('XRANGE', LOG, '-', '+', 'COUNT', 1)
local out = {'\145' .. cmsgpack.pack(oldest[1] and tonumber(string.sub(oldest[1][1], 3)) or 0)}
local entries = redis.call('XRANGE', LOG, '0-' .. ARGV[4], '+', 'COUNT', tonumber(ARGV[5]))
for _, e in ipairs(entries) do
  local fields = e[2]
  for i = 2, #fields, 2 do out[#out + 1] = fields[i] end
end
return out
