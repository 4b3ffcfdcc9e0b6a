-- Every script: the namespace's bookkeeping keys and the store's arguments.
local LOG, META, EXP = KEYS[1], KEYS[2], KEYS[3]
local STORE, MAXLEN, KPREFIX = ARGV[1], ARGV[2], ARGV[3]
local KPL = #KPREFIX
local CHUNK = 1000  -- arguments per bulk command (Lua's unpack has a limit)
