"""The counting store: one ``batch.lua`` call per site, all sites in one round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from counter.counting.periods import Periods
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.lua import Script
from counter.lua.batch import (
    BatchCall,
    BatchResult,
    Event,
    batch_call,
    parse_reply,
)
from counter.sites.model import SiteConfig
from counter.storage import (
    RedisClient,
    Store,
    idempotent,
    pipeline,
    retry_span_s,
    retrying,
)
from counter.wire import ReplicaAckError, Wire, Wires, pack

HOUSEKEEPING_EVERY_S = 1.0
"""How often a process asks a site's script for the work that need not run per batch:
forgetting idle visitors (the online counts never include them anyway: trimming only bounds
memory) and counting today's uniques (a pass over the HyperLogLog; between counts a site's
answers carry the last count this process saw)."""

MARKER_MIN_S = 60.0
"""The shortest a batch marker lives (see :func:`marker_ttl_ms`)."""
TIMEOUTS_PER_ATTEMPT = 4
"""The most timeouts one attempt of a flush can wait through: opening its connection, the
replies, reloading a script the server lost, and the replies of the calls sent again."""
DEFAULT_TIMEOUT_S = 2.0
"""A Redis call's timeout (``COUNTER_REDIS_TIMEOUT_MS``) for a store not given its wires."""


def marker_ttl_ms(retries: int, timeout_s: float) -> int:
    """How long a flush's batch markers live: twice the longest its retries can take, and at
    least a minute (66 s with the default settings). A marker only has to outlive the
    attempts of its own flush, which all carry the same batch ids: a batch that fails for good
    is answered 503 and never sent again."""
    span = retry_span_s(retries, TIMEOUTS_PER_ATTEMPT * timeout_s)
    return int(max(MARKER_MIN_S, 2 * span) * 1000)


@dataclass(frozen=True, slots=True)
class SiteWork:
    """What one script call does for one site: events to apply, extra pages to read."""

    site: SiteConfig
    events: Sequence[Event] = ()
    read_pages: Sequence[str] = ()
    batch_id: str | None = None


class CountingStore(Store):
    def __init__(
        self,
        redis: RedisClient,
        *,
        wires: Wires | None = None,
        replica_acks: int = 0,
        retries: int = 3,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        super().__init__(redis, retries=retries, instruments=instruments)
        self.wires = wires
        """Where batches go when set: a connection per server, flushes written back to back
        (see :mod:`counter.wire`); reads go through the redis-py client."""
        self.replica_acks = replica_acks
        """Replicas that must acknowledge a flush (``WAIT``) before it counts as written."""
        self._wait_ms = max(1, int(wires.timeout_s * 1000) - 100) if wires else 0
        self.marker_ms = marker_ttl_ms(retries, wires.timeout_s if wires else DEFAULT_TIMEOUT_S)
        """How long this store's batch markers live."""
        self.script = Script("batch")
        self._housekept: dict[str, tuple[float, str]] = {}
        """Per site: when and on which local day its last housekeeping call was made."""
        self._uniques: dict[tuple[str, str], int] = {}
        """Per (site, day): today's uniques as last counted."""
        self._period_cache: dict[tuple[str, int], tuple[int, Periods]] = {}

    @idempotent("load counting script")
    async def load(self) -> None:
        await self.script.load(self.redis)

    def _call(self, work: SiteWork, now: float) -> BatchCall:
        site = work.site
        periods = self._periods(site, now)
        last = self._housekept.get(site.id)
        housekeeping = (
            last is None or now - last[0] >= HOUSEKEEPING_EVERY_S or last[1] != periods.day
        )
        if housekeeping:
            if len(self._housekept) > 100_000:
                self._housekept.clear()
            self._housekept[site.id] = (now, periods.day)
        return batch_call(
            site,
            work.events,
            now,
            periods,
            read_pages=work.read_pages,
            batch_id=work.batch_id,
            marker_ms=self.marker_ms,
            housekeeping=housekeeping,
        )

    def _periods(self, site: SiteConfig, now: float) -> Periods:
        """The site's period fields at ``now``, worked out once a minute per timezone and
        week start (a local date only changes on a whole minute, whatever the offset)."""
        minute = int(now // 60)
        key = (site.timezone, site.week_start_index)
        cached = self._period_cache.get(key)
        if cached is None or cached[0] != minute:
            if len(self._period_cache) > 1000:
                self._period_cache.clear()
            cached = self._period_cache[key] = (minute, Periods.at(now, site.tz, key[1]))
        return cached[1]

    def _result(self, site: str, call: BatchCall, reply: object) -> BatchResult:
        """The parsed reply, today's uniques filled in when the call did not count them."""
        key = (site, call.day)
        result = parse_reply(reply, call.pages, self._uniques.get(key, 0))
        if result.uniques_counted:
            if len(self._uniques) > 100_000:
                self._uniques.clear()
            self._uniques[key] = result.snapshot.uniques_today
        return result

    async def apply(self, work: Sequence[SiteWork], now: float) -> list[BatchResult]:
        """Apply every site's work in one round trip; one result per site, in order.

        Safe to retry: a call with a batch id is applied at most once.
        """
        calls = [self._call(w, now) for w in work]
        replies = await self._send(calls)
        return [
            self._result(w.site.id, call, reply)
            for w, call, reply in zip(work, calls, replies, strict=True)
        ]

    @idempotent("count batch")
    async def _send(self, calls: list[BatchCall]) -> list[object]:
        """The calls' replies, in order, from one round trip."""
        if self.wires is not None:
            return await self._over_wires(self.wires, calls)
        if len(calls) == 1:
            (call,) = calls
            return [await self.script(self.redis, call.keys, call.args)]
        sha = self.script.sha or await self.script.load(self.redis)
        async with pipeline(self.redis) as pipe:
            for call in calls:
                # execute_command: redis-py's cluster pipeline refuses pipe.evalsha(), though
                # each call's keys share one slot and the pipeline routes it to that node.
                pipe.execute_command("EVALSHA", sha, len(call.keys), *call.keys, *call.args)
            replies: list[object] = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in replies):
            await self.script.load(self.redis)
            replies = [
                await self.script(self.redis, call.keys, call.args)
                if isinstance(r, NoScriptError)
                else r
                for r, call in zip(replies, calls, strict=True)
            ]
        for r in replies:
            if isinstance(r, Exception):
                raise r
        return replies

    async def _over_wires(self, wires: Wires, calls: list[BatchCall]) -> list[object]:
        """Every call written back to back on the connection to its server (one per primary
        on a cluster), then each server's replies: one round trip, however many servers."""
        try:
            groups: dict[Wire, list[int]] = {}
            for i, call in enumerate(calls):
                groups.setdefault(await wires.for_key(call.keys[0]), []).append(i)
            sent = [(wire, idxs, await self._write(wire, [calls[i] for i in idxs]))
                    for wire, idxs in groups.items()]  # fmt: skip
            replies: list[object] = [None] * len(calls)
            for wire, idxs, futures in sent:
                got = await self._read(wire, [calls[i] for i in idxs], futures)
                for i, reply in zip(idxs, got, strict=True):
                    replies[i] = reply
            return replies
        except RedisError as exc:
            wires.failed(exc)
            raise

    async def _write(self, wire: Wire, calls: list[BatchCall]) -> list[asyncio.Future[Any]]:
        """Send the calls, and a ``WAIT`` for replicas when asked for, without waiting."""
        sha = self.script.sha or await self.script.load_over(wire)
        futures = [await wire.send(self._packed(sha, call)) for call in calls]
        if self.replica_acks:
            futures.append(await wire.send(pack(["WAIT", self.replica_acks, self._wait_ms])))
        return futures

    async def _read(
        self, wire: Wire, calls: list[BatchCall], futures: list[asyncio.Future[Any]]
    ) -> list[object]:
        """The calls' replies; a server that lost the script gets it again and the calls that
        found it missing once more (their batch markers make nothing count twice)."""
        replies = await wire.replies(futures)
        if any(isinstance(r, NoScriptError) for r in replies):
            await self.script.load_over(wire)
            again = [i for i, r in enumerate(replies[: len(calls)]) if isinstance(r, NoScriptError)]
            redone = await wire.replies(await self._write(wire, [calls[i] for i in again]))
            for i, reply in zip(again, redone, strict=False):
                replies[i] = reply
            if self.replica_acks:
                replies[-1] = redone[-1]
        if self.replica_acks:
            acked = replies.pop()
            if not isinstance(acked, int) or acked < self.replica_acks:
                raise ReplicaAckError(
                    f"{acked} of {self.replica_acks} replicas acknowledged the flush in time"
                )
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    @staticmethod
    def _packed(sha: str, call: BatchCall) -> bytes:
        return pack(["EVALSHA", sha, len(call.keys), *call.keys, *call.args])

    async def ready(self) -> bool:
        """Redis answers and the counting script is loaded (loaded here if the server lost
        it: a promoted replica or restarted node has an empty script cache, and with no
        traffic nothing else would reload it). One retry: a connection that a restart or
        failover left stale fails once before the client reconnects."""
        return await retrying(
            "readiness check", self._ready, min(self.retries, 1), self.instruments
        )

    async def _ready(self) -> bool:
        await self.redis.ping()
        sha = self.script.sha
        if sha is not None and all(await self.redis.script_exists(sha)):
            return True
        return all(await self.redis.script_exists(await self.script.load(self.redis)))

    async def read(self, site: SiteConfig, pages: Sequence[str], now: float) -> BatchResult:
        """The site's stats and ``pages``' counts, straight from Redis."""
        return (await self.apply([SiteWork(site, read_pages=pages)], now))[0]
