-- ARGV[4] cursor, ARGV[5] MATCH pattern, ARGV[6] COUNT. Replies with its
-- head, a msgpack array of the next cursor, then the live keys: keys Redis
-- already dropped are left out (it drops an entry 1 ms before its deadline,
-- the key's score in the expiry index: the entries are not read, so the
-- script reads only the keys it declares).
local r = redis.call('HSCAN', META, ARGV[4], 'MATCH', ARGV[5], 'COUNT', tonumber(ARGV[6]))
local out = {'\145' .. cmsgpack.pack(r[1])}
local fields, timed = r[2], {}
for i = 1, #fields, 2 do
  local key = fields[i]
  if key ~= '' then
    out[#out + 1] = key
    if string.byte(fields[i + 1], 10) == 116 then timed[#timed + 1] = #out end
  end
end
if #timed > 0 then
  local names, now_ms = {}, math.floor(NOW * 1000)
  for j = 1, #timed do names[j] = out[timed[j]] end
  for i = 1, #timed, CHUNK do
    local scores = redis.call('ZMSCORE', EXP, unpack(names, i, math.min(i + CHUNK - 1, #timed)))
    for j = 1, #scores do
      -- Redis keeps an entry while the time in ms is at most floor(deadline in ms) - 1.
      local score = scores[j]
      if score and math.floor(tonumber(score) * 1000) <= now_ms then out[timed[i + j - 1]] = false end
    end
  end
  local kept = {out[1]}
  for i = 2, #out do
    if out[i] then kept[#kept + 1] = out[i] end
  end
  out = kept
end
return out
