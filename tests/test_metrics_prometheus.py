"""A real Prometheus scrapes a counter served on a real socket and sees the hits made."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from counter.app import create_app
from counter.embedded import die_with_parent
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, FakeClock
from tests.metrics_helpers import PROMETHEUS, free_port, needs_prometheus

DEADLINE_S = 30.0
HITS = 5


@pytest.fixture
async def served(settings: Settings, clock: FakeClock, redis: RedisClient) -> AsyncIterator[str]:
    """The service on a real loopback socket; yields its base URL."""
    runner = web.AppRunner(create_app(settings, clock=clock))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def prometheus(served: str, tmp_path: Path) -> AsyncIterator[str]:
    """A Prometheus server scraping ``served`` every second; yields its base URL."""
    assert PROMETHEUS is not None
    target = served.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: counter\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=die_with_parent,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await proc.wait()


async def _query(session: aiohttp.ClientSession, base: str, promql: str) -> list[Any]:
    try:
        async with session.get(f"{base}/api/v1/query", params={"query": promql}) as resp:
            if resp.status != 200:
                return []
            body = await resp.json()
    except aiohttp.ClientConnectionError:
        return []  # not listening yet
    result: list[Any] = body["data"]["result"]
    return result


async def _wait_for_value(base: str, promql: str, expected: float) -> float | None:
    """Poll the query API until ``promql`` yields ``expected``; the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    seen: float | None = None
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            result = await _query(session, base, promql)
            if result:
                seen = float(result[0]["value"][1])
                if seen == expected:
                    break
            await asyncio.sleep(0.2)
    return seen


@needs_prometheus
async def test_prometheus_scrapes_the_hits_just_made(served: str, prometheus: str) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.put(f"{served}/v1/admin/sites/demo", json={}, headers=ADMIN)
        assert resp.status in {200, 201}
        for n in range(HITS):
            resp = await session.post(
                f"{served}/v1/hit", json={"site": "demo", "page": "/a", "visitor": f"visitor-{n}"}
            )
            assert resp.status == 200
    query = 'sum(counter_hits_total{job="counter", site="demo", class="guest"})'
    assert await _wait_for_value(prometheus, query, HITS) == HITS
    online = 'max by (site) (counter_site_online{site="demo", class="guest"})'
    assert await _wait_for_value(prometheus, online, HITS) == HITS
