-- pages_prune.lua: stop counting some pages one by one, atomically (their views stay in the
-- site's totals). A page is removed only if it still has fewer views than the threshold when
-- the script runs, so a page counted between a scan and this call is never lost.
--
-- KEYS[1] pages hash (page -> views)
-- ARGV[1] threshold: remove pages with fewer views than this ("" removes them whatever
--         their views)
-- ARGV[2..] the pages
--
-- Returns the number of pages removed.

local below = tonumber(ARGV[1])
local removed = 0
for i = 2, #ARGV do
  local views = redis.call('HGET', KEYS[1], ARGV[i])
  if views and (not below or tonumber(views) < below) then
    removed = removed + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return removed
