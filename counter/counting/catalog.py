"""The pages a site counts one by one: listed and pruned by its admins.

A site tracks at most ``max_pages`` pages (a site setting); once full, hits on new pages count
in the site's totals only. Pruning pages nobody reads any more makes room again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from counter import redis_keys as keys
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.lua import Script
from counter.lua.sites import parse_pruned
from counter.storage import RedisClient, Store, idempotent

MAX_PAGE_LIST = 1000
PRUNE_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class PageListing:
    """One page of the listing: (page, views) pairs, the cursor to go on from (0: done), and
    how many pages the site tracks."""

    pages: list[tuple[str, int]]
    cursor: int
    tracked: int


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(found: object) -> dict[str, int]:
    """An HSCAN page of a pages hash as page -> views."""
    assert isinstance(found, dict)
    return {_text(name): int(_text(n)) for name, n in found.items()}


class PageCatalog(Store):
    def __init__(
        self, redis: RedisClient, *, retries: int = 3, instruments: Instruments = NO_INSTRUMENTS
    ) -> None:
        super().__init__(redis, retries=retries, instruments=instruments)
        self._script = Script("pages_prune")

    @idempotent("list pages")
    async def listing(self, site: str, cursor: int = 0, count: int = 100) -> PageListing:
        """Pages with their views (base counts included), in no particular order; follow
        ``cursor`` until it is 0. A listing may show a page twice, never misses one."""
        cursor, found = await self.redis.hscan(keys.pages(site), cursor, count=count)
        views = _pairs(found)
        names = list(views)
        bases = await self.redis.hmget(keys.base_pages(site), names) if names else []
        pages = [
            (name, views[name] + int(base or 0)) for name, base in zip(names, bases, strict=True)
        ]
        return PageListing(pages, int(cursor), int(await self.redis.hlen(keys.pages(site))))

    async def prune(self, site: str, pages: Sequence[str], below: int | None = None) -> int:
        """Stop counting ``pages`` one by one (their views stay in the site's totals), those
        with fewer than ``below`` views only when it is set; the number removed."""
        removed = 0
        for i in range(0, len(pages), PRUNE_CHUNK):
            removed += await self._prune(site, pages[i : i + PRUNE_CHUNK], below)
        return removed

    @idempotent("prune pages")
    async def _prune(self, site: str, pages: Sequence[str], below: int | None) -> int:
        reply = await self._script(
            self.redis, [keys.pages(site)], ["" if below is None else below, *pages]
        )
        return parse_pruned(reply)

    async def prune_below(self, site: str, views: int) -> int:
        """Stop counting every page with fewer than ``views`` views (base counts aside); the
        number removed. Runs through the site's pages in chunks."""
        removed, cursor = 0, 0
        while True:
            cursor, below = await self._scan_below(site, cursor, views)
            removed += await self.prune(site, below, views)
            if cursor == 0:
                return removed

    @idempotent("scan pages")
    async def _scan_below(self, site: str, cursor: int, views: int) -> tuple[int, list[str]]:
        cursor, found = await self.redis.hscan(keys.pages(site), cursor, count=PRUNE_CHUNK)
        return int(cursor), [name for name, n in _pairs(found).items() if n < views]

    @idempotent("count pages")
    async def tracked(self, site: str) -> int:
        return int(await self.redis.hlen(keys.pages(site)))
