-- The index (base.lua's IX, CREATED, KEYORDER and a set per term), kept by
-- the same script as the entries. ix_read() reads, before the script's first
-- write, whether the namespace keeps an index and the old terms of the keys
-- the script may change (the keys they touch are declared, or asked for:
-- keys.lua; the client declares the sets of the new terms it passes);
-- ix_put() and ix_drop() then keep the index in step with each entry set
-- and each entry removed (deleted or expired).
local IX_ON, IX_OLD = false, {}

-- ARGV[i]: nil for '' (a store without index=), else a msgpack array of
-- (when ``per_key``) one array of terms per key, or of terms; checked.
local function ix_terms_arg(i, per_key)
  local s = ARGV[i]
  if s == '' then return nil end
  local ok, terms = pcall(cmsgpack.unpack, s)
  if not ok or type(terms) ~= 'table' then refuse('the terms must be a msgpack array', s) end
  local lists = per_key and terms or {terms}
  for _, list in ipairs(lists) do
    if type(list) ~= 'table' then refuse('each key\'s terms must be an array', s) end
    for _, term in ipairs(list) do
      if type(term) ~= 'string' then refuse('every term must be a str', term) end
    end
  end
  return terms
end

-- Read whether the namespace keeps an index and the old terms of ``names``.
-- ``sets``: true for a script that sets keys with terms, false for one that
-- sets keys without (a store without index=: refused on an indexed
-- namespace), nil for one that only removes keys.
local function ix_read(names, sets)
  local n = #names
  for i = 1, math.max(n, 1), CHUNK do
    local part = redis.call('HMGET', IX, '', unpack(names, i, math.min(i + CHUNK - 1, n)))
    if i == 1 then IX_ON = part[1] ~= false end
    if IX_ON then
      for j = 2, #part do
        if part[j] then IX_OLD[names[i + j - 2]] = cmsgpack.unpack(part[j]) end
      end
    end
  end
  if IX_ON then  -- what ix_drop() and ix_put() touch besides the new terms' sets
    need(CREATED)
    need(KEYORDER)
    for _, old in pairs(IX_OLD) do
      for _, term in ipairs(old) do need(TPREFIX .. term) end
    end
  end
  if sets == false and IX_ON then
    refuse('namespace keeps an index: open the store with index=terms (the function the'
           .. ' other stores of the namespace use) to write to it', STORE)
  end
  if sets == true and not IX_ON then
    error('PFSTATE the index ' .. IX .. ' of an indexed store was lost (deleted or evicted):'
          .. ' open the store again to rebuild it', 0)
  end
end

-- ``key`` leaves the index.
local function ix_drop(key)
  local old = IX_OLD[key]
  if not (IX_ON and old) then return end
  for _, term in ipairs(old) do redis.call('SREM', TPREFIX .. term, key) end
  redis.call('HDEL', IX, key)
  redis.call('ZREM', CREATED, key)
  redis.call('ZREM', KEYORDER, key)
  IX_OLD[key] = nil
end

-- ``key`` now has ``terms`` (an array of str) and ``created`` (its created_at
-- as a msgpack float64, 9 bytes).
local function ix_put(key, terms, created)
  if not IX_ON then return end
  local old, had, has = IX_OLD[key], {}, {}
  if old then for _, term in ipairs(old) do had[term] = true end end
  for _, term in ipairs(terms) do
    has[term] = true
    if not had[term] then redis.call('SADD', TPREFIX .. term, key) end
  end
  if old then
    for _, term in ipairs(old) do
      if not has[term] then redis.call('SREM', TPREFIX .. term, key) end
    end
  else
    redis.call('ZADD', KEYORDER, 0, key)
  end
  redis.call('HSET', IX, key, cmsgpack.pack(terms))
  redis.call('ZADD', CREATED, string.format('%.17g', (struct.unpack('>d', created, 2))), key)
  IX_OLD[key] = terms
end
