"""Helpers for the failover tests (Redis Cluster and Sentinel): bursts of hits and tallies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import Client


async def post_hit(client: Client, site: str, visitor: str | None, page: str = "/a") -> Any:
    body: dict[str, str] = {"site": site, "page": page}
    if visitor is not None:
        body["visitor"] = visitor
    return await client.post("/v1/hit", json=body)


async def stats(client: Client, site: str, *pages: str) -> Any:
    resp = await client.get("/v1/stats", params=[("site", site), *(("page", p) for p in pages)])
    assert resp.status == 200, await resp.text()
    return await resp.json()


FAILOVER_DEADLINE_S = 30.0


@dataclass
class Tally:
    """Hits sent to one site and how many were answered 200."""

    sent: int = 0
    ok: int = 0


async def burst(
    client: Client, sites: list[str], tallies: dict[str, Tally], tag: str, per_site: int = 2
) -> list[int]:
    """Concurrent hits from new visitors, ``per_site`` for each site; their statuses."""
    calls = []
    for site in sites:
        for i in range(per_site):
            tallies[site].sent += 1
            calls.append((site, post_hit(client, site, f"visitor-{tag}-{i}")))
    resps = await asyncio.gather(*(c for _, c in calls))
    for (site, _), resp in zip(calls, resps, strict=True):
        if resp.status == 200:
            tallies[site].ok += 1
    return [r.status for r in resps]


@dataclass
class Outage:
    """What clients saw from the SIGKILL of a primary until hits succeeded again."""

    killed_at: float
    statuses: set[int] = field(default_factory=set)
    last_failure: float | None = None
    recovered_at: float | None = None
    healthy_in_a_row: int = 0

    @property
    def unavailable_s(self) -> float:
        """From the kill to the first all-200 burst after the last failed one."""
        return (self.recovered_at or self.killed_at) - self.killed_at

    def saw(self, statuses: list[int]) -> bool:
        """Take a burst's statuses; True once 5 bursts in a row succeeded after a failure."""
        self.statuses.update(statuses)
        if any(s != 200 for s in statuses):
            self.last_failure = time.monotonic()
            self.healthy_in_a_row = 0
        elif self.last_failure is not None:
            if self.healthy_in_a_row == 0:
                self.recovered_at = time.monotonic()
            self.healthy_in_a_row += 1
        return self.healthy_in_a_row >= 5


async def failover_under_load(
    client: Client,
    sites: list[str],
    tallies: dict[str, Tally],
    kill: Callable[[], None],
    after_kill: Callable[[], Coroutine[Any, Any, None]],
    warm: int = 3,
) -> Outage:
    """Bursts of hits go on in the background; once ``warm`` are done, ``kill()`` runs (so
    flushes are in flight when the primary dies, and no WAIT of the test's own protects
    them); bursts go on until 5 in a row succeed after the first failure, bounded in time.
    ``after_kill()`` runs meanwhile (to bring the failed node back, say) and is awaited.

    Every burst that ends after the kill counts, those already under way when it happened
    included: a flush that retries through the whole failover fails only after it.
    """
    warmed, recovered = asyncio.Event(), asyncio.Event()
    outages: list[Outage] = []  # the outage, once the kill happened

    async def keep_bursting() -> None:
        n = 0
        while not recovered.is_set():
            statuses = await burst(client, sites, tallies, f"load-{n}")
            n += 1
            if n >= warm:
                warmed.set()
            if outages and outages[0].saw(statuses):
                recovered.set()

    task = asyncio.create_task(keep_bursting())
    try:
        await asyncio.wait_for(warmed.wait(), FAILOVER_DEADLINE_S)
        kill()
        outages.append(Outage(killed_at=time.monotonic()))
        meanwhile = asyncio.create_task(after_kill())
        try:
            await asyncio.wait_for(recovered.wait(), FAILOVER_DEADLINE_S)
        except TimeoutError:
            raise AssertionError(
                f"no recovery within {FAILOVER_DEADLINE_S}s: {outages[0]}"
            ) from None
        finally:
            await meanwhile
    finally:
        recovered.set()
        await task
    return outages[0]
