-- stream_ticket.lua: file a live-results stream ticket, unless its client asked too often.
--
-- KEYS[1] the ticket      KEYS[2] the client IP's ticket counter (or IPv6 /64's)
-- ARGV[1] what the ticket stands for ("<poll id> <voter digests...>")
-- ARGV[2] the ticket's lifetime, ms    ARGV[3] tickets per window (0: no limit)
-- ARGV[4] the window, ms
--
-- Returns {"ok", ""} or {"rate_limited", ms until the window ends}.

local limit = tonumber(ARGV[3])
if limit > 0 then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
  if n > limit then return {'rate_limited', tostring(redis.call('PTTL', KEYS[2]))} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'ok', ''}
