"""Connections a real ``counter serve`` will not hold: beyond its cap, or beyond its
descriptors. Either way the service goes on serving, counts what it refused, and its log
stays short and free of tracebacks and client addresses."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from counter.embedded import EmbeddedServer, die_with_parent
from counter.settings import Settings
from counter.web.server import REPORT_EVERY_S
from tests.embedded_support import until
from tests.metrics_helpers import value
from tests.server_support import (
    CLIENT_ADDRESS,
    DEADLINE_S,
    ServeProcess,
    closed,
    connect,
    hang_up,
    read_answer,
)

CAP = 4
GET = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
GET_AND_CLOSE = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
HALF_A_HIT = (
    b"POST /v1/hit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    b'Content-Length: 40\r\n\r\n{"site": '
)
"""A request whose body never ends: in flight until the service gives up on it."""
DESCRIPTORS = 64
"""The descriptor limit of the service that runs out of them (a few dozen are its own)."""
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _env(redis_server: EmbeddedServer, folder: Path, **extra: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_server.url,
        "COUNTER_DATA_DIR": str(folder / "data"),
        "COUNTER_DEMO": "off",
        "COUNTER_HEADER_TIMEOUT_S": "120",
        "COUNTER_KEEPALIVE_TIMEOUT_S": "120",
        **extra,
    }


@contextlib.contextmanager
def _serving(
    env: dict[str, str], log: Path, **kwargs: Callable[[], None]
) -> Iterator[ServeProcess]:
    served = ServeProcess(env, log, **kwargs)
    try:
        yield served
    finally:
        code = served.stop()
    assert code == 0, served.log()
    assert "Traceback" not in served.log()
    assert CLIENT_ADDRESS not in served.log()


async def _served(port: int) -> Connection:
    """A connection that got its answer (so the service holds it), kept open."""
    reader, writer = await connect(port)
    writer.write(GET)
    assert (await read_answer(reader)).status == 200
    return reader, writer


async def _answered(port: int) -> bool:
    """Whether a new connection is served (False: closed without an answer)."""
    reader, writer = await connect(port)
    try:
        writer.write(GET_AND_CLOSE)
        return (await closed(reader)).startswith(b"HTTP/1.1 200")
    except ConnectionError:
        return False
    finally:
        await hang_up(writer)


async def _scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


async def test_connections_beyond_the_cap_are_closed_at_once_and_counted(
    redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    env = _env(redis_server, tmp_path, COUNTER_MAX_CONNECTIONS=str(CAP))
    with _serving(env, tmp_path / "serve.log") as service:
        held = [await _served(service.port) for _ in range(CAP)]
        try:
            reader, writer = await connect(service.port)
            writer.write(GET)
            assert await closed_or_answered(reader) == b""  # no answer: closed at once
            await hang_up(writer)
            await hang_up(held.pop()[1])
            await until(lambda: _answered(service.port), "a freed place to be taken")
        finally:
            for _, writer in held:
                await hang_up(writer)
        text = await _scrape(service.url)
        assert (value(text, "counter_limited_total", limit="connections") or 0) >= 1
        assert 1 <= (value(text, "counter_http_connections_open") or 0) <= CAP


def _few_descriptors() -> None:  # pragma: no cover - runs in the child
    die_with_parent()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, hard))


async def _exhaust(port: int, count: int) -> list[Connection]:
    """Open ``count`` connections (those the service cannot take may fail)."""
    opened = []
    for _ in range(count):
        with contextlib.suppress(OSError, TimeoutError):
            opened.append(await asyncio.wait_for(connect(port), 2.0))
    return opened


async def test_running_out_of_descriptors_is_counted_and_logged_once_per_interval(
    redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    """asyncio's loop reports every failed accept(); the service counts them and logs one
    line per interval, then serves again once descriptors are free."""
    env = _env(redis_server, tmp_path, COUNTER_LOOP="asyncio", COUNTER_MAX_CONNECTIONS="1000")
    with _serving(env, tmp_path / "serve.log", preexec_fn=_few_descriptors) as service:
        loop = asyncio.get_running_loop()
        started = loop.time()
        opened = await _exhaust(service.port, 2 * DESCRIPTORS)
        try:
            await until(lambda: "cannot accept connections" in service.log(), "the report")
        finally:
            for _, writer in opened:
                await hang_up(writer)
        await until(lambda: _answered(service.port), "the service to serve again")
        elapsed = loop.time() - started
        text = await _scrape(service.url)
        reports = service.log().count("cannot accept connections")
    assert 1 <= reports <= 1 + elapsed / REPORT_EVERY_S
    assert (value(text, "counter_limited_total", limit="descriptors") or 0) >= 1


async def test_a_stop_while_out_of_descriptors_logs_no_traceback(
    redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    """asyncio retries accept() a second after each failure; a stop closes the listener
    under those retries, and one request still in flight keeps the stop going (2 s) until
    they have run: the log stays free of tracebacks."""
    env = _env(
        redis_server, tmp_path, COUNTER_LOOP="asyncio", COUNTER_MAX_CONNECTIONS="1000",
        COUNTER_BODY_TIMEOUT_S="120", COUNTER_SHUTDOWN_TIMEOUT_S="2",
    )  # fmt: skip
    with _serving(env, tmp_path / "serve.log", preexec_fn=_few_descriptors) as service:
        _, in_flight = await connect(service.port)
        in_flight.write(HALF_A_HIT)
        await in_flight.drain()
        opened = await _exhaust(service.port, 2 * DESCRIPTORS)
        try:
            await until(lambda: "cannot accept connections" in service.log(), "the report")
            assert service.stop() == 0  # connections still wait: retries are scheduled
        finally:
            for _, writer in [*opened, (None, in_flight)]:
                await hang_up(writer)
    assert "have 2 s to be answered" in service.log()


async def test_uvloop_goes_on_accepting_after_running_out_of_descriptors(
    redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    """libuv closes at once the connections it has no descriptor for, and keeps listening."""
    env = _env(redis_server, tmp_path, COUNTER_LOOP="uvloop", COUNTER_MAX_CONNECTIONS="1000")
    with _serving(env, tmp_path / "serve.log", preexec_fn=_few_descriptors) as service:
        opened = await _exhaust(service.port, 2 * DESCRIPTORS)
        answers = []
        try:
            for reader, writer in opened:
                writer.write(GET)
                answers.append(await closed_or_answered(reader))
        finally:
            for _, writer in opened:
                await hang_up(writer)
        assert b"" in answers  # some were closed: the descriptors ran out
        assert b"HTTP/1.1 200" in answers
        await until(lambda: _answered(service.port), "the service to serve again")


async def closed_or_answered(reader: asyncio.StreamReader) -> bytes:
    """The start of the answer, or b"" when the connection was closed without one (reset,
    when the request was still unread)."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            return await reader.readexactly(len(b"HTTP/1.1 200"))
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except ConnectionResetError:
        return b""


@pytest.mark.parametrize(("soft", "cap"), [(64, 48), (1024, 768), (20_000, 10_000)])
def test_the_default_cap_leaves_a_quarter_of_the_descriptors_free(soft: int, cap: int) -> None:
    previous = resource.getrlimit(resource.RLIMIT_NOFILE)
    if previous[1] != resource.RLIM_INFINITY and soft > previous[1]:
        pytest.skip(f"the hard descriptor limit ({previous[1]}) is below {soft}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, previous[1]))
    try:
        assert Settings.from_env({}).max_connections == cap
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, previous)
