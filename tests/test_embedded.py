"""The embedded server: `counter serve` without REDIS_URL, persistence, and no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from counter.app import admin_token_file, create_app
from counter.appkeys import REDIS
from counter.embedded import EmbeddedServer, die_with_parent
from counter.embedded_owner import pid_alive
from counter.settings import Settings, SettingsError
from tests.conftest import ADMIN_TOKEN, FakeClock, hit, make_site
from tests.embedded_support import Service, real_binary, wait_dead, wait_probe


async def _post_hit(url: str) -> Any:
    body = {"site": "demo", "page": "/a", "visitor": "abcdefgh12"}
    async with aiohttp.ClientSession() as http, http.post(url + "/v1/hit", json=body) as resp:
        assert resp.status == 200
        return await resp.json()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    svc = Service(tmp_path / "var")
    yield svc
    if svc.proc is not None and svc.proc.returncode is None:
        await svc.stop(signal.SIGKILL)


async def test_serve_without_redis_url_counts_on_a_demo_site_and_survives_restart(
    service: Service,
) -> None:
    await service.start()
    await service.wait_ready()
    stats = await _post_hit(service.url)
    assert stats["visits"]["total"] >= 1
    assert stats["online"]["guests"] >= 1
    token = (service.data_dir / "admin-token").read_text().strip()
    assert len(token) >= 32
    assert oct((service.data_dir / "admin-token").stat().st_mode & 0o777) == "0o600"

    server_pid = service.server_pid()
    assert await service.stop(signal.SIGTERM) == 0
    await wait_dead(server_pid)

    await service.start()
    await service.wait_ready()
    stats = await _post_hit(service.url)
    assert stats["pageviews"]["total"] == 2  # the first hit survived the restart (AOF)


async def test_sigkill_of_the_service_takes_the_embedded_server_down(service: Service) -> None:
    await service.start()
    await service.wait_ready()
    server_pid = service.server_pid()
    assert pid_alive(server_pid)
    await service.stop(signal.SIGKILL)
    await wait_dead(server_pid)


async def test_a_server_left_running_without_an_owner_is_stopped_before_a_new_one_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "var"
    data.mkdir()
    socket_path = data / "redis.sock"
    orphan = subprocess.Popen(  # noqa: ASYNC220 - a server with no owner, as a crash leaves one
        [real_binary(), "--port", "0", "--unixsocket", str(socket_path), "--dir", str(data),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, preexec_fn=die_with_parent,
    )  # fmt: skip
    (data / "redis.pid").write_text(f"{orphan.pid}\n")
    try:
        await wait_probe(socket_path, "ready")
        orphan.send_signal(signal.SIGSTOP)  # hung, too: it answers nothing
        server = EmbeddedServer(data, os.environ.get("COUNTER_REDIS_SERVER"), persist=False)
        await server.start()
        assert server.owned
        assert int(server.pidfile.read_text()) != orphan.pid
        assert orphan.poll() is not None
        assert "left running by an earlier owner" in caplog.text
        await server.stop()
    finally:
        orphan.kill()
        orphan.wait()


async def test_the_embedded_server_fsyncs_every_write_and_has_a_memory_ceiling(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FakeClock
) -> None:
    settings = Settings(data_dir=tmp_path / "var", admin_token=ADMIN_TOKEN, demo=True)
    client = await aiohttp_client(create_app(settings, clock=clock))
    await hit(client)
    redis = client.app[REDIS]
    assert await redis.config_get("appendonly") == {"appendonly": "yes"}
    assert await redis.config_get("appendfsync") == {"appendfsync": "always"}
    assert await redis.config_get("maxmemory") == {"maxmemory": str(1 << 30)}
    assert await redis.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


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


def test_the_memory_ceiling_setting_reads_redis_units() -> None:
    def parsed(raw: str) -> int:
        return Settings.from_env({"COUNTER_REDIS_MAXMEMORY": raw}).redis_maxmemory

    assert Settings.from_env({}).redis_maxmemory == 1024**3
    assert parsed("512mb") == 512 * 1024**2
    assert parsed("2GB") == 2 * 1024**3
    assert parsed("100m") == 100 * 1000**2
    assert parsed("0") == 0
    assert parsed(str(64 * 1024**2)) == 64 * 1024**2
    for bad in ("1tb", "lots", "-5mb", "1mb"):
        with pytest.raises(SettingsError, match="COUNTER_REDIS_MAXMEMORY"):
            parsed(bad)
