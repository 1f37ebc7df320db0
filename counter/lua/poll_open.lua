-- poll_open.lua: the newest open polls of a site, read in one consistent snapshot.
--
-- KEYS: three per poll, newest first: poll hash, votes hash, ballots hash
-- ARGV[1] now, ms      ARGV[2] the most polls to return      ARGV[3..] the poll ids, as KEYS
--
-- Returns {open, entry...}: how many of the polls are open now, then for the first ARGV[2]
-- of them {poll id, def, rev, voters, option id, n, ...}. Open: started (starts <= now) and
-- not ended (ends "" or now < ends). Only the definitions of the open polls listed and their
-- tallies are read: a site with hundreds of polls answers as small as one with a few.

local now = tonumber(ARGV[1])
local most = tonumber(ARGV[2])
local out = {0}
for i = 1, #KEYS, 3 do
  local p = redis.call('HMGET', KEYS[i], 'starts', 'ends')
  if p[1] and tonumber(p[1]) <= now and (p[2] == '' or now < tonumber(p[2])) then
    out[1] = out[1] + 1
    if out[1] <= most then
      local q = redis.call('HMGET', KEYS[i], 'def', 'rev', 'voters')
      local entry = {ARGV[3 + (i - 1) / 3], q[1], q[2], q[3] or '0'}
      local votes = redis.call('HGETALL', KEYS[i + 1])
      for j = 1, #votes do entry[#entry + 1] = votes[j] end
      out[#out + 1] = entry
    end
  end
end
return out
