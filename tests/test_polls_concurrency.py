"""Concurrent votes over real HTTP: one per voter, every accepted answer counted once."""

from __future__ import annotations

import asyncio
import random

from pytest_aiohttp import AiohttpClient

from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import FakeClock, make_site
from tests.polls_support import LOCALHOST, admin_poll, app_client, make_poll, vote


async def test_100_concurrent_identical_votes_from_one_visitor_count_once(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(aiohttp_client, settings, clock, allowlist=LOCALHOST)
    await make_site(client)
    poll = await make_poll(client)
    answers = await asyncio.gather(
        *(vote(client, poll["id"], "visitor-same", ["o1"]) for _ in range(100))
    )
    statuses = sorted(r.status for r in answers)
    assert statuses == [200] + [409] * 99
    results = (await admin_poll(client, poll["id"]))["results"]
    assert results == {"votes": {"o1": 1, "o2": 0, "o3": 0}, "voters": 1}


async def test_500_concurrent_distinct_voters_are_all_counted(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(aiohttp_client, settings, clock, allowlist=LOCALHOST)
    await make_site(client)
    poll = await make_poll(client, options=["A", "B", "C", "D"], max_choices=2)
    rng = random.Random(4)
    ballots = [rng.sample(["o1", "o2", "o3", "o4"], rng.choice([1, 2])) for _ in range(500)]
    answers = await asyncio.gather(
        *(vote(client, poll["id"], f"visitor-{n:04}", b) for n, b in enumerate(ballots))
    )
    assert [r.status for r in answers] == [200] * 500
    expected = {o: sum(o in b for b in ballots) for o in ("o1", "o2", "o3", "o4")}
    results = (await admin_poll(client, poll["id"]))["results"]
    assert results == {"votes": expected, "voters": 500}
    assert sum(results["votes"].values()) == sum(len(b) for b in ballots)
