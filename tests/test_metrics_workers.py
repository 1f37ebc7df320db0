"""``counter serve --workers 2``: one scrape shows the counts of both worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from counter.embedded import EmbeddedServer, die_with_parent
from counter.scrape_metrics import WorkerFilesCollector
from counter.storage import RedisClient
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.metrics_helpers import free_port, value

DEADLINE_S = 30.0
HITS = 40


@dataclass
class Served:
    url: str
    pids: list[int]
    metrics_dir: Path


@contextlib.asynccontextmanager
async def _launched(redis_server: EmbeddedServer, tmp_path: Path) -> AsyncIterator[Served]:
    """``counter serve --workers 2``, as soon as it has named its workers (maybe not serving)."""
    data_dir = tmp_path / "data"
    metrics_dir = data_dir / "metrics"
    metrics_dir.mkdir(parents=True)
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from an earlier run")
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"PROMETHEUS_MULTIPROC_DIR", "COUNTER_PORT"}
    }
    env |= {
        "REDIS_URL": redis_server.url,
        "COUNTER_ADMIN_TOKEN": ADMIN_TOKEN,
        "COUNTER_DATA_DIR": str(data_dir),
        "COUNTER_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "counter", "serve", "--workers", "2", "--port", str(port),
        env=env, stdout=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [await asyncio.wait_for(proc.stdout.readline(), DEADLINE_S) for _ in range(2)]
        pids = [int(p) for p in lines[1].decode().split(":")[1].split()]
        yield Served(f"http://127.0.0.1:{port}", pids, metrics_dir)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), DEADLINE_S)


@pytest.fixture
async def workers(
    redis_server: EmbeddedServer, redis: RedisClient, tmp_path: Path
) -> AsyncIterator[Served]:
    async with _launched(redis_server, tmp_path) as served:
        await _wait_all_serving(served.url, served.pids, served.metrics_dir)
        yield served


def _count_of(pid: int, metrics_dir: Path, name: str, **labels: str) -> float:
    """What one worker wrote to its own counter file (0 before it wrote anything; read as a
    scrape reads it, so a file the worker is still creating counts as empty)."""
    files = WorkerFilesCollector(str(metrics_dir)).files()
    path = str(metrics_dir / f"counter_{pid}.db")
    if path not in files:
        return 0.0
    merged = MultiProcessCollector.merge([path])  # type: ignore[no-untyped-call]  # unannotated
    total = 0.0
    for metric in merged:
        for sample in metric.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


async def _wait_all_serving(url: str, pids: list[int], metrics_dir: Path) -> None:
    """Ask /healthz on new connections until every worker has answered one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not all(
        _count_of(pid, metrics_dir, "counter_http_requests_total", route="/healthz") for pid in pids
    ):
        assert loop.time() < deadline, "not every worker answered /healthz"
        async with aiohttp.ClientSession() as session:
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with session.get(f"{url}/healthz") as resp:
                    await resp.read()


async def _scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


async def test_one_scrape_adds_up_the_counts_of_both_workers(workers: Served) -> None:
    url = workers.url
    assert not (workers.metrics_dir / "counter_999999.db").exists()
    async with aiohttp.ClientSession() as session:
        resp = await session.put(f"{url}/v1/admin/sites/demo", json={}, headers=ADMIN)
        assert resp.status in {200, 201}
    for n in range(HITS):  # a new connection each time, so the kernel spreads them
        async with aiohttp.ClientSession() as session:
            body = {"site": "demo", "page": "/a", "visitor": f"visitor-{n:04d}"}
            async with session.post(f"{url}/v1/hit", json=body) as resp:
                assert resp.status == 200
    per_worker = [_count_of(pid, workers.metrics_dir, "counter_hits_total") for pid in workers.pids]
    assert all(n > 0 for n in per_worker), per_worker
    assert sum(per_worker) == HITS
    for _ in range(4):  # whichever worker answers, it reports both
        text = await _scrape(url)
        assert value(text, "counter_hits_total", site="demo", **{"class": "guest"}) == HITS
        assert value(text, "counter_site_visits_total", site="demo") == HITS


async def test_a_dead_workers_live_gauges_are_dropped(workers: Served) -> None:
    gone = workers.pids[0]
    live_gauge = workers.metrics_dir / f"gauge_livesum_{gone}.db"
    assert live_gauge.exists()  # written when the worker samples its queue at start
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    os.kill(gone, signal.SIGTERM)
    while live_gauge.exists():
        assert loop.time() < deadline, "the supervisor did not mark the worker dead"
        await asyncio.sleep(0.05)
    assert (workers.metrics_dir / f"gauge_livesum_{workers.pids[1]}.db").exists()
    text = await _scrape(workers.url)
    assert value(text, "counter_queue_depth") == 0


async def test_a_scrape_while_a_worker_creates_its_metrics_files_answers(workers: Served) -> None:
    for kind in ("counter", "histogram", "gauge_livesum"):
        (workers.metrics_dir / f"{kind}_424242.db").touch()  # created, not yet sized
    for _ in range(4):  # whichever worker answers
        text = await _scrape(workers.url)
        assert value(text, "counter_queue_depth") == 0
        assert value(text, "counter_flushes_total", result="ok") is not None


async def test_scrapes_while_the_workers_start_all_answer(
    redis_server: EmbeddedServer, redis: RedisClient, tmp_path: Path
) -> None:
    statuses: list[int] = []
    async with _launched(redis_server, tmp_path) as served:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_S
        while not all(
            _count_of(pid, served.metrics_dir, "counter_http_requests_total", route="/metrics")
            for pid in served.pids
        ):
            assert loop.time() < deadline, "not every worker answered a scrape"
            async with aiohttp.ClientSession() as session:  # a new connection: any worker
                with contextlib.suppress(aiohttp.ClientConnectionError):  # none listens yet
                    async with session.get(f"{served.url}/metrics") as resp:
                        await resp.read()
                        statuses.append(resp.status)
    assert statuses
    assert set(statuses) == {200}
