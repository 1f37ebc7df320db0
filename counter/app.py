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

from counter.appkeys import (
    ADMIN_TOKEN,
    CLOCK,
    COUNTING,
    EMBEDDED,
    POLL_HUB,
    POLLS,
    REDIS,
    REDIS_URL,
    SETTINGS,
    SITES,
)
from counter.counting.batcher import GroupCommit
from counter.counting.cache import StatsCache
from counter.counting.service import CountingService
from counter.counting.store import CountingStore
from counter.counting.visitor import DailySalt
from counter.embedded import EmbeddedServer
from counter.polls.service import PollService, RateLimit
from counter.polls.sse import PollHub
from counter.polls.store import PollStore
from counter.settings import MIN_ADMIN_TOKEN, Settings
from counter.sites.store import SiteStore
from counter.storage import connect, retrying
from counter.web.admin import ADMIN_MAX_BODY
from counter.web.client import preflight_middleware
from counter.web.errors import error_middleware
from counter.web.metrics import setup_metrics
from counter.web.routes import setup_routes

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
    settings = app[SETTINGS]
    redis = connect(app[REDIS_URL], settings.redis_timeout_s)
    app[REDIS] = redis
    yield
    await redis.aclose()


async def counting_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sites, the counting store and the group-commit flusher (drained on shutdown)."""
    settings, redis, clock = app[SETTINGS], app[REDIS], app[CLOCK]
    sites = SiteStore(
        redis, clock=clock, cache_s=settings.site_cache_ms / 1000, retries=settings.store_retries
    )
    store = CountingStore(redis, retries=settings.store_retries)
    await retrying("load counting script", store.load, settings.store_retries)
    batcher = GroupCommit(store, clock, max_batch=settings.batch_max, enabled=settings.batch)
    app[SITES] = sites
    app[COUNTING] = CountingService(
        store,
        batcher,
        StatsCache(settings.stats_cache_ms / 1000, clock),
        DailySalt(redis, clock),
        clock,
    )
    if settings.demo:
        await sites.ensure(DEMO_SITE, DEMO_DEFAULTS)
    batcher.start()
    yield
    await batcher.close()


async def polls_ctx(app: web.Application) -> AsyncIterator[None]:
    """The poll service and the pub/sub listener feeding live results (cancelled on exit)."""
    settings, redis, clock = app[SETTINGS], app[REDIS], app[CLOCK]
    retention_ms = settings.poll_retention_days * 86_400_000
    store = PollStore(redis, retries=settings.store_retries, retention_ms=retention_ms)
    await retrying("load poll scripts", store.load, settings.store_retries)
    rate = RateLimit(settings.vote_rate, settings.vote_rate_window_s, settings.vote_allowlist)
    service = PollService(store, app[SITES], clock, DailySalt(redis, clock), rate)
    hub = PollHub(app[REDIS_URL], settings.redis_timeout_s, service.latest)
    app[POLLS], app[POLL_HUB] = service, hub
    hub.start()
    yield
    await hub.close()


async def end_poll_streams(app: web.Application) -> None:
    """On shutdown, finish live-result streams instead of waiting for their clients."""
    if POLL_HUB in app:
        app[POLL_HUB].end_streams()


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, preflight_middleware], client_max_size=ADMIN_MAX_BODY
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app.cleanup_ctx.append(embedded_server_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(counting_ctx)
    app.cleanup_ctx.append(polls_ctx)
    app.on_shutdown.append(end_poll_streams)
    setup_metrics(app, registry)
    setup_routes(app)
    return app
