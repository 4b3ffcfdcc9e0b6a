-- Replies with its head, a msgpack array of the last seq and now, then
-- every live entry at that seq (the client sorts them by seq). The keys are
-- found at run time: it asks for the entries it does not declare
-- (keys.lua), and runs again with them declared.
local names = redis.call('HKEYS', META)
for i = 1, #names do
  if names[i] ~= '' then need(KPREFIX .. names[i]) end
end
if NEED then return needed() end
local out = {'\146' .. pack(tonumber(redis.call('HGET', META, '') or '0'), NOW)}
for i = 1, #names, CHUNK do
  local keys = {}
  for j = i, math.min(i + CHUNK - 1, #names) do
    if names[j] ~= '' then keys[#keys + 1] = KPREFIX .. names[j] end
  end
  if #keys > 0 then
    for _, blob in ipairs(redis.call('MGET', unpack(keys))) do
      if blob then out[#out + 1] = blob end
    end
  end
end
return out
