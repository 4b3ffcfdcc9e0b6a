-- The last seq is the meta hash's field '': read_metas() reads it with the
-- keys' meta values, next_seq() counts on from it, and the script writes
-- it back with the meta values it sets (or finish() does). The changelog
-- gets one entry per script (per CHUNK changes of it).
local SEQ_READ, SEQ_FIRST, SEQ_NOW = 0, nil, nil
local SEQ_FIELD_NEW = true  -- no seq yet: writing it adds a field that is not a key
local function next_seq()
  if SEQ_NOW then
    SEQ_NOW = SEQ_NOW + 1
  else
    SEQ_NOW = SEQ_READ + 1
    SEQ_FIRST = SEQ_NOW
  end
  return SEQ_NOW
end

-- How the counts of live keys and of keys with a ttl changed (returned to
-- the client for its statistics, instead of counting on every write).
local D_KEYS, D_TTL = 0, 0

-- The meta values of ``names`` (false for none); reads the last seq too,
-- and checks that the changelog holds nothing after it, so that the
-- append (XADD), the script's last write, cannot fail after the others
-- (``append_first``: the script appends before its first write instead,
-- and log_append's own check stands for this one).
local function read_metas(names, append_first)
  local n, metas = #names, {}
  for i = 1, math.max(n, 1), CHUNK do  -- no names (a mark alone): the seq still
    local part = redis.call('HMGET', META, '', unpack(names, i, math.min(i + CHUNK - 1, n)))
    if i == 1 and part[1] then SEQ_READ, SEQ_FIELD_NEW = tonumber(part[1]), false end
    for j = 2, #part do metas[i + j - 2] = part[j] end
  end
  if not append_first and redis.call('XREVRANGE', LOG, '+', '(0-' .. SEQ_READ, 'COUNT', 1)[1] then
    error('PFSTATE the changelog ' .. LOG .. ' holds entries after the last seq ' ..
          SEQ_READ .. ', its meta hash ' .. META .. ' was lost (deleted or evicted):' ..
          " delete the namespace's keys or use another namespace", 0)
  end
  return metas
end

-- The changes made, as the changelog's fields and values: packed seq,
-- change, packed seq, change, ...
local PENDING, N_PENDING = {}, 0
local function emit(seq, blob)
  PENDING[N_PENDING + 1] = pack(seq)
  PENDING[N_PENDING + 2] = blob
  N_PENDING = N_PENDING + 2
end

-- Every write script calls finish() before it returns (seq_written: the
-- script wrote the seq with its meta values): the changes go to the
-- changelog, an entry per CHUNK changes (Lua's unpack has a limit).
local function finish(seq_written)
  if not SEQ_NOW then return end
  if not seq_written then
    D_KEYS = D_KEYS + redis.call('HSET', META, '', SEQ_NOW) - (SEQ_FIELD_NEW and 1 or 0)
  end
  for i = 1, N_PENDING, 2 * CHUNK do
    local j = math.min(i + 2 * CHUNK - 1, N_PENDING)
    local first = SEQ_FIRST + (i - 1) / 2
    log_append(first, first + (j - i - 1) / 2, unpack(PENDING, i, j))
  end
end

-- ``out`` with the changes committed appended: the same bytes as their
-- changelog values, in seq order.
local function with_changes(out)
  for i = 2, N_PENDING, 2 do out[#out + 1] = PENDING[i] end
  return out
end

-- A write script's reply (after finish()): its head, then the changes it
-- committed when ``details`` (the client has someone to deliver them to).
-- The head is a msgpack array: committed, version, keys set or deleted,
-- change of keys, change of ttl keys, now, last seq (0: none), expires_at.
local function reply(committed, version, changed, expires, details)
  local out = {'\152' .. pack(committed, version, changed, D_KEYS, D_TTL, NOW,
                              SEQ_NOW or 0, expires)}
  if details then return with_changes(out) end
  return out
end

-- The version in a meta value (its msgpack int from the 11th byte on).
local unpack_one = cmsgpack.unpack_one
local function meta_version(meta)
  if not meta then return 0 end
  local _, version = unpack_one(meta, 10)
  return version
end

-- The deadlines of the keys among ``names`` whose meta value says they
-- have a ttl, by index (nil for the others; none looked up when none has).
local function deadlines(names, metas)
  local at, which = {}, {}
  for i = 1, #names do
    local meta = metas[i]
    if meta and string.byte(meta, 10) == 116 then
      at[#at + 1] = i
      which[#which + 1] = names[i]
    end
  end
  local out = {}
  for i = 1, #which, CHUNK do
    local scores = redis.call('ZMSCORE', EXP, unpack(which, i, math.min(i + CHUNK - 1, #which)))
    for j = 1, #scores do
      if scores[j] then out[at[i + j - 1]] = tonumber(scores[j]) end
    end
  end
  return out
end

-- Commit the expiry of ``key`` (at ``version``): its expire change, and it
-- leaves every index (the store's index too: index.lua).
local function expire(key, version)
  local seq = next_seq()
  emit(seq, pack({kind='expire', store=STORE, key=key, version=version, seq=seq,
                  committed_at=NOW}))
  D_TTL = D_TTL - redis.call('ZREM', EXP, key)
  D_KEYS = D_KEYS - redis.call('HDEL', META, key)
  redis.call('DEL', KPREFIX .. key)
  ix_drop(key)
end

-- ``key`` (at ``version``) has deadline ``score`` (a number, or nil for
-- none): expire it if it is due or Redis already dropped it (Redis drops
-- an entry 1 ms before its deadline, so one more than 2 ms ahead is
-- alive). True if it expired.
local function expire_if_due(key, version, score)
  if not score or score > NOW + 0.002 then return false end
  if score > NOW and redis.call('EXISTS', KPREFIX .. key) == 1 then return false end
  expire(key, version)
  return true
end
