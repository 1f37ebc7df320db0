"""Member tokens stay out of URLs: reads take them from a header, live streams from a
short-lived single-use ticket, ``?member=`` is refused, and no log line ever holds one."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from counter import redis_keys as keys
from counter.counting.members import mint
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import Client, FakeClock, make_site
from tests.metrics_helpers import scrape, value
from tests.polls_support import LOCALHOST, app_client, get_poll, make_poll, next_event, vote

SECRET = "member-secret-0123456789abcdefghijkl"


async def _ticket(client: Client, poll_id: str, **body: Any) -> Any:
    resp = await client.post(f"/v1/polls/{poll_id}/ticket", json=body)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.json()


async def _member_poll(client: Client, clock: FakeClock) -> tuple[str, str]:
    """A site with members, an after_vote poll, and a member who voted on another device."""
    await make_site(client, member_secret=SECRET)
    poll = await make_poll(client, results_visibility="after_vote")
    token = mint(SECRET, "demo", "alice", int(clock.now) + 3600)
    assert (await vote(client, poll["id"], "visitor-phone", ["o1"], member=token)).status == 200
    return poll["id"], token


async def test_a_member_reads_polls_with_the_token_in_a_header(
    client: Client, clock: FakeClock
) -> None:
    pid, token = await _member_poll(client, clock)
    seen = await get_poll(client, pid, visitor="visitor-laptop", member=token)
    assert (seen["voted"], seen["results"]["voters"]) == (True, 1)
    listed = await client.get(
        "/v1/polls?site=demo&visitor=visitor-laptop", headers={"X-Counter-Member": token}
    )
    assert (await listed.json())["polls"][0]["voted"] is True
    assert listed.headers["Cache-Control"] == "no-store"
    assert "X-Counter-Member" in listed.headers["Vary"]
    assert (await get_poll(client, pid, visitor="visitor-laptop"))["voted"] is False


@pytest.mark.parametrize(
    "path",
    ["/v1/polls?site=demo&member={token}", "/v1/polls/{pid}?member={token}",
     "/v1/polls/{pid}/events?visitor=visitor-laptop&member={token}"],
)  # fmt: skip
async def test_a_member_token_in_a_url_is_refused_and_never_logged(
    client: Client, clock: FakeClock, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    pid, token = await _member_poll(client, clock)
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    url = client.make_url(path.format(pid=pid, token=token))
    # One connection: its requests are logged in order, so the second answer means that the
    # first request's log line has been written.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        async with http.get(url) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "member_in_url"
        async with http.get(client.make_url("/healthz")) as resp:
            assert resp.status == 200
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("member=REDACTED" in line for line in logged), logged
    assert not any(token in line or token[-20:] in line for line in logged)


async def test_a_ticket_opens_one_stream_as_the_member(
    client: Client, clock: FakeClock, redis: RedisClient
) -> None:
    pid, token = await _member_poll(client, clock)
    answer = await _ticket(client, pid, visitor="visitor-laptop", member=token)
    assert answer["expires_in"] == 60
    ticket = answer["ticket"]
    assert 0 < await redis.pttl(keys.stream_ticket("demo", ticket)) <= 60_000
    assert token not in str(await redis.get(keys.stream_ticket("demo", ticket)))

    async with client.get(f"/v1/polls/{pid}/events?ticket={ticket}") as stream:
        name, snapshot = await next_event(stream)
        assert (name, snapshot["voted"], snapshot["results"]["voters"]) == ("poll", True, 1)

    again = await client.get(f"/v1/polls/{pid}/events?ticket={ticket}")
    assert again.status == 403
    assert (await again.json())["error"]["code"] == "invalid_ticket"


async def test_unknown_foreign_and_malformed_tickets_are_refused(
    client: Client, clock: FakeClock
) -> None:
    pid, token = await _member_poll(client, clock)
    other = (await make_poll(client))["id"]
    foreign = (await _ticket(client, other, visitor="visitor-laptop", member=token))["ticket"]
    for ticket in (foreign, "A" * 32, "short", "é" * 32):
        resp = await client.get(f"/v1/polls/{pid}/events", params={"ticket": ticket})
        assert resp.status == 403, ticket
        assert (await resp.json())["error"]["code"] == "invalid_ticket"


async def test_a_guest_ticket_streams_as_its_visitor(client: Client, clock: FakeClock) -> None:
    pid, _ = await _member_poll(client, clock)
    ticket = (await _ticket(client, pid, visitor="visitor-phone"))["ticket"]  # voted, linked
    async with client.get(f"/v1/polls/{pid}/events?ticket={ticket}") as stream:
        assert (await next_event(stream))[1]["voted"] is True
    nobody = (await _ticket(client, pid))["ticket"]
    async with client.get(f"/v1/polls/{pid}/events?ticket={nobody}") as stream:
        assert (await next_event(stream))[1]["voted"] is False


async def test_tickets_are_rate_limited_per_client(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(
        aiohttp_client, settings, clock, stream_tickets_rate=2, trusted_proxies=LOCALHOST
    )
    await make_site(client)
    pid = (await make_poll(client))["id"]
    home = {"X-Forwarded-For": "2001:db8:1:1::1"}
    for _ in range(2):
        assert (await client.post(f"/v1/polls/{pid}/ticket", json={}, headers=home)).status == 200
    refused = await client.post(f"/v1/polls/{pid}/ticket", json={}, headers=home)
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert value(await scrape(client), "counter_limited_total", limit="stream_tickets") == 1


async def test_tickets_are_refused_to_pages_of_other_origins(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, origins=["https://portal.example.vn"])
    pid = (await make_poll(client))["id"]
    resp = await client.post(
        f"/v1/polls/{pid}/ticket", json={}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "origin_not_allowed"


async def test_a_token_outliving_the_sites_maximum_votes_as_a_guest(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, member_secret=SECRET)
    pid = (await make_poll(client))["id"]
    century = mint(SECRET, "demo", "alice", int(clock.now) + 100 * 365 * 86_400)
    assert (await vote(client, pid, "visitor-0001", ["o1"], member=century)).status == 200
    week = mint(SECRET, "demo", "alice", int(clock.now) + 3600)
    assert (await vote(client, pid, "visitor-0002", ["o1"], member=week)).status == 200
    limited = value(await scrape(client), "counter_limited_total", limit="member_token_lifetime")
    assert limited == 1
