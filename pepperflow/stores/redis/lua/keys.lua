-- Every key a script reads or writes is one of its KEYS. Redis Cluster
-- routes a script by its KEYS; while the namespace's slot is migrated to
-- another primary it runs the script only on the node that holds every one
-- of them (else it answers ASK or TRYAGAIN), and a key the script did not
-- declare may be on the other node. The client declares the keys it can
-- name: the entries of the keys it passes, the index's keys of the terms it
-- passes. A key found only at run time (a due expiry's entry, a key's old
-- terms, a snapshot's or a lookup's entries) that is not declared goes to
-- NEED, and the script replies needed() before its first write: the client
-- runs it again with those declared too (_running.py), and it checks again.
local DECLARED, NEED = nil, nil
local function declared(key)
  if not DECLARED then
    DECLARED = {}
    for i = 1, #KEYS do DECLARED[KEYS[i]] = true end
  end
  return DECLARED[key] == true
end
local function need(key)
  if not declared(key) then
    NEED = NEED or {}
    NEED[#NEED + 1] = key
    DECLARED[key] = true  -- asked for once
  end
end
-- The reply asking for NEED: '' (never a head), then the keys.
local function needed()
  local out = {''}
  for i = 1, #NEED do out[i + 1] = NEED[i] end
  return out
end
