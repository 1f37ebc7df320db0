"""A real ``counter serve`` for the server-layer tests, and raw connections to it.

The process writes its log to a file that tests read whenever they look at it. Raw
connections come from ``CLIENT_ADDRESS`` (127.0.0.2, any loopback address works on Linux),
so that a test can look for it in the log, where it must never appear.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from counter.embedded import die_with_parent
from tests.conftest import ADMIN_TOKEN
from tests.metrics_helpers import free_port

CLIENT_ADDRESS = "127.0.0.2"
DEADLINE_S = 30.0
TICK_S = 0.05


def wait_until(check: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll an outside state (a file) until it holds, under a deadline."""
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(TICK_S)


class ServeProcess:
    """``python -m counter serve`` with ``env`` on a free port, its output in ``log_path``."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        preexec_fn: Callable[[], None] = die_with_parent,
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        drop = {"REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "COUNTER_PORT", "COUNTER_LOG_LEVEL"}
        full_env = {k: v for k, v in os.environ.items() if k not in drop} | dict(env)
        with log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "counter", "serve", "--port", str(self.port)],
                env=full_env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=preexec_fn,
            )  # fmt: skip
        wait_until(self._serving, "the service to listen")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serving(self) -> bool:
        assert self.proc.poll() is None, self.log()
        return f"counter serving on {self.url}" in self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(DEADLINE_S)


@contextlib.contextmanager
def serving(redis_url: str, folder: Path, env: Mapping[str, str]) -> Iterator[ServeProcess]:
    """``counter serve`` on ``redis_url`` with the test admin token, its files in ``folder``,
    and ``env`` besides; when the block ends it must stop cleanly (exit status 0)."""
    base = {
        "REDIS_URL": redis_url,
        "COUNTER_ADMIN_TOKEN": ADMIN_TOKEN,
        "COUNTER_DATA_DIR": str(folder / "data"),
    }
    served = ServeProcess(base | dict(env), folder / "serve.log")
    try:
        yield served
    finally:
        code = served.stop()
    assert code == 0, served.log()


@dataclass(slots=True)
class Answer:
    """An HTTP answer read off a raw connection."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(CLIENT_ADDRESS, 0))


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One answer (status line, headers, a Content-Length body) off ``reader``."""
    async with asyncio.timeout(DEADLINE_S):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(int(status_line.split(" ")[1]), headers, body, head + body)


async def closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server still sends, once it has closed the connection (bounded)."""
    async with asyncio.timeout(DEADLINE_S):
        return await reader.read()


async def exchange(port: int, request: bytes) -> tuple[Answer, bytes]:
    """Send ``request`` on a new connection: the answer, and what follows until the close."""
    reader, writer = await connect(port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await read_answer(reader)
        return answer, await closed(reader)
    finally:
        await hang_up(writer)


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
