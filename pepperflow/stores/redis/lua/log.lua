-- Append the changelog entry of seqs first..last: id 0-<last>, then
-- ``...``: per change a field (its seq as a msgpack int) and its value (the
-- change as msgpack), so no script joins the changes into one string. The
-- changelog is trimmed (approximately) when the seq passes a multiple of
-- 64, not on every entry.
local function log_append(first, last, ...)
  if math.floor(last / 64) ~= math.floor((first - 1) / 64) then
    redis.call('XADD', LOG, 'MAXLEN', '~', MAXLEN, '0-' .. last, ...)
  else
    redis.call('XADD', LOG, '0-' .. last, ...)
  end
end
