-- Replies with an empty head, then the entries of KEYS[4..] (false for a
-- missing or expired key; Redis drops an entry before its deadline).
local out = {'\144'}
for i = 4, #KEYS, CHUNK do
  for _, blob in ipairs(redis.call('MGET', unpack(KEYS, i, math.min(i + CHUNK - 1, #KEYS)))) do
    out[#out + 1] = blob
  end
end
return out
