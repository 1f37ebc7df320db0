"""The embedded server: `counter serve` without REDIS_URL, persistence, and no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, ClientTimeout
from pytest_aiohttp import AiohttpClient

from counter.app import admin_token_file, create_app
from counter.embedded import EmbeddedServer, pid_alive
from counter.settings import Settings
from tests.conftest import ADMIN_TOKEN, FakeClock, hit, make_site

DEADLINE_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """`python -m counter serve` in a subprocess with its own data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(COUNTER_DATA_DIR=str(self.data_dir), COUNTER_PORT=str(self.port))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "counter", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        for _ in range(50):  # log lines, then the URL once the port is bound
            line = self.proc.stdout.readline().decode()
            if f"counter serving on http://127.0.0.1:{self.port}" in line or not line:
                break
        assert f"http://127.0.0.1:{self.port}" in line

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + DEADLINE_S
        async with ClientSession(timeout=ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                assert self.proc.poll() is None, "service exited"
                try:
                    async with http.get(self.url + "/readyz") as resp:
                        if resp.status == 200:
                            return
                except OSError:
                    pass
                await _tick()
        raise AssertionError("service not ready in time")

    def server_pid(self) -> int:
        return int((self.data_dir / "redis.pid").read_text())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(DEADLINE_S)
        if self.proc.stdout:
            self.proc.stdout.close()
        return code


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.05)  # polling an external process with a deadline


async def _post_hit(url: str) -> Any:
    body = orjson.dumps({"site": "demo", "page": "/a", "visitor": "abcdefgh12"})
    async with ClientSession() as http, http.post(url + "/v1/hit", data=body,
                         headers={"content-type": "application/json"}) as resp:  # fmt: skip
        assert resp.status == 200
        return await resp.json()


async def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while pid_alive(pid):
        assert time.monotonic() < deadline, f"embedded server {pid} outlived the service"
        await _tick()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path / "var")
    yield svc
    if svc.proc is not None and svc.proc.poll() is None:
        svc.stop(signal.SIGKILL)


async def test_serve_without_redis_url_counts_on_a_demo_site_and_survives_restart(
    service: Service,
) -> None:
    service.start()
    await service.wait_ready()
    stats = await _post_hit(service.url)
    assert stats["visits"]["total"] >= 1
    assert stats["online"]["guests"] >= 1
    token = (service.data_dir / "admin-token").read_text().strip()
    assert len(token) >= 32
    assert oct((service.data_dir / "admin-token").stat().st_mode & 0o777) == "0o600"

    server_pid = service.server_pid()
    assert service.stop(signal.SIGTERM) == 0
    await _wait_dead(server_pid)

    service.start()
    await service.wait_ready()
    stats = await _post_hit(service.url)
    assert stats["pageviews"]["total"] == 2  # the first hit survived the restart (AOF)


async def test_sigkill_of_the_service_takes_the_embedded_server_down(service: Service) -> None:
    service.start()
    await service.wait_ready()
    server_pid = service.server_pid()
    assert pid_alive(server_pid)
    service.stop(signal.SIGKILL)
    await _wait_dead(server_pid)


async def test_unresponsive_server_from_a_stale_pidfile_is_reaped(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = EmbeddedServer(data, os.environ.get("COUNTER_REDIS_SERVER"), persist=False)
    await first.start()
    stale_pid = int(first.pidfile.read_text())
    os.kill(stale_pid, signal.SIGSTOP)  # alive but not answering, like a hung orphan
    try:
        second = EmbeddedServer(data, os.environ.get("COUNTER_REDIS_SERVER"), persist=False)
        await second.start()
        assert second.owned
        assert int(second.pidfile.read_text()) != stale_pid
        await _wait_dead(stale_pid)
        await second.stop()
    finally:
        if pid_alive(stale_pid):
            os.kill(stale_pid, signal.SIGKILL)
        await first.stop()  # reaps the killed child; leaves the second server's pidfile alone


async def test_redis_outage_answers_503_and_nothing_acknowledged_is_lost(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FakeClock
) -> None:
    server = EmbeddedServer(tmp_path / "var", os.environ.get("COUNTER_REDIS_SERVER"))
    await server.start()
    settings = Settings(redis_url=server.url, admin_token=ADMIN_TOKEN, store_retries=1)
    client = await aiohttp_client(create_app(settings, clock=clock))
    try:
        await make_site(client)
        await hit(client, "visitor-aaaa")
        await server.stop()
        resp = await client.post(
            "/v1/hit", json={"site": "demo", "page": "/a", "visitor": "visitor-bbbb"}
        )
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "store_unavailable"
        ready = await client.get("/readyz")
        assert ready.status == 503

        await server.start()  # same data directory: the AOF brings the counts back
        stats = await hit(client, "visitor-cccc")
        assert stats["pageviews"]["total"] == 2  # the acknowledged hit, and this one
        assert (await client.get("/readyz")).status == 200
    finally:
        await client.close()
        await server.stop()


def test_an_empty_or_short_admin_token_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    path.write_text("")  # left by a crash between create and write
    token = admin_token_file(tmp_path)
    assert len(token) >= 32
    assert path.read_text().strip() == token
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert admin_token_file(tmp_path) == token  # kept once it is good


def test_a_busy_port_is_a_clear_error_and_leaves_no_server(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(COUNTER_DATA_DIR=str(tmp_path / "var"), COUNTER_PORT=str(port))
        result = subprocess.run(
            [sys.executable, "-m", "counter", "serve"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "redis.pid").exists()  # the embedded server was stopped
