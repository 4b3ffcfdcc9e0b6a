-- ARGV[4] cursor, ARGV[5] MATCH pattern, ARGV[6] COUNT. Replies with its
-- head, a msgpack array of the next cursor, then the live keys: keys Redis
-- already dropped are left out.
local r = redis.call('HSCAN', META, ARGV[4], 'MATCH', ARGV[5], 'COUNT', tonumber(ARGV[6]))
local out = {'\145' .. cmsgpack.pack(r[1])}
local fields = r[2]
for i = 1, #fields, 2 do
  local key = fields[i]
  if key ~= '' and redis.call('EXISTS', KPREFIX .. key) == 1 then out[#out + 1] = key end
end
return out
