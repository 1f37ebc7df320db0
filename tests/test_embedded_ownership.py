"""One owner per data directory, with real processes: a command never stops (nor judges dead) the
server of a running service, even while it loads its AOF; a service never runs on a server
that a command owns, but waits for the command and then starts its own; a second service
waits for the first.

The AOF here holds 20,000 keys and the server reads them slowly (``key-load-delay``), so it
answers ``-LOADING`` until the test lets it finish (``release_loading``)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from counter.embedded import EmbeddedServer
from counter.embedded_owner import OwnerLock, pid_alive
from counter.embedded_probe import probe
from tests.embedded_support import (
    DEADLINE_S,
    Command,
    Service,
    copy_data,
    fill_aof,
    release_loading,
    slow_loading_binary,
    wait_dead,
    wait_probe,
)

LOADING_LINE = "is loading its data; waiting for it"


@pytest.fixture(scope="module")
def loaded_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("aof") / "var"
    asyncio.run(fill_aof(data))
    return data


@pytest.fixture
def data_dir(loaded_data: Path, tmp_path: Path) -> Path:
    return copy_data(loaded_data, tmp_path / "var")


@pytest.fixture
def slow_binary(tmp_path: Path) -> str:
    return slow_loading_binary(tmp_path)


@pytest.fixture
async def processes() -> AsyncIterator[list[Service | Command]]:
    """Whatever a test starts, killed at the end if it still runs."""
    started: list[Service | Command] = []
    yield started
    for proc in started:
        if isinstance(proc, Command):
            proc.kill()
        elif proc.proc is not None and proc.proc.returncode is None:
            await proc.stop(signal.SIGKILL)


async def _site(service: Service, site: str) -> int:
    token = (service.data_dir / "admin-token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{service.url}/v1/admin/sites/{site}", headers=headers) as resp,
    ):
        return resp.status


async def test_a_command_attaches_to_the_loading_server_of_a_service_and_never_stops_it(
    data_dir: Path, slow_binary: str, processes: list[Service | Command]
) -> None:
    service = Service(data_dir, binary=slow_binary)
    processes.append(service)
    await service.start()
    socket_path = data_dir / "redis.sock"
    await wait_probe(socket_path, "loading")
    server_pid = service.server_pid()

    command = await Command.start(data_dir, "site", "add", "from-cli")
    processes.append(command)
    await command.log.wait_for("using the embedded server of the running service")
    await command.log.wait_for(LOADING_LINE)  # alive while loading: waited for, not killed
    await release_loading(socket_path)

    assert (await command.result())["created"] is True
    assert service.server_pid() == server_pid
    assert pid_alive(server_pid)
    await service.wait_ready()  # the service was never left without its server
    assert await _site(service, "from-cli") == 200
    assert "reaping" not in command.log.text()
    assert "left running by an earlier owner" not in command.log.text()


async def test_a_service_waits_for_the_command_that_owns_the_server_then_owns_its_own(
    data_dir: Path, slow_binary: str, processes: list[Service | Command]
) -> None:
    command = await Command.start(data_dir, "site", "add", "from-cli", binary=slow_binary)
    processes.append(command)
    await command.log.wait_for(LOADING_LINE)  # the command owns a server, still loading
    owner = OwnerLock(data_dir / "embedded.lock").holder()
    assert owner is not None
    assert (owner.pid, owner.role) == (command.proc.pid, "command")
    command_server = int((data_dir / "redis.pid").read_text())

    service = Service(data_dir)  # the real binary: its own server loads at full speed
    processes.append(service)
    await service.start()
    assert service.output is not None
    await service.output.wait_for(f"waiting for command pid {command.proc.pid}")
    await release_loading(data_dir / "redis.sock")

    assert (await command.result())["created"] is True
    await wait_dead(command_server)  # the command stopped the server it owned
    await service.wait_ready()
    own_server = service.server_pid()
    assert own_server != command_server
    assert pid_alive(own_server)
    assert await _site(service, "from-cli") == 200  # the command's write, from the AOF
    owner = OwnerLock(data_dir / "embedded.lock").holder()
    assert owner is not None
    assert service.proc is not None
    assert (owner.pid, owner.role) == (service.proc.pid, "service")


class _OnLog(logging.Handler):
    """Sets an event when a log record containing ``text`` is emitted."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


async def test_a_second_service_waits_for_the_first_and_takes_over_when_it_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="counter.embedded")
    data = tmp_path / "var"
    first = EmbeddedServer(data, os.environ.get("COUNTER_REDIS_SERVER"))
    second = EmbeddedServer(data, os.environ.get("COUNTER_REDIS_SERVER"))
    waiting = _OnLog(f"waiting for service pid {os.getpid()}")
    logger = logging.getLogger("counter.embedded")
    logger.addHandler(waiting)
    await first.start()
    taking_over = asyncio.create_task(second.start())
    try:
        await asyncio.wait_for(waiting.seen.wait(), DEADLINE_S)
        assert not taking_over.done()  # never attached to the first one's server
        first_server = first.status.pid
        await first.stop()
        await asyncio.wait_for(taking_over, DEADLINE_S)
        assert second.owned
        assert second.status.pid != first_server
        assert await probe(second.socket_path) == "ready"
    finally:
        logger.removeHandler(waiting)
        taking_over.cancel()
        await second.stop()
        await first.stop()
