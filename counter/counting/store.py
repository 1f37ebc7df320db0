"""The counting store: one ``batch.lua`` call per site, all sites in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from redis.exceptions import NoScriptError

from counter import redis_keys as keys
from counter.counting.periods import Periods
from counter.counting.stats import Snapshot
from counter.sites.model import SiteConfig
from counter.storage import RedisClient, Script, ScriptArg, pipeline, retrying

UNIQUES_TTL_S = 40 * 86_400
"""Daily unique-visitor HyperLogLogs are kept this long (history shows uniques this far)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One hit (``h``), ping (``p``) or leave (``l``) of a guest, member or bot (g, m, b)."""

    kind: str
    cls: str
    key: bytes
    alt: bytes = b""
    page: str = ""


@dataclass(frozen=True, slots=True)
class SiteWork:
    """What one script call does for one site: events to apply, extra pages to read."""

    site: SiteConfig
    events: Sequence[Event] = ()
    read_pages: Sequence[str] = ()
    batch_id: str | None = None


def _site_keys(site: str) -> list[str]:
    return [
        keys.visits(site),
        keys.pageviews(site),
        keys.bot_hits(site),
        keys.pages(site),
        keys.base(site),
        keys.base_pages(site),
        keys.presence(site, "g"),
        keys.presence(site, "m"),
        keys.presence(site, "b"),
        keys.peak(site),
    ]


def script_call(work: SiteWork, now: float) -> tuple[list[str], list[ScriptArg]]:
    """KEYS and ARGV of one ``batch.lua`` call (see the script's header)."""
    site = work.site
    p = Periods.at(now, site.tz, site.week_start_index)
    call_keys = [
        *_site_keys(site.id),
        keys.uniques(site.id, p.today.isoformat()),
        keys.uniques(site.id, (p.today - timedelta(days=1)).isoformat()),
        keys.batch_marker(site.id, work.batch_id or "-"),
        keys.tombstone(site.id),
    ]
    args: list[ScriptArg] = [
        int(now * 1000),
        site.online_window_s * 1000,
        site.visit_window_s * 1000,
        p.day, p.week, p.month, p.year,
        p.yesterday, p.last_week, p.last_month,
        UNIQUES_TTL_S,
        "1" if work.batch_id else "0",
        len(work.read_pages),
        *work.read_pages,
    ]  # fmt: skip
    for e in work.events:
        args += [e.kind, e.cls, e.key, e.alt, e.page]
    return call_keys, args


class CountingStore:
    def __init__(self, redis: RedisClient, *, retries: int = 3) -> None:
        self.redis = redis
        self.retries = retries
        self.script = Script("batch")

    async def load(self) -> None:
        await self.script.load(self.redis)

    async def apply(self, work: Sequence[SiteWork], now: float) -> list[Snapshot]:
        """Apply every site's work in one round trip; one snapshot per site, in order.

        Safe to retry: a call with a batch id is applied at most once.
        """
        if len(work) == 1:
            keys_, args = script_call(work[0], now)
            reply = await retrying(
                "count batch", lambda: self.script(self.redis, keys_, args), self.retries
            )
            return [Snapshot.from_script(reply)]  # type: ignore[arg-type]
        calls = [script_call(w, now) for w in work]
        return await retrying("count batch", lambda: self._pipeline(calls), self.retries)

    async def _pipeline(self, calls: list[tuple[list[str], list[ScriptArg]]]) -> list[Snapshot]:
        sha = self.script.sha or await self.script.load(self.redis)
        async with pipeline(self.redis) as pipe:
            for keys_, args in calls:
                # execute_command: redis-py's cluster pipeline refuses pipe.evalsha(), though
                # each call's keys share one slot and the pipeline routes it to that node.
                pipe.execute_command("EVALSHA", sha, len(keys_), *keys_, *args)
            replies = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in replies):
            await self.script.load(self.redis)
            replies = [
                await self.script(self.redis, *call) if isinstance(r, NoScriptError) else r
                for r, call in zip(replies, calls, strict=True)
            ]
        for r in replies:
            if isinstance(r, Exception):
                raise r
        return [Snapshot.from_script(r) for r in replies]

    async def read(self, site: SiteConfig, pages: Sequence[str], now: float) -> Snapshot:
        return (await self.apply([SiteWork(site, read_pages=pages)], now))[0]
