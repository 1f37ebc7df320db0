-- poll_seen.lua: the site's poll generation, and whether one voter voted in each of some
-- polls (the personal part of a cached poll list).
--
-- KEYS[1] the site's poll generation      KEYS[2..] ballots hashes, one per poll
-- ARGV[1] the voter's digests, space-separated ("" for nobody); voted when any holds a ballot
--
-- Returns {generation ("0" when never bumped), voted (1/0) per ballots hash}.

local voter_keys = {}
for k in string.gmatch(ARGV[1], '%S+') do voter_keys[#voter_keys + 1] = k end
local out = {redis.call('GET', KEYS[1]) or '0'}
for i = 2, #KEYS do
  local voted = 0
  for _, k in ipairs(voter_keys) do
    if voted == 0 then voted = redis.call('HEXISTS', KEYS[i], k) end
  end
  out[#out + 1] = voted
end
return out
