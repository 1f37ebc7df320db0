"""Limits on what the open internet can make grow or inflate: hits per client, pages per site,
and the admin tools that go with them (page listing and pruning, peak reset)."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace
from typing import Any

from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from counter.app import create_app
from counter.appkeys import REDIS
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, FakeClock, hit, make_site
from tests.metrics_helpers import scrape, value
from tests.polls_support import app_client

LOCALHOST = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


async def _hit_from(client: Client, address: str, visitor: str, page: str = "/a") -> Any:
    resp = await client.post(
        "/v1/hit",
        json={"site": "demo", "page": page, "visitor": visitor},
        headers={"X-Forwarded-For": address},
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_client_over_its_hit_rate_is_answered_but_counts_nothing(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(
        aiohttp_client, settings, clock, hit_rate=3, trusted_proxies=LOCALHOST
    )
    await make_site(client)
    for n in range(3):
        stats = await _hit_from(client, "203.0.113.7", f"rotating-{n:04d}")
    assert stats["visits"]["total"] == 3
    over = await _hit_from(client, "203.0.113.7", "rotating-9999")
    assert over["visits"]["total"] == 3  # answered with the stats, not counted
    assert over["online"]["guests"] == 3
    assert over["pages"] == {"/a": 3}
    other = await _hit_from(client, "198.51.100.1", "someone-else")
    assert other["visits"]["total"] == 4  # another client still counts

    clock.advance(60)  # a new minute: the client counts again
    again = await _hit_from(client, "203.0.113.7", "rotating-0100")
    assert again["visits"]["total"] == 5
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="hit_rate") == 1


async def evalsha_calls(redis: RedisClient) -> int:
    stats: dict[str, dict[str, int]] = await redis.info("commandstats")
    return stats.get("cmdstat_evalsha", {}).get("calls", 0)


async def test_a_flood_over_the_hit_rate_costs_no_redis_call_per_request(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    """An uncounted hit on a page the cache does not hold is read by the next flush with
    the others, not by a Redis call of its own: refusing must not cost more than counting."""
    client = await app_client(
        aiohttp_client, settings, clock, hit_rate=1, trusted_proxies=LOCALHOST
    )
    await make_site(client)
    await _hit_from(client, "198.51.100.1", "counted-reader", page="/p-7")
    await _hit_from(client, "203.0.113.7", "flooding-reader")  # its one counted hit this minute
    before = await evalsha_calls(redis)
    flood = [
        _hit_from(client, "203.0.113.7", "flooding-reader", page=f"/p-{n}") for n in range(200)
    ]
    answers = await asyncio.gather(*flood)
    calls = await evalsha_calls(redis) - before
    assert calls < 50  # grouped into flushes, however many pages the cache lacks
    assert all(a["visits"]["total"] == 2 for a in answers)  # nothing more counted
    assert answers[7]["pages"] == {"/p-7": 1}  # and each answer carries its page's count
    assert answers[8]["pages"] == {"/p-8": 0}
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="hit_rate") == 200
    assert value(text, "counter_hits_total", site="demo", **{"class": "guest"}) == 2


async def test_an_ipv6_client_counts_by_its_slash_64_and_the_allowlist_is_exempt(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(
        aiohttp_client,
        settings,
        clock,
        hit_rate=2,
        trusted_proxies=LOCALHOST,
        allowlist=(ipaddress.ip_network("192.0.2.0/24"),),
    )
    await make_site(client)
    await _hit_from(client, "2001:db8:1:2::1", "visitor-0001")
    await _hit_from(client, "2001:db8:1:2::ffff", "visitor-0002")  # same /64
    stats = await _hit_from(client, "2001:db8:1:2:abcd::9", "visitor-0003")
    assert stats["visits"]["total"] == 2
    stats = await _hit_from(client, "2001:db8:1:3::1", "visitor-0004")  # another /64
    assert stats["visits"]["total"] == 3
    for n in range(5):
        stats = await _hit_from(client, "192.0.2.10", f"office-{n:04d}")
    assert stats["visits"]["total"] == 8


async def test_a_site_at_its_page_limit_counts_new_pages_in_its_totals_only(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client, max_pages=2)
    await hit(client, "visitor-0001", "/a")
    await hit(client, "visitor-0002", "/b")
    stats = await hit(client, "visitor-0003", "/c")
    assert stats["pages"] == {"/c": None}
    assert stats["pageviews"]["total"] == 3
    assert stats["visits"]["total"] == 3
    stats = await hit(client, "visitor-0004", "/a")  # pages already counted keep counting
    assert stats["pages"] == {"/a": 2}
    assert await redis.hlen("c:{demo}:pages") == 2
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="pages") == 1
    assert value(text, "counter_site_pages", site="demo") == 2
    assert value(text, "counter_site_max_pages", site="demo") == 2


async def test_admins_list_and_prune_pages_to_make_room(client: Client) -> None:
    await make_site(client, max_pages=3)
    for n, page in enumerate(["/a", "/a", "/a", "/b", "/c"]):
        await hit(client, f"visitor-{n:04d}", page)
    listed = await (await client.get("/v1/admin/sites/demo/pages", headers=ADMIN)).json()
    assert listed["cursor"] == 0
    assert (listed["tracked"], listed["max_pages"]) == (3, 3)
    assert sorted((p["page"], p["views"]) for p in listed["pages"]) == [
        ("/a", 3), ("/b", 1), ("/c", 1)
    ]  # fmt: skip

    resp = await client.post("/v1/admin/sites/demo/pages/prune", json={"below": 2}, headers=ADMIN)
    assert (await resp.json())["removed"] == 2
    resp = await client.post(
        "/v1/admin/sites/demo/pages/prune", json={"pages": ["/a"]}, headers=ADMIN
    )
    assert await resp.json() == {"site": "demo", "removed": 1, "tracked": 0}
    stats = await hit(client, "visitor-0100", "/d")
    assert stats["pages"] == {"/d": 1}  # room again
    assert stats["pageviews"]["total"] == 6  # pruning never touches the totals


async def test_pages_prune_refuses_an_ambiguous_body(client: Client) -> None:
    await make_site(client)
    for body in ({}, {"pages": ["/a"], "below": 2}, {"below": 0}, {"pages": "/a"}):
        resp = await client.post("/v1/admin/sites/demo/pages/prune", json=body, headers=ADMIN)
        assert resp.status == 400, body
        assert "error" in await resp.json()


async def test_admins_reset_a_sites_peak_and_the_audit_log_keeps_the_old_one(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client)
    for n in range(3):
        await hit(client, f"visitor-{n:04d}")
    resp = await client.delete("/v1/admin/sites/demo/peak", headers=ADMIN)
    assert resp.status == 200
    entry = await resp.json()
    assert entry["before"]["peak_online"] == 3
    assert entry["actor"] == "admin-api"
    audit = await (await client.get("/v1/admin/sites/demo/audit", headers=ADMIN)).json()
    assert audit["entries"][0] == entry

    clock.advance(3600)  # everyone has gone: the peak starts again from who is online
    stats = await hit(client, "visitor-9999")
    assert stats["peak"]["online"] == 1


async def test_reads_holding_every_pooled_connection_leave_hits_counting(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    app = create_app(replace(settings, redis_pool=2, stats_cache_ms=0), clock=clock)
    client = await aiohttp_client(app)
    await make_site(client)
    await hit(client, "visitor-first")  # the site's config is now cached
    reads = app[REDIS]
    assert isinstance(reads, Redis)
    pool = reads.connection_pool
    # A read flood, frozen: every pooled connection taken (redis-py leaves this untyped).
    held = [await pool.get_connection() for _ in range(2)]  # type: ignore[no-untyped-call]
    try:
        answers = [await hit(client, f"visitor-{i:04d}") for i in range(5)]
        assert [a["pageviews"]["total"] for a in answers] == [2, 3, 4, 5, 6]
        read = asyncio.ensure_future(client.get("/v1/stats?site=demo"))
    finally:
        for connection in held:
            await pool.release(connection)
    resp = await read  # it waited for a connection instead of failing
    assert resp.status == 200
    assert (await resp.json())["pageviews"]["total"] == 6
