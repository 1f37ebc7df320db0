"""A short-lived per-process cache of stats answers and page counts for ``GET /v1/stats``.

Fresh answers from every flush are put here too, so a read right after a hit in the same
process sees the hit. Concurrent misses for the same key share one Redis call.

Entries are stamped with a per-process sequence: a read is stamped when it is sent, a flush's
answer when it arrives (a site's flushes travel on one connection, in order, so that answer
holds every flush of the site answered before it). An answer never replaces one with a later
stamp: a read sent before a flush and answered after it would otherwise put back the counts
the flush had just raised.
"""

from __future__ import annotations

import asyncio
import itertools
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
        self._stamps = itertools.count(1)
        self._sites: dict[str, tuple[float, int, Answer]] = {}
        self._pages: dict[tuple[str, str], tuple[float, int, int | None]] = {}
        self._inflight: dict[tuple[str, tuple[str, ...]], tuple[int, asyncio.Future[Found]]] = {}
        self._latest: dict[str, int] = {}
        """Site -> the stamp of the latest answer put (kept with the cache off too)."""

    def stamp(self) -> int:
        """The stamp of a read about to be sent (see :meth:`put`)."""
        return next(self._stamps)

    def put(self, answer: Answer, sent: int | None = None) -> Answer:
        """Keep ``answer``: a read's, with the :meth:`stamp` taken when it was sent, or a
        flush's (``sent`` omitted), as fresh as its arrival. Entries a later stamp put stay;
        the answer returned is the freshest held for ``answer``'s pages."""
        stamp = self.stamp() if sent is None else sent
        site = answer.site.id
        if len(self._latest) > MAX_ENTRIES:
            self._latest.clear()
        self._latest[site] = max(stamp, self._latest.get(site, 0))
        if self.ttl_s <= 0:
            return answer
        expires = self.clock() + self.ttl_s
        if len(self._pages) > MAX_ENTRIES:
            self._pages.clear()
        if len(self._sites) > MAX_ENTRIES:
            self._sites.clear()
        freshest, superseded = answer, False
        kept = self._sites.get(site)
        if kept is None or kept[1] <= stamp:
            self._sites[site] = (expires, stamp, answer)
        else:
            freshest, superseded = kept[2], True
        pages = self._pages
        counts: dict[str, int | None] = {}
        for page, count in answer.pages.items():
            kept_page = pages.get((site, page))
            if kept_page is None or kept_page[1] <= stamp:
                pages[site, page] = (expires, stamp, count)
                counts[page] = count
            else:
                counts[page], superseded = kept_page[2], True
        return freshest.with_pages(counts) if superseded else answer

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
            counts[page] = cached[2]
        return entry[2], counts

    async def get_or_load(
        self, site: str, pages: Sequence[str], load: Callable[[], Awaitable[Answer]]
    ) -> Found:
        """The cached answer, else one read shared by the callers that miss meanwhile (a read
        sent before the site's latest flush arrived is not shared: it may predate it)."""
        cached = self.get(site, pages)
        if cached is not None:
            return cached
        key = (site, tuple(pages))
        inflight = self._inflight.get(key)
        if inflight is not None and inflight[0] >= self._latest.get(site, 0):
            return await asyncio.shield(inflight[1])
        sent = self.stamp()
        future: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
        self._inflight[key] = (sent, future)
        try:
            answer = await load()
            found = (answer, {p: answer.pages.get(p, 0) for p in pages})
            future.set_result(found)
            self.put(answer, sent)
            return found
        finally:
            if self._inflight.get(key, (0, None))[1] is future:
                del self._inflight[key]
            if not future.done():  # the load failed or was cancelled: waiters get a 503
                future.set_exception(StoreUnavailable(f"stats of {site} could not be read"))
                future.exception()  # retrieved here: each waiter re-raises it
