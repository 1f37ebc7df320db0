-- poll_read.lua: a consistent snapshot of one site's polls.
--
-- KEYS: three per poll, in order: poll hash, votes hash, ballots hash
-- ARGV[1] the voter's digests, space-separated ("" for nobody); voted when any holds a ballot
--
-- Returns one entry per poll: {} when it does not exist, else
-- {def, rev, voters, voted (1/0), option id, n, ...}.

local voter_keys = {}
for k in string.gmatch(ARGV[1], '%S+') do voter_keys[#voter_keys + 1] = k end
local out = {}
for i = 1, #KEYS, 3 do
  local p = redis.call('HMGET', KEYS[i], 'def', 'rev', 'voters')
  if not p[1] then
    out[#out + 1] = {}
  else
    local voted = 0
    for _, k in ipairs(voter_keys) do
      if voted == 0 then voted = redis.call('HEXISTS', KEYS[i + 2], k) end
    end
    local entry = {p[1], p[2], p[3] or '0', voted}
    local votes = redis.call('HGETALL', KEYS[i + 1])
    for j = 1, #votes do entry[#entry + 1] = votes[j] end
    out[#out + 1] = entry
  end
end
return out
