-- Append the changelog entry of seqs first..last: id 0-<last>, then
-- ``...``: per change a field (its seq as a msgpack int) and its value (the
-- change as msgpack), so no script joins the changes into one string. The
-- changelog is trimmed (approximately) when the seq passes a multiple of
-- 64, not on every entry. It fails (PFSTATE) when the changelog already
-- holds an entry at or after ``last``: the namespace's last seq was lost
-- (its meta hash deleted or evicted) while its changelog stayed.
local function log_append(first, last, ...)
  local r
  if math.floor(last / 64) ~= math.floor((first - 1) / 64) then
    r = redis.pcall('XADD', LOG, 'MAXLEN', '~', MAXLEN, '0-' .. last, ...)
  else
    r = redis.pcall('XADD', LOG, '0-' .. last, ...)
  end
  if type(r) == 'table' and r.err then
    error('PFSTATE the changelog ' .. LOG .. ' holds entries after the last seq ' ..
          (first - 1) .. ', its meta hash ' .. META .. ' was lost (deleted or evicted):' ..
          " delete the namespace's keys or use another namespace (" .. r.err .. ')', 0)
  end
end
