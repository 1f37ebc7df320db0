"""The route table. Every handler is registered :func:`~counter.web.errors.guarded`, so a
failure anywhere is the JSON error; the last two routes answer preflights and what no route
takes."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from counter.appkeys import SETTINGS
from counter.web import (
    admin,
    admin_backup,
    admin_polls,
    admin_views,
    busuanzi,
    counting,
    health,
    polls,
    stats_stream,
)
from counter.web import metrics as metrics_view
from counter.web.console import Console
from counter.web.errors import guarded, no_route, preflight
from counter.web.openapi import openapi_json
from counter.web.static import StaticFiles

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/healthz", health.healthz),
    ("GET", "/readyz", health.readyz),
    ("GET", "/metrics", metrics_view.metrics_handler),
    ("GET", "/v1/openapi.json", openapi_json),
    ("POST", "/v1/hit", counting.hit),
    ("POST", "/v1/ping", counting.ping),
    ("POST", "/v1/leave", counting.leave),
    ("GET", "/v1/stats", counting.stats),
    ("GET", "/v1/stats/events", stats_stream.events),
    ("GET", "/v1/admin/sites", admin.list_sites),
    ("PUT", "/v1/admin/sites/{site}", admin.put_site),
    ("GET", "/v1/admin/sites/{site}", admin.get_site),
    ("DELETE", "/v1/admin/sites/{site}", admin.delete_site),
    ("POST", "/v1/admin/sites/{site}/base", admin.set_base),
    ("GET", "/v1/admin/sites/{site}/audit", admin.audit),
    ("GET", "/v1/admin/sites/{site}/history", admin.history),
    ("GET", "/v1/admin/sites/{site}/backup", admin_backup.backup_site),
    ("GET", "/v1/admin/sites/{site}/pages", admin.list_pages),
    ("POST", "/v1/admin/sites/{site}/pages/prune", admin.prune_pages),
    ("DELETE", "/v1/admin/sites/{site}/peak", admin.reset_peak),
    ("GET", "/v1/admin/sites/{site}/hours", admin_views.hours),
    ("GET", "/v1/admin/sites/{site}/top-pages", admin_views.top_pages),
    ("GET", "/v1/admin/sites/{site}/referrers", admin_views.referrers),
    ("GET", "/v1/admin/sites/{site}/online", admin_views.online),
    ("GET", "/v1/polls", polls.list_polls),
    ("GET", "/v1/polls/{id}", polls.get_poll),
    ("POST", "/v1/polls/{id}/vote", polls.vote),
    ("POST", "/v1/polls/{id}/ticket", polls.ticket),
    ("GET", "/v1/polls/{id}/events", polls.events),
    ("POST", "/v1/admin/polls", admin_polls.create_poll),
    ("GET", "/v1/admin/polls", admin_polls.list_polls),
    ("GET", "/v1/admin/polls/{id}", admin_polls.get_poll),
    ("PATCH", "/v1/admin/polls/{id}", admin_polls.edit_poll),
    ("DELETE", "/v1/admin/polls/{id}", admin_polls.delete_poll),
    ("GET", "/v1/admin/polls/{id}/export", admin_polls.export_poll),
    ("GET", "/busuanzi", busuanzi.busuanzi),
]


def setup_routes(app: web.Application) -> None:
    router = app.router
    for method, path, handler in ROUTES:
        router.add_route(method, path, guarded(handler))
    files = StaticFiles(demo=app[SETTINGS].demo)
    router.add_get("/widget.js", guarded(files.widget_js))
    router.add_get("/", guarded(files.index))
    console = Console()
    router.add_get("/admin", guarded(console.page))
    router.add_get("/admin/{asset}", guarded(console.asset))
    router.add_route("OPTIONS", "/v1/{tail:.*}", guarded(preflight), name="preflight")
    router.add_route("*", "/{tail:.*}", guarded(no_route), name="no-route")
