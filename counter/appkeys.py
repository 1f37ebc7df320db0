"""Typed application state (``web.AppKey``), one key per resource."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from counter.counting.alltime import AllTimeVisitors
from counter.counting.catalog import PageCatalog
from counter.counting.hub import StatsHub
from counter.counting.service import CountingService
from counter.counting.views import SiteViews
from counter.embedded import EmbeddedServer
from counter.metrics import Metrics
from counter.polls.service import PollService
from counter.polls.sse import PollHub
from counter.settings import Settings
from counter.sites.hosts import HostSites
from counter.sites.store import SiteStore
from counter.storage import RedisClient
from counter.web.streams import Streams

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
EMBEDDED = web.AppKey("embedded", EmbeddedServer)
REDIS_URL = web.AppKey("redis_url", str)
ADMIN_TOKEN = web.AppKey("admin_token", str)
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
REDIS_WRITES: web.AppKey[RedisClient] = web.AppKey("redis_writes")
"""The group-commit flusher's own client (reads never take its connections)."""
SITES = web.AppKey("sites", SiteStore)
PAGES = web.AppKey("pages", PageCatalog)
VIEWS = web.AppKey("views", SiteViews)
COUNTING = web.AppKey("counting", CountingService)
METRICS = web.AppKey("metrics", Metrics)
POLLS = web.AppKey("polls", PollService)
POLL_HUB = web.AppKey("poll_hub", PollHub)
STATS_HUB = web.AppKey("stats_hub", StatsHub)
HOSTS = web.AppKey("hosts", HostSites)
"""The site of a page's origin (busuanzi's requests name no site)."""
ALLTIME = web.AppKey("alltime", AllTimeVisitors)
STREAMS = web.AppKey("streams", Streams)
"""Open live streams of this process, per client and in all (every kind of stream)."""
