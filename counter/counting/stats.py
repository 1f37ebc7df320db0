"""A site's counts as the counting script returns them, and their public JSON shape."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_HEAD = 20  # values before the page pairs in batch.lua's answer


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Site-wide numbers at one instant, plus the page counts the call touched."""

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
    pages: dict[str, int] = field(default_factory=dict)
    applied: bool = True

    @classmethod
    def from_script(cls, reply: Sequence[Any]) -> Snapshot:
        n = [int(x) for x in reply[:_HEAD]]
        (applied, v_all, v_day, v_yday, v_week, v_lweek, v_month, v_lmonth, v_year,
         base_visits, base_views, pv_all, pv_day, u_day, u_yday,
         guests, members, bots, peak, peak_at) = n  # fmt: skip
        tail = reply[_HEAD:]
        pages = {_text(tail[i]): int(tail[i + 1]) for i in range(0, len(tail), 2)}
        return cls(
            visits_total=v_all + base_visits,
            visits_today=v_day,
            visits_yesterday=v_yday,
            visits_this_week=v_week,
            visits_last_week=v_lweek,
            visits_this_month=v_month,
            visits_last_month=v_lmonth,
            visits_this_year=v_year,
            pageviews_total=pv_all + base_views,
            pageviews_today=pv_day,
            uniques_today=u_day,
            uniques_yesterday=u_yday,
            online_guests=guests,
            online_members=members,
            online_bots=bots,
            peak_online=peak,
            peak_at_ms=peak_at,
            pages=pages,
            applied=bool(applied),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@functools.lru_cache(maxsize=256)
def _iso_second(second: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(second, tz).isoformat(timespec="seconds")


def _iso(ts: float, tz: ZoneInfo) -> str:
    """ISO 8601 to the second in ``tz`` (cached: every answer within a second shares it)."""
    return _iso_second(int(ts), tz)


def stats_json(
    site: str,
    snap: Snapshot,
    pages: Iterable[str],
    *,
    tz: ZoneInfo,
    window_s: int,
    now: float,
) -> dict[str, Any]:
    """The public stats shape of the API (PRODUCT.md section 3)."""
    return {
        "site": site,
        "online": {
            "guests": snap.online_guests,
            "members": snap.online_members,
            "bots": snap.online_bots,
            "total": snap.online_guests + snap.online_members,
            "window_s": window_s,
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
        "pages": {p: snap.pages.get(p, 0) for p in pages},
        "peak": {
            "online": snap.peak_online,
            "at": _iso(snap.peak_at_ms / 1000, tz) if snap.peak_at_ms else None,
        },
        "timezone": tz.key,
        "server_time": _iso(now, tz),
    }
