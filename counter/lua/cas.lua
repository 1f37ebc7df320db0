-- cas.lua: compare-and-set one string key (optimistic update without a lost write).
--
-- KEYS[1] the key
-- ARGV[1] the value the caller read ("" when it read nothing)
-- ARGV[2] the new value
--
-- Returns 1 when the key still held ARGV[1] and now holds ARGV[2], else 0.

local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
