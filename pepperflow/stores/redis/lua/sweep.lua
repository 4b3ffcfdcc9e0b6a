-- ARGV[4] the most keys to expire, ARGV[5] '1' for the changes in the
-- reply. Replies with its head, a msgpack array: keys expired, live keys,
-- keys with a ttl, the next deadline (nil: none), last seq, now; then the
-- expire changes when asked.
-- Its argument is checked and the meta values decoded before its first
-- write (args.lua).
local what = 'the most keys to expire must be a whole number >= 1'
local limit = int_arg(4, what, 1) or refuse(what, '')
-- The due keys are found at run time: the sweep asks for their entries and
-- old terms first (keys.lua), then runs again with them declared and
-- expires the due keys it declares (one that fell due in between waits for
-- the next sweep, which the next deadline it replies calls at once).
local found = redis.call('ZRANGEBYSCORE', EXP, '-inf', NOW_STR, 'LIMIT', 0, limit)
local due = {}
for _, key in ipairs(found) do
  if declared(KPREFIX .. key) then due[#due + 1] = key end
end
if #due == 0 and #found > 0 then
  for _, key in ipairs(found) do need(KPREFIX .. key) end
  ix_read(found, nil)
  return needed()
end
if #due > 0 then
  local metas = read_metas(due)
  ix_read(due, nil)
  if NEED then return needed() end
  local versions = {}
  for i = 1, #due do versions[i] = meta_version(metas[i]) end
  for i, key in ipairs(due) do
    expire(key, versions[i])
  end
  finish(false)
end
local nxt = redis.call('ZRANGE', EXP, 0, 0, 'WITHSCORES')
local seq, keys, ttl_keys = counts()
local out = {'\150' .. pack(#due, keys, ttl_keys, tonumber(nxt[2]), seq, NOW)}
if ARGV[5] == '1' then return with_changes(out) end
return out
