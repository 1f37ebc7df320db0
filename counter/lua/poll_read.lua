-- poll_read.lua: a consistent snapshot of one site's polls.
--
-- KEYS: three per poll, in order: poll hash, votes hash, ballots hash
-- ARGV[1] voter digest ("" for nobody)
--
-- Returns one entry per poll: {} when it does not exist, else
-- {def, rev, voters, voted (1/0), option id, n, ...}.

local voter = ARGV[1]
local out = {}
for i = 1, #KEYS, 3 do
  local p = redis.call('HMGET', KEYS[i], 'def', 'rev', 'voters')
  if not p[1] then
    out[#out + 1] = {}
  else
    local voted = 0
    if voter ~= '' then voted = redis.call('HEXISTS', KEYS[i + 2], voter) end
    local entry = {p[1], p[2], p[3] or '0', voted}
    local votes = redis.call('HGETALL', KEYS[i + 1])
    for j = 1, #votes do entry[#entry + 1] = votes[j] end
    out[#out + 1] = entry
  end
end
return out
