-- poll_save.lua: create a poll, or update it if nobody changed it since it was read.
--
-- KEYS[1] poll hash    KEYS[2] votes hash    KEYS[3] ballots hash    KEYS[4] site poll index
-- KEYS[5] the site's poll generation (bumped by every save)
--
-- ARGV[1] the revision read ("" to create: the poll must not exist yet)
-- ARGV[2] poll id      ARGV[3] definition JSON     ARGV[4] starts, ms
-- ARGV[5] ends, ms ("" when open-ended)             ARGV[6] max choices
-- ARGV[7] "1" when a vote may be changed            ARGV[8] created, ms
-- ARGV[9] voter-set retention after close, ms
-- ARGV[10] pub/sub channel   ARGV[11] message published after an update
-- ARGV[12..] the option ids (options not listed are removed; only when they have no votes)
--
-- Returns {"ok", new revision} or {code, detail}: exists, conflict, has_votes (detail: id).

local rev = redis.call('HGET', KEYS[1], 'rev')
local creating = ARGV[1] == ''
if creating and rev then return {'exists', ''} end
if not creating and rev ~= ARGV[1] then return {'conflict', ''} end

local keep = {}
for i = 12, #ARGV do keep[ARGV[i]] = true end
local current = redis.call('HGETALL', KEYS[2])
for i = 1, #current, 2 do
  if not keep[current[i]] and tonumber(current[i + 1]) > 0 then
    return {'has_votes', current[i]}
  end
end
for i = 1, #current, 2 do
  if not keep[current[i]] then redis.call('HDEL', KEYS[2], current[i]) end
end
for i = 12, #ARGV do redis.call('HSETNX', KEYS[2], ARGV[i], 0) end

local new_rev = (tonumber(rev) or 0) + 1
redis.call('INCR', KEYS[5])
redis.call('HSET', KEYS[1], 'rev', new_rev, 'def', ARGV[3], 'starts', ARGV[4],
  'ends', ARGV[5], 'max', ARGV[6], 'change', ARGV[7])
if creating then
  redis.call('HSET', KEYS[1], 'voters', 0)
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[2])
else
  redis.call('PUBLISH', ARGV[10], ARGV[11])
end
if ARGV[5] == '' then
  redis.call('PERSIST', KEYS[3])
else
  redis.call('PEXPIREAT', KEYS[3], tonumber(ARGV[5]) + tonumber(ARGV[9]))
end
return {'ok', tostring(new_rev)}
