-- ARGV[4] if_version or '', ARGV[5] '1' for the changes in the reply,
-- ARGV[6] a msgpack array of the keys (their entries are among KEYS[4..]).
-- Deletes the entries that exist; replies as every write script (write.lua's
-- reply()), with the count of keys deleted, or on a compare-and-set conflict
-- the key's version. Its arguments are checked and its meta values decoded
-- before its first write (args.lua).
local if_version = int_arg(4, 'if_version must be a whole number >= 0', 0)
local details = ARGV[5] == '1'
local names = cmsgpack.unpack(ARGV[6])
if type(names) ~= 'table' or #names == 0 then
  refuse('the keys must be a msgpack array of length > 0', ARGV[6])
end
for _, key in ipairs(names) do
  if type(key) ~= 'string' or key == '' then refuse('every key must be a non-empty str', key) end
end
local metas = read_metas(names)
ix_read(names, nil)
if NEED then return needed() end
local versions = {}
for i = 1, #names do versions[i] = meta_version(metas[i]) end
local scores = deadlines(names, metas)
local deleted = 0
for i, key in ipairs(names) do
  local version = versions[i]
  if scores[i] and expire_if_due(key, version, scores[i]) then version = 0 end
  if if_version and version ~= if_version then
    finish(false)
    return reply(false, version, 0, nil, details)
  end
  if version ~= 0 then
    local seq = next_seq()
    redis.call('DEL', KPREFIX .. key)
    D_KEYS = D_KEYS - redis.call('HDEL', META, key)
    if scores[i] then D_TTL = D_TTL - redis.call('ZREM', EXP, key) end
    ix_drop(key)
    emit(seq, pack({kind='delete', store=STORE, key=key, version=version, seq=seq,
                    committed_at=NOW}))
    deleted = deleted + 1
  end
end
finish(false)
return reply(true, 0, deleted, nil, details)
