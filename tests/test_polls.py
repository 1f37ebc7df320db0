"""Polls through the HTTP API: lifecycle, scheduling by the clock, rejections, changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_aiohttp import AiohttpClient

from counter import redis_keys as keys
from counter.counting.members import mint
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, VN, Client, FakeClock, make_site
from tests.metrics_helpers import scrape, value
from tests.polls_support import (
    LOCALHOST,
    admin_poll,
    app_client,
    get_poll,
    make_poll,
    patch_poll,
    vote,
)

SECRET = "member-secret-0123456789abcdefghijkl"


async def test_poll_is_listed_voted_refused_twice_and_gone_from_the_list_once_closed(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client)
    assert await (await client.get("/v1/polls?site=demo")).json() == {"polls": []}
    poll = await make_poll(client)
    assert poll["state"] == "open"
    assert [o["id"] for o in poll["options"]] == ["o1", "o2", "o3"]

    listed = await (await client.get("/v1/polls?site=demo&visitor=visitor-0001")).json()
    assert [p["id"] for p in listed["polls"]] == [poll["id"]]
    assert listed["polls"][0]["voted"] is False

    first = await vote(client, poll["id"], "visitor-0001", ["o2"])
    assert first.status == 200
    body = await first.json()
    assert body["voted"] is True
    assert body["results"] == {"votes": {"o1": 0, "o2": 1, "o3": 0}, "voters": 1}

    second = await vote(client, poll["id"], "visitor-0001", ["o1"])
    assert second.status == 409
    assert (await second.json())["error"]["code"] == "already_voted"

    closed = await patch_poll(client, poll["id"], ends_at=datetime.now(VN).isoformat())
    assert closed.status == 200
    clock.now = datetime.now(VN).timestamp() + 1
    assert await (await client.get("/v1/polls?site=demo")).json() == {"polls": []}
    assert (await admin_poll(client, poll["id"]))["results"]["votes"]["o2"] == 1


async def test_times_are_stored_in_utc_and_shown_in_the_site_timezone(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client, timezone="Europe/Paris")
    poll = await make_poll(
        client, starts_at="2026-12-01T08:00:00+07:00", ends_at="2026-12-24T18:00"
    )
    assert poll["starts_at"] == "2026-12-01T02:00:00+01:00"
    assert poll["ends_at"] == "2026-12-24T18:00:00+01:00"  # no offset: the site's local time
    stored = await redis.hmget(keys.poll("demo", poll["id"]), ["starts", "ends"])
    starts = datetime(2026, 12, 1, 1, 0, tzinfo=UTC).timestamp() * 1000
    ends = datetime(2026, 12, 24, 17, 0, tzinfo=UTC).timestamp() * 1000
    assert stored == [str(int(starts)).encode(), str(int(ends)).encode()]


async def test_scheduled_poll_refuses_votes_until_the_clock_reaches_its_start(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client)
    start = datetime(2026, 12, 1, 8, 0, tzinfo=VN)
    poll = await make_poll(client, starts_at=start.isoformat())
    assert poll["state"] == "scheduled"
    assert (await (await client.get("/v1/polls?site=demo")).json())["polls"] == []
    refused = await vote(client, poll["id"], "visitor-0001", ["o1"])
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "poll_not_open"

    clock.set(start)
    assert (await get_poll(client, poll["id"]))["state"] == "open"
    assert (await vote(client, poll["id"], "visitor-0001", ["o1"])).status == 200


async def test_poll_closes_when_the_clock_passes_its_end(client: Client, clock: FakeClock) -> None:
    await make_site(client)
    end = datetime.fromtimestamp(clock.now, VN) + timedelta(hours=1)
    poll = await make_poll(client, ends_at=end.isoformat())
    assert (await vote(client, poll["id"], "visitor-0001", ["o1"])).status == 200
    clock.set(end)
    assert (await get_poll(client, poll["id"]))["state"] == "closed"
    refused = await vote(client, poll["id"], "visitor-0002", ["o1"])
    assert refused.status == 403
    assert (await admin_poll(client, poll["id"]))["results"]["voters"] == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"visitor": "visitor-0001", "options": ["o9"]}, "invalid_options"),
        ({"visitor": "visitor-0001", "options": ["o1", "o1"]}, "invalid_options"),
        ({"visitor": "visitor-0001", "options": ["o1", "o2"]}, "invalid_options"),
        ({"visitor": "visitor-0001", "options": []}, "invalid_options"),
        ({"visitor": "visitor-0001", "options": [1]}, "invalid_options"),
        ({"visitor": "visitor-0001", "options": "o1"}, "invalid_options"),
        ({"visitor": "visitor-0001", "options": ["o1"], "extra": 1}, "unknown_field"),
        ({"options": ["o1"]}, "invalid_visitor"),
        ({"visitor": "x", "options": ["o1"]}, "invalid_visitor"),
    ],
)
async def test_invalid_votes_are_400_and_count_nothing(
    client: Client, body: dict[str, object], code: str
) -> None:
    await make_site(client)
    poll = await make_poll(client)
    resp = await client.post(f"/v1/polls/{poll['id']}/vote", json=body)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == code
    assert (await admin_poll(client, poll["id"]))["results"] == {
        "votes": {"o1": 0, "o2": 0, "o3": 0},
        "voters": 0,
    }


async def test_unknown_poll_and_unknown_site_are_404(client: Client) -> None:
    await make_site(client)
    assert (await client.get("/v1/polls/nosuchpoll")).status == 404
    assert (await vote(client, "nosuchpoll", "visitor-0001", ["o1"])).status == 404
    assert (await client.get("/v1/polls?site=nosite")).status == 404
    assert (await client.get("/v1/polls?site=Bad_Site")).status == 400


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"options": ["only one"]}, "invalid_options"),
        ({"options": [f"o{i}" for i in range(51)]}, "invalid_options"),
        ({"options": ["same", "same"]}, "invalid_options"),
        ({"max_choices": 4}, "invalid_max_choices"),
        ({"results_visibility": "sometimes"}, "invalid_results_visibility"),
        ({"starts_at": "tomorrow"}, "invalid_starts_at"),
        ({"starts_at": "2026-12-02T00:00", "ends_at": "2026-12-01T00:00"}, "invalid_ends_at"),
        ({"allow_change": "yes"}, "invalid_allow_change"),
        ({"colour": "red"}, "unknown_field"),
        ({"question": "   "}, "invalid_question"),
    ],
)
async def test_invalid_poll_definitions_are_400(
    client: Client, fields: dict[str, object], code: str
) -> None:
    await make_site(client)
    body = {"site": "demo", "question": "Q?", "options": ["A", "B", "C"], **fields}
    resp = await client.post("/v1/admin/polls", json=body, headers=ADMIN)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == code


async def test_admin_poll_api_needs_the_token(client: Client) -> None:
    await make_site(client)
    body = {"site": "demo", "question": "Q?", "options": ["A", "B"]}
    assert (await client.post("/v1/admin/polls", json=body)).status == 401
    assert (await client.get("/v1/admin/polls?site=demo")).status == 401


async def test_changing_a_vote_moves_it_when_allowed(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client, allow_change=True, max_choices=2)
    assert (await vote(client, poll["id"], "visitor-0001", ["o1", "o2"])).status == 200
    moved = await vote(client, poll["id"], "visitor-0001", ["o3"])
    assert moved.status == 200
    assert (await moved.json())["results"] == {"votes": {"o1": 0, "o2": 0, "o3": 1}, "voters": 1}

    fixed = await make_poll(client)
    assert (await vote(client, fixed["id"], "visitor-0001", ["o1"])).status == 200
    assert (await vote(client, fixed["id"], "visitor-0001", ["o3"])).status == 409
    assert (await admin_poll(client, fixed["id"]))["results"]["votes"] == {
        "o1": 1,
        "o2": 0,
        "o3": 0,
    }


async def test_valid_member_token_votes_as_the_member_and_a_forged_one_as_the_visitor(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, member_secret=SECRET)
    poll = await make_poll(client)
    token = mint(SECRET, "demo", "alice", int(clock.now) + 3600)
    forged = mint("another-secret-0123456789abcdefghij", "demo", "alice", int(clock.now) + 3600)

    assert (await vote(client, poll["id"], "visitor-0001", ["o1"], member=token)).status == 200
    # the same member from another browser is still the same voter
    assert (await vote(client, poll["id"], "visitor-0002", ["o1"], member=token)).status == 409
    # a forged token for alice is no member: it votes as its visitor id
    assert (await vote(client, poll["id"], "visitor-0003", ["o2"], member=forged)).status == 200
    assert (await vote(client, poll["id"], "visitor-0003", ["o2"])).status == 409
    seen = await get_poll(client, poll["id"], visitor="visitor-0002", member=token)
    assert seen["voted"] is True
    assert (await admin_poll(client, poll["id"]))["results"]["voters"] == 2


async def test_personal_answers_are_not_cached(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client)
    voted = await vote(client, poll["id"], "visitor-0001", ["o1"])
    assert voted.headers["Cache-Control"] == "no-store"
    refused = await vote(client, poll["id"], "visitor-0001", ["o1"])
    assert refused.headers["Cache-Control"] == "no-store"
    mine = await client.get(f"/v1/polls/{poll['id']}?visitor=visitor-0001")
    assert mine.headers["Cache-Control"] == "no-store"
    listed = await client.get("/v1/polls?site=demo&visitor=visitor-0001")
    assert listed.headers["Cache-Control"] == "no-store"
    anonymous = await client.get(f"/v1/polls/{poll['id']}")
    assert anonymous.headers["Cache-Control"] == "public, max-age=1"


async def test_votes_are_rate_limited_per_client_ip_with_an_allowlist(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(
        aiohttp_client, settings, clock, vote_rate=3, trusted_proxies=LOCALHOST
    )
    await make_site(client)
    poll = await make_poll(client)
    office = {"X-Forwarded-For": "203.0.113.7"}
    for n in range(3):
        resp = await client.post(
            f"/v1/polls/{poll['id']}/vote",
            json={"visitor": f"visitor-{n:04}", "options": ["o1"]},
            headers=office,
        )
        assert resp.status == 200
    limited = await client.post(
        f"/v1/polls/{poll['id']}/vote",
        json={"visitor": "visitor-0099", "options": ["o1"]},
        headers=office,
    )
    assert limited.status == 429
    assert (await limited.json())["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    other = await client.post(
        f"/v1/polls/{poll['id']}/vote",
        json={"visitor": "visitor-0099", "options": ["o1"]},
        headers={"X-Forwarded-For": "203.0.113.8"},
    )
    assert other.status == 200
    assert (await admin_poll(client, poll["id"]))["results"]["voters"] == 4

    allowed = await app_client(aiohttp_client, settings, clock, vote_rate=1, allowlist=LOCALHOST)
    for n in range(5):
        assert (await vote(allowed, poll["id"], f"visitor-1{n:03}", ["o2"])).status == 200


async def test_admin_can_rename_options_but_not_remove_one_with_votes(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client, options=["Yes", "No", "Maybe"])
    assert (await vote(client, poll["id"], "visitor-0001", ["o2"])).status == 200
    removed = await patch_poll(client, poll["id"], options=["Yes", "Maybe"])
    assert removed.status == 409
    assert (await removed.json())["error"]["code"] == "poll_has_votes"
    renamed = await patch_poll(
        client, poll["id"], options=["Yes", {"id": "o2", "text": "Nope"}, "Unsure"]
    )
    assert renamed.status == 200, await renamed.text()
    body = await renamed.json()
    assert body["options"] == [
        {"id": "o1", "text": "Yes"},
        {"id": "o2", "text": "Nope"},
        {"id": "o4", "text": "Unsure"},
    ]
    assert body["results"]["votes"] == {"o1": 0, "o2": 1, "o4": 0}
    assert (await vote(client, poll["id"], "visitor-0002", ["o3"])).status == 400
    assert (await patch_poll(client, poll["id"], colour="red")).status == 400


async def test_reopen_and_delete(client: Client, clock: FakeClock) -> None:
    await make_site(client)
    poll = await make_poll(client)
    now = datetime.fromtimestamp(clock.now, VN)
    closed = await (await patch_poll(client, poll["id"], ends_at=now.isoformat())).json()
    assert closed["state"] == "closed"
    reopened = await (await patch_poll(client, poll["id"], ends_at=None)).json()
    assert reopened["state"] == "open"
    assert reopened["ends_at"] is None
    assert (await vote(client, poll["id"], "visitor-0001", ["o1"])).status == 200

    assert (await client.delete(f"/v1/admin/polls/{poll['id']}", headers=ADMIN)).status == 204
    assert (await client.get(f"/v1/polls/{poll['id']}")).status == 404
    assert (await client.delete(f"/v1/admin/polls/{poll['id']}", headers=ADMIN)).status == 404
    listed = await (await client.get("/v1/admin/polls?site=demo", headers=ADMIN)).json()
    assert listed == {"site": "demo", "polls": []}


async def test_voter_set_expires_a_retention_period_after_close(
    client: Client, redis: RedisClient, clock: FakeClock, settings: Settings
) -> None:
    await make_site(client)
    poll = await make_poll(client)
    ballots = keys.poll_ballots("demo", poll["id"])
    assert (await vote(client, poll["id"], "visitor-0001", ["o1"])).status == 200
    assert await redis.pexpiretime(ballots) == -1  # open-ended: kept
    end = datetime.fromtimestamp(clock.now, VN) + timedelta(days=2)
    assert (await patch_poll(client, poll["id"], ends_at=end.isoformat())).status == 200
    retention_ms = settings.poll_retention_days * 86_400_000
    assert await redis.pexpiretime(ballots) == int(end.timestamp() * 1000) + retention_ms


async def test_a_poll_closed_in_the_second_it_was_created_is_closed(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client)
    clock.advance(0.75)
    poll = await make_poll(client)
    now = datetime.fromtimestamp(clock.now, VN).replace(microsecond=0).isoformat()
    closed = await patch_poll(client, poll["id"], ends_at=now)
    assert closed.status == 200, await closed.text()
    assert (await closed.json())["state"] == "closed"


async def test_accepted_votes_are_counted_in_the_metrics(client: Client) -> None:
    await make_site(client)
    poll = await make_poll(client)
    option = poll["options"][0]["id"]
    assert (await vote(client, poll["id"], "visitor-aaaa", [option])).status == 200
    assert (await vote(client, poll["id"], "visitor-aaaa", [option])).status == 409
    assert value(await scrape(client), "counter_votes_total", site="demo") == 1.0
