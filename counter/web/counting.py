"""Public counting endpoints: /v1/hit, /v1/ping, /v1/leave, /v1/stats.

These are the hottest paths of the service: a beacon is validated with plain type checks
and precompiled patterns, its site and page come from per-process caches, and the answer
is bytes the flush already serialised (see :class:`~counter.counting.stats.Answer`).
"""

from __future__ import annotations

from typing import NamedTuple

from aiohttp import web

from counter.appkeys import COUNTING, SETTINGS, SITES
from counter.counting.pages import PageNames
from counter.errors import bad_request
from counter.sites.model import SiteConfig
from counter.validation import CONTROL, SITE_ID, VISITOR_ID, site_id, string
from counter.web.client import check_origin, client_ip
from counter.web.errors import SITE, cors_grant
from counter.web.responses import parse_json, read_body

MAX_PAGES_PER_READ = 50
MAX_MEMBER_TOKEN = 256
MAX_TITLE = 300
MAX_REFERRER = 2048
MAX_USER_AGENT = 512
HIT_FIELDS = frozenset({"site", "page", "visitor", "member", "title", "referrer"})
PRESENCE_FIELDS = frozenset({"site", "visitor", "member"})
_DESCRIPTIONS = (("title", MAX_TITLE), ("referrer", MAX_REFERRER))
_COUNTED = {"Content-Type": "application/json", "Cache-Control": "no-store"}
"""The headers of every counting answer (not cached: a POST's answer never is, and the
``no-store`` says so to anything in between)."""
_LEFT = {"Cache-Control": "no-store"}
PUBLIC_READ = "public, max-age=1"


class Beacon(NamedTuple):
    """A validated hit, ping or leave body."""

    site: str
    visitor: str | None
    member: str | None
    page: str = ""
    referrer: str | None = None


def _text(value: object, name: str, max_len: int) -> None:
    """An optional text field, when present: a short string without control characters."""
    if type(value) is not str or len(value) > max_len or CONTROL.search(value):
        string(value, name, max_len=max_len)  # raises the precise error


def parse_beacon(raw: bytes, fields: frozenset[str], pages: PageNames | None) -> Beacon:
    """A hit body (``pages`` names its page) or a ping or leave body (``pages`` None)."""
    body = parse_json(raw)
    if type(body) is not dict:
        raise bad_request("invalid_body", "the body must be a JSON object")
    if not body.keys() <= fields:
        unknown = ", ".join(sorted(set(body) - fields))
        raise bad_request("unknown_field", f"unknown field(s): {unknown}")
    site = body.get("site")
    if type(site) is not str or not SITE_ID.fullmatch(site):
        site = site_id(site)  # raises invalid_site
    visitor = body.get("visitor")
    if visitor is not None and (type(visitor) is not str or not VISITOR_ID.fullmatch(visitor)):
        raise bad_request("invalid_visitor", f"visitor must match {VISITOR_ID.pattern}")
    member = body.get("member")
    if member is not None:
        _text(member, "member", MAX_MEMBER_TOKEN)
    if pages is None:
        if visitor is None:
            raise bad_request("invalid_visitor", "visitor is required")
        return Beacon(site, visitor, member)
    for name, max_len in _DESCRIPTIONS:
        value = body.get(name)
        if value is not None:
            _text(value, name, max_len)
    return Beacon(site, visitor, member, pages(body.get("page")), body.get("referrer"))


async def _beacon(
    request: web.Request, fields: frozenset[str], pages: PageNames | None
) -> tuple[Beacon, SiteConfig]:
    """The request's beacon and its site, which may count from the request's origin."""
    app = request.app
    beacon = parse_beacon(await read_body(request, app[SETTINGS].max_body_bytes), fields, pages)
    sites = app[SITES]
    site = sites.cached(beacon.site) or await sites.require(beacon.site)
    request[SITE] = site
    check_origin(request, site)
    return beacon, site


def _granted(request: web.Request, site: SiteConfig, headers: dict[str, str]) -> dict[str, str]:
    """``headers``, and the CORS grant when the request comes from one of the site's origins."""
    origin = request.headers.get("Origin")
    if origin is None or not site.allows_origin(origin):
        return headers
    return {**headers, "Access-Control-Allow-Origin": origin}


def _answer(request: web.Request, site: SiteConfig, body: bytes) -> web.Response:
    """A counting answer: not cacheable, readable by the site's origins."""
    return web.Response(body=body, headers=_granted(request, site, _COUNTED))


async def hit(request: web.Request) -> web.Response:
    counting = request.app[COUNTING]
    beacon, site = await _beacon(request, HIT_FIELDS, counting.pages)
    user_agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT]
    ip = client_ip(request, request.app[SETTINGS].trusted_proxies)
    answer = await counting.hit(
        site, beacon.page, beacon.visitor, beacon.member, user_agent, ip, beacon.referrer
    )
    return _answer(request, site, answer.body(beacon.page))


async def ping(request: web.Request) -> web.Response:
    beacon, site = await _beacon(request, PRESENCE_FIELDS, None)
    assert beacon.visitor is not None  # parse_beacon requires it
    user_agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT]
    answer = await request.app[COUNTING].ping(site, beacon.visitor, beacon.member, user_agent)
    return _answer(request, site, answer.render({}))


async def leave(request: web.Request) -> web.Response:
    beacon, site = await _beacon(request, PRESENCE_FIELDS, None)
    assert beacon.visitor is not None  # parse_beacon requires it
    user_agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT]
    await request.app[COUNTING].leave(site, beacon.visitor, beacon.member, user_agent)
    return web.Response(status=204, headers=_granted(request, site, _LEFT))


async def stats(request: web.Request) -> web.Response:
    query = request.query
    site = await request.app[SITES].require(site_id(query.get("site")))
    request[SITE] = site
    raw_pages = query.getall("page", [])
    if len(raw_pages) > MAX_PAGES_PER_READ:
        raise bad_request("invalid_page", f"at most {MAX_PAGES_PER_READ} page values")
    names = request.app[COUNTING].pages
    pages = list(dict.fromkeys(names(p) for p in raw_pages))
    body = await request.app[COUNTING].stats(site, pages)
    headers = cors_grant(request, site)
    headers["Content-Type"] = "application/json"
    headers["Cache-Control"] = PUBLIC_READ
    return web.Response(body=body, headers=headers)
