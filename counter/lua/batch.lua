-- batch.lua: apply one batch of hits, pings and leaves for ONE site, then return its stats.
--
-- Every key below shares the site's hash tag, so the script runs on one cluster slot. Called
-- with no events it only reads (the stats path). The cost of a call is what Redis spends per
-- command, not per event: each presence set, counter hash and the pages hash is read once
-- and written once per batch, the events being replayed in order in Lua in between.
--
-- KEYS[1]  visits hash          KEYS[2]  pageviews hash      KEYS[3]  bot hits hash
-- KEYS[4]  pages hash           KEYS[5]  base hash           KEYS[6]  base pages hash
-- KEYS[7]  presence: guests     KEYS[8]  presence: members   KEYS[9]  presence: bots
-- KEYS[10] peak hash            KEYS[11] uniques HLL, today  KEYS[12] uniques HLL, yesterday
-- KEYS[13] batch marker (SET NX, so that a retried batch is applied once; unused when
--          ARGV[12] is 0)
-- KEYS[14] tombstone of a deleted site (while it exists nothing is written: a flush still
--          queued on another replica must not bring a deleted site's counts back)
-- KEYS[15] today's counts by hour   KEYS[16] today's page views by page
-- KEYS[17] today's referring hosts  KEYS[18] today's online counts by minute
-- KEYS[19] all-time visitors HLL  KEYS[20] announcement throttle (set for a second)
--
-- ARGV[1]  now, ms              ARGV[2] online window, ms    ARGV[3] visit window, ms
-- ARGV[4..7]  period fields counted: day, week, month, year (e.g. d:2026-11-26)
-- ARGV[8..10] period fields only read: yesterday, last week, last month
-- ARGV[11] uniques HLL TTL, s
-- ARGV[12] how long the batch marker lives, ms (0: no marker)
-- ARGV[13] "1": do the once-a-second work now: forget idle visitors, count today's uniques
--          (counting them costs a pass over the HyperLogLog each time a batch changes it)
-- ARGV[14] most pages the site tracks (0: no limit)
-- ARGV[15] events: 22-byte records, each kind (h hit, p ping, l leave, r read: counts
--          nothing, only its page's count is returned), class (g guest,
--          m member, b bot), key (8-byte visitor or member digest), alt (the 8-byte guest
--          digest of a member, zero bytes otherwise), page and referring host (2-byte
--          big-endian indexes into the lists below, 1-based; 0 for none)
-- ARGV[16] the local hour (HH)       ARGV[17] the local minute (HH:MM)
-- ARGV[18] TTL of the day's keys (KEYS[15..18]), s, set on once-a-second calls
-- ARGV[19] most pages in a day's page list   ARGV[20] most hosts in a day's referrers
-- ARGV[21] P = number of pages, then P page names: the events' pages and pages to read
-- then R = number of hosts, then R host names, then the pub/sub channel on which a change
-- of the site's stats is announced at most once a second, then the message (the site id)
--
-- Returns (all integers): applied (1, or 0 for a repeated batch, a deleted site or a batch
--   of reads only),
--   visits: all (base included), today, yesterday, this week, last week, this month,
--   last month, this year; page views: all (base included), today; uniques: today (-1 when
--   not counted by this call: see ARGV[13]), yesterday; online: guests, members, bots;
--   peak online, peak at (ms);
--   then P page counts in the order of ARGV, base included (-1: the page is not tracked,
--   the site being at its page limit).

local now = tonumber(ARGV[1])
local online_ms = tonumber(ARGV[2])
local visit_ms = tonumber(ARGV[3])
local max_pages = tonumber(ARGV[14])
local events = ARGV[15]
local hour, minute, day_ttl = ARGV[16], ARGV[17], tonumber(ARGV[18])
local day_pages_max, referrers_max = tonumber(ARGV[19]), tonumber(ARGV[20])
local npages = tonumber(ARGV[21])
local FIRST_PAGE = 22
local nhosts = tonumber(ARGV[FIRST_PAGE + npages])
local FIRST_HOST = FIRST_PAGE + npages + 1
local RECORD, NO_ALT = 22, string.rep('\0', 8)

local live = redis.call('EXISTS', KEYS[14]) == 0
-- Reads only: nothing to write, no marker, no announcement.
local counts = false
for i = 1, #events, RECORD do
  if string.sub(events, i, i) ~= 'r' then counts = true break end
end
local applied = live and counts
local marker_ms = tonumber(ARGV[12])
if applied and marker_ms > 0 then
  applied = redis.call('SET', KEYS[13], '1', 'NX', 'PX', marker_ms) ~= false
end

local function int(n) return string.format('%d', n) end

-- How long a visitor is remembered after its last activity: guests and members for both
-- windows, bots only while online. Older entries count as absent whether or not they have
-- been trimmed yet; trimming them (ARGV[13]) only frees their memory.
local keep = math.max(online_ms, visit_ms)
local keep_of = {[KEYS[7]] = keep, [KEYS[8]] = keep, [KEYS[9]] = online_ms}
if live and ARGV[13] == '1' then
  for key, keep_ms in pairs(keep_of) do
    local cut = now - keep_ms
    redis.call('ZREMRANGEBYSCORE', key, '(' .. int(-cut), '(' .. int(cut))
  end
end

-- Presence: one sorted set per class; scores are last activity in ms, negative for a
-- visitor who left. `state[set][key]` is a score, or false for a key to remove.
local set_of = {g = KEYS[7], m = KEYS[8], b = KEYS[9]}
local state = {[KEYS[7]] = {}, [KEYS[8]] = {}, [KEYS[9]] = {}}
local changed = {[KEYS[7]] = {}, [KEYS[8]] = {}, [KEYS[9]] = {}}

-- Read every score the batch needs: one ZMSCORE per set.
if applied then
  local wanted = {[KEYS[7]] = {}, [KEYS[8]] = {}, [KEYS[9]] = {}}
  local listed = {}
  local function want(set, key)
    local id = set .. key
    if not listed[id] then
      listed[id] = true
      local list = wanted[set]
      list[#list + 1] = key
    end
  end
  for i = 1, #events, RECORD do
    if string.sub(events, i, i) ~= 'r' then
      local set = set_of[string.sub(events, i + 1, i + 1)]
      want(set, string.sub(events, i + 2, i + 9))
      local alt = string.sub(events, i + 10, i + 17)
      if alt ~= NO_ALT then want(KEYS[7], alt) end
    end
  end
  for set, list in pairs(wanted) do
    for i = 1, #list, 1000 do
      local last = math.min(i + 999, #list)
      local scores = redis.call('ZMSCORE', set, unpack(list, i, last))
      for j = i, last do
        local s = scores[j - i + 1]
        if s then state[set][list[j]] = tonumber(s) end
      end
    end
  end
end

local function put(set, key, score)
  state[set][key] = score
  changed[set][key] = true
end

local function last_active(set, key)
  local s = state[set][key]
  if s and math.abs(s) >= now - keep_of[set] then return math.abs(s) end
  return nil
end

local n_visits, n_views, n_bots = 0, 0, 0
local page_incr, host_incr, seen = {}, {}, {}

local function hit(set, cls, key, alt, page, host)
  if cls == 'b' then
    n_bots = n_bots + 1
    put(set, key, now)
    return
  end
  local last = last_active(set, key)
  if alt ~= NO_ALT then
    local guest_last = last_active(KEYS[7], alt)
    if guest_last and (not last or guest_last > last) then last = guest_last end
    put(KEYS[7], alt, false)
  end
  if not last or last < now - visit_ms then n_visits = n_visits + 1 end
  put(set, key, now)
  n_views = n_views + 1
  seen[#seen + 1] = key
  if page > 0 then page_incr[page] = (page_incr[page] or 0) + 1 end
  if host > 0 then host_incr[host] = (host_incr[host] or 0) + 1 end
end

local function leave(set, key)
  local s = state[set][key]
  if s and s > 0 then put(set, key, -s) end
end

if applied then
  for i = 1, #events, RECORD do
    local kind, cls = string.sub(events, i, i), string.sub(events, i + 1, i + 1)
    local key, alt = string.sub(events, i + 2, i + 9), string.sub(events, i + 10, i + 17)
    local set = set_of[cls]
    if kind == 'h' then
      local page = string.byte(events, i + 18) * 256 + string.byte(events, i + 19)
      local host = string.byte(events, i + 20) * 256 + string.byte(events, i + 21)
      hit(set, cls, key, alt, page, host)
    elseif kind == 'p' then
      -- A ping refreshes a visitor still remembered; it never makes one up, so the first
      -- page view after a long absence is still a new visit.
      if last_active(set, key) then put(set, key, now) end
      if alt ~= NO_ALT then put(KEYS[7], alt, false) end
    elseif kind == 'l' then
      leave(set, key)
      if alt ~= NO_ALT then leave(KEYS[7], alt) end
    end
  end
end

-- Write presence back: one ZADD (and at most one ZREM) per set.
for set, keys in pairs(changed) do
  local adds, removes = {}, {}
  for key in pairs(keys) do
    local s = state[set][key]
    if s then
      adds[#adds + 1] = int(s)
      adds[#adds + 1] = key
    else
      removes[#removes + 1] = key
    end
  end
  for i = 1, #adds, 1000 do redis.call('ZADD', set, unpack(adds, i, math.min(i + 999, #adds))) end
  for i = 1, #removes, 1000 do
    redis.call('ZREM', set, unpack(removes, i, math.min(i + 999, #removes)))
  end
end

-- Period counters: one HMGET and at most one HSET per hash. `fields` are read; the first
-- five (all, day, week, month, year) are the ones counted.
local function count(hash, n, fields)
  local values = redis.call('HMGET', hash, unpack(fields))
  for i = 1, #values do values[i] = tonumber(values[i] or '0') end
  if n > 0 then
    local pairs_ = {}
    for i = 1, 5 do
      values[i] = values[i] + n
      pairs_[#pairs_ + 1] = fields[i]
      pairs_[#pairs_ + 1] = int(values[i])
    end
    redis.call('HSET', hash, unpack(pairs_))
  end
  return values
end
local counted = {'all', ARGV[4], ARGV[5], ARGV[6], ARGV[7]}
local v = count(KEYS[1], n_visits, {'all', ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8],
  ARGV[9], ARGV[10]})
local pv = count(KEYS[2], n_views, counted)
if n_bots > 0 then count(KEYS[3], n_bots, counted) end

for i = 1, #seen, 1000 do
  redis.call('PFADD', KEYS[11], unpack(seen, i, math.min(i + 999, #seen)))
end
if #seen > 0 then redis.call('EXPIRE', KEYS[11], tonumber(ARGV[11])) end
for i = 1, #seen, 1000 do
  redis.call('PFADD', KEYS[19], unpack(seen, i, math.min(i + 999, #seen)))
end

-- The console's day views: counts by hour, page views by page, referring hosts; each a
-- bounded hash of its own local day.
if n_visits > 0 then redis.call('HINCRBY', KEYS[15], 'v:' .. hour, n_visits) end
if n_views > 0 then redis.call('HINCRBY', KEYS[15], 'p:' .. hour, n_views) end
-- Add ``incr[i]`` to field ``names[i]`` of ``hash``, adding new fields only while the hash
-- has fewer than ``limit`` (one HINCRBY per field: cheaper than HMGET and HSET for the few
-- dozen fields of a batch).
local function count_in(hash, incr, names, limit)
  if next(incr) == nil then return end
  local room = limit - redis.call('HLEN', hash)
  for i, n in pairs(incr) do
    if room > 0 or redis.call('HEXISTS', hash, names[i]) == 1 then
      if redis.call('HINCRBY', hash, names[i], n) == n then room = room - 1 end
    end
  end
end

-- Pages: one HMGET of every page named, one HSET of the counted ones. A page the site does
-- not track yet is only added while the site tracks fewer than max_pages pages; a hit on a
-- page over that limit counts in the site's totals only, and its count is -1.
local page_counts = {}
local names = {}
for i = 1, npages do names[i] = ARGV[FIRST_PAGE - 1 + i] end
if npages > 0 then
  local function hmget(hash)
    local values = {}
    for i = 1, npages, 1000 do
      local part = redis.call('HMGET', hash, unpack(names, i, math.min(i + 999, npages)))
      for j = 1, #part do values[i + j - 1] = part[j] end
    end
    return values
  end
  local current = hmget(KEYS[4])
  local base = {}
  if redis.call('EXISTS', KEYS[6]) == 1 then base = hmget(KEYS[6]) end
  local room = nil
  if max_pages > 0 and next(page_incr) ~= nil then
    room = max_pages - redis.call('HLEN', KEYS[4])
  end
  local writes = {}
  for i = 1, npages do
    local n = tonumber(current[i] or '0')
    local incr = page_incr[i]
    if incr and not current[i] and room then
      if room > 0 then room = room - 1 else incr = false end
    end
    if incr then
      n = n + incr
      writes[#writes + 1] = names[i]
      writes[#writes + 1] = int(n)
    end
    if incr == false then
      page_counts[i] = -1
    else
      page_counts[i] = n + tonumber(base[i] or '0')
    end
  end
  for i = 1, #writes, 1000 do
    redis.call('HSET', KEYS[4], unpack(writes, i, math.min(i + 999, #writes)))
  end
end
count_in(KEYS[16], page_incr, names, day_pages_max)
local hosts = {}
for i = 1, nhosts do hosts[i] = ARGV[FIRST_HOST - 1 + i] end
count_in(KEYS[17], host_incr, hosts, referrers_max)

local function online(key)
  return redis.call('ZCOUNT', key, now - online_ms, '+inf')
end
local guests, members, bots = online(KEYS[7]), online(KEYS[8]), online(KEYS[9])

local peak = redis.call('HMGET', KEYS[10], 'online', 'at')
local peak_online, peak_at = tonumber(peak[1] or '0'), tonumber(peak[2] or '0')
if live and guests + members > peak_online then
  peak_online, peak_at = guests + members, now
  redis.call('HSET', KEYS[10], 'online', int(peak_online), 'at', int(peak_at))
end

if live and ARGV[13] == '1' then
  redis.call('HSET', KEYS[18], minute, guests + members)
  for k = 15, 18 do redis.call('EXPIRE', KEYS[k], day_ttl) end
end

if applied and redis.call('SET', KEYS[20], '1', 'NX', 'PX', 1000) then
  redis.call('PUBLISH', ARGV[FIRST_HOST + nhosts], ARGV[FIRST_HOST + nhosts + 1])
end

local base = redis.call('HMGET', KEYS[5], 'visits', 'pageviews')
local out = {applied and 1 or 0,
  v[1] + tonumber(base[1] or '0'), v[2], v[6], v[3], v[7], v[4], v[8], v[5],
  pv[1] + tonumber(base[2] or '0'), pv[2],
  (#seen == 0 or ARGV[13] == '1') and redis.call('PFCOUNT', KEYS[11]) or -1,
  redis.call('PFCOUNT', KEYS[12]),
  guests, members, bots, peak_online, peak_at}
for i = 1, npages do out[#out + 1] = page_counts[i] end
return out
