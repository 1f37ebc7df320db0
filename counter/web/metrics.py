"""``GET /metrics``, the request log, and the metrics lifetime of an app.

Requests are counted by aiohttp's access-log hook (:class:`RequestLog`), which aiohttp calls
once per answered request with its duration, after the answer is written: no middleware
sits on the request path, and a client that went away is counted as status 499.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``counter serve --workers N`` sets it up), every
worker writes its values to files there and any worker answering a scrape merges all of them.

``/metrics`` names every site and how busy it is: with ``COUNTER_METRICS_TOKEN`` set a scrape
needs ``Authorization: Bearer <token>``, and with ``COUNTER_METRICS_PORT`` set it is served on
a listener of its own (which serves nothing else), and no longer on the public port.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import platform
from collections.abc import AsyncIterator, Mapping
from importlib.metadata import version
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.registry import Collector

from counter.appkeys import COUNTING, EMBEDDED, METRICS, PAGES, SETTINGS, SITES
from counter.errors import ApiError
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.metrics import Metrics
from counter.scrape_metrics import EmbeddedCollector, SiteCollector, WorkerFilesCollector
from counter.web.errors import CLIENT_GONE, FALLBACK_ROUTES, guarded, no_route

UNMATCHED = "unmatched"
ACCESS_LOG = logging.getLogger("aiohttp.access")
SITE_COLLECTOR = web.AppKey("site_collector", SiteCollector)
METRICS_LISTENER = web.AppKey("metrics_listener", web.AppRunner)
"""The runner of ``COUNTER_METRICS_PORT``'s listener, while it runs."""
SECRET_PARAMETERS = frozenset({"member", "ticket"})
"""Query parameters whose values never reach a log line."""


def logged_path(request: web.BaseRequest) -> str:
    """The path and query as logged: a member token or stream ticket in the query (sent by
    mistake, or by an old widget; such requests are refused) is replaced by ``REDACTED``."""
    if not request.query_string:
        return request.path
    query = request.query
    if SECRET_PARAMETERS.isdisjoint(name.lower() for name in query):
        return request.path_qs
    kept = [(k, "REDACTED" if k.lower() in SECRET_PARAMETERS else v) for k, v in query.items()]
    return f"{request.path}?{urlencode(kept)}"


def route_label(request: web.BaseRequest) -> str:
    """The route's canonical path from the route table (``/v1/admin/sites/{site}``); a
    request no route took (unknown path, malformed request) is ``unmatched``."""
    # ``_match_info``, not ``match_info`` (which asserts): a request the HTTP parser refused
    # (a request line too long, a bad header) never reached the router.
    match_info = request._match_info if isinstance(request, web.Request) else None
    if match_info is None:
        return UNMATCHED
    resource = match_info.route.resource
    if resource is None or resource.name in FALLBACK_ROUTES:
        return UNMATCHED
    return resource.canonical


class RequestLog(AbstractAccessLogger):
    """Counts every answered request and, when access logging is on, writes one line
    (method, path, status, size, time; never the client's address)."""

    instruments: Instruments = NO_INSTRUMENTS
    lines: bool = True

    @classmethod
    def bound(cls, instruments: Instruments, *, lines: bool) -> type[RequestLog]:
        """This class reporting to ``instruments`` (aiohttp makes one per connection)."""
        return type("RequestLog", (cls,), {"instruments": instruments, "lines": lines})

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        status = response.status
        transport = request.transport
        if transport is None or transport.is_closing():
            status = CLIENT_GONE
        self.instruments.request(request.method, route_label(request), status, time)
        if self.lines:
            version = request.version
            self.logger.info(
                '"%s %s HTTP/%d.%d" %d %d %.6fs',
                request.method, logged_path(request), version.major, version.minor,
                status, response.body_length, time,
            )  # fmt: skip


def make_metrics(
    registry: CollectorRegistry | None = None, environ: Mapping[str, str] = os.environ
) -> Metrics:
    """The app's metrics on ``registry`` (a fresh one when None); with
    ``PROMETHEUS_MULTIPROC_DIR`` set, scrapes serve the merge of every worker's files."""
    multiproc_dir = environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics = Metrics(
        CollectorRegistry() if registry is None else registry, multiprocess=bool(multiproc_dir)
    )
    if multiproc_dir:
        metrics.exposition = CollectorRegistry()
        metrics.exposition.register(WorkerFilesCollector(multiproc_dir))
    return metrics


def _require_token(request: web.Request, token: str | None) -> None:
    """401 unless ``Authorization: Bearer <token>`` (when a token is set)."""
    if token is None:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "a valid metrics bearer token is required",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


async def _serve_metrics(app: web.Application, request: web.Request) -> web.StreamResponse:
    _require_token(request, app[SETTINGS].metrics_token)
    if SITE_COLLECTOR in app:
        await app[SITE_COLLECTOR].refresh()
    return await make_aiohttp_handler(app[METRICS].exposition)(request)


async def metrics_handler(request: web.Request) -> web.StreamResponse:
    """``/metrics`` on the public port, unless it has a listener of its own."""
    if request.app[SETTINGS].metrics_port is not None:
        raise ApiError(404, "not_found", "no such resource")
    return await _serve_metrics(request.app, request)


async def metrics_listener_ctx(app: web.Application) -> AsyncIterator[None]:
    """With ``COUNTER_METRICS_PORT``: a listener on ``COUNTER_HOST`` serving only
    ``/metrics`` (every worker of ``serve --workers`` shares the port, like the main one)."""
    settings = app[SETTINGS]
    if settings.metrics_port is None:
        yield
        return

    async def serve(request: web.Request) -> web.StreamResponse:
        return await _serve_metrics(app, request)

    request_log = RequestLog.bound(app[METRICS], lines=settings.access_log)
    listener = web.Application(
        handler_args={"access_log": ACCESS_LOG, "access_log_class": request_log}
    )
    listener.router.add_get("/metrics", guarded(serve))
    listener.router.add_route("*", "/{tail:.*}", guarded(no_route), name="no-route")
    runner = web.AppRunner(listener)
    await runner.setup()
    reuse = app[METRICS].multiprocess or None
    await web.TCPSite(runner, settings.host, settings.metrics_port, reuse_port=reuse).start()
    app[METRICS_LISTENER] = runner
    yield
    await runner.cleanup()


async def collectors_ctx(app: web.Application) -> AsyncIterator[None]:
    """The collectors computed at scrape time, registered while the app runs."""
    metrics = app[METRICS]
    loop = (
        "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
    )
    metrics.running(version("counter"), loop, platform.python_version())
    sites = SiteCollector(app[SITES], app[COUNTING], app[PAGES])
    app[SITE_COLLECTOR] = sites
    collectors: list[Collector] = [sites]
    if EMBEDDED in app:  # its own, or the one ``serve --workers`` runs for its workers
        collectors.append(EmbeddedCollector(app[EMBEDDED].pidfile))
    if metrics.exposition is metrics.registry:
        collectors.append(ProcessCollector(registry=None))
    for collector in collectors:
        metrics.exposition.register(collector)
    yield
    for collector in collectors:
        metrics.exposition.unregister(collector)
