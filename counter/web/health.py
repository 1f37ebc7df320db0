"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from counter.appkeys import COUNTING
from counter.errors import ApiError, StoreUnavailable
from counter.web.responses import json_response


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving; no I/O."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Redis answers and the counting script is loaded; 503 with the reason otherwise (never
    an address or a path: probes may be public)."""
    try:
        loaded = await request.app[COUNTING].store.ready()
    except StoreUnavailable:
        raise ApiError(503, "not_ready", "redis is unreachable or failing") from None
    if not loaded:
        raise ApiError(503, "not_ready", "the counting script could not be loaded")
    return json_response({"status": "ready"})
