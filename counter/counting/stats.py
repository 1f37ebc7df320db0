"""A site's counts at one instant, and the stats answer built from them once.

Every request answered by one flush gets the same site-wide numbers, so the JSON around the
``pages`` map is serialised once per site per flush (:class:`Answer`); a request only adds
its page, and requests for the same page share the whole body.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from counter.sites.model import SiteConfig

PageCounts = Mapping[str, int | None]
"""Page -> views (base included); None for a page the site does not track (page limit)."""

MAX_CACHED_BODIES = 4096
"""Bodies kept per answer; an answer lives for one flush or one cache period."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Site-wide numbers at one instant (totals include base counts)."""

    visits_total: int
    visits_today: int
    visits_yesterday: int
    visits_this_week: int
    visits_last_week: int
    visits_this_month: int
    visits_last_month: int
    visits_this_year: int
    pageviews_total: int
    pageviews_today: int
    uniques_today: int
    uniques_yesterday: int
    online_guests: int
    online_members: int
    online_bots: int
    peak_online: int
    peak_at_ms: int


@functools.lru_cache(maxsize=256)
def _iso_second(second: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(second, tz).isoformat(timespec="seconds")


def iso(ts: float, tz: ZoneInfo) -> str:
    """ISO 8601 to the second in ``tz`` (cached: every answer within a second shares it)."""
    return _iso_second(int(ts), tz)


def stats_head(site: SiteConfig, snap: Snapshot) -> dict[str, Any]:
    """The public stats shape (PRODUCT.md section 3) before ``pages``."""
    return {
        "site": site.id,
        "online": {
            "guests": snap.online_guests,
            "members": snap.online_members,
            "bots": snap.online_bots,
            "total": snap.online_guests + snap.online_members,
            "window_s": site.online_window_s,
        },
        "visits": {
            "total": snap.visits_total,
            "today": snap.visits_today,
            "yesterday": snap.visits_yesterday,
            "this_week": snap.visits_this_week,
            "last_week": snap.visits_last_week,
            "this_month": snap.visits_this_month,
            "last_month": snap.visits_last_month,
            "this_year": snap.visits_this_year,
        },
        "pageviews": {"total": snap.pageviews_total, "today": snap.pageviews_today},
        "uniques": {"today": snap.uniques_today, "yesterday": snap.uniques_yesterday},
    }


def stats_tail(site: SiteConfig, snap: Snapshot, now: float) -> dict[str, Any]:
    """The public stats shape after ``pages``."""
    tz = site.tz
    return {
        "peak": {
            "online": snap.peak_online,
            "at": iso(snap.peak_at_ms / 1000, tz) if snap.peak_at_ms else None,
        },
        "timezone": tz.key,
        "server_time": iso(now, tz),
    }


def stats_json(site: SiteConfig, snap: Snapshot, pages: PageCounts, now: float) -> dict[str, Any]:
    """The whole stats answer as a dict (for callers that embed it in something else)."""
    return {**stats_head(site, snap), "pages": dict(pages), **stats_tail(site, snap, now)}


class Answer:
    """A site's stats answer at one instant, serialised once: ``head`` + pages + ``tail``."""

    __slots__ = ("_bodies", "_head", "_tail", "at", "pages", "site", "snapshot")

    def __init__(self, site: SiteConfig, snapshot: Snapshot, pages: PageCounts, now: float):
        self.site = site
        self.snapshot = snapshot
        self.pages = pages
        self.at = now
        self._head = orjson.dumps(stats_head(site, snapshot))[:-1] + b',"pages":'
        self._tail = b"," + orjson.dumps(stats_tail(site, snapshot, now))[1:]
        self._bodies: dict[str, bytes] = {}

    def with_pages(self, pages: PageCounts) -> Answer:
        """The same answer with other page counts (serialised once too)."""
        other = Answer.__new__(Answer)
        other.site, other.snapshot, other.pages, other.at = self.site, self.snapshot, pages, self.at
        other._head, other._tail, other._bodies = self._head, self._tail, {}
        return other

    def render(self, pages: PageCounts) -> bytes:
        """The JSON body with ``pages`` as its page counts."""
        return self._head + orjson.dumps(pages) + self._tail

    def body(self, page: str) -> bytes:
        """The body answering a hit on ``page`` (shared by every hit on it)."""
        body = self._bodies.get(page)
        if body is None:
            body = self.render({page: self.pages.get(page, 0)})
            if len(self._bodies) < MAX_CACHED_BODIES:
                self._bodies[page] = body
        return body
