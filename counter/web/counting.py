"""Public counting endpoints: /v1/hit, /v1/ping, /v1/leave, /v1/stats."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from counter.appkeys import CLOCK, COUNTING, SETTINGS, SITES
from counter.counting.pages import MAX_PAGE_LENGTH, normalize_page
from counter.counting.service import Identity
from counter.counting.stats import Snapshot, stats_json
from counter.errors import bad_request
from counter.sites.model import SiteConfig
from counter.validation import (
    VISITOR_ID,
    Body,
    optional_string,
    reject_unknown,
    site_id,
    string,
)
from counter.web.client import check_origin, client_ip, cors_headers
from counter.web.responses import json_response, read_json

MAX_PAGES_PER_READ = 50
NO_STORE = {"Cache-Control": "no-store"}
_HIT_FIELDS = frozenset({"site", "page", "visitor", "member", "title", "referrer"})
_PRESENCE_FIELDS = frozenset({"site", "visitor", "member"})


@dataclass(frozen=True, slots=True)
class Beacon:
    """A validated hit, ping or leave body."""

    site: str
    visitor: str | None
    member: str | None
    page: str = ""

    @classmethod
    def parse(cls, body: Body, *, is_hit: bool) -> Beacon:
        reject_unknown(body, _HIT_FIELDS if is_hit else _PRESENCE_FIELDS)
        site = site_id(body.get("site"))
        visitor = optional_string(body, "visitor", max_len=64, pattern=VISITOR_ID)
        if visitor is None and not is_hit:
            raise bad_request("invalid_visitor", "visitor is required")
        member = optional_string(body, "member", max_len=256)
        if not is_hit:
            return cls(site, visitor, member)
        optional_string(body, "title", max_len=300)
        optional_string(body, "referrer", max_len=2048)
        page = normalize_page(string(body.get("page"), "page", max_len=MAX_PAGE_LENGTH))
        if not page:
            raise bad_request("invalid_page", "page must not be blank")
        return cls(site, visitor, member, page)


async def _accept(
    request: web.Request, *, is_hit: bool
) -> tuple[Beacon, SiteConfig, Identity | None]:
    app = request.app
    beacon = Beacon.parse(await read_json(request, app[SETTINGS].max_body_bytes), is_hit=is_hit)
    site = await app[SITES].require(beacon.site)
    check_origin(request, site)
    counting = app[COUNTING]
    ua = request.headers.get("User-Agent", "")[:512]
    ip = client_ip(request, app[SETTINGS].trusted_proxies)
    visitor = await counting.visitor_id(site, beacon.visitor, ip, ua)
    return beacon, site, counting.identify(site, visitor, beacon.member, ua)


def _stats_response(
    request: web.Request, site: SiteConfig, snap: Snapshot, pages: list[str], cache: str
) -> web.Response:
    body = stats_json(
        site.id, snap, pages, tz=site.tz, window_s=site.online_window_s, now=request.app[CLOCK]()
    )
    return json_response(body, headers={**cors_headers(request, site), "Cache-Control": cache})


async def hit(request: web.Request) -> web.Response:
    beacon, site, who = await _accept(request, is_hit=True)
    snap = await request.app[COUNTING].record(site, "h", who, beacon.page)
    return _stats_response(request, site, snap, [beacon.page], "no-store")


async def ping(request: web.Request) -> web.Response:
    _, site, who = await _accept(request, is_hit=False)
    snap = await request.app[COUNTING].record(site, "p", who)
    return _stats_response(request, site, snap, [], "no-store")


async def leave(request: web.Request) -> web.Response:
    _, site, who = await _accept(request, is_hit=False)
    await request.app[COUNTING].record(site, "l", who)
    return web.Response(status=204, headers={**cors_headers(request, site), **NO_STORE})


async def stats(request: web.Request) -> web.Response:
    query = request.query
    site = await request.app[SITES].require(site_id(query.get("site")))
    raw_pages = query.getall("page", [])
    if len(raw_pages) > MAX_PAGES_PER_READ:
        raise bad_request("invalid_page", f"at most {MAX_PAGES_PER_READ} page values")
    pages = list(
        dict.fromkeys(normalize_page(string(p, "page", max_len=MAX_PAGE_LENGTH)) for p in raw_pages)
    )
    snap = await request.app[COUNTING].stats(site, pages)
    return _stats_response(request, site, snap, pages, "public, max-age=1")
