-- The server's clock: every process agrees on it.
local t = redis.call('TIME')
-- The decimal string and the double agree exactly.
local NOW_STR = t[1] .. '.' .. string.sub('00000' .. t[2], -6)
local NOW = tonumber(NOW_STR)
local pack = cmsgpack.pack
