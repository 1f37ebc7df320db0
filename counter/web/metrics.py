"""``GET /metrics``, the request-metrics middleware, and the metrics lifetime of an app.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``counter serve --workers N`` sets it up), every
worker writes its values to files there and any worker answering a scrape merges all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.registry import Collector

from counter import storage
from counter.appkeys import COUNTING, EMBEDDED, METRICS, REDIS_URL, SETTINGS, SITES
from counter.embedded import EmbeddedServer
from counter.metrics import Metrics
from counter.scrape_metrics import EmbeddedCollector, SiteCollector, WorkerFilesCollector

QUEUE_SAMPLE_S = 1.0
"""The queue depth is also sampled this often, so a stalled flush shows a growing queue."""

UNMATCHED = "unmatched"


def setup_metrics(
    app: web.Application,
    registry: CollectorRegistry | None = None,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Metrics for ``app`` on ``registry`` (a fresh one when None); call after the other
    cleanup contexts are added, since this one hooks into the counting service."""
    metrics = Metrics(CollectorRegistry() if registry is None else registry)
    multiproc_dir = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir:
        metrics.exposition = CollectorRegistry()
        metrics.exposition.register(WorkerFilesCollector(multiproc_dir))
    app[METRICS] = metrics
    app.middlewares.insert(0, metrics_middleware)
    app.cleanup_ctx.append(metrics_ctx)


def route_label(request: web.Request) -> str:
    """The route's canonical path from the route table (``/v1/admin/sites/{site}``)."""
    resource = request.match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away before the answer
        raise
    finally:
        request.app[METRICS].observe_request(
            request.method, route_label(request), status, time.perf_counter() - started
        )


async def metrics_handler(request: web.Request) -> web.StreamResponse:
    metrics = request.app[METRICS]
    for refresh in metrics.before_scrape:
        await refresh()
    return await make_aiohttp_handler(metrics.exposition)(request)


def _embedded_pidfile(app: web.Application) -> EmbeddedCollector | None:
    """The embedded server this app uses: its own, or the one ``serve --workers`` started."""
    if EMBEDDED in app:
        return EmbeddedCollector(app[EMBEDDED].pidfile)
    shared = EmbeddedServer(app[SETTINGS].data_dir)
    if app[REDIS_URL] == shared.url:
        return EmbeddedCollector(shared.pidfile)
    return None


async def _sample_queue(metrics: Metrics, app: web.Application) -> None:
    batcher = app[COUNTING].batcher
    while True:
        metrics.queue_depth.set(batcher.queue_depth)
        await asyncio.sleep(QUEUE_SAMPLE_S)


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """Hook the metrics into the counting service and storage while the app runs."""
    metrics, counting = app[METRICS], app[COUNTING]
    counting.batcher.observers.append(metrics.observe_flush)
    counting.hit_observers.append(metrics.observe_hit)
    storage.error_observers.append(metrics.observe_redis_error)
    sites = SiteCollector(app[SITES], counting)
    collectors: list[Collector] = [sites]
    embedded = _embedded_pidfile(app)
    if embedded is not None:
        collectors.append(embedded)
    if metrics.exposition is metrics.registry:
        collectors.append(ProcessCollector(registry=None))
    for collector in collectors:
        metrics.exposition.register(collector)
    metrics.before_scrape.append(sites.refresh)
    sampler = asyncio.create_task(_sample_queue(metrics, app), name="counter-queue-sampler")
    yield
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    metrics.before_scrape.remove(sites.refresh)
    for collector in collectors:
        metrics.exposition.unregister(collector)
    storage.error_observers.remove(metrics.observe_redis_error)
    counting.hit_observers.remove(metrics.observe_hit)
    counting.batcher.observers.remove(metrics.observe_flush)
