"""/readyz follows the Redis server: 503 while it is down, 200 once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.embedded import EmbeddedServer
from counter.settings import Settings
from tests.conftest import ADMIN_TOKEN, Client, FakeClock, make_site
from tests.metrics_helpers import scrape, value

READY_DEADLINE_S = 15.0


@pytest.fixture
async def private_server(tmp_path: Path) -> AsyncIterator[EmbeddedServer]:
    server = EmbeddedServer(tmp_path / "redis", persist=False)
    await server.start()
    yield server
    await server.stop()


async def _wait_ready(client: Client) -> None:
    deadline = asyncio.get_running_loop().time() + READY_DEADLINE_S
    while (resp := await client.get("/readyz")).status != 200:
        assert asyncio.get_running_loop().time() < deadline, await resp.text()
        await asyncio.sleep(0.05)


async def test_readyz_is_503_while_redis_is_stopped_and_200_when_it_is_back(
    aiohttp_client: AiohttpClient, private_server: EmbeddedServer, clock: FakeClock
) -> None:
    settings = Settings(
        redis_url=private_server.url, admin_token=ADMIN_TOKEN, demo=False, store_retries=1
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(client)
    assert (await client.get("/readyz")).status == 200

    await private_server.stop()
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    body = await resp.json()
    assert body["error"]["code"] == "not_ready"
    assert (await client.get("/healthz")).status == 200
    hit = await client.post("/v1/hit", json={"site": "demo", "page": "/a", "visitor": "visitor-1"})
    assert hit.status == 503
    text = await scrape(client)
    errors = value(text, "counter_redis_errors_total", kind="connection")
    assert errors is not None
    assert errors >= 2  # the attempt and its retry
    assert value(text, "counter_redis_up") == 0
    assert (
        value(text, "counter_http_requests_total", method="POST", route="/v1/hit", status="503")
        == 1
    )

    await private_server.start()  # a new, empty server: its script cache is empty too
    await _wait_ready(client)
    await make_site(client)
    hit = await client.post("/v1/hit", json={"site": "demo", "page": "/a", "visitor": "visitor-1"})
    assert hit.status == 200
