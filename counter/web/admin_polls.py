"""Admin API for polls: create, edit (close, reopen), delete, list with results, export."""

from __future__ import annotations

from aiohttp import web

from counter.appkeys import POLLS
from counter.errors import bad_request
from counter.polls.service import export_csv
from counter.web.admin import ADMIN_MAX_BODY, require_admin
from counter.web.responses import json_response, read_json


async def create_poll(request: web.Request) -> web.Response:
    require_admin(request)
    body = await read_json(request, ADMIN_MAX_BODY)
    return json_response(await request.app[POLLS].create(body), status=201)


async def edit_poll(request: web.Request) -> web.Response:
    require_admin(request)
    body = await read_json(request, ADMIN_MAX_BODY)
    return json_response(await request.app[POLLS].edit(request.match_info["id"], body))


async def delete_poll(request: web.Request) -> web.Response:
    require_admin(request)
    await request.app[POLLS].delete(request.match_info["id"])
    return web.Response(status=204)


async def get_poll(request: web.Request) -> web.Response:
    require_admin(request)
    return json_response(await request.app[POLLS].show(request.match_info["id"]))


async def list_polls(request: web.Request) -> web.Response:
    """Every poll of a site, any state, newest first, with results whatever the policy."""
    require_admin(request)
    return json_response(await request.app[POLLS].overview(request.query.get("site")))


async def export_poll(request: web.Request) -> web.Response:
    """Results as CSV (or JSON rows); counts stay empty where the results policy hides them
    (admins see them through the admin GET and list)."""
    require_admin(request)
    poll_id = request.match_info["id"]
    fmt = request.query.get("format", "csv")
    if fmt not in {"csv", "json"}:
        raise bad_request("invalid_format", "format must be csv or json")
    rows = await request.app[POLLS].export(poll_id)
    if fmt == "json":
        return json_response({"rows": rows})
    return web.Response(
        text=export_csv(rows),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="poll-{poll_id}.csv"'},
    )
