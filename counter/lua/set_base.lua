-- set_base.lua: set a site's imported base counts and append one audit entry, atomically.
--
-- KEYS[1] base hash (visits, pageviews)   KEYS[2] base pages hash   KEYS[3] audit list
-- ARGV[1] audit entry time, ms            ARGV[2] actor (e.g. "admin-api", "cli")
-- ARGV[3] visits or "" to keep            ARGV[4] pageviews or "" to keep
-- ARGV[5..] page, count pairs to set
--
-- Returns the audit entry (JSON text): {"at", "actor", "before", "after"}, where before and
-- after hold only the counters this call set.

local before, after = {}, {}
local function set(hash, field, label, value)
  before[label] = tonumber(redis.call('HGET', hash, field) or '0')
  after[label] = tonumber(value)
  redis.call('HSET', hash, field, value)
end

if ARGV[3] ~= '' then set(KEYS[1], 'visits', 'visits', ARGV[3]) end
if ARGV[4] ~= '' then set(KEYS[1], 'pageviews', 'pageviews', ARGV[4]) end
if #ARGV > 4 then
  before.pages, after.pages = {}, {}
  for i = 5, #ARGV, 2 do
    local page, value = ARGV[i], ARGV[i + 1]
    before.pages[page] = tonumber(redis.call('HGET', KEYS[2], page) or '0')
    after.pages[page] = tonumber(value)
    redis.call('HSET', KEYS[2], page, value)
  end
end

local entry = cjson.encode({at = tonumber(ARGV[1]), actor = ARGV[2], before = before,
  after = after})
redis.call('LPUSH', KEYS[3], entry)
redis.call('LTRIM', KEYS[3], 0, 999)
return entry
