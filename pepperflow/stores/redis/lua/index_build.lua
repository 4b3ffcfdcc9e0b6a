-- Build the index of a namespace that has none (a store with index= opens
-- it): ARGV[4] the last seq the client's snapshot holds, ARGV[5] a msgpack
-- array of the snapshot's keys, ARGV[6] one array of terms per key. Builds
-- nothing when the seq moved since (the client takes a new snapshot) or the
-- index exists (another process built it). Replies with its head, a
-- msgpack array: whether the namespace keeps an index now.
if redis.call('HEXISTS', IX, '') == 1 then return {'\145' .. cmsgpack.pack(true)} end
local seq = redis.call('HGET', META, '')
if tonumber(seq or '0') ~= tonumber(ARGV[4]) then return {'\145' .. cmsgpack.pack(false)} end
local names, terms = cmsgpack.unpack(ARGV[5]), ix_terms_arg(6, true)
if type(names) ~= 'table' or #names ~= #terms then
  refuse('the keys and their terms must be msgpack arrays of one length', ARGV[5])
end
local metas = {}
for i = 1, #names, CHUNK do
  local part = redis.call('HMGET', META, unpack(names, i, math.min(i + CHUNK - 1, #names)))
  for j = 1, #part do metas[i + j - 1] = part[j] end
end
IX_ON = true
for i = 1, #names do
  if metas[i] then ix_put(names[i], terms[i], string.sub(metas[i], 1, 9)) end
end
redis.call('HSET', IX, '', '1')
return {'\145' .. cmsgpack.pack(true)}
