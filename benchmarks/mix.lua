-- mix.lua: the request mix for wrk, the same for every server under test.
--
-- Arguments (after "--"): site, visitors, pages, stats reads in percent.
-- Each request is POST /v1/hit from one of `visitors` visitors on one of `pages` pages,
-- or, with the given share, GET /v1/stats for a page, each with a real browser's User-Agent
-- (one request in fifty from a crawler, counted as a bot). done() prints one line
-- "BENCH_JSON {...}" with counts and latency percentiles in microseconds.

local site, visitors, pages, stats_pct = "bench", 100000, 1000, 10
local agents = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
    "Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 " ..
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) " ..
    "Chrome/131.0.0.0 Mobile Safari/537.36 coc_coc_browser/86.0",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
}
local crawler = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

local function agent()
  if math.random(50) == 1 then return crawler end
  return agents[math.random(#agents)]
end

function init(args)
  site = args[1] or site
  visitors = tonumber(args[2]) or visitors
  pages = tonumber(args[3]) or pages
  stats_pct = tonumber(args[4]) or stats_pct
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local page = math.random(pages)
  if math.random(100) <= stats_pct then
    return wrk.format("GET", "/v1/stats?site=" .. site .. "&page=/news/" .. page,
      {["User-Agent"] = agent()})
  end
  local body = string.format('{"site":"%s","page":"/news/%d","visitor":"v%07d"}',
    site, page, math.random(visitors))
  return wrk.format("POST", "/v1/hit",
    {["Content-Type"] = "application/json", ["User-Agent"] = agent()}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,' ..
    '"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,' ..
    '"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
