-- batch.lua: apply one batch of hits, pings and leaves for ONE site, then return its stats.
--
-- Every key below shares the site's hash tag, so the script runs on one cluster slot.
-- Called with no events it only reads (the stats path); pages listed in the "read pages"
-- section are reported too.
--
-- KEYS[1]  visits hash          KEYS[2]  pageviews hash      KEYS[3]  bot hits hash
-- KEYS[4]  pages hash           KEYS[5]  base hash           KEYS[6]  base pages hash
-- KEYS[7]  presence: guests     KEYS[8]  presence: members   KEYS[9]  presence: bots
-- KEYS[10] peak hash            KEYS[11] uniques HLL, today  KEYS[12] uniques HLL, yesterday
-- KEYS[13] batch marker (set NX so that a retried batch is applied once; a read-only call
--          passes a marker key too, unused)
-- KEYS[14] tombstone of a deleted site (while it exists nothing is written: a flush still
--          queued on another replica must not bring a deleted site's counts back)
--
-- ARGV[1]  now, ms              ARGV[2] online window, ms    ARGV[3] visit window, ms
-- ARGV[4..7]  period fields to increment: day, week, month, year (e.g. d:2026-11-26)
-- ARGV[8..10] period fields only read: yesterday, last week, last month
-- ARGV[11] uniques HLL TTL, s   ARGV[12] "1": use the batch marker, "0": don't
-- ARGV[13] P = number of pages to read, then P page names
-- then events, 5 arguments each: kind (h hit, p ping, l leave), class (g, m, b),
--   key (visitor or member digest), alt (the guest digest of a member, or ""),
--   page ("" unless a hit)
--
-- Returns: {applied (1, or 0 for a repeated batch),
--   visits: all, today, yesterday, this week, last week, this month, last month, this year,
--   base visits, base pageviews, pageviews all, pageviews today,
--   uniques today, uniques yesterday, online guests, online members, online bots,
--   peak online, peak at (ms), then page, views (base included) pairs}

local now = tonumber(ARGV[1])
local online_ms = tonumber(ARGV[2])
local visit_ms = tonumber(ARGV[3])
local incr_fields = {'all', ARGV[4], ARGV[5], ARGV[6], ARGV[7]}
local npages = tonumber(ARGV[13])
local first_event = 14 + npages

local live = redis.call('EXISTS', KEYS[14]) == 0
local applied = 1
if not live or (ARGV[12] == '1' and not redis.call('SET', KEYS[13], '1', 'NX', 'PX', 600000)) then
  applied = 0
end

local sets = {g = KEYS[7], m = KEYS[8], b = KEYS[9]}

-- Forget visitors idle for longer than both windows (|score| below the cut-off).
local function trim(key, keep_ms)
  local cut = now - keep_ms
  redis.call('ZREMRANGEBYSCORE', key, string.format('(%d', -cut), string.format('(%d', cut))
end
local keep = math.max(online_ms, visit_ms)
trim(KEYS[7], keep)
trim(KEYS[8], keep)
trim(KEYS[9], online_ms)

local function last_seen(key, member)
  local s = redis.call('ZSCORE', key, member)
  if s then return math.abs(tonumber(s)) end
  return nil
end

local function mark_left(key, member)
  local s = redis.call('ZSCORE', key, member)
  if s and tonumber(s) > 0 then redis.call('ZADD', key, -tonumber(s), member) end
end

local n_visits, n_views, n_bots = 0, 0, 0
local page_incr, page_order, seen, bot_pages = {}, {}, {}, {}

local function add_view(page)
  if not page_incr[page] then
    page_incr[page] = 0
    page_order[#page_order + 1] = page
  end
  page_incr[page] = page_incr[page] + 1
end

local function hit(cls, key, alt, page)
  local set = sets[cls]
  if cls == 'b' then
    n_bots = n_bots + 1
    redis.call('ZADD', set, now, key)
    bot_pages[#bot_pages + 1] = page
    return
  end
  local last = last_seen(set, key)
  if alt ~= '' then
    local guest_last = last_seen(KEYS[7], alt)
    if guest_last and (not last or guest_last > last) then last = guest_last end
    redis.call('ZREM', KEYS[7], alt)
  end
  if not last or last < now - visit_ms then n_visits = n_visits + 1 end
  redis.call('ZADD', set, now, key)
  n_views = n_views + 1
  seen[#seen + 1] = key
  add_view(page)
end

if applied == 1 then
  for i = first_event, #ARGV, 5 do
    local kind, cls, key, alt = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    if kind == 'h' then
      hit(cls, key, alt, ARGV[i + 4])
    elseif kind == 'p' then
      -- XX: a ping refreshes a visitor already present; it never makes one up, so the first
      -- page view after a long absence is still a new visit.
      redis.call('ZADD', sets[cls], 'XX', now, key)
      if alt ~= '' then redis.call('ZREM', KEYS[7], alt) end
    elseif kind == 'l' then
      mark_left(sets[cls], key)
      if alt ~= '' then mark_left(KEYS[7], alt) end
    end
  end
end

local function bump(hash, n)
  if n > 0 then
    for _, f in ipairs(incr_fields) do redis.call('HINCRBY', hash, f, n) end
  end
end
bump(KEYS[1], n_visits)
bump(KEYS[2], n_views)
bump(KEYS[3], n_bots)

for i = 1, #seen, 1000 do
  redis.call('PFADD', KEYS[11], unpack(seen, i, math.min(i + 999, #seen)))
end
if #seen > 0 then redis.call('EXPIRE', KEYS[11], tonumber(ARGV[11])) end

-- Pages: the ones this batch counted, the ones asked for, the ones bots looked at, and (on
-- a repeated batch) the events' pages, read back.
local views = {}
for _, page in ipairs(page_order) do
  views[page] = redis.call('HINCRBY', KEYS[4], page, page_incr[page])
end
local function read_page(page)
  if page ~= '' and not views[page] then
    views[page] = tonumber(redis.call('HGET', KEYS[4], page) or '0')
    page_order[#page_order + 1] = page
  end
end
for i = 14, 13 + npages do read_page(ARGV[i]) end
for _, page in ipairs(bot_pages) do read_page(page) end
if applied == 0 then
  for i = first_event, #ARGV, 5 do
    if ARGV[i] == 'h' and ARGV[i + 1] ~= 'b' then read_page(ARGV[i + 4]) end
  end
end

local function count_online(key)
  return redis.call('ZCOUNT', key, now - online_ms, '+inf')
end
local guests, members, bots = count_online(KEYS[7]), count_online(KEYS[8]), count_online(KEYS[9])

local peak = redis.call('HMGET', KEYS[10], 'online', 'at')
local peak_online, peak_at = tonumber(peak[1] or '0'), tonumber(peak[2] or '0')
if live and guests + members > peak_online then
  peak_online, peak_at = guests + members, now
  redis.call('HSET', KEYS[10], 'online', peak_online, 'at', peak_at)
end

local function num(v) return tonumber(v or '0') end
local v = redis.call('HMGET', KEYS[1], 'all', ARGV[4], ARGV[8], ARGV[5], ARGV[9], ARGV[6],
  ARGV[10], ARGV[7])
local pv = redis.call('HMGET', KEYS[2], 'all', ARGV[4])
local base = redis.call('HMGET', KEYS[5], 'visits', 'pageviews')

local out = {applied}
for i = 1, 8 do out[#out + 1] = num(v[i]) end
out[#out + 1] = num(base[1])
out[#out + 1] = num(base[2])
out[#out + 1] = num(pv[1])
out[#out + 1] = num(pv[2])
out[#out + 1] = redis.call('PFCOUNT', KEYS[11])
out[#out + 1] = redis.call('PFCOUNT', KEYS[12])
out[#out + 1] = guests
out[#out + 1] = members
out[#out + 1] = bots
out[#out + 1] = peak_online
out[#out + 1] = peak_at
for i = 1, #page_order, 1000 do
  local last = math.min(i + 999, #page_order)
  local page_base = redis.call('HMGET', KEYS[6], unpack(page_order, i, last))
  for j = i, last do
    out[#out + 1] = page_order[j]
    out[#out + 1] = views[page_order[j]] + num(page_base[j - i + 1])
  end
end
return out
