-- A write script checks its own arguments, and reads and decodes what it
-- needs, before its first write: Redis does not undo the writes of a
-- script that fails midway. A bad argument raises 'PFARG <what>, got
-- <value>' (the client's ValueError); nothing was written.
local function refuse(what, value)
  error('PFARG ' .. what .. ', got ' .. string.format('%q', string.sub(tostring(value), 1, 40)), 0)
end

-- ARGV[i]: nil for '', else a finite number greater than ``least``.
local function number_arg(i, what, least)
  local s = ARGV[i]
  if s == '' then return nil end
  local n = tonumber(s)
  if not n or n ~= n or n <= least or n == math.huge then refuse(what, s) end
  return n
end

-- ARGV[i]: nil for '', else a whole number of at least ``least``.
local function int_arg(i, what, least)
  local n = number_arg(i, what, least - 1)
  if n and n ~= math.floor(n) then refuse(what, ARGV[i]) end
  return n
end

-- The PXAT of an entry whose deadline is ``expires`` (seconds): Redis drops
-- the entry 1 ms before its deadline, so reads never see it after. Redis
-- takes a whole number of milliseconds (exact below 2^53).
local function pxat(expires)
  local ms = math.floor(expires * 1000) - 1
  if ms < 1 or ms >= 9007199254740992 then refuse("a deadline out of Redis's range", expires) end
  return ms
end

-- A time as msgpack's float64 (9 bytes) even when it is a whole number
-- (cmsgpack packs those as ints): a meta value's created_at is 9 bytes.
local function pack_time(t)
  return '\203' .. struct.pack('>d', t)
end
