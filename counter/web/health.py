"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from counter.appkeys import COUNTING, EMBEDDED
from counter.errors import StoreUnavailable, unavailable
from counter.web.responses import json_response


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving, and its embedded server (if any) has not been given
    up on: a server that could not be kept running needs the whole service restarted, which
    is what an orchestrator does when this answers 503. A Redis outage is not a liveness
    failure (``/readyz`` reports it): restarting the service would not bring Redis back."""
    server = request.app.get(EMBEDDED)
    failure = None if server is None else server.failure()
    if failure is not None:
        raise unavailable("embedded_server_failed", failure)
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Redis answers and the counting script is loaded; 503 with the reason otherwise (never
    an address or a path: probes may be public)."""
    try:
        loaded = await request.app[COUNTING].store.ready()
    except StoreUnavailable:
        raise unavailable("not_ready", "redis is unreachable or failing") from None
    if not loaded:
        raise unavailable("not_ready", "the counting script could not be loaded")
    return json_response({"status": "ready"})
