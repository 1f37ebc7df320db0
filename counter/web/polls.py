"""Public poll endpoints: list, read, vote, and live results as Server-Sent Events."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse

from counter.appkeys import POLL_HUB, POLLS, SETTINGS, SITES
from counter.errors import StoreUnavailable
from counter.polls.service import vote_options
from counter.polls.sse import Subscriber
from counter.polls.store import Stored, Voter
from counter.sites.model import SiteConfig
from counter.validation import VISITOR_ID, optional_string, reject_unknown, site_id, string
from counter.web.client import check_origin, client_ip
from counter.web.errors import SITE, cors_grant
from counter.web.responses import json_response, read_json

_VOTE_FIELDS = frozenset({"visitor", "options", "member"})


async def _poll_site(request: web.Request) -> SiteConfig:
    """The site of the poll in the path (its CORS grant applies from here on)."""
    site = request[SITE] = await request.app[POLLS].locate(request.match_info["id"])
    return site


async def _query_site(request: web.Request) -> SiteConfig:
    """The site named by ``?site=`` (its CORS grant applies from here on)."""
    site = request[SITE] = await request.app[SITES].require(site_id(request.query.get("site")))
    return site


def _voter(request: web.Request, site: SiteConfig) -> Voter:
    """The asking voter from ``?visitor=`` (and ``?member=``); empty for nobody."""
    query = dict(request.query)
    visitor = optional_string(query, "visitor", max_len=64, pattern=VISITOR_ID)
    member = optional_string(query, "member", max_len=256)
    return request.app[POLLS].voter(site, visitor, member)


def _headers(request: web.Request, site: SiteConfig, personal: bool) -> dict[str, str]:
    cache = "no-store" if personal else "public, max-age=1"
    return {**cors_grant(request, site), "Cache-Control": cache}


async def list_polls(request: web.Request) -> web.Response:
    site = await _query_site(request)
    voter = _voter(request, site)
    polls = await request.app[POLLS].active(site, voter)
    return json_response({"polls": polls}, headers=_headers(request, site, bool(voter)))


async def get_poll(request: web.Request) -> web.Response:
    site = await _poll_site(request)
    service = request.app[POLLS]
    poll_id = request.match_info["id"]
    voter = _voter(request, site)
    stored = await service.get(site, poll_id, voter)
    return json_response(service.render(site, stored), headers=_headers(request, site, bool(voter)))


async def vote(request: web.Request) -> web.Response:
    site = await _poll_site(request)
    app = request.app
    service = app[POLLS]
    check_origin(request, site)
    body = await read_json(request, app[SETTINGS].max_body_bytes)
    reject_unknown(body, _VOTE_FIELDS)
    visitor = string(body.get("visitor"), "visitor", max_len=64, pattern=VISITOR_ID)
    voter = service.voter(site, visitor, optional_string(body, "member", max_len=256))
    options = vote_options(body.get("options"))
    ip = client_ip(request, app[SETTINGS].trusted_proxies)
    poll = await service.vote(site, request.match_info["id"], voter, options, ip)
    return json_response(poll, headers=_headers(request, site, True))


async def events(request: web.Request) -> web.StreamResponse:
    """A snapshot on connect, then one per change (at most about once a second)."""
    site = await _poll_site(request)
    app = request.app
    service, hub = app[POLLS], app[POLL_HUB]
    poll_id = request.match_info["id"]
    voter = _voter(request, site)
    await hub.wait_ready()
    with hub.subscribe(site.id, poll_id) as sub, service.instruments.stream("poll", site.id):
        first = await service.get(site, poll_id, voter)
        resp = EventSourceResponse(headers=cors_grant(request, site))
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
    voter: Voter,
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
