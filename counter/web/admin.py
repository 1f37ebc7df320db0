"""Admin API for sites: bearer token, config, base counts, audit log, history."""

from __future__ import annotations

import hmac
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from counter.appkeys import ADMIN_TOKEN, CLOCK, PAGES, SITES, VIEWS
from counter.counting.catalog import MAX_PAGE_LIST
from counter.counting.history import MAX_DAYS
from counter.counting.pages import page_name
from counter.errors import ApiError, bad_request, not_found
from counter.settings import MIN_ADMIN_TOKEN
from counter.spreadsheets import csv_text
from counter.validation import integer, reject_unknown, site_id
from counter.web.responses import json_response, read_json

ADMIN_MAX_BODY = 256 * 1024
MAX_COUNT = 10**12
MAX_BASE_PAGES = 1000
MAX_PRUNE = 10_000
_BASE_FIELDS = frozenset({"visits", "pageviews", "pages"})
HISTORY_FIELDS = ["date", "visits", "pageviews", "uniques", "bot_hits"]


def require_admin(request: web.Request) -> None:
    """401 unless ``Authorization: Bearer <COUNTER_ADMIN_TOKEN>`` (constant-time compared)."""
    token = request.app.get(ADMIN_TOKEN)
    if token is None or len(token) < MIN_ADMIN_TOKEN:
        raise ApiError(403, "admin_disabled", "set COUNTER_ADMIN_TOKEN to use the admin API")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "unauthorized", "a valid admin bearer token is required")


def _site(request: web.Request) -> str:
    require_admin(request)
    return site_id(request.match_info["site"])


async def put_site(request: web.Request) -> web.Response:
    site = _site(request)
    body = await read_json(request, ADMIN_MAX_BODY)
    config, created = await request.app[SITES].put(site, body)
    return json_response(config.to_public(), status=201 if created else 200)


async def get_site(request: web.Request) -> web.Response:
    config = await request.app[SITES].require(_site(request))
    return json_response(config.to_public())


async def delete_site(request: web.Request) -> web.Response:
    site = _site(request)
    if not await request.app[SITES].delete(site):
        raise not_found("unknown_site", f"no site {site!r}")
    return web.Response(status=204)


async def list_sites(request: web.Request) -> web.Response:
    require_admin(request)
    return json_response({"sites": await request.app[SITES].ids()})


def parse_base(body: dict[str, Any]) -> tuple[int | None, int | None, dict[str, int]]:
    reject_unknown(body, _BASE_FIELDS)
    visits = body.get("visits")
    pageviews = body.get("pageviews")
    pages_raw = body.get("pages", {})
    if not isinstance(pages_raw, dict) or len(pages_raw) > MAX_BASE_PAGES:
        raise bad_request("invalid_pages", f"pages must be an object of at most {MAX_BASE_PAGES}")
    pages = {page_name(p): integer(n, "pages", 0, MAX_COUNT) for p, n in pages_raw.items()}
    if visits is None and pageviews is None and not pages:
        raise bad_request("invalid_body", "set at least one of visits, pageviews, pages")
    return (
        None if visits is None else integer(visits, "visits", 0, MAX_COUNT),
        None if pageviews is None else integer(pageviews, "pageviews", 0, MAX_COUNT),
        pages,
    )


async def set_base(request: web.Request) -> web.Response:
    site = _site(request)
    sites = request.app[SITES]
    await sites.require(site)
    visits, pageviews, pages = parse_base(dict(await read_json(request, ADMIN_MAX_BODY)))
    entry = await sites.set_base(
        site, visits=visits, pageviews=pageviews, pages=pages, actor="admin-api"
    )
    return json_response(entry)


async def audit(request: web.Request) -> web.Response:
    site = _site(request)
    await request.app[SITES].require(site)
    return json_response({"entries": await request.app[SITES].audit(site)})


def _date(value: str | None, name: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"invalid_{name}", f"{name} must be a date like 2026-11-26") from None


async def history(request: web.Request) -> web.StreamResponse:
    site = _site(request)
    config = await request.app[SITES].require(site)
    today = datetime.fromtimestamp(request.app[CLOCK](), config.tz).date()
    end = _date(request.query.get("to"), "to", today)
    start = _date(request.query.get("from"), "from", max(end, date(1, 2, 1)) - timedelta(days=29))
    fmt = request.query.get("format", "json")
    if fmt not in {"json", "csv"}:
        raise bad_request("invalid_format", "format must be json or csv")
    if not 0 <= (end - start).days < MAX_DAYS:
        raise bad_request("invalid_range", f"from must be before to, at most {MAX_DAYS} days")
    rows = await request.app[VIEWS].history(site, start, end)
    if fmt == "json":
        return json_response({"site": site, "timezone": config.timezone, "days": rows})
    return web.Response(
        text=csv_text(HISTORY_FIELDS, rows),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{site}-history.csv"'},
    )


_PRUNE_FIELDS = frozenset({"pages", "below"})


async def list_pages(request: web.Request) -> web.Response:
    """The pages a site counts one by one, with their views; ``?cursor=`` goes on."""
    site = _site(request)
    config = await request.app[SITES].require(site)
    cursor = _query_int(request, "cursor", 0, 2**63)
    count = _query_int(request, "count", 1, MAX_PAGE_LIST, default=100)
    listing = await request.app[PAGES].listing(site, cursor, count)
    return json_response(
        {
            "site": site,
            "pages": [{"page": page, "views": views} for page, views in listing.pages],
            "cursor": listing.cursor,
            "tracked": listing.tracked,
            "max_pages": config.max_pages,
        }
    )


async def prune_pages(request: web.Request) -> web.Response:
    """Stop counting pages one by one: ``{"pages": [...]}`` or every page ``{"below": n}``
    views; their views stay in the site's totals, and room is made under ``max_pages``."""
    site = _site(request)
    await request.app[SITES].require(site)
    body = dict(await read_json(request, ADMIN_MAX_BODY))
    reject_unknown(body, _PRUNE_FIELDS)
    catalog = request.app[PAGES]
    if ("pages" in body) == ("below" in body):
        raise bad_request("invalid_body", "give either pages or below")
    if "below" in body:
        removed = await catalog.prune_below(site, integer(body["below"], "below", 1, MAX_COUNT))
    else:
        pages = body["pages"]
        if not isinstance(pages, list) or len(pages) > MAX_PRUNE:
            raise bad_request("invalid_pages", f"pages must be a list of at most {MAX_PRUNE}")
        names = [page_name(p) for p in pages]
        removed = await catalog.prune(site, names)
    return json_response({"site": site, "removed": removed, "tracked": await catalog.tracked(site)})


async def reset_peak(request: web.Request) -> web.Response:
    """Forget the site's peak online (audited); the next flush starts it again."""
    site = _site(request)
    await request.app[SITES].require(site)
    return json_response(await request.app[SITES].reset_peak(site, actor="admin-api"))


def _query_int(request: web.Request, name: str, lo: int, hi: int, default: int = 0) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    # ``isdigit`` alone takes "²", which int() refuses; int() also refuses over 4300 digits
    if not (raw.isascii() and raw.isdigit()):
        raise bad_request(f"invalid_{name}", f"{name} must be a whole number")
    digits = raw.lstrip("0") or "0"
    return integer(int(digits) if len(digits) <= len(str(hi)) else hi + 1, name, lo, hi)
