"""Metrics computed when Prometheus scrapes: site counts read from Redis, embedded server up.

Site counts live in Redis, so every replica and worker reports the same values: aggregate
them with ``max by (site)``, never ``sum``. Reads are cached for ``max_age_s`` so frequent
scrapes (or several Prometheus servers) cost at most one read per site per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from counter.counting.service import CountingService
from counter.counting.stats import Snapshot
from counter.embedded import pid_alive
from counter.errors import StoreUnavailable
from counter.metrics import SITE_LABEL_LIMIT
from counter.sites.store import SiteStore

SCRAPE_CACHE_S = 5.0


class SiteCollector:
    """``counter_site_online``, ``counter_site_visits_total``, ``counter_redis_up``."""

    def __init__(
        self,
        sites: SiteStore,
        counting: CountingService,
        *,
        max_age_s: float = SCRAPE_CACHE_S,
        limit: int = SITE_LABEL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sites = sites
        self.counting = counting
        self.max_age_s = max_age_s
        self.limit = limit
        self.clock = clock
        self._snapshots: dict[str, Snapshot] = {}
        self._up = 0
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._read_at is not None and self.clock() - self._read_at < self.max_age_s

    async def refresh(self) -> None:
        """Read every configured site's counts unless the last read is recent enough."""
        if self._fresh():
            return
        async with self._lock:
            if self._fresh():
                return
            try:
                self._snapshots = await self._read()
                self._up = 1
            except StoreUnavailable:
                self._snapshots, self._up = {}, 0
            self._read_at = self.clock()

    async def _read(self) -> dict[str, Snapshot]:
        configs = [await self.sites.get(site) for site in (await self.sites.ids())[: self.limit]]
        found = [c for c in configs if c is not None]
        now = self.counting.clock()  # straight from Redis, past the per-process stats cache
        read = await asyncio.gather(*(self.counting.store.read(c, [], now) for c in found))
        return {c.id: r.snapshot for c, r in zip(found, read, strict=True)}

    def describe(self) -> Iterator[Metric]:
        return self._families({}, None)

    def collect(self) -> Iterator[Metric]:
        return self._families(self._snapshots, self._up)

    @staticmethod
    def _families(snapshots: dict[str, Snapshot], up: int | None) -> Iterator[Metric]:
        online = GaugeMetricFamily(
            "counter_site_online",
            "Visitors online now, by site and class (read from Redis; use max by (site)).",
            labels=["site", "class"],
        )
        visits = CounterMetricFamily(
            "counter_site_visits",
            "Visits since the site began, base counts included (read from Redis).",
            labels=["site"],
        )
        pageviews = CounterMetricFamily(
            "counter_site_pageviews",
            "Page views since the site began, base counts included (read from Redis).",
            labels=["site"],
        )
        for site, snap in sorted(snapshots.items()):
            online.add_metric([site, "guest"], snap.online_guests)
            online.add_metric([site, "member"], snap.online_members)
            online.add_metric([site, "bot"], snap.online_bots)
            visits.add_metric([site], snap.visits_total)
            pageviews.add_metric([site], snap.pageviews_total)
        redis_up = GaugeMetricFamily(
            "counter_redis_up", "1 when the last scrape-time read from Redis succeeded."
        )
        if up is not None:
            redis_up.add_metric([], up)
        yield from (online, visits, pageviews, redis_up)


class EmbeddedCollector:
    """``counter_embedded_server_up``: the embedded server's process (from its pidfile) lives."""

    def __init__(self, pidfile: Path) -> None:
        self.pidfile = pidfile

    def up(self) -> bool:
        pid = 0
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pidfile.read_text().strip())
        return pid > 0 and pid_alive(pid)

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("counter_embedded_server_up", "")

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "counter_embedded_server_up",
            "1 when the embedded Redis-protocol server process is running.",
            value=1 if self.up() else 0,
        )
