"""Supervision: a dead embedded server is restarted, one that cannot be is reported by /healthz,
and near its memory ceiling writes are refused (503) rather than the process being killed."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from counter import redis_keys as keys
from counter.app import create_app
from counter.appkeys import EMBEDDED
from counter.embedded import MAX_RESTARTS
from counter.settings import Settings
from counter.storage import connect
from tests.conftest import ADMIN_TOKEN, Client, FakeClock, hit
from tests.embedded_support import DEADLINE_S, Service, until, wait_dead
from tests.metrics_helpers import value

SENDERS = 8
MAX_SENT = 3000
"""Bounds the load even if the service never recovers (the test then fails on its deadline)."""


class Load:
    """``SENDERS`` clients posting hits, each on a page of its own, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: list[str] = []
        self.statuses: set[int] = set()
        self._numbers = itertools.count()
        self._progress = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send()) for _ in range(SENDERS)]

    async def _send(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stop.is_set() and (n := next(self._numbers)) < MAX_SENT:
                page = f"/p/{n}"
                body = {"site": "demo", "page": page, "visitor": f"visitor-{n:06d}"}
                async with http.post(f"{self.url}/v1/hit", json=body) as resp:
                    await resp.read()
                    self.statuses.add(resp.status)
                    if resp.status == 200:
                        self.acked.append(page)
                        self._progress.set()

    async def until_acked(self, count: int) -> None:
        async with asyncio.timeout(DEADLINE_S):
            while len(self.acked) < count:
                self._progress.clear()
                await self._progress.wait()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


@pytest.fixture
async def service(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    svc = Service(tmp_path / "var", workers=request.param)
    yield svc
    if svc.proc is not None and svc.proc.returncode is None:
        await svc.stop(signal.SIGKILL)


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


@pytest.mark.parametrize("service", [1, 2], indirect=True, ids=["one-process", "two-workers"])
async def test_a_killed_server_is_restarted_under_load_and_no_acknowledged_hit_is_lost(
    service: Service,
) -> None:
    await service.start()
    await service.wait_ready()
    load = Load(service.url)
    load.start()
    try:
        await load.until_acked(20)
        killed = service.server_pid()
        os.kill(killed, signal.SIGKILL)
        acked_before = len(load.acked)
        assert service.output is not None
        await service.output.wait_for("embedded server restarted")
        await load.until_acked(acked_before + 20)  # answered again after the restart
    finally:
        await load.stop()
    await wait_dead(killed)
    assert service.server_pid() != killed
    assert load.statuses <= {200, 503}

    redis = connect(f"unix://{service.data_dir / 'redis.sock'}", 10.0)
    try:
        counted = await redis.hgetall(keys.pages("demo"))
    finally:
        await redis.aclose()
    missing = [page for page in load.acked if counted.get(page.encode()) != b"1"]
    assert missing == [], f"{len(missing)} of {len(load.acked)} acknowledged hits not counted"

    text = await _metrics(service.url)
    assert value(text, "counter_embedded_server_restarts_total") == 1
    assert value(text, "counter_embedded_server_up") == 1
    assert "exited (killed by SIGKILL); restarting it" in service.output.text()


@pytest.fixture
async def embedded_client(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FakeClock
) -> Client:
    settings = Settings(
        data_dir=tmp_path / "var", admin_token=ADMIN_TOKEN, demo=True, store_retries=0,
        redis_maxmemory=16 * 1024**2,
    )  # fmt: skip
    return await aiohttp_client(create_app(settings, clock=clock))


async def test_a_server_that_cannot_be_restarted_makes_healthz_answer_503(
    embedded_client: Client,
) -> None:
    client = embedded_client
    await hit(client)
    server = client.app[EMBEDDED]
    manifest = server.data_dir / "appendonlydir" / "appendonly.aof.manifest"
    manifest.write_text("not a manifest\n")  # every restart now fails at once
    os.kill(server.status.pid, signal.SIGKILL)

    async def gave_up() -> bool:
        return (await client.get("/healthz")).status == 503

    await until(gave_up, "/healthz to answer 503")
    resp = await client.get("/healthz")
    assert resp.headers["Retry-After"] == "1"
    body = await resp.json()
    assert body["error"]["code"] == "embedded_server_failed"
    assert (await client.get("/readyz")).status == 503
    text = await (await client.get("/metrics")).text()
    assert value(text, "counter_embedded_server_restarts_total") == MAX_RESTARTS
    assert value(text, "counter_embedded_server_up") == 0


async def test_near_the_memory_ceiling_writes_answer_503_and_the_gauges_show_it(
    embedded_client: Client, clock: FakeClock
) -> None:
    client = embedded_client
    await hit(client, "visitor-0001")
    text = await (await client.get("/metrics")).text()
    assert value(text, "counter_embedded_server_memory_max_bytes") == 16 * 1024**2
    assert (value(text, "counter_embedded_server_memory_used_bytes") or 0) > 0

    redis = connect(client.app[EMBEDDED].url, 10.0)
    try:
        # A short command that grows a value past the ceiling: allowed, as it starts below.
        await redis.setrange("ballast", 17 * 1024**2, "x")
        resp = await client.post(
            "/v1/hit", json={"site": "demo", "page": "/a", "visitor": "visitor-0002"}
        )
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "store_unavailable"
        clock.advance(2)  # past the stats cache: the read goes to the server
        assert (await client.get("/v1/stats?site=demo")).status == 200  # reads still work
        assert (await client.get("/readyz")).status == 200

        async def over_the_ceiling() -> bool:
            text = await (await client.get("/metrics")).text()
            used = value(text, "counter_embedded_server_memory_used_bytes") or 0
            return used > 16 * 1024**2

        await until(over_the_ceiling, "the memory gauge to pass the ceiling")
        await redis.delete("ballast")
    finally:
        await redis.aclose()
    stats = await hit(client, "visitor-0003")
    assert stats["pageviews"]["total"] == 2  # the refused hit was not half counted
    assert client.app[EMBEDDED].failure() is None
