"""The route table."""

from __future__ import annotations

from aiohttp import web

from counter.web import admin, counting, health
from counter.web.client import preflight


def setup_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/healthz", health.healthz),
            web.get("/readyz", health.readyz),
            web.post("/v1/hit", counting.hit),
            web.post("/v1/ping", counting.ping),
            web.post("/v1/leave", counting.leave),
            web.get("/v1/stats", counting.stats),
            web.get("/v1/admin/sites", admin.list_sites),
            web.put("/v1/admin/sites/{site}", admin.put_site),
            web.get("/v1/admin/sites/{site}", admin.get_site),
            web.delete("/v1/admin/sites/{site}", admin.delete_site),
            web.post("/v1/admin/sites/{site}/base", admin.set_base),
            web.get("/v1/admin/sites/{site}/audit", admin.audit),
            web.get("/v1/admin/sites/{site}/history", admin.history),
            web.route("OPTIONS", "/v1/{tail:.*}", preflight),
        ]
    )
