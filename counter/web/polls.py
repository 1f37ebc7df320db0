"""Public poll endpoints: list, read, vote, and live results as Server-Sent Events."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse

from counter.appkeys import METRICS, POLL_HUB, POLLS, SETTINGS, SITES
from counter.errors import ApiError, StoreUnavailable
from counter.polls.service import RateLimited, vote_options
from counter.polls.sse import Subscriber
from counter.polls.store import Stored
from counter.sites.model import SiteConfig
from counter.validation import VISITOR_ID, optional_string, reject_unknown, site_id, string
from counter.web.client import check_origin, client_ip, cors_headers
from counter.web.responses import error_response, json_response, read_json

_VOTE_FIELDS = frozenset({"visitor", "options", "member"})


def _voter(request: web.Request, site: SiteConfig) -> str:
    """The asking voter from ``?visitor=`` (and ``?member=``), or "" for nobody."""
    query = dict(request.query)
    visitor = optional_string(query, "visitor", max_len=64, pattern=VISITOR_ID)
    member = optional_string(query, "member", max_len=256)
    return request.app[POLLS].voter(site, visitor, member)


def _headers(request: web.Request, site: SiteConfig, personal: bool) -> dict[str, str]:
    cache = "no-store" if personal else "public, max-age=1"
    return {**cors_headers(request, site), "Cache-Control": cache}


async def list_polls(request: web.Request) -> web.Response:
    site = await request.app[SITES].require(site_id(request.query.get("site")))
    voter = _voter(request, site)
    polls = await request.app[POLLS].active(site, voter)
    return json_response({"polls": polls}, headers=_headers(request, site, bool(voter)))


async def get_poll(request: web.Request) -> web.Response:
    service = request.app[POLLS]
    poll_id = request.match_info["id"]
    site = await service.locate(poll_id)
    voter = _voter(request, site)
    stored = await service.get(site, poll_id, voter)
    return json_response(service.render(site, stored), headers=_headers(request, site, bool(voter)))


async def vote(request: web.Request) -> web.Response:
    app = request.app
    service = app[POLLS]
    poll_id = request.match_info["id"]
    site = await service.locate(poll_id)
    headers = _headers(request, site, True)
    try:
        check_origin(request, site)
        body = await read_json(request, app[SETTINGS].max_body_bytes)
        reject_unknown(body, _VOTE_FIELDS)
        visitor = string(body.get("visitor"), "visitor", max_len=64, pattern=VISITOR_ID)
        voter = service.voter(site, visitor, optional_string(body, "member", max_len=256))
        options = vote_options(body.get("options"))
        ip = client_ip(request, app[SETTINGS].trusted_proxies)
        poll = await service.vote(site, poll_id, voter, options, ip)
        app[METRICS].vote(site.id)
    except RateLimited as exc:
        resp = error_response(429, "rate_limited", f"too many votes; retry in {exc}")
        resp.headers.update({**headers, "Retry-After": str(exc.retry_after_s)})
        return resp
    except ApiError as exc:  # answered here so that the widget's origin may read it
        resp = error_response(exc.status, exc.code, exc.message)
        resp.headers.update(headers)
        return resp
    return json_response(poll, headers=headers)


async def events(request: web.Request) -> web.StreamResponse:
    """A snapshot on connect, then one per change (at most about once a second)."""
    app = request.app
    service, hub = app[POLLS], app[POLL_HUB]
    poll_id = request.match_info["id"]
    site = await service.locate(poll_id)
    voter = _voter(request, site)
    await hub.wait_ready()
    with hub.subscribe(site.id, poll_id) as sub, app[METRICS].sse_connection(site.id):
        first = await service.get(site, poll_id, voter)
        resp = EventSourceResponse(headers=cors_headers(request, site))
        resp.headers["Cache-Control"] = "no-store"
        await resp.prepare(request)
        async with resp:
            watch = asyncio.ensure_future(resp.wait())
            watch.add_done_callback(lambda _: sub.close())
            try:
                await _stream(request, resp, sub, site, first, voter)
            except (ConnectionResetError, StoreUnavailable):
                pass  # the client reconnects and gets a fresh snapshot
            finally:
                watch.cancel()
    return resp


async def _stream(
    request: web.Request,
    resp: EventSourceResponse,
    sub: Subscriber,
    site: SiteConfig,
    stored: Stored,
    voter: str,
) -> None:
    service = request.app[POLLS]
    voted = stored.voted
    while True:
        view = service.render(site, dataclasses.replace(stored, voted=voted))
        await resp.send(orjson.dumps(view).decode(), event="poll")
        update = await sub.next()
        if update is None:
            break
        if voter and not voted:
            mine = await service.latest(site.id, stored.poll.id, voter)
            voted = mine is not None and mine.voted
        stored = update
    if sub.gone:
        await resp.send("{}", event="deleted")
