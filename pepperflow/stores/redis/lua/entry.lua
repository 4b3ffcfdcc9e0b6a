-- An entry is a msgpack map: its header, the fields a set script knows,
-- then the head's fields (the head without its own map header of 5 fields).
-- Its start: the map header (a fixmap of 9 fields, 10 with expires_at),
-- then the version's name; field names are msgpack fixstr (0xa0 + length).
local P_START, P_START_EXPIRES = '\137\167version', '\138\167version'
local P_SEQ, P_CREATED = '\163seq', '\170created_at'
local P_NOW = pack_time(NOW)
local P_COMMITTED = '\172committed_at' .. P_NOW
