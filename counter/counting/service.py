"""The counting use cases the web handlers call: record a hit, ping or leave, read stats.

Each returns the JSON body of its answer, built once per flush (see
:class:`~counter.counting.stats.Answer`), so a handler only wraps bytes in a response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from counter.counting import members
from counter.counting.batcher import GroupCommit
from counter.counting.bots import BotFilter
from counter.counting.cache import StatsCache
from counter.counting.limits import HitRate
from counter.counting.model import Kind, VisitorClass
from counter.counting.pages import PageNames
from counter.counting.referrers import ReferrerHosts
from counter.counting.stats import Answer
from counter.counting.store import CountingStore
from counter.counting.visitor import DailySalt, derived_visitor_id, digest
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.lua.batch import Event, event, read_event
from counter.sites.model import SiteConfig


class CountingService:
    def __init__(
        self,
        store: CountingStore,
        batcher: GroupCommit,
        cache: StatsCache,
        salt: DailySalt,
        clock: Callable[[], float],
        *,
        hit_rate: HitRate | None = None,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self.store = store
        self.batcher = batcher
        self.cache = cache
        self.salt = salt
        self.clock = clock
        self.hit_rate = hit_rate or HitRate(0, clock)
        self.instruments = instruments
        self.bots = BotFilter()
        self.pages = PageNames()
        self.referrers = ReferrerHosts()

    def hit(
        self,
        site: SiteConfig,
        page: str,
        visitor: str | None,
        member: str | None,
        user_agent: str,
        ip: str,
        referrer: str | None = None,
    ) -> Awaitable[Answer]:
        """Count a page view; the answer is the site's stats with the page's count, from the
        flush that wrote it. (Not a coroutine: the common case awaits the flush directly.) A
        client over its hit rate is answered with the stats and counts nothing."""
        if not self.hit_rate.allows(site.id, ip):
            self.instruments.refused("hit_rate", site.id)
            return self._uncounted(site, page)
        host = self.referrers(referrer, site.origins)
        if visitor is None:
            return self._hit_derived(site, page, member, user_agent, ip, host)
        found = self._event(site, Kind.HIT, visitor, member, user_agent, page, host)
        if found is None:
            return self._uncounted(site, page)
        return self.batcher.submit(site, found)

    async def _hit_derived(
        self, site: SiteConfig, page: str, member: str | None, user_agent: str, ip: str, host: str
    ) -> Answer:
        visitor = await self.derived_visitor(site, ip, user_agent)
        found = self._event(site, Kind.HIT, visitor, member, user_agent, page, host)
        if found is None:
            return await self._uncounted(site, page)
        return await self.batcher.submit(site, found)

    def ping(
        self, site: SiteConfig, visitor: str, member: str | None, user_agent: str
    ) -> Awaitable[Answer]:
        """Refresh a visitor's presence; the answer is the site's stats."""
        found = self._event(site, Kind.PING, visitor, member, user_agent)
        if found is None:
            return self._uncounted(site)
        return self.batcher.submit(site, found)

    async def leave(
        self, site: SiteConfig, visitor: str, member: str | None, user_agent: str
    ) -> None:
        """Take a visitor off the online count (still inside its visit window)."""
        found = self._event(site, Kind.LEAVE, visitor, member, user_agent)
        if found is not None:
            await self.batcher.submit(site, found)

    async def _uncounted(self, site: SiteConfig, page: str = "") -> Answer:
        """The answer to a beacon that counts nothing (a bot the site ignores, a client over
        its hit rate): the cached stats while fresh, else a read that travels with the next
        flush, so that a flood of such beacons costs no Redis call of its own."""
        cached = self.cache.get(site.id, [page] if page else [])
        if cached is not None:
            answer, counts = cached
            return answer.with_pages(counts)
        return await self.batcher.submit(site, read_event(page))

    async def stats(self, site: SiteConfig, pages: Sequence[str]) -> bytes:
        """The site's stats and ``pages``' counts, at most the cache period old."""
        answer, counts = await self.cache.get_or_load(
            site.id, pages, lambda: self._read(site, pages)
        )
        return answer.render(counts)

    async def snapshot(self, site: SiteConfig, pages: Sequence[str] = ()) -> Answer:
        """The site's stats straight from Redis (past the per-process cache)."""
        return await self._read(site, pages)

    async def _read(self, site: SiteConfig, pages: Sequence[str]) -> Answer:
        now = self.clock()
        result = await self.store.read(site, pages, now)
        return Answer(site, result.snapshot, result.pages, now)

    async def derived_visitor(self, site: SiteConfig, ip: str, user_agent: str) -> str:
        """The visitor id of a beacon that sent none: a keyed hash of site, address and user
        agent with today's salt (the address itself is never stored)."""
        return derived_visitor_id(await self.salt.current(site.tz), site.id, ip, user_agent)

    def _event(
        self,
        site: SiteConfig,
        kind: Kind,
        visitor: str,
        member: str | None,
        user_agent: str,
        page: str = "",
        referrer: str = "",
    ) -> Event | None:
        """Who the beacon is from, as an event; None when it is not counted at all (a bot,
        on a site whose bot policy is ignore)."""
        key = digest("v", visitor)
        if self.bots(user_agent):
            if site.bot_policy == "ignore":
                return None
            return event(kind, VisitorClass.BOT, key, page=page)  # no referrer: bots aside
        if member is not None:
            member_id = members.verify(
                member, site.member_secret, site.id, self.clock(), site.member_token_max_s
            )
            if member_id is not None:
                return event(kind, VisitorClass.MEMBER, digest("m", member_id), key, page, referrer)
        return event(kind, VisitorClass.GUEST, key, page=page, referrer=referrer)
