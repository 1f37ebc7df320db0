"""The console's views of a site, read from what the flush writes (see ``batch.lua``): a day's
counts by hour, top pages of a day or of all time, referring hosts, online over the last hours.

Everything here is a read; the all-time top pages, which need a pass over the site's whole
page list, are worked out at most once a minute per site and process.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from counter import redis_keys as keys
from counter.counting.history import daily_history
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.storage import RedisClient, Store, idempotent

TOP_CACHE_S = 60.0
SCAN_CHUNK = 5000
MAX_SCANNED = 1_000_000
"""The all-time ranking reads at most this many pages (a site's ``max_pages`` is usually far
fewer)."""


@dataclass(frozen=True, slots=True)
class Ranked:
    """Names and counts, highest first."""

    items: list[tuple[str, int]]
    complete: bool = True
    """False when the ranking could not read every page (more than ``MAX_SCANNED``)."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _counts(raw: Mapping[bytes | str, bytes | str]) -> dict[str, int]:
    return {_text(k): int(_text(v)) for k, v in raw.items()}


def top(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    """The ``limit`` highest counts, highest first (ties by name)."""
    return heapq.nsmallest(limit, counts.items(), key=lambda kv: (-kv[1], kv[0]))


class SiteViews(Store):
    def __init__(
        self,
        redis: RedisClient,
        *,
        retries: int = 3,
        instruments: Instruments = NO_INSTRUMENTS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(redis, retries=retries, instruments=instruments)
        self.monotonic = monotonic
        self._top: dict[str, tuple[float, Ranked]] = {}

    @idempotent("read history")
    async def history(self, site: str, start: date, end: date) -> list[dict[str, Any]]:
        """One row per local day from ``start`` to ``end``, oldest first."""
        return await daily_history(self.redis, site, start, end)

    @idempotent("read hours")
    async def hours(self, site: str, day: date) -> tuple[list[int], list[int]]:
        """Visits and page views of each local hour of ``day`` (24 each)."""
        raw = _counts(await self.redis.hgetall(keys.hours(site, day.isoformat())))
        visits = [raw.get(f"v:{h:02d}", 0) for h in range(24)]
        views = [raw.get(f"p:{h:02d}", 0) for h in range(24)]
        return visits, views

    @idempotent("read pages of a day")
    async def day_pages(self, site: str, day: date, limit: int) -> Ranked:
        raw = _counts(await self.redis.hgetall(keys.day_pages(site, day.isoformat())))
        return Ranked(top(raw, limit))

    @idempotent("read referrers")
    async def referrers(self, site: str, day: date, limit: int) -> Ranked:
        raw = _counts(await self.redis.hgetall(keys.referrers(site, day.isoformat())))
        return Ranked(top(raw, limit))

    async def all_time_pages(self, site: str, limit: int) -> Ranked:
        """The site's most viewed pages since it began (base counts aside); at most a minute
        old."""
        now = self.monotonic()
        cached = self._top.get(site)
        if cached is None or now - cached[0] >= TOP_CACHE_S or len(cached[1].items) < limit:
            ranked = await self._rank(site, max(limit, 100))
            if len(self._top) > 1000:
                self._top.clear()
            self._top[site] = cached = (now, ranked)
        ranked = cached[1]
        return Ranked(ranked.items[:limit], ranked.complete)

    async def _rank(self, site: str, limit: int) -> Ranked:
        best: list[tuple[int, str]] = []  # a min-heap of the best seen so far
        cursor, scanned = 0, 0
        while True:
            cursor, chunk = await self._scan(site, cursor)
            scanned += len(chunk)
            for page, views in chunk.items():
                if len(best) < limit:
                    heapq.heappush(best, (views, page))
                elif (views, page) > best[0]:
                    heapq.heapreplace(best, (views, page))
            if cursor == 0 or scanned >= MAX_SCANNED:
                break
        items = [(page, views) for views, page in sorted(best, reverse=True)]
        return Ranked(top(dict(items), limit), complete=cursor == 0)

    @idempotent("scan pages")
    async def _scan(self, site: str, cursor: int) -> tuple[int, dict[str, int]]:
        cursor, found = await self.redis.hscan(keys.pages(site), cursor, count=SCAN_CHUNK)
        assert isinstance(found, dict)
        return int(cursor), _counts(found)

    async def online(
        self, site: str, tz: ZoneInfo, now: float, hours: int
    ) -> list[tuple[str, int]]:
        """Visitors online (guests and members) by minute over the last ``hours``, oldest
        first, as (ISO 8601 local minute, count); minutes nobody sampled are left out."""
        end = datetime.fromtimestamp(now, tz).replace(second=0, microsecond=0)
        start = end - timedelta(hours=hours)
        days = sorted({start.date(), end.date()} | {start.date() + timedelta(days=1)})
        samples: list[tuple[str, int]] = []
        for day in days:
            if day > end.date():
                continue
            raw = await self._samples(site, day)
            for minute, n in sorted(raw.items()):
                hh, mm = (int(x) for x in minute.split(":"))
                at = datetime(day.year, day.month, day.day, hh, mm, tzinfo=tz)
                if start < at <= end:
                    samples.append((at.isoformat(timespec="minutes"), n))
        return samples

    @idempotent("read online samples")
    async def _samples(self, site: str, day: date) -> dict[str, int]:
        return _counts(await self.redis.hgetall(keys.online_samples(site, day.isoformat())))
