-- ARGV[4] a mark's name: replies with an empty head, then the mark stored
-- under it in the marks hash KEYS[4] (false for none).
return {'\144', redis.call('HGET', KEYS[4], ARGV[4])}
