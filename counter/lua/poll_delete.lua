-- poll_delete.lua: delete a poll, its tallies and ballots, and drop it from the site index.
--
-- KEYS[1] poll hash    KEYS[2] votes hash    KEYS[3] ballots hash    KEYS[4] site poll index
-- KEYS[5] the site's poll generation (bumped)
-- ARGV[1] poll id      ARGV[2] pub/sub channel    ARGV[3] message published
--
-- Returns 1 when the poll existed, else 0.

local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('INCR', KEYS[5])
if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return existed
