"""Visitor ids derived from IP and user agent, trusted proxies, and no raw IPs stored."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import VN, Client, FakeClock, make_site

UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"


async def _anonymous_hit(client: Client, ua: str = UA, **headers: str) -> Any:
    resp = await client.post(
        "/v1/hit", json={"site": "demo", "page": "/a"}, headers={"User-Agent": ua, **headers}
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_same_ip_and_user_agent_is_one_visitor(client: Client) -> None:
    await make_site(client)
    await _anonymous_hit(client)
    stats = await _anonymous_hit(client)
    assert stats["visits"]["total"] == 1
    assert stats["online"]["guests"] == 1
    stats = await _anonymous_hit(client, ua=UA + " other")
    assert stats["visits"]["total"] == 2


async def test_derived_ids_hold_for_a_local_day_and_change_at_local_midnight(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, online_window_s=60, visit_window_s=3600)
    clock.set(datetime(2026, 11, 27, 6, 50, tzinfo=VN))  # 23:50 UTC
    await _anonymous_hit(client)
    clock.set(datetime(2026, 11, 27, 7, 10, tzinfo=VN))  # 00:10 UTC: same local day
    stats = await _anonymous_hit(client)
    assert (stats["visits"]["total"], stats["uniques"]["today"]) == (1, 1)

    clock.set(datetime(2026, 11, 27, 23, 55, tzinfo=VN))
    await _anonymous_hit(client)
    clock.set(datetime(2026, 11, 28, 0, 5, tzinfo=VN))  # a new local day: a new salt
    stats = await _anonymous_hit(client)
    assert stats["visits"]["total"] == 3  # a new id, so a new visit inside the visit window


async def test_raw_ip_is_never_written_to_redis(client: Client, redis: RedisClient) -> None:
    await make_site(client)
    await _anonymous_hit(client)
    await _anonymous_hit(client, ua="Googlebot/2.1")
    values: list[object] = []
    async for key in redis.scan_iter():
        values.append(key)
        kind = await redis.type(key)
        if kind == b"string":
            values.append(await redis.get(key))
        elif kind == b"hash":
            values.extend(x for pair in (await redis.hgetall(key)).items() for x in pair)
        elif kind == b"zset":
            values.extend(await redis.zrange(key, 0, -1))
        elif kind == b"set":
            values.extend(await redis.smembers(key))
    dump = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in values)
    assert dump
    assert b"127.0.0.1" not in dump


async def test_forwarded_for_is_used_only_behind_a_trusted_proxy(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    untrusting = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(untrusting)
    await _anonymous_hit(untrusting, **{"X-Forwarded-For": "203.0.113.7"})
    stats = await _anonymous_hit(untrusting, **{"X-Forwarded-For": "198.51.100.9"})
    assert stats["online"]["guests"] == 1  # the header was ignored: one peer, one visitor

    trusted = Settings(
        redis_url=settings.redis_url,
        admin_token=settings.admin_token,
        trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),),
    )
    behind_proxy: Client = TestClient(TestServer(create_app(trusted, clock=clock)))
    await behind_proxy.start_server()
    try:
        stats = await _anonymous_hit(behind_proxy, **{"X-Forwarded-For": "203.0.113.7, 127.0.0.5"})
        assert stats["online"]["guests"] == 2  # 203.0.113.7 is a new visitor
        stats = await _anonymous_hit(behind_proxy, **{"X-Forwarded-For": "203.0.113.7"})
        assert stats["online"]["guests"] == 2
        stats = await _anonymous_hit(behind_proxy, **{"X-Forwarded-For": "198.51.100.9"})
        assert stats["online"]["guests"] == 3
    finally:
        await behind_proxy.close()
