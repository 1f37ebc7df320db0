"""A short-lived per-process cache of stats answers and page counts for ``GET /v1/stats``.

Fresh answers from every flush are put here too, so a read right after a hit in the same
process sees the hit. Concurrent misses for the same key share one Redis call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from counter.counting.stats import Answer
from counter.errors import StoreUnavailable

MAX_ENTRIES = 50_000

Found = tuple[Answer, dict[str, int | None]]
"""A site's answer and the counts of the pages asked for."""


class StatsCache:
    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._sites: dict[str, tuple[float, Answer]] = {}
        self._pages: dict[tuple[str, str], tuple[float, int | None]] = {}
        self._inflight: dict[tuple[str, tuple[str, ...]], asyncio.Future[Found]] = {}

    def put(self, answer: Answer) -> None:
        if self.ttl_s <= 0:
            return
        site = answer.site.id
        expires = self.clock() + self.ttl_s
        if len(self._pages) > MAX_ENTRIES:
            self._pages.clear()
        if len(self._sites) > MAX_ENTRIES:
            self._sites.clear()
        self._sites[site] = (expires, answer)
        pages = self._pages
        for page, count in answer.pages.items():
            pages[site, page] = (expires, count)

    def get(self, site: str, pages: Sequence[str]) -> Found | None:
        now = self.clock()
        entry = self._sites.get(site)
        if entry is None or entry[0] <= now:
            return None
        counts = {}
        for page in pages:
            cached = self._pages.get((site, page))
            if cached is None or cached[0] <= now:
                return None
            counts[page] = cached[1]
        return entry[1], counts

    async def get_or_load(
        self, site: str, pages: Sequence[str], load: Callable[[], Awaitable[Answer]]
    ) -> Found:
        cached = self.get(site, pages)
        if cached is not None:
            return cached
        key = (site, tuple(pages))
        inflight = self._inflight.get(key)
        if inflight is not None:
            return await asyncio.shield(inflight)
        future: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer = await load()
            found = (answer, {p: answer.pages.get(p, 0) for p in pages})
            future.set_result(found)
            self.put(answer)
            return found
        finally:
            del self._inflight[key]
            if not future.done():  # the load failed or was cancelled: waiters get a 503
                future.set_exception(StoreUnavailable(f"stats of {site} could not be read"))
                future.exception()  # retrieved here: each waiter re-raises it
