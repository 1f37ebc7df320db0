"""A site's all-time unique visitors: the HyperLogLog every flush adds its visitors to.

Counted for busuanzi's ``site_uv``. A count is a PFCOUNT, kept per site and process for
``ttl_s``, so a busy page costs Redis one count a second, not one per request.
"""

from __future__ import annotations

from collections.abc import Callable

from counter import redis_keys as keys
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.storage import RedisClient, Store, idempotent

MAX_SITES = 10_000
"""Sites whose count a process keeps at once (beyond, it starts afresh)."""


class AllTimeVisitors(Store):
    def __init__(
        self,
        redis: RedisClient,
        clock: Callable[[], float],
        *,
        ttl_s: float = 1.0,
        retries: int = 3,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        super().__init__(redis, retries=retries, instruments=instruments)
        self.clock = clock
        self.ttl_s = ttl_s
        self._counts: dict[str, tuple[float, int]] = {}
        """Site -> when its count expires, and the count."""

    async def count(self, site: str) -> int:
        """Distinct visitors the site has ever had (±0.81 %), at most ``ttl_s`` old."""
        now = self.clock()
        cached = self._counts.get(site)
        if cached is not None and cached[0] > now:
            return cached[1]
        count = await self._count(site)
        if len(self._counts) >= MAX_SITES:
            self._counts.clear()
        self._counts[site] = (now + self.ttl_s, count)
        return count

    @idempotent("count all-time visitors")
    async def _count(self, site: str) -> int:
        return int(await self.redis.pfcount(keys.visitors(site)))
