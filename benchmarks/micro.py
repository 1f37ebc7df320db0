"""The counting path in process: GroupCommit -> CountingStore -> batch.lua on a real server.

Callers loop on ``GroupCommit.submit`` (what ``POST /v1/hit`` awaits) for a fixed time. Each
flush is one Redis round trip (one EVALSHA, or one pipeline of EVALSHAs when several sites are
in the batch); flushes come from the batcher's ``FlushReport``s, EVALSHA calls and
commands from the server's own INFO counters.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from benchmarks.common import percentile, progress, redis_counters
from counter.counting.batcher import GroupCommit
from counter.counting.model import Kind, VisitorClass
from counter.counting.store import CountingStore
from counter.counting.visitor import digest
from counter.instruments import FlushReport, Instruments
from counter.lua.batch import Event, event
from counter.sites.model import SiteConfig
from counter.storage import connect
from counter.wire import Wires

VISITORS = 100_000
PAGES = 1_000
WORKLOAD = 20_000
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass(frozen=True, slots=True)
class Case:
    callers: int
    sites: int
    batch: bool

    @property
    def label(self) -> str:
        mode = "group commit" if self.batch else "naive"
        return f"{self.callers} callers, {self.sites} sites, {mode}"


def workload(sites: int, seed: int = 1) -> list[tuple[SiteConfig, Event]]:
    """Hits from ``VISITORS`` visitors over ``PAGES`` pages, spread over ``sites`` sites."""
    rng = random.Random(seed)
    configs = [SiteConfig(id=f"micro-{i}") for i in range(sites)]
    return [
        (
            configs[rng.randrange(sites)],
            event(
                Kind.HIT, VisitorClass.GUEST, digest("v", f"v{rng.randrange(VISITORS):07d}"),
                page=f"/news/{rng.randrange(PAGES)}",
            ),
        )
        for _ in range(WORKLOAD)
    ]  # fmt: skip


def bucket(size: int) -> int:
    """The smallest bucket bound that holds ``size``."""
    return next((b for b in BATCH_BUCKETS if size <= b), BATCH_BUCKETS[-1])


class _Window(Instruments):
    """What happens between the end of the warm-up and the end of the run."""

    def __init__(self) -> None:
        self.open = False
        self.hits = 0
        self.latencies: list[float] = []
        self.flushes: list[FlushReport] = []

    def flushed(self, report: FlushReport) -> None:
        if self.open:
            self.flushes.append(report)


async def run_case(
    url: str, case: Case, seconds: float, warmup: float = 0.5, replica_acks: int = 0
) -> dict[str, Any]:
    """``case`` for ``seconds`` through the service's own flush path (its flusher
    connection, ``WAIT`` for ``replica_acks`` replicas)."""
    redis, probe = connect(url, 10.0), connect(url, 10.0)
    await redis.flushall()
    wires = Wires(url, 10.0)
    store = CountingStore(redis, wires=wires, replica_acks=replica_acks)
    await store.load()
    window = _Window()
    batcher = GroupCommit(store, time.time, max_batch=1000, enabled=case.batch, instruments=window)
    batcher.start()
    items = workload(case.sites)
    stop = asyncio.Event()

    async def caller(i: int) -> None:
        j = i
        while not stop.is_set():
            site, event = items[j % WORKLOAD]
            started = time.perf_counter()
            await batcher.submit(site, event)
            if window.open:
                window.hits += 1
                window.latencies.append(time.perf_counter() - started)
            j += case.callers

    tasks = [asyncio.create_task(caller(i)) for i in range(case.callers)]
    await asyncio.sleep(warmup)
    before = await redis_counters(probe)
    window.open, started = True, time.perf_counter()
    await asyncio.sleep(seconds)
    window.open, elapsed = False, time.perf_counter() - started
    after = await redis_counters(probe)
    stop.set()
    await asyncio.gather(*tasks)
    await batcher.close()
    await wires.close()
    await redis.aclose()
    await probe.aclose()
    return summarise(case, window, elapsed, before, after)


def summarise(
    case: Case, w: _Window, elapsed: float, before: dict[str, int], after: dict[str, int]
) -> dict[str, Any]:
    hits = max(w.hits, 1)
    sizes = [f.events for f in w.flushes]
    durations = [f.duration_s * 1000 for f in w.flushes]
    histogram = Counter(bucket(s) for s in sizes)
    return {
        "callers": case.callers,
        "sites": case.sites,
        "mode": "batch" if case.batch else "naive",
        "seconds": round(elapsed, 3),
        "hits": w.hits,
        "hits_per_s": round(w.hits / elapsed, 1),
        "round_trips": len(w.flushes),
        "round_trips_per_hit": round(len(w.flushes) / hits, 5),
        "evalsha_per_hit": round((after["evalsha"] - before["evalsha"]) / hits, 5),
        "commands_per_hit": round((after["commands"] - before["commands"] - 2) / hits, 5),
        "batch_size": {
            "mean": round(sum(sizes) / max(len(sizes), 1), 2),
            "p50": percentile(sizes, 50),
            "p90": percentile(sizes, 90),
            "p99": percentile(sizes, 99),
            "max": max(sizes, default=0),
            "histogram": {str(b): histogram.get(b, 0) for b in BATCH_BUCKETS},
        },
        "flush_ms": {
            "p50": round(percentile(durations, 50), 3),
            "p99": round(percentile(durations, 99), 3),
        },
        "latency_ms": {
            p: round(percentile(w.latencies, q) * 1000, 3)
            for p, q in (("p50", 50), ("p90", 90), ("p99", 99))
        },
    }


async def run(url: str, seconds: float) -> list[dict[str, Any]]:
    cases = [Case(c, s, b) for s in (1, 100) for c in (1, 1000) for b in (True, False)]
    results = []
    for n, case in enumerate(cases, 1):
        result = await run_case(url, case, seconds)
        progress(
            f"micro {n}/{len(cases)} {case.label}: {result['hits_per_s']:,.0f} hits/s, "
            f"{result['round_trips_per_hit']:.4f} round trips/hit, "
            f"mean batch {result['batch_size']['mean']}"
        )
        results.append(result)
    return results
