"""The application factory: ``create_app(settings)``, one cleanup context per resource."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry
from redis.asyncio.cluster import RedisCluster

from counter.appkeys import (
    ADMIN_TOKEN,
    ALLTIME,
    CLOCK,
    COUNTING,
    EMBEDDED,
    HOSTS,
    METRICS,
    PAGES,
    POLL_HUB,
    POLLS,
    REDIS,
    REDIS_URL,
    REDIS_WRITES,
    SETTINGS,
    SITES,
    STATS_HUB,
    STREAMS,
    VIEWS,
)
from counter.counting.alltime import AllTimeVisitors
from counter.counting.batcher import GroupCommit
from counter.counting.cache import StatsCache
from counter.counting.catalog import PageCatalog
from counter.counting.hub import StatsHub, stats_reader
from counter.counting.limits import HitRate
from counter.counting.service import CountingService
from counter.counting.store import CountingStore
from counter.counting.views import SiteViews
from counter.counting.visitor import DailySalt
from counter.embedded import EmbeddedServer
from counter.polls.service import PollService, RateLimit
from counter.polls.sse import PollHub
from counter.polls.store import PollStore
from counter.settings import MIN_ADMIN_TOKEN, Settings
from counter.sites.hosts import HostSites
from counter.sites.store import SiteStore
from counter.storage import connect
from counter.web.admin import ADMIN_MAX_BODY
from counter.web.metrics import (
    ACCESS_LOG,
    RequestLog,
    collectors_ctx,
    make_metrics,
    metrics_listener_ctx,
)
from counter.web.routes import setup_routes
from counter.web.streams import Streams
from counter.wire import Wires

log = logging.getLogger(__name__)

DEMO_SITE = "demo"
DEMO_DEFAULTS = {"name": "Cổng thông tin điện tử (demo)"}


def admin_token_file(data_dir: Path) -> str:
    """The embedded mode's admin token: ``<data dir>/admin-token`` (mode 0600), created on
    first use, and created again if it is missing, empty or too short to be a token."""
    path = data_dir / "admin-token"
    token = path.read_text().strip() if path.exists() else ""
    if len(token) >= MIN_ADMIN_TOKEN:
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".admin-token.")  # created 0600
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.replace(tmp, path)  # atomic: never an empty or half-written token file
    return token


async def embedded_server_ctx(app: web.Application) -> AsyncIterator[None]:
    """Own and supervise the embedded server when ``REDIS_URL`` is unset (waiting, if need
    be, for a command that owns it to finish). A worker of ``counter serve --workers`` only
    knows the server its supervisor owns, for ``/healthz`` and ``/metrics``."""
    settings = app[SETTINGS]
    token = settings.admin_token
    if settings.redis_url is not None:
        app[REDIS_URL] = settings.redis_url
        shared = EmbeddedServer.from_settings(settings)
        if shared.url == settings.redis_url:
            app[EMBEDDED] = shared
    else:
        server = EmbeddedServer.from_settings(settings)
        await server.start()
        server.supervise()
        app[EMBEDDED] = server
        app[REDIS_URL] = server.url
        if token is None:
            token = admin_token_file(settings.data_dir)
            log.info("admin token in %s", settings.data_dir / "admin-token")
    if token is not None:
        app[ADMIN_TOKEN] = token
    yield
    if EMBEDDED in app and app[EMBEDDED].owned:
        await app[EMBEDDED].stop()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """Two clients: one pool for everything, and one the group-commit flusher has alone, so
    that no flood of reads can take the connections that writes need."""
    settings = app[SETTINGS]
    app[REDIS] = connect(
        app[REDIS_URL], settings.redis_timeout_s, max_connections=settings.redis_pool
    )
    app[REDIS_WRITES] = connect(
        app[REDIS_URL], settings.redis_timeout_s, max_connections=settings.flushes_in_flight + 1
    )
    yield
    await app[REDIS_WRITES].aclose()
    await app[REDIS].aclose()


async def counting_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sites, the counting stores and the group-commit flusher (drained on shutdown)."""
    settings, redis, clock, metrics = app[SETTINGS], app[REDIS], app[CLOCK], app[METRICS]
    retries = settings.store_retries
    sites = SiteStore(
        redis,
        clock=clock,
        cache_s=settings.site_cache_ms / 1000,
        retries=retries,
        instruments=metrics,
    )
    reads = CountingStore(redis, retries=retries, instruments=metrics)
    writes_client = app[REDIS_WRITES]
    wires = Wires(
        app[REDIS_URL],
        settings.redis_timeout_s,
        writes_client if isinstance(writes_client, RedisCluster) else None,
    )
    writes = CountingStore(
        writes_client,
        wires=wires,
        replica_acks=settings.replica_acks,
        retries=retries,
        instruments=metrics,
    )
    for store in (reads, writes):
        await store.load()
    cache = StatsCache(settings.stats_cache_ms / 1000, clock)
    batcher = GroupCommit(
        writes,
        clock,
        max_batch=settings.batch_max,
        in_flight=settings.flushes_in_flight,
        enabled=settings.batch,
        remember=cache.put,
        instruments=metrics,
    )
    app[SITES] = sites
    app[PAGES] = PageCatalog(redis, retries=retries, instruments=metrics)
    app[VIEWS] = SiteViews(redis, retries=retries, instruments=metrics)
    app[COUNTING] = CountingService(
        reads,
        batcher,
        cache,
        DailySalt(redis, clock, retries=retries, instruments=metrics),
        clock,
        hit_rate=HitRate(settings.hit_rate, clock, allowlist=settings.allowlist),
        instruments=metrics,
    )
    if settings.demo:
        await sites.ensure(DEMO_SITE, DEMO_DEFAULTS)
    batcher.start()
    yield
    await batcher.close()
    await wires.close()


async def busuanzi_ctx(app: web.Application) -> AsyncIterator[None]:
    """What busuanzi's protocol needs besides counting: sites by origin (made on first sight
    in the open mode) and all-time unique visitors."""
    settings, clock, metrics = app[SETTINGS], app[CLOCK], app[METRICS]
    app[HOSTS] = HostSites(
        app[SITES],
        clock,
        open_mode=settings.busuanzi_open,
        per_day=settings.busuanzi_sites_per_day,
        instruments=metrics,
    )
    app[ALLTIME] = AllTimeVisitors(
        app[REDIS], clock, retries=settings.store_retries, instruments=metrics
    )
    yield


async def polls_ctx(app: web.Application) -> AsyncIterator[None]:
    """The poll service and the pub/sub listener feeding live results (cancelled on exit)."""
    settings, redis, clock, metrics = app[SETTINGS], app[REDIS], app[CLOCK], app[METRICS]
    retries = settings.store_retries
    store = PollStore(
        redis,
        retention_ms=settings.poll_retention_days * 86_400_000,
        retries=retries,
        instruments=metrics,
    )
    await store.load()
    allow = settings.allowlist
    rate = RateLimit(settings.vote_rate, settings.vote_rate_window_s, allow, settings.vote_rate_48)
    tickets = RateLimit(settings.stream_tickets_rate, 60, allow)
    salt = DailySalt(redis, clock, retries=retries, instruments=metrics)
    service = PollService(
        store,
        app[SITES],
        clock,
        salt,
        rate,
        tickets=tickets,
        polls_listed=settings.polls_listed,
        instruments=metrics,
    )
    hub = PollHub(app[REDIS_URL], settings.redis_timeout_s, service.latest)
    app[POLLS], app[POLL_HUB] = service, hub
    hub.start()
    yield
    await hub.close()


async def stats_hub_ctx(app: web.Application) -> AsyncIterator[None]:
    """The pub/sub listener feeding live stats streams (cancelled on exit)."""
    settings = app[SETTINGS]
    hub = StatsHub(
        app[REDIS_URL],
        settings.redis_timeout_s,
        stats_reader(app[SITES], app[COUNTING]),
        max_pages=settings.stream_pages,
        instruments=app[METRICS],
    )
    app[STATS_HUB] = hub
    hub.start()
    yield
    await hub.close()


async def end_live_streams(app: web.Application) -> None:
    """On shutdown, finish live streams instead of waiting for their clients."""
    if POLL_HUB in app:
        app[POLL_HUB].end_streams()
    if STATS_HUB in app:
        app[STATS_HUB].end_streams()


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    metrics = make_metrics(registry)
    app = web.Application(
        client_max_size=ADMIN_MAX_BODY,
        handler_args={
            "access_log": ACCESS_LOG,
            "access_log_class": RequestLog.bound(metrics, lines=settings.access_log),
        },
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[METRICS] = metrics
    app[STREAMS] = Streams(
        per_client=settings.streams_per_client,
        total=settings.streams_max,
        max_s=settings.stream_max_s,
        instruments=metrics,
        allowlist=settings.allowlist,
    )
    app.cleanup_ctx.append(embedded_server_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(counting_ctx)
    app.cleanup_ctx.append(busuanzi_ctx)
    app.cleanup_ctx.append(polls_ctx)
    app.cleanup_ctx.append(stats_hub_ctx)
    app.cleanup_ctx.append(collectors_ctx)
    app.cleanup_ctx.append(metrics_listener_ctx)
    app.on_shutdown.append(end_live_streams)
    setup_routes(app)
    return app
