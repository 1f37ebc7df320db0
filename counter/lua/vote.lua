-- vote.lua: one vote, decided and applied atomically (rate limits, state, options, ballot).
--
-- KEYS[1] poll hash     KEYS[2] votes hash (option id -> n)
-- KEYS[3] ballots hash: voter digest -> option ids ("o1 o3"), or "@" .. the digest whose
--         ballot it shares      KEYS[4] rate counter of the client IP (or IPv6 /64)
-- KEYS[5] rate counter of the client's wider prefix (IPv6 /48; any key when ARGV[8] is 0)
--
-- ARGV[1] now, ms                 ARGV[2] the voter's digests, space-separated (the member's
--                                 first when signed in, then the visitor's)
-- ARGV[3] rate limit (0: none)    ARGV[4] rate window, ms (both counters)
-- ARGV[5] voter-set retention after close, ms
-- ARGV[6] pub/sub channel         ARGV[7] message published when the tallies change
-- ARGV[8] rate limit of the wider prefix (0: none)
-- ARGV[9..] the chosen option ids
--
-- Returns {"ok", def, voters, option id, n, ...} on success, else {code, detail} with code
-- one of: rate_limited, rate_limited_wide (detail: ms until that window ends), not_found,
-- scheduled, closed, no_options, too_many_options (detail: max), duplicate_option,
-- unknown_option (detail: id), already_voted.
--
-- An attempt counts against both rate counters only when neither is full, so a client held
-- back by its own limit does not use up what the rest of its wider prefix may do.
--
-- A voter's ballot is the first of its digests found (following one "@" link); every other
-- digest it presents is then linked to that ballot, on success and on already_voted alike, so
-- a member's browser cannot vote again without the token. A digest that already holds a
-- ballot of its own keeps it.

local now = tonumber(ARGV[1])
local limits = {{KEYS[4], tonumber(ARGV[3]), 'rate_limited'},
                {KEYS[5], tonumber(ARGV[8]), 'rate_limited_wide'}}
local voter_keys = {}
for k in string.gmatch(ARGV[2], '%S+') do voter_keys[#voter_keys + 1] = k end

for _, l in ipairs(limits) do
  if l[2] > 0 and tonumber(redis.call('GET', l[1]) or '0') >= l[2] then
    return {l[3], tostring(redis.call('PTTL', l[1]))}
  end
end
for _, l in ipairs(limits) do
  if l[2] > 0 and redis.call('INCR', l[1]) == 1 then redis.call('PEXPIRE', l[1], ARGV[4]) end
end

local p = redis.call('HMGET', KEYS[1], 'def', 'starts', 'ends', 'max', 'change')
if not p[1] then return {'not_found', ''} end
if now < tonumber(p[2]) then return {'scheduled', ''} end
local ends = p[3]
if ends ~= '' and now >= tonumber(ends) then return {'closed', ''} end

local chosen = {}
local count = #ARGV - 8
if count == 0 then return {'no_options', ''} end
if count > tonumber(p[4]) then return {'too_many_options', p[4]} end
for i = 9, #ARGV do
  local opt = ARGV[i]
  if chosen[opt] then return {'duplicate_option', opt} end
  if redis.call('HEXISTS', KEYS[2], opt) == 0 then return {'unknown_option', opt} end
  chosen[opt] = true
end

local owner, old
for _, k in ipairs(voter_keys) do
  local v = redis.call('HGET', KEYS[3], k)
  if v then
    if string.sub(v, 1, 1) == '@' then
      owner = string.sub(v, 2)
      old = redis.call('HGET', KEYS[3], owner)
    else
      owner, old = k, v
    end
    break
  end
end
owner = owner or voter_keys[1]

local function link()
  for _, k in ipairs(voter_keys) do
    if k ~= owner then redis.call('HSETNX', KEYS[3], k, '@' .. owner) end
  end
end

if old then
  if p[5] ~= '1' then
    link()
    return {'already_voted', ''}
  end
  for opt in string.gmatch(old, '%S+') do
    if redis.call('HEXISTS', KEYS[2], opt) == 1 then redis.call('HINCRBY', KEYS[2], opt, -1) end
  end
else
  redis.call('HINCRBY', KEYS[1], 'voters', 1)
end
for i = 9, #ARGV do redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
redis.call('HSET', KEYS[3], owner, table.concat(ARGV, ' ', 9))
link()
if ends ~= '' then
  redis.call('PEXPIREAT', KEYS[3], tonumber(ends) + tonumber(ARGV[5]))
end
redis.call('PUBLISH', ARGV[6], ARGV[7])

local out = {'ok', p[1], redis.call('HGET', KEYS[1], 'voters')}
local votes = redis.call('HGETALL', KEYS[2])
for i = 1, #votes do out[#out + 1] = votes[i] end
return out
