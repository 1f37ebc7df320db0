"""Group commit: concurrent events queue up; one in-flight flush writes them all.

While a flush is in flight new events wait in the queue; the next flush takes everything
queued (up to ``max_batch``), grouped by site, in one round trip. Each caller is answered with
the snapshot of the flush that included its event, so an answer means the event is in Redis.
With batching off (``COUNTER_BATCH=off``) every event is its own script call, for comparison.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from counter.counting.stats import Snapshot
from counter.counting.store import CountingStore, Event, SiteWork
from counter.errors import StoreUnavailable
from counter.sites.model import SiteConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FlushReport:
    """What one flush did, for metrics and the stats cache."""

    events: int
    sites: int
    duration_s: float
    ok: bool
    queued_after: int
    snapshots: dict[str, Snapshot]


@dataclass(slots=True)
class _Pending:
    site: SiteConfig
    event: Event
    future: asyncio.Future[Snapshot]


class GroupCommit:
    def __init__(
        self,
        store: CountingStore,
        clock: Callable[[], float],
        *,
        max_batch: int = 1000,
        enabled: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_batch = max_batch if enabled else 1
        self.observers: list[Callable[[FlushReport], None]] = []
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="counter-group-commit")

    async def submit(self, site: SiteConfig, event: Event) -> Snapshot:
        """Queue ``event`` and wait until the flush that carries it is in Redis."""
        if self._closed:
            raise StoreUnavailable("the service is shutting down")
        future: asyncio.Future[Snapshot] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(site, event, future))
        self._idle.clear()
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Flush everything already queued, then stop."""
        self._closed = True
        self._wakeup.set()
        await self._idle.wait()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                # The flusher must outlive any flush: a failure that is not a storage error
                # (a bug) fails this batch's requests, is logged, and the loop goes on.
                (outcome,) = await asyncio.gather(self._flush(batch), return_exceptions=True)
                if isinstance(outcome, BaseException):
                    log.error("flush failed unexpectedly", exc_info=outcome)
                    self._fail(batch, StoreUnavailable(f"flush failed: {outcome!r}"))
            self._idle.set()

    @staticmethod
    def _fail(batch: list[_Pending], exc: Exception) -> None:
        for p in batch:
            if not p.future.done():
                p.future.set_exception(exc)

    async def _flush(self, batch: list[_Pending]) -> None:
        by_site: dict[str, list[_Pending]] = {}
        for p in batch:
            by_site.setdefault(p.site.id, []).append(p)
        work = [
            SiteWork(items[0].site, [p.event for p in items], batch_id=uuid.uuid4().hex)
            for items in by_site.values()
        ]
        started = time.perf_counter()
        try:
            snapshots = await self.store.apply(work, self.clock())
        except StoreUnavailable as exc:
            self._report(batch, by_site, started, {}, ok=False)
            self._fail(batch, exc)
            return
        by_id = {w.site.id: s for w, s in zip(work, snapshots, strict=True)}
        self._report(batch, by_site, started, by_id, ok=True)
        for site_id, items in by_site.items():
            for p in items:
                if not p.future.done():
                    p.future.set_result(by_id[site_id])

    def _report(
        self,
        batch: list[_Pending],
        by_site: dict[str, list[_Pending]],
        started: float,
        snapshots: dict[str, Snapshot],
        *,
        ok: bool,
    ) -> None:
        report = FlushReport(
            events=len(batch),
            sites=len(by_site),
            duration_s=time.perf_counter() - started,
            ok=ok,
            queued_after=len(self._queue),
            snapshots=snapshots,
        )
        for observe in self.observers:
            observe(report)
