"""Vote rate limits per client (IPv4 address, IPv6 /64) and per IPv6 /48, checked together in
vote.lua: rotating /64s of one home or office network does not multiply the limit."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient

from counter.clients import rate_subject, wide_subject
from counter.polls.limits import RateLimit
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import Client, FakeClock, make_site
from tests.metrics_helpers import scrape, value
from tests.polls_support import LOCALHOST, admin_poll, app_client, make_poll

SALT = b"s" * 32


@pytest.mark.parametrize(
    ("ip", "own", "wide"),
    [
        ("203.0.113.7", "203.0.113.7", None),
        ("::ffff:203.0.113.7", "203.0.113.7", None),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", "2001:db8:1::/48"),
        ("2001:db8:1:ff00::1", "2001:db8:1:ff00::/64", "2001:db8:1::/48"),
        ("not-an-address", "not-an-address", None),
    ],
)
def test_a_client_is_its_ipv4_address_or_ipv6_64_and_shares_its_48(
    ip: str, own: str, wide: str | None
) -> None:
    assert rate_subject(ip) == own
    assert wide_subject(ip) == wide


def test_counters_hash_addresses_and_the_allowlist_exempts_both_limits() -> None:
    office = (ipaddress.ip_network("2001:db8:7::/48"),)
    limit = RateLimit(limit=3, window_s=60, allowlist=office, wide_limit=24)
    home = limit.counters("2001:db8:1:2::1", SALT)
    assert (home.limit, home.wide_limit, home.window_ms) == (3, 24, 60_000)
    assert home.key != home.wide_key
    assert "2001" not in home.key + home.wide_key  # no address is ever stored
    assert limit.counters("2001:db8:1:3::1", SALT).wide_key == home.wide_key
    assert limit.counters("2001:db8:1:3::1", SALT).key != home.key
    exempt = limit.counters("2001:db8:7:1::1", SALT)
    assert (exempt.limit, exempt.wide_limit) == (0, 0)
    v4 = limit.counters("203.0.113.7", SALT)
    assert (v4.limit, v4.wide_limit) == (3, 0)  # IPv4 has no wider prefix


async def _vote_from(client: Client, poll_id: str, ip: str, n: int) -> ClientResponse:
    return await client.post(
        f"/v1/polls/{poll_id}/vote",
        json={"visitor": f"visitor-{n:05}", "options": ["o1"]},
        headers={"X-Forwarded-For": ip},
    )


async def _limited_app(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, **changes: object
) -> Client:
    return await app_client(aiohttp_client, settings, clock, trusted_proxies=LOCALHOST, **changes)


async def test_rotating_64s_of_one_48_share_the_wider_limit(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await _limited_app(aiohttp_client, settings, clock, vote_rate=2, vote_rate_48=5)
    await make_site(client)
    poll = await make_poll(client)
    for n in range(5):  # a fresh /64 of the same /56 for every vote
        assert (await _vote_from(client, poll["id"], f"2001:db8:1:{n}::1", n)).status == 200
    refused = await _vote_from(client, poll["id"], "2001:db8:1:ff::1", 99)
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other_network = await _vote_from(client, poll["id"], "2001:db8:2:0::1", 100)
    assert other_network.status == 200
    assert (await admin_poll(client, poll["id"]))["results"]["voters"] == 6
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="votes_prefix48") == 1
    assert value(text, "counter_limited_total", limit="votes") is None


async def test_a_64_held_back_by_its_own_limit_leaves_the_48_to_the_others(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await _limited_app(aiohttp_client, settings, clock, vote_rate=2, vote_rate_48=4)
    await make_site(client)
    poll = await make_poll(client)
    home = [(await _vote_from(client, poll["id"], "2001:db8:1:1::1", n)).status for n in range(5)]
    assert home == [200, 200, 429, 429, 429]
    neighbour = [
        (await _vote_from(client, poll["id"], "2001:db8:1:2::1", n)).status for n in range(10, 13)
    ]
    assert neighbour == [200, 200, 429]  # its own limit, not the /48's
    third = await _vote_from(client, poll["id"], "2001:db8:1:3::1", 20)
    assert third.status == 429  # the /48 is full: 4 votes
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="votes") == 4
    assert value(text, "counter_limited_total", limit="votes_prefix48") == 1


async def test_ipv4_clients_and_allowlisted_networks_are_not_held_by_the_48_limit(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    campus = (ipaddress.ip_network("2001:db8:9::/48"),)
    client = await _limited_app(
        aiohttp_client, settings, clock, vote_rate=3, vote_rate_48=1, allowlist=campus
    )
    await make_site(client)
    poll = await make_poll(client)
    v4 = [(await _vote_from(client, poll["id"], "203.0.113.7", n)).status for n in range(3)]
    assert v4 == [200, 200, 200]
    for n in range(10):
        resp = await _vote_from(client, poll["id"], f"2001:db8:9:{n}::1", 10 + n)
        assert resp.status == 200
