"""Metrics computed when Prometheus scrapes: site counts read from Redis, the embedded server's
state, and the merge of the worker processes' metric files.

Site counts live in Redis, so every replica and worker reports the same values: aggregate
them with ``max by (site)``, never ``sum``. Reads are cached for ``max_age_s`` so frequent
scrapes (or several Prometheus servers) cost at most one read per site per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from counter.counting.catalog import PageCatalog
from counter.counting.service import CountingService
from counter.counting.stats import Snapshot
from counter.embedded_owner import ServerStatus, pid_alive, read_status
from counter.errors import StoreUnavailable
from counter.metrics import SITE_LABEL_LIMIT
from counter.sites.store import SiteStore

SCRAPE_CACHE_S = 5.0


@dataclass(frozen=True, slots=True)
class SiteReading:
    """What a scrape reports of one site."""

    snapshot: Snapshot
    pages: int
    max_pages: int


class SiteCollector:
    """``counter_site_online``, ``counter_site_visits_total``, ``counter_site_pages``,
    ``counter_redis_up``."""

    def __init__(
        self,
        sites: SiteStore,
        counting: CountingService,
        pages: PageCatalog,
        *,
        max_age_s: float = SCRAPE_CACHE_S,
        limit: int = SITE_LABEL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sites = sites
        self.counting = counting
        self.pages = pages
        self.max_age_s = max_age_s
        self.limit = limit
        self.clock = clock
        self._snapshots: dict[str, SiteReading] = {}
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

    async def _read(self) -> dict[str, SiteReading]:
        configs = [await self.sites.get(site) for site in (await self.sites.ids())[: self.limit]]
        found = [c for c in configs if c is not None]
        now = self.counting.clock()  # straight from Redis, past the per-process stats cache
        read = await asyncio.gather(*(self.counting.store.read(c, [], now) for c in found))
        tracked = await asyncio.gather(*(self.pages.tracked(c.id) for c in found))
        return {
            c.id: SiteReading(r.snapshot, n, c.max_pages)
            for c, r, n in zip(found, read, tracked, strict=True)
        }

    def describe(self) -> Iterator[Metric]:
        return self._families({}, None)

    def collect(self) -> Iterator[Metric]:
        return self._families(self._snapshots, self._up)

    @staticmethod
    def _families(readings: dict[str, SiteReading], up: int | None) -> Iterator[Metric]:
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
        pages = GaugeMetricFamily(
            "counter_site_pages",
            "Pages counted one by one, by site (read from Redis; at most max_pages).",
            labels=["site"],
        )
        max_pages = GaugeMetricFamily(
            "counter_site_max_pages", "The site's page limit (max_pages).", labels=["site"]
        )
        for site, reading in sorted(readings.items()):
            snap = reading.snapshot
            pages.add_metric([site], reading.pages)
            max_pages.add_metric([site], reading.max_pages)
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
        yield from (online, visits, pageviews, pages, max_pages, redis_up)


class EmbeddedCollector:
    """The embedded server: its process lives (from its pidfile), and what its owner reports
    in the status file beside it: restarts and memory against the ``maxmemory`` ceiling.

    Every process on the data directory reports the same values: aggregate with ``max``."""

    def __init__(self, pidfile: Path) -> None:
        self.pidfile = pidfile

    def up(self) -> bool:
        pid = 0
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pidfile.read_text().strip())
        return pid > 0 and pid_alive(pid)

    def describe(self) -> Iterator[Metric]:
        return self._families(None, described=True)

    def collect(self) -> Iterator[Metric]:
        return self._families(read_status(self.pidfile.parent))

    def _families(
        self, status: ServerStatus | None, *, described: bool = False
    ) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "counter_embedded_server_up",
            "1 when the embedded Redis-protocol server process is running.",
        )
        restarts = CounterMetricFamily(
            "counter_embedded_server_restarts",
            "Restarts of the embedded server after it exited on its own.",
        )
        used = GaugeMetricFamily(
            "counter_embedded_server_memory_used_bytes",
            "Memory the embedded server uses (used_memory, sampled every few seconds).",
        )
        ceiling = GaugeMetricFamily(
            "counter_embedded_server_memory_max_bytes",
            "The embedded server's maxmemory (0: no limit); writes fail with 503 above it.",
        )
        if not described:
            up.add_metric([], 1 if self.up() else 0)
            restarts.add_metric([], status.restarts if status else 0)
        if status is not None and status.used_memory is not None:
            used.add_metric([], status.used_memory)
        if status is not None and status.maxmemory is not None:
            ceiling.add_metric([], status.maxmemory)
        yield from (up, restarts, used, ceiling)


INCOMPLETE_FILE_BYTES = 8
"""A worker's metrics file shorter than its header is still being created."""


class WorkerFilesCollector:
    """The merged metrics of every worker process (prometheus-client's multiprocess files).

    A worker creates its file empty and only then sizes it, so a scrape that reads the file
    in between would fail; such a file holds no values yet, and is left out instead."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def files(self) -> list[str]:
        """The files that can be read now."""
        found = []
        for path in sorted(self.path.glob("*.db")):
            with contextlib.suppress(FileNotFoundError):  # a dead worker's live gauge, gone
                if path.stat().st_size >= INCOMPLETE_FILE_BYTES:
                    found.append(str(path))
        return found

    def collect(self) -> Iterable[Metric]:
        merged: Iterable[Metric] = MultiProcessCollector.merge(self.files(), accumulate=True)  # type: ignore[no-untyped-call]  # unannotated upstream
        return merged
