"""Public poll endpoints: list, read, vote, stream tickets, and live results as Server-Sent
Events.

A member token lives for days and must never be in a URL (access logs, proxies, browser
history keep URLs): reads take it from the ``X-Counter-Member`` header, votes and tickets
from the body, and a stream (``EventSource`` cannot send headers) from a ticket that opens
one stream within a minute. ``?member=`` is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse

from counter.appkeys import POLL_HUB, POLLS, SETTINGS, SITES, STREAMS
from counter.errors import StoreUnavailable, bad_request
from counter.polls.service import vote_options
from counter.polls.sse import Subscriber
from counter.polls.store import Stored, Voter
from counter.sites.model import SiteConfig
from counter.validation import (
    VISITOR_ID,
    Body,
    optional_string,
    reject_unknown,
    site_id,
    string,
)
from counter.web.client import check_origin, client_ip
from counter.web.errors import SITE, cors_grant
from counter.web.responses import json_response, read_json
from counter.web.streams import event_stream

MEMBER_HEADER = "X-Counter-Member"
_VOTE_FIELDS = frozenset({"visitor", "options", "member"})
_TICKET_FIELDS = frozenset({"visitor", "member"})


async def _poll_site(request: web.Request) -> SiteConfig:
    """The site of the poll in the path (its CORS grant applies from here on)."""
    site = request[SITE] = await request.app[POLLS].locate(request.match_info["id"])
    return site


async def _query_site(request: web.Request) -> SiteConfig:
    """The site named by ``?site=`` (its CORS grant applies from here on)."""
    site = request[SITE] = await request.app[SITES].require(site_id(request.query.get("site")))
    return site


def _visitor(request: web.Request) -> str | None:
    """``?visitor=``; a member token in the query is refused, never read."""
    if "member" in request.query:
        raise bad_request(
            "member_in_url",
            f"never put a member token in a URL: send it in the {MEMBER_HEADER} header "
            "(or, for a live stream, get a ticket from POST /v1/polls/{id}/ticket)",
        )
    return optional_string(dict(request.query), "visitor", max_len=64, pattern=VISITOR_ID)


def _reader(request: web.Request, site: SiteConfig) -> Voter:
    """The asking voter: ``?visitor=`` and the ``X-Counter-Member`` header; empty for nobody."""
    member = optional_string({"member": request.headers.get(MEMBER_HEADER)}, "member", max_len=256)
    return request.app[POLLS].voter(site, _visitor(request), member)


def _body_voter(request: web.Request, site: SiteConfig, body: Body, *, required: bool) -> Voter:
    visitor = body.get("visitor")
    if required or visitor is not None:
        visitor = string(visitor, "visitor", max_len=64, pattern=VISITOR_ID)
    member = optional_string(body, "member", max_len=256)
    return request.app[POLLS].voter(site, visitor, member)


def _headers(request: web.Request, site: SiteConfig, personal: bool) -> dict[str, str]:
    cache = "no-store" if personal else "public, max-age=1"
    grant = cors_grant(request, site)
    return {**grant, "Vary": f"{grant['Vary']}, {MEMBER_HEADER}", "Cache-Control": cache}


async def list_polls(request: web.Request) -> web.Response:
    site = await _query_site(request)
    voter = _reader(request, site)
    polls = await request.app[POLLS].active(site, voter)
    return json_response({"polls": polls}, headers=_headers(request, site, bool(voter)))


async def get_poll(request: web.Request) -> web.Response:
    site = await _poll_site(request)
    service = request.app[POLLS]
    voter = _reader(request, site)
    stored = await service.get(site, request.match_info["id"], voter)
    return json_response(service.render(site, stored), headers=_headers(request, site, bool(voter)))


async def _write(request: web.Request, fields: frozenset[str]) -> tuple[SiteConfig, Body]:
    """The poll's site and the body of a write, from a page of an origin the site allows."""
    site = await _poll_site(request)
    check_origin(request, site)
    body = await read_json(request, request.app[SETTINGS].max_body_bytes)
    reject_unknown(body, fields)
    return site, body


async def vote(request: web.Request) -> web.Response:
    site, body = await _write(request, _VOTE_FIELDS)
    voter = _body_voter(request, site, body, required=True)
    options = vote_options(body.get("options"))
    ip = client_ip(request, request.app[SETTINGS].trusted_proxies)
    poll = await request.app[POLLS].vote(site, request.match_info["id"], voter, options, ip)
    return json_response(poll, headers=_headers(request, site, True))


async def ticket(request: web.Request) -> web.Response:
    """``{"ticket", "expires_in"}``: opens one stream of this poll as the voter in the body,
    within ``expires_in`` seconds (``GET /v1/polls/{id}/events?ticket=...``)."""
    site, body = await _write(request, _TICKET_FIELDS)
    voter = _body_voter(request, site, body, required=False)
    ip = client_ip(request, request.app[SETTINGS].trusted_proxies)
    answer = await request.app[POLLS].ticket(site, request.match_info["id"], voter, ip)
    return json_response(answer, headers=_headers(request, site, True))


async def _stream_voter(request: web.Request, site: SiteConfig) -> Voter:
    """Who a stream is for: its ticket's voter, else ``?visitor=`` (never a member token)."""
    visitor = _visitor(request)
    ticket = request.query.get("ticket")
    if ticket is not None:
        return await request.app[POLLS].redeem(site, request.match_info["id"], ticket)
    return request.app[POLLS].voter(site, visitor, None)


async def events(request: web.Request) -> web.StreamResponse:
    """A snapshot on connect, then one per change (at most about once a second), until the
    client goes, the poll is deleted, or the stream's lifetime is over."""
    site = await _poll_site(request)
    app = request.app
    service, hub = app[POLLS], app[POLL_HUB]
    poll_id = request.match_info["id"]
    ip = client_ip(request, app[SETTINGS].trusted_proxies)
    with app[STREAMS].open(ip, "poll", site.id) as slot:
        voter = await _stream_voter(request, site)
        await hub.wait_ready()
        with hub.subscribe(site.id, poll_id) as sub:
            slot.on_expiry(sub.close)
            first = await service.get(site, poll_id, voter)
            async with event_stream(request, site, sub.close) as resp:
                with contextlib.suppress(StoreUnavailable):  # the client reconnects
                    await _stream(request, resp, sub, site, first, voter, slot.reconnect_ms)
    return resp


async def _stream(
    request: web.Request,
    resp: EventSourceResponse,
    sub: Subscriber,
    site: SiteConfig,
    stored: Stored,
    voter: Voter,
    reconnect_ms: int,
) -> None:
    service = request.app[POLLS]
    voted = stored.voted
    retry: int | None = reconnect_ms  # sent once: how long the browser waits to reconnect
    while True:
        view = service.render(site, dataclasses.replace(stored, voted=voted))
        await resp.send(orjson.dumps(view).decode(), event="poll", retry=retry)
        retry = None
        update = await sub.next()
        if update is None:
            break
        if voter and not voted:
            voted = await service.has_voted(site.id, stored.poll.id, voter)
        stored = update
    if sub.gone:
        await resp.send("{}", event="deleted")
