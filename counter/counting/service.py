"""The counting use cases the web handlers call: identify, record, read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from counter.counting import members
from counter.counting.batcher import FlushReport, GroupCommit
from counter.counting.bots import is_bot
from counter.counting.cache import StatsCache
from counter.counting.stats import Snapshot
from counter.counting.store import CountingStore, Event
from counter.counting.visitor import DailySalt, derived_visitor_id, digest
from counter.sites.model import SiteConfig


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an event is from: class (g guest, m member, b bot) and stored digests."""

    cls: str
    key: bytes
    alt: bytes = b""


class CountingService:
    def __init__(
        self,
        store: CountingStore,
        batcher: GroupCommit,
        cache: StatsCache,
        salt: DailySalt,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.batcher = batcher
        self.cache = cache
        self.salt = salt
        self.clock = clock
        batcher.observers.append(self._remember)
        self.hit_observers: list[Callable[[str, str], None]] = []
        """Called with (site id, class) for every hit once it is durably counted."""

    def _remember(self, report: FlushReport) -> None:
        for site, snap in report.snapshots.items():
            self.cache.put(site, snap)

    async def visitor_id(self, site: SiteConfig, visitor: str | None, ip: str, ua: str) -> str:
        """The visitor id sent by the client, else one derived with today's salt."""
        if visitor is not None:
            return visitor
        return derived_visitor_id(await self.salt.current(site.tz), site.id, ip, ua)

    def identify(
        self, site: SiteConfig, visitor_id: str, member_token: str | None, user_agent: str
    ) -> Identity | None:
        """None when the event must not be counted at all (a bot, with bot policy ignore)."""
        visitor_key = digest("v", visitor_id)
        if is_bot(user_agent):
            return None if site.bot_policy == "ignore" else Identity("b", visitor_key)
        if member_token is not None:
            member_id = members.verify(member_token, site.member_secret, site.id, self.clock())
            if member_id is not None:
                return Identity("m", digest("m", member_id), visitor_key)
        return Identity("g", visitor_key)

    async def record(
        self, site: SiteConfig, kind: str, who: Identity | None, page: str = ""
    ) -> Snapshot:
        """Apply a hit, ping or leave; the answer is the snapshot of the flush that wrote it."""
        if who is None:
            return await self.stats(site, [page] if page else [])
        snap = await self.batcher.submit(site, Event(kind, who.cls, who.key, who.alt, page))
        if kind == "h":
            for observe in self.hit_observers:
                observe(site.id, who.cls)
        return snap

    async def stats(self, site: SiteConfig, pages: Sequence[str]) -> Snapshot:
        return await self.cache.get_or_load(
            site.id, pages, lambda: self.store.read(site, pages, self.clock())
        )
