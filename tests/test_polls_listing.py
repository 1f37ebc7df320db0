"""``GET /v1/polls``: a bounded list of the newest open polls, from a per-process cache, with
``voted`` right for every reader and admin changes from any process shown at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.appkeys import POLLS
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, VN, Client, FakeClock, make_site
from tests.metrics_helpers import scrape, value
from tests.polls_support import app_client, make_poll, patch_poll, vote


async def _listed(client: Client, **query: str) -> list[dict[str, Any]]:
    resp = await client.get("/v1/polls", params={"site": "demo", **query})
    assert resp.status == 200, await resp.text()
    polls: list[dict[str, Any]] = (await resp.json())["polls"]
    return polls


async def _calls(redis: RedisClient, command: str) -> int:
    """How many times Redis ran ``command`` (from scripts too) since the last reset."""
    stats = await redis.info("commandstats")
    entry = stats.get(f"cmdstat_{command}")
    return int(entry["calls"]) if entry else 0


async def test_only_the_newest_open_polls_are_listed_up_to_the_cap(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(aiohttp_client, settings, clock, polls_listed=3)
    await make_site(client)
    later = (datetime.fromtimestamp(clock.now, VN) + timedelta(days=1)).isoformat()
    await make_poll(client, starts_at=later)  # scheduled: not listed
    opened = []
    for _ in range(5):
        clock.advance(1)
        opened.append((await make_poll(client))["id"])
    closed = await make_poll(client)
    now = datetime.fromtimestamp(clock.now, VN).isoformat()
    assert (await patch_poll(client, closed["id"], ends_at=now)).status == 200
    clock.advance(1)

    assert [p["id"] for p in await _listed(client)] == opened[::-1][:3]
    assert value(await scrape(client), "counter_limited_total", limit="polls_listed") == 1


async def test_list_requests_share_one_read_of_the_polls_per_second(
    client: Client, clock: FakeClock, redis: RedisClient
) -> None:
    await make_site(client)
    for _ in range(30):
        await make_poll(client, results_visibility="always")
    await redis.config_resetstat()
    for n in range(10):
        polls = await _listed(client, visitor=f"visitor-{n:04}")
        assert len(polls) == 20  # the default cap
    # The polls' tallies were read once (20 polls), not once per request; each request read
    # only whether its reader voted in the 20 listed polls.
    assert await _calls(redis, "hgetall") == 20
    assert await _calls(redis, "hexists") == 10 * 20

    clock.advance(1)  # the cached list is at most a second old
    await _listed(client)
    assert await _calls(redis, "hgetall") == 40


async def test_voted_is_read_for_each_reader_even_from_a_cached_list(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, client: Client
) -> None:
    other = await aiohttp_client(create_app(settings, clock=clock))  # another replica
    await make_site(client)
    poll = await make_poll(client, results_visibility="after_vote")
    assert [p["voted"] for p in await _listed(client, visitor="visitor-0001")] == [False]

    assert (await vote(other, poll["id"], "visitor-0001", ["o2"])).status == 200
    mine = await _listed(client, visitor="visitor-0001")
    assert (mine[0]["voted"], mine[0]["results"] is not None) == (True, True)
    theirs = await _listed(client, visitor="visitor-0002")
    assert (theirs[0]["voted"], theirs[0]["results"]) == (False, None)
    anonymous = await _listed(client)
    assert (anonymous[0]["voted"], anonymous[0]["results"]) == (False, None)

    # The tallies of another replica's votes show once the cached list is a second old.
    assert mine[0]["results"]["voters"] == 0
    clock.advance(1)
    assert (await _listed(client, visitor="visitor-0001"))[0]["results"]["voters"] == 1


async def test_a_vote_here_shows_in_the_cached_list_at_once(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client, results_visibility="always")
    assert (await _listed(client))[0]["results"]["voters"] == 0
    assert (await vote(client, poll["id"], "visitor-0001", ["o1"])).status == 200
    listed = (await _listed(client))[0]
    assert listed["results"] == {"votes": {"o1": 1, "o2": 0, "o3": 0}, "voters": 1}


async def test_a_vote_here_during_a_list_read_shows_in_the_list_it_reads(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list read sent before a vote and answered after it: the vote's tally still shows,
    to the requests waiting on that read and in the cached list after it."""
    await make_site(client)
    poll = await make_poll(client, results_visibility="always")
    store = client.app[POLLS].listed.store
    read, release = asyncio.Event(), asyncio.Event()
    read_polls = store.open_polls

    async def held_open_polls(*args: Any, **kwargs: Any) -> Any:
        found = await read_polls(*args, **kwargs)
        read.set()
        await release.wait()  # answered late: the vote below lands meanwhile
        return found

    monkeypatch.setattr(store, "open_polls", held_open_polls)
    listing = asyncio.create_task(_listed(client))
    await read.wait()
    assert (await vote(client, poll["id"], "visitor-0001", ["o1"])).status == 200
    release.set()
    expected = {"votes": {"o1": 1, "o2": 0, "o3": 0}, "voters": 1}
    assert (await listing)[0]["results"] == expected
    assert (await _listed(client))[0]["results"] == expected


async def test_admin_changes_made_elsewhere_show_in_the_next_list(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, client: Client
) -> None:
    admin_replica = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(client)
    first = await make_poll(admin_replica)
    assert [p["id"] for p in await _listed(client)] == [first["id"]]

    clock.advance(1)
    second = await make_poll(admin_replica)
    await _listed(client)  # warm again, then changed elsewhere within the same second
    renamed = await patch_poll(admin_replica, first["id"], question="Câu hỏi mới?")
    assert renamed.status == 200
    listed = await _listed(client)
    assert [p["id"] for p in listed] == [second["id"], first["id"]]
    assert listed[1]["question"] == "Câu hỏi mới?"

    now = datetime.fromtimestamp(clock.now, VN).isoformat()
    assert (await patch_poll(admin_replica, second["id"], ends_at=now)).status == 200
    assert [p["id"] for p in await _listed(client)] == [first["id"]]
    deleted = await admin_replica.delete(f"/v1/admin/polls/{first['id']}", headers=ADMIN)
    assert deleted.status == 204
    assert await _listed(client) == []


async def test_a_poll_that_closes_by_the_clock_leaves_the_cached_list_at_once(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client)
    end = datetime.fromtimestamp(clock.now, VN) + timedelta(seconds=0.5)
    await make_poll(client, ends_at=end.isoformat())
    assert len(await _listed(client)) == 1
    clock.advance(0.5)  # closed, while the cached list is still fresh
    assert await _listed(client) == []
