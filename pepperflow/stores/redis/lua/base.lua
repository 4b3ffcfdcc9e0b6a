-- Every script: the namespace's bookkeeping keys and the store's arguments.
local LOG, META, EXP = KEYS[1], KEYS[2], KEYS[3]
local STORE, MAXLEN, KPREFIX = ARGV[1], ARGV[2], ARGV[3]
local KPL = #KPREFIX
local CHUNK = 1000  -- arguments per bulk command (Lua's unpack has a limit)
-- The index of a store opened with index= (index.lua), in the same hash tag:
-- IX a hash of key -> its terms (a msgpack array) and '' -> '1' (the namespace
-- keeps an index), a set of keys per term (TPREFIX .. term), the keys by
-- created_at (CREATED) and in byte order (KEYORDER, all scores 0).
local IXTAG = string.sub(KPREFIX, 1, KPL - 2)
local IX, CREATED, KEYORDER, TPREFIX = IXTAG .. 'ix', IXTAG .. 'cr', IXTAG .. 'lex', IXTAG .. 't:'
