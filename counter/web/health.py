"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from counter.appkeys import COUNTING, EMBEDDED, REDIS
from counter.web.responses import error_response, json_response


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving, and its embedded server (if any) has not been given
    up on: a server that could not be kept running needs the whole service restarted, which
    is what an orchestrator does when this answers 503. A Redis outage is not a liveness
    failure (``/readyz`` reports it): restarting the service would not bring Redis back."""
    server = request.app.get(EMBEDDED)
    failure = None if server is None else server.failure()
    if failure is not None:
        return error_response(503, "embedded_server_failed", failure)
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Redis answers and the counting script is loaded (loaded here if the server lost it);
    503 with the reason otherwise."""
    redis = request.app[REDIS]
    script = request.app[COUNTING].store.script
    try:
        await redis.ping()
        loaded = script.sha is not None and all(await redis.script_exists(script.sha))
        if not loaded:
            # A promoted replica or restarted node has an empty script cache (scripts are not
            # replicated); with no traffic nothing would reload it, so readiness does.
            loaded = all(await redis.script_exists(await script.load(redis)))
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure, never raises
        return error_response(503, "not_ready", f"redis: {exc}")
    if not loaded:
        return error_response(503, "not_ready", "counting script not loaded")
    return json_response({"status": "ready"})
