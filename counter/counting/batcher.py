"""Group commit: concurrent events queue up; a flush writes a whole batch in one round trip.

Events wait in the forming batch; the flusher takes it (up to ``max_batch`` events), groups it
by site and writes it with one ``batch.lua`` call per site, all in one round trip. Up to
``in_flight`` flushes travel at once, so the next batch is sent while a reply is still on its
way instead of every request idling on one round trip. Each caller is answered with its
site's :class:`~counter.counting.stats.Answer` from the flush that carried its event, so an
answer means the event is in Redis. With batching off (``COUNTER_BATCH=off``) every event is
its own flush, for comparison.

Flushes in flight at once may reach Redis in either order, as the flushes of two replicas
always could: presence may then be a few milliseconds off, counts never are.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from counter.counting.model import Kind, VisitorClass
from counter.counting.stats import Answer
from counter.counting.store import CountingStore, SiteWork
from counter.errors import StoreUnavailable
from counter.instruments import NO_INSTRUMENTS, FlushReport, Instruments
from counter.lua.batch import Event
from counter.sites.model import SiteConfig

log = logging.getLogger(__name__)

_HIT = ord(Kind.HIT.value)
_CLASSES = {ord(c.value): c for c in VisitorClass}


@dataclass(slots=True)
class _Batch:
    """Events and their waiters, in the order they came."""

    sites: list[SiteConfig] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    waiters: list[asyncio.Future[Answer]] = field(default_factory=list)


class GroupCommit:
    def __init__(
        self,
        store: CountingStore,
        clock: Callable[[], float],
        *,
        max_batch: int = 1000,
        in_flight: int = 1,
        enabled: bool = True,
        remember: Callable[[Answer], object] = lambda _: None,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_batch = max_batch if enabled else 1
        self.in_flight = in_flight
        self.remember = remember
        """Called with every answer a flush produced (the stats cache keeps them)."""
        self.instruments = instruments
        self._batches: deque[_Batch] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._flying: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()  # made inside the loop it serves
        self._closed = False
        self._batch_prefix = secrets.token_hex(6)
        self._batch_count = 0

    @property
    def queue_depth(self) -> int:
        """Events waiting for a flush (not those in flight)."""
        return self._queued

    def start(self) -> None:
        self._task = self._loop.create_task(self._run(), name="counter-group-commit")

    def submit(self, site: SiteConfig, event: Event) -> asyncio.Future[Answer]:
        """Queue ``event``; the future resolves once the flush that carries it is in Redis
        (a plain future, not a coroutine: one frame less on the hottest path)."""
        if self._closed:
            raise StoreUnavailable("the service is shutting down")
        batches = self._batches
        if not batches or len(batches[-1].events) >= self.max_batch:
            batches.append(_Batch())
            self._wakeup.set()
        batch = batches[-1]
        waiter: asyncio.Future[Answer] = self._loop.create_future()
        batch.sites.append(site)
        batch.events.append(event)
        batch.waiters.append(waiter)
        self._queued += 1
        return waiter

    async def close(self) -> None:
        """Flush everything already queued, then stop (new events are refused meanwhile).

        If Redis fails a flush for good while stopping, what is still queued is answered with
        that error at once, so a stop takes one flush's retries, not one per queued batch."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            # Shielded: cancelling the caller must not cancel the flushes it waits for.
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        try:
            while self._batches or self._flying or not self._closed:
                if self._batches and len(self._flying) < self.in_flight:
                    self._send(self._batches.popleft())
                    continue
                if not self._batches:
                    self.instruments.queue_depth(0)
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            # Only reached early if this task was cancelled: nobody may wait for ever.
            gone = StoreUnavailable("the flusher stopped")
            for batch in self._batches:
                _fail(batch, gone)
            self._batches.clear()

    def _send(self, batch: _Batch) -> None:
        self._queued -= len(batch.events)
        task = self._loop.create_task(self._flush(batch))
        self._flying.add(task)
        task.add_done_callback(self._landed)

    def _landed(self, task: asyncio.Task[None]) -> None:
        """A flush is done: its slot is free for the next batch."""
        self._flying.discard(task)
        self._wakeup.set()

    async def _flush(self, batch: _Batch) -> None:
        started = time.perf_counter()
        ok = False
        hits: Counter[tuple[str, str]] = Counter()
        try:
            answers = await self._write(batch, hits)
            ok = True
        except StoreUnavailable as exc:
            _fail(batch, exc)
            if self._closed:
                self._fail_queued(exc)
        except Exception as exc:
            # The error path of the flusher, which must outlive any flush: a failure that is
            # not a storage error (a bug) fails this batch's requests, is logged, and the
            # flusher goes on.
            log.exception("flush failed unexpectedly")
            _fail(batch, StoreUnavailable(f"flush failed: {exc!r}"))
        else:
            for site, waiter in zip(batch.sites, batch.waiters, strict=True):
                if not waiter.done():
                    waiter.set_result(answers[site.id])
        self.instruments.flushed(
            FlushReport(
                events=len(batch.events),
                sites=len({s.id for s in batch.sites}),
                duration_s=time.perf_counter() - started,
                ok=ok,
                queued_after=self._queued,
                hits=hits,
            )
        )

    async def _write(self, batch: _Batch, hits: Counter[tuple[str, str]]) -> dict[str, Answer]:
        """One round trip for the whole batch; the answers by site, and the hits counted."""
        by_site: dict[str, list[Event]] = {}
        configs: dict[str, SiteConfig] = {}
        for site, event in zip(batch.sites, batch.events, strict=True):
            events = by_site.get(site.id)
            if events is None:
                events = by_site[site.id] = []
                configs[site.id] = site
            events.append(event)
        work = [
            SiteWork(configs[s], events, batch_id=self._batch_id()) for s, events in by_site.items()
        ]
        now = self.clock()
        results = await self.store.apply(work, now)
        answers: dict[str, Answer] = {}
        for w, result in zip(work, results, strict=True):
            answer = answers[w.site.id] = Answer(w.site, result.snapshot, result.pages, now)
            self.remember(answer)
            if result.applied:
                classes = Counter(e.head[1] for e in w.events if e.head[0] == _HIT)
                for cls, n in classes.items():
                    hits[w.site.id, _CLASSES[cls].value] += n
                if None in result.pages.values():
                    untracked = sum(
                        1
                        for e in w.events
                        if e.head[0] == _HIT and e.page and result.pages[e.page] is None
                    )
                    self.instruments.refused("pages", w.site.id, untracked)
        return answers

    def _fail_queued(self, exc: StoreUnavailable) -> None:
        """Stopping, and Redis just failed a flush after its retries: answer everything still
        queued with the same error now (nothing of it was acknowledged, clients may resend),
        rather than spend the retries again on every batch and never finish stopping."""
        for batch in self._batches:
            _fail(batch, exc)
        self._batches.clear()
        self._queued = 0

    def _batch_id(self) -> str:
        self._batch_count += 1
        return f"{self._batch_prefix}{self._batch_count:x}"


def _fail(batch: _Batch, exc: Exception) -> None:
    for waiter in batch.waiters:
        if not waiter.done():
            waiter.set_exception(exc)
