"""Polls keep their word: option ids, one ballot per voter, rate limits, closing, creation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pytest_aiohttp import AiohttpClient

from counter import redis_keys as keys
from counter.counting.members import mint
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, FakeClock, make_site
from tests.polls_support import (
    LOCALHOST,
    admin_poll,
    app_client,
    get_poll,
    make_poll,
    next_event,
    patch_poll,
    poll_service,
    vote,
)

SECRET = "member-secret-0123456789abcdefghijkl"


async def test_a_removed_option_id_is_never_given_to_a_new_option(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client, options=["A", "B", "C"])
    pid = poll["id"]
    assert (await patch_poll(client, pid, options=["A", "B"])).status == 200
    resp = await patch_poll(client, pid, options=["A", "B", "New"])
    assert resp.status == 200, await resp.text()
    assert [o["id"] for o in (await resp.json())["options"]] == ["o1", "o2", "o4"]
    stale = await vote(client, pid, "visitor-0001", ["o3"])  # a form still showing "C"
    assert stale.status == 400
    assert (await admin_poll(client, pid))["results"]["voters"] == 0
    again = await patch_poll(client, pid, options=["A", "New", "Newer"])
    assert [o["id"] for o in (await again.json())["options"]] == ["o1", "o4", "o5"]


async def test_a_member_cannot_vote_again_as_their_visitor_id(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, member_secret=SECRET)
    poll = await make_poll(client)
    pid = poll["id"]
    token = mint(SECRET, "demo", "alice", int(clock.now) + 3600)
    assert (await vote(client, pid, "visitor-0001", ["o1"], member=token)).status == 200

    without_token = await vote(client, pid, "visitor-0001", ["o2"])
    assert without_token.status == 409
    assert (await without_token.json())["error"]["code"] == "already_voted"
    assert (await get_poll(client, pid, visitor="visitor-0001"))["voted"] is True

    # from another browser the member is refused, and that browser is linked to the ballot
    assert (await vote(client, pid, "visitor-0002", ["o2"], member=token)).status == 409
    assert (await vote(client, pid, "visitor-0002", ["o2"])).status == 409

    clock.advance(7200)  # the token has expired: it votes as its visitor id
    assert (await vote(client, pid, "visitor-0001", ["o2"], member=token)).status == 409
    results = (await admin_poll(client, pid))["results"]
    assert results == {"votes": {"o1": 1, "o2": 0, "o3": 0}, "voters": 1}


async def test_a_visitor_who_then_signs_in_still_has_one_ballot(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, member_secret=SECRET)
    poll = await make_poll(client)
    pid = poll["id"]
    token = mint(SECRET, "demo", "bob", int(clock.now) + 3600)
    assert (await vote(client, pid, "visitor-0001", ["o1"])).status == 200
    assert (await vote(client, pid, "visitor-0001", ["o2"], member=token)).status == 409
    assert (await get_poll(client, pid, visitor="visitor-0009", member=token))["voted"] is True
    assert (await vote(client, pid, "visitor-0009", ["o2"], member=token)).status == 409
    assert (await admin_poll(client, pid))["results"]["voters"] == 1


async def test_a_changed_vote_moves_the_members_one_ballot(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, member_secret=SECRET)
    poll = await make_poll(client, allow_change=True)
    pid = poll["id"]
    token = mint(SECRET, "demo", "alice", int(clock.now) + 3600)
    assert (await vote(client, pid, "visitor-0001", ["o1"], member=token)).status == 200
    moved = await vote(client, pid, "visitor-0001", ["o2"])
    assert moved.status == 200
    assert (await moved.json())["results"] == {"votes": {"o1": 0, "o2": 1, "o3": 0}, "voters": 1}
    elsewhere = await vote(client, pid, "visitor-0002", ["o3"], member=token)
    assert (await elsewhere.json())["results"] == {
        "votes": {"o1": 0, "o2": 0, "o3": 1},
        "voters": 1,
    }


async def test_the_vote_rate_limit_counts_an_ipv6_slash_64_as_one_client(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(
        aiohttp_client, settings, clock, vote_rate=2, trusted_proxies=LOCALHOST
    )
    await make_site(client)
    poll = await make_poll(client)

    async def from_ip(ip: str, visitor: str) -> int:
        body = {"visitor": visitor, "options": ["o1"]}
        headers = {"X-Forwarded-For": ip}
        return (
            await client.post(f"/v1/polls/{poll['id']}/vote", json=body, headers=headers)
        ).status

    assert await from_ip("2001:db8:1:2::1", "visitor-0001") == 200
    assert await from_ip("2001:db8:1:2::ffff", "visitor-0002") == 200
    assert await from_ip("2001:db8:1:2:abcd:ef01:2345:6789", "visitor-0003") == 429
    assert await from_ip("2001:db8:1:3::1", "visitor-0004") == 200
    assert await from_ip("::ffff:203.0.113.9", "visitor-0005") == 200


PORTAL = "https://portal.example.vn"


async def test_public_poll_errors_carry_cors_headers(client: Client) -> None:
    await make_site(client, origins=[PORTAL])
    poll = await make_poll(client)
    origin = {"Origin": PORTAL}

    for resp in (
        await client.post("/v1/polls/nosuchpoll/vote", json={}, headers=origin),
        await client.get("/v1/polls/nosuchpoll", headers=origin),
        await client.get("/v1/polls/nosuchpoll/events", headers=origin),
        await client.get("/v1/polls?site=nosite", headers=origin),
    ):
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] in {"unknown_poll", "unknown_site"}
        assert resp.headers["Access-Control-Allow-Origin"] == "*"

    for resp in (
        await client.get(f"/v1/polls/{poll['id']}?visitor=x", headers=origin),
        await client.get("/v1/polls?site=demo&visitor=x", headers=origin),
        await client.post(f"/v1/polls/{poll['id']}/vote", json={"options": 1}, headers=origin),
    ):
        assert resp.status == 400
        assert resp.headers["Access-Control-Allow-Origin"] == PORTAL
        assert "Origin" in resp.headers["Vary"]


async def test_closing_a_closed_poll_changes_nothing(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    await make_site(client)
    poll = await make_poll(client)
    assert (await vote(client, poll["id"], "visitor-0001", ["o1"])).status == 200
    service = poll_service(redis, clock)
    closed = await service.close(poll["id"])
    assert closed["state"] == "closed"
    ballots = keys.poll_ballots("demo", poll["id"])
    expiry = await redis.pexpiretime(ballots)
    assert expiry > 0

    clock.advance(3600)
    again = await service.close(poll["id"])
    assert again["ends_at"] == closed["ends_at"]
    assert await redis.pexpiretime(ballots) == expiry
    assert (await admin_poll(client, poll["id"]))["ends_at"] == closed["ends_at"]


def _ids(*values: str) -> Iterator[str]:
    yield from values


async def test_a_colliding_poll_id_never_takes_over_another_sites_poll(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    await make_site(client)
    await make_site(client, "other")
    ids = _ids("pollAAAA", "pollAAAA", "pollBBBB", "pollAAAA", "pollCCCC")
    service = poll_service(redis, clock, new_id=lambda: next(ids))
    first = await service.create({"site": "demo", "question": "Demo?", "options": ["A", "B"]})
    assert first["id"] == "pollAAAA"

    other = await service.create({"site": "other", "question": "Other?", "options": ["C", "D"]})
    assert other["id"] == "pollBBBB"
    same = await service.create({"site": "demo", "question": "Again?", "options": ["E", "F"]})
    assert same["id"] == "pollCCCC"

    assert (await get_poll(client, "pollAAAA"))["question"] == "Demo?"
    assert (await get_poll(client, "pollBBBB"))["site"] == "other"
    listed = await (await client.get("/v1/admin/polls?site=other", headers=ADMIN)).json()
    assert [p["id"] for p in listed["polls"]] == ["pollBBBB"]
    assert await redis.hgetall(keys.POLLS) == {
        b"pollAAAA": b"demo",
        b"pollBBBB": b"other",
        b"pollCCCC": b"demo",
    }


def test_every_vote_error_is_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "polls.md").read_text()
    for code in (
        "invalid_member",
        "invalid_json",
        "origin_not_allowed",
        "413",
        "415",
        "unknown_poll",
        "already_voted",
        "poll_not_open",
        "invalid_options",
        "rate_limited",
    ):
        assert code in doc, code


async def test_deleting_a_site_removes_its_polls_and_ends_their_streams(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client)
    poll = await make_poll(client, results_visibility="always")
    async with client.get(f"/v1/polls/{poll['id']}/events") as stream:
        await next_event(stream)
        assert (await client.delete("/v1/admin/sites/demo", headers=ADMIN)).status == 204
        name, _ = await next_event(stream)
        assert name == "deleted"
    assert await redis.hexists(keys.POLLS, poll["id"]) == 0
    assert (await client.get(f"/v1/polls/{poll['id']}")).status == 404
