"""The route table."""

from __future__ import annotations

from aiohttp import web

from counter.web import admin, admin_backup, admin_polls, counting, health, polls
from counter.web import metrics as metrics_view
from counter.web.static import setup_static


def setup_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/healthz", health.healthz),
            web.get("/readyz", health.readyz),
            web.get("/metrics", metrics_view.metrics_handler),
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
            web.get("/v1/admin/sites/{site}/backup", admin_backup.backup_site),
            web.get("/v1/polls", polls.list_polls),
            web.get("/v1/polls/{id}", polls.get_poll),
            web.post("/v1/polls/{id}/vote", polls.vote),
            web.get("/v1/polls/{id}/events", polls.events),
            web.post("/v1/admin/polls", admin_polls.create_poll),
            web.get("/v1/admin/polls", admin_polls.list_polls),
            web.get("/v1/admin/polls/{id}", admin_polls.get_poll),
            web.patch("/v1/admin/polls/{id}", admin_polls.edit_poll),
            web.delete("/v1/admin/polls/{id}", admin_polls.delete_poll),
            web.get("/v1/admin/polls/{id}/export", admin_polls.export_poll),
        ]
    )
    setup_static(app)
