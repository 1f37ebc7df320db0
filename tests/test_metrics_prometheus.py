"""A real Prometheus scrapes a counter served on a real socket and sees the hits made."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
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
from counter.web.metrics import METRICS_LISTENER
from tests.conftest import ADMIN, FakeClock
from tests.metrics_helpers import PROMETHEUS, free_port, needs_prometheus

DEADLINE_S = 30.0
HITS = 5


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """``app`` on a real loopback socket; its runner and base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def served(settings: Settings, clock: FakeClock, redis: RedisClient) -> AsyncIterator[str]:
    """The service on a real loopback socket; yields its base URL."""
    runner, url = await _serve(create_app(settings, clock=clock))
    yield url
    await runner.cleanup()


@contextlib.asynccontextmanager
async def _prometheus(tmp_path: Path, job: str) -> AsyncIterator[str]:
    """A Prometheus server scraping every second with the scrape config ``job`` (YAML, one
    job); yields its base URL."""
    assert PROMETHEUS is not None
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - {job}\n"
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


@pytest.fixture
async def prometheus(served: str, tmp_path: Path) -> AsyncIterator[str]:
    """A Prometheus server scraping ``served`` every second; yields its base URL."""
    target = served.removeprefix("http://")
    async with _prometheus(
        tmp_path, f"job_name: counter\n    static_configs: [{{targets: ['{target}']}}]"
    ) as url:
        yield url


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


@needs_prometheus
async def test_prometheus_scrapes_a_private_metrics_port_with_a_bearer_token(
    settings: Settings, clock: FakeClock, redis: RedisClient, tmp_path: Path
) -> None:
    token = "metrics-token-0123456789"
    private = dataclasses.replace(settings, metrics_token=token, metrics_port=0)
    app = create_app(private, clock=clock)
    runner, served = await _serve(app)
    try:
        metrics_port = app[METRICS_LISTENER].addresses[0][1]
        (tmp_path / "counter-metrics-token").write_text(token + "\n")
        job = (
            "job_name: counter\n"
            "    authorization: {type: Bearer, credentials_file: counter-metrics-token}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]"
        )
        async with aiohttp.ClientSession() as session:
            resp = await session.put(f"{served}/v1/admin/sites/demo", json={}, headers=ADMIN)
            assert resp.status in {200, 201}
            resp = await session.post(
                f"{served}/v1/hit", json={"site": "demo", "page": "/a", "visitor": "visitor-1"}
            )
            assert resp.status == 200
            async with session.get(f"{served}/metrics") as public:
                assert public.status == 404  # not on the public port
        async with _prometheus(tmp_path, job) as prometheus:
            query = 'sum(counter_hits_total{job="counter", site="demo"})'
            assert await _wait_for_value(prometheus, query, 1) == 1
            assert await _wait_for_value(prometheus, 'up{job="counter"}', 1) == 1
    finally:
        await runner.cleanup()
