"""Admin API: the console's views of a site (counts by hour, top pages, referring hosts,
online by minute), each the same figures the console draws, so the console holds no logic."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aiohttp import web

from counter.appkeys import CLOCK, SITES, VIEWS
from counter.counting.views import Ranked
from counter.errors import bad_request
from counter.sites.model import SiteConfig
from counter.web.admin import _date, _query_int, _site
from counter.web.responses import json_response

MAX_LIMIT = 100
MAX_ONLINE_HOURS = 48


async def _config(request: web.Request) -> SiteConfig:
    return await request.app[SITES].require(_site(request))


def _day(request: web.Request, config: SiteConfig) -> date:
    """``?date=`` or the site's local today; at most the few days the day views are kept."""
    today = datetime.fromtimestamp(request.app[CLOCK](), config.tz).date()
    day = _date(request.query.get("date"), "date", today)
    if not today - timedelta(days=2) <= day <= today:
        raise bad_request("invalid_date", "date must be today or one of the two days before")
    return day


def _ranked(ranked: Ranked, name: str, count: str) -> list[dict[str, object]]:
    return [{name: item, count: n} for item, n in ranked.items]


async def hours(request: web.Request) -> web.Response:
    """A local day's visits and page views by hour (24 each)."""
    config = await _config(request)
    day = _day(request, config)
    visits, views = await request.app[VIEWS].hours(config.id, day)
    return json_response(
        {"site": config.id, "date": day.isoformat(), "timezone": config.timezone,
         "visits": visits, "pageviews": views}
    )  # fmt: skip


async def top_pages(request: web.Request) -> web.Response:
    """The most viewed pages of a day (``?date=``) or, with ``?period=all``, of all time."""
    config = await _config(request)
    limit = _query_int(request, "limit", 1, MAX_LIMIT, default=20)
    period = request.query.get("period", "day")
    views = request.app[VIEWS]
    if period == "all":
        ranked = await views.all_time_pages(config.id, limit)
        body: dict[str, object] = {"site": config.id, "period": "all"}
    elif period == "day":
        day = _day(request, config)
        ranked = await views.day_pages(config.id, day, limit)
        body = {"site": config.id, "period": "day", "date": day.isoformat()}
    else:
        raise bad_request("invalid_period", "period must be day or all")
    return json_response(
        {**body, "pages": _ranked(ranked, "page", "views"), "complete": ranked.complete}
    )


async def referrers(request: web.Request) -> web.Response:
    """The hosts that referred most visitors on a day (the site's own origins left out)."""
    config = await _config(request)
    day = _day(request, config)
    limit = _query_int(request, "limit", 1, MAX_LIMIT, default=20)
    ranked = await request.app[VIEWS].referrers(config.id, day, limit)
    return json_response(
        {"site": config.id, "date": day.isoformat(), "referrers": _ranked(ranked, "host", "hits")}
    )


async def online(request: web.Request) -> web.Response:
    """Visitors online (guests and members) by minute over the last ``?hours=`` (24)."""
    config = await _config(request)
    span = _query_int(request, "hours", 1, MAX_ONLINE_HOURS, default=24)
    samples = await request.app[VIEWS].online(config.id, config.tz, request.app[CLOCK](), span)
    return json_response(
        {"site": config.id, "hours": span,
         "samples": [{"at": at, "online": n} for at, n in samples]}
    )  # fmt: skip
