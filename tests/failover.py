"""Helpers for the failover tests (Redis Cluster and Sentinel): bursts of hits and tallies."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
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

    @property
    def unavailable_s(self) -> float:
        """From the kill to the first all-200 burst after the last failed one."""
        return (self.recovered_at or self.killed_at) - self.killed_at


async def hit_through_failover(
    client: Client, sites: list[str], tallies: dict[str, Tally]
) -> Outage:
    """Burst hits until 5 bursts in a row succeed after the first 503; bounded in time."""
    outage = Outage(killed_at=time.monotonic())
    deadline = outage.killed_at + FAILOVER_DEADLINE_S
    healthy_in_a_row = 0
    n = 0
    while healthy_in_a_row < 5:
        assert time.monotonic() < deadline, f"no recovery within {FAILOVER_DEADLINE_S}s"
        statuses = await burst(client, sites, tallies, f"during-{n}")
        n += 1
        outage.statuses.update(statuses)
        if any(s != 200 for s in statuses):
            outage.last_failure = time.monotonic()
            healthy_in_a_row = 0
        elif outage.last_failure is not None:
            if healthy_in_a_row == 0:
                outage.recovered_at = time.monotonic()
            healthy_in_a_row += 1
    return outage


@contextlib.asynccontextmanager
async def bursting(
    client: Client, sites: list[str], tallies: dict[str, Tally], warm: int = 3
) -> AsyncIterator[None]:
    """Bursts of hits going on in the background (entered once ``warm`` bursts are done),
    so that what the block does happens under load; stopped and awaited on exit."""
    stop, warmed = asyncio.Event(), asyncio.Event()

    async def keep_bursting() -> None:
        n = 0
        while not stop.is_set():
            await burst(client, sites, tallies, f"load-{n}")
            n += 1
            if n >= warm:
                warmed.set()

    task = asyncio.create_task(keep_bursting())
    try:
        await asyncio.wait_for(warmed.wait(), FAILOVER_DEADLINE_S)
        yield
    finally:
        stop.set()
        await task
