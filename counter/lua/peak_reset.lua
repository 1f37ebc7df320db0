-- peak_reset.lua: forget a site's peak online (the next flush starts it again from the
-- visitors online then) and append one audit entry, atomically.
--
-- KEYS[1] peak hash (online, at)   KEYS[2] audit list
-- ARGV[1] audit entry time, ms     ARGV[2] actor (e.g. "admin-api", "cli")
--
-- Returns the audit entry (JSON text): {"at", "actor", "before": {"peak_online", "peak_at"},
-- "after": {"peak_online": 0}}.

local peak = redis.call('HMGET', KEYS[1], 'online', 'at')
redis.call('DEL', KEYS[1])
local entry = cjson.encode({at = tonumber(ARGV[1]), actor = ARGV[2],
  before = {peak_online = tonumber(peak[1] or '0'), peak_at = tonumber(peak[2] or '0')},
  after = {peak_online = 0}})
redis.call('LPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], 0, 999)
return entry
