"""Public poll endpoints: list, read, vote, and live results as Server-Sent Events."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_sse import EventSourceResponse

from counter.appkeys import METRICS, POLL_HUB, POLLS, SETTINGS, SITES
from counter.errors import ApiError, StoreUnavailable
from counter.polls.service import RateLimited, vote_options
from counter.polls.sse import Subscriber
from counter.polls.store import Stored, Voter
from counter.sites.model import SiteConfig
from counter.validation import VISITOR_ID, optional_string, reject_unknown, site_id, string
from counter.web.client import check_origin, client_ip, cors_headers
from counter.web.responses import error_response, json_response, read_json

_VOTE_FIELDS = frozenset({"visitor", "options", "member"})
_ANY_ORIGIN = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
"""An error before the site is known (no such poll or site) reveals nothing: any page may
read it."""

_UNAVAILABLE = ApiError(503, "store_unavailable", "storage is unavailable; retry shortly")

Finder = Callable[[web.Request], Awaitable[SiteConfig]]
SiteHandler = Callable[[web.Request, SiteConfig], Awaitable[web.StreamResponse]]


def _error(exc: ApiError, headers: dict[str, str]) -> web.Response:
    resp = error_response(exc.status, exc.code, exc.message)
    resp.headers.update(headers)
    return resp


def _public(find: Finder) -> Callable[[SiteHandler], Handler]:
    """A public route of the site ``find`` names: every error is JSON the embedding page may
    read, with the site's CORS headers once the site is known."""

    def wrap(handler: SiteHandler) -> Handler:
        async def route(request: web.Request) -> web.StreamResponse:
            try:
                site = await find(request)
            except ApiError as exc:
                return _error(exc, _ANY_ORIGIN)
            except StoreUnavailable:
                return _error(_UNAVAILABLE, _ANY_ORIGIN)
            try:
                return await handler(request, site)
            except RateLimited as exc:
                resp = _error(
                    ApiError(
                        429, "rate_limited", f"too many votes; retry in {exc.retry_after_s} s"
                    ),
                    _headers(request, site, True),
                )
                resp.headers["Retry-After"] = str(exc.retry_after_s)
                return resp
            except ApiError as exc:
                return _error(exc, _headers(request, site, True))
            except StoreUnavailable:
                return _error(_UNAVAILABLE, _headers(request, site, True))

        return route

    return wrap


async def _poll_site(request: web.Request) -> SiteConfig:
    return await request.app[POLLS].locate(request.match_info["id"])


async def _query_site(request: web.Request) -> SiteConfig:
    return await request.app[SITES].require(site_id(request.query.get("site")))


def _voter(request: web.Request, site: SiteConfig) -> Voter:
    """The asking voter from ``?visitor=`` (and ``?member=``); empty for nobody."""
    query = dict(request.query)
    visitor = optional_string(query, "visitor", max_len=64, pattern=VISITOR_ID)
    member = optional_string(query, "member", max_len=256)
    return request.app[POLLS].voter(site, visitor, member)


def _headers(request: web.Request, site: SiteConfig, personal: bool) -> dict[str, str]:
    cache = "no-store" if personal else "public, max-age=1"
    return {**cors_headers(request, site), "Cache-Control": cache}


@_public(_query_site)
async def list_polls(request: web.Request, site: SiteConfig) -> web.Response:
    voter = _voter(request, site)
    polls = await request.app[POLLS].active(site, voter)
    return json_response({"polls": polls}, headers=_headers(request, site, bool(voter)))


@_public(_poll_site)
async def get_poll(request: web.Request, site: SiteConfig) -> web.Response:
    service = request.app[POLLS]
    poll_id = request.match_info["id"]
    voter = _voter(request, site)
    stored = await service.get(site, poll_id, voter)
    return json_response(service.render(site, stored), headers=_headers(request, site, bool(voter)))


@_public(_poll_site)
async def vote(request: web.Request, site: SiteConfig) -> web.Response:
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
    app[METRICS].vote(site.id)
    return json_response(poll, headers=_headers(request, site, True))


@_public(_poll_site)
async def events(request: web.Request, site: SiteConfig) -> web.StreamResponse:
    """A snapshot on connect, then one per change (at most about once a second)."""
    app = request.app
    service, hub = app[POLLS], app[POLL_HUB]
    poll_id = request.match_info["id"]
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
