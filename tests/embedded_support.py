"""Real ``counter`` processes on a private data directory, for the embedded-server tests.

Tests await what a process prints (``Output.wait_for``) instead of sleeping; where only an
outside state can be watched (a port answering, a pid gone) they poll it under a deadline.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from counter.embedded import EmbeddedServer, die_with_parent, find_server_binary
from counter.embedded_owner import pid_alive
from counter.embedded_probe import Probe, probe
from counter.storage import connect
from tests.metrics_helpers import free_port

DEADLINE_S = 60.0
TICK_S = 0.05
"""Polling step for states only visible from outside (a port, a pid, a socket)."""


class Output:
    """The lines a child process prints, read as they come."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self._changed.set()
        self.closed = True
        self._changed.set()

    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for(self, text: str, timeout_s: float = DEADLINE_S) -> str:
        """The first line containing ``text``, once it is printed."""
        async with asyncio.timeout(timeout_s):
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                if self.closed:
                    raise AssertionError(f"{text!r} was never printed:\n{self.text()}")
                self._changed.clear()
                await self._changed.wait()

    async def finished(self) -> None:
        await self._reader


def process_env(data_dir: Path, binary: str | None = None, **extra: str) -> dict[str, str]:
    """The test's environment for a ``counter`` process on ``data_dir`` (embedded mode)."""
    drop = {"REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "COUNTER_PORT", "COUNTER_LOG_LEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(COUNTER_DATA_DIR=str(data_dir), COUNTER_ACCESS_LOG="off", **extra)
    if binary is not None:
        env["COUNTER_REDIS_SERVER"] = binary
    return env


class Service:
    """``python -m counter serve [--workers N]`` in a subprocess, its output merged."""

    def __init__(self, data_dir: Path, *, workers: int = 1, binary: str | None = None) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.binary = binary
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.output: Output | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        args = ["--workers", str(self.workers)] if self.workers > 1 else []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "counter", "serve", "--port", str(self.port), *args,
            env=process_env(self.data_dir, self.binary),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.output = Output(self.proc.stdout)

    async def serving(self) -> None:
        """Wait until the port is bound (the URL is printed then)."""
        assert self.output is not None
        await self.output.wait_for(f"counter serving on {self.url}")

    async def wait_ready(self) -> None:
        await self.serving()
        await until(self.ready, "the service to be ready")

    async def ready(self) -> bool:
        assert self.proc is not None
        assert self.proc.returncode is None, "the service exited"
        return await status_of(self.url + "/readyz") == 200

    def server_pid(self) -> int:
        return int((self.data_dir / "redis.pid").read_text())

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), DEADLINE_S)
        if self.output is not None:
            await self.output.finished()
        return code


async def status_of(url: str) -> int | None:
    """The status of a GET, None when nothing answers."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(url) as resp,
        ):
            await resp.read()
            return resp.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def until(check: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll an outside state (``check`` may be async) until it holds, under a deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(TICK_S)


async def wait_dead(pid: int) -> None:
    await until(lambda: not pid_alive(pid), f"pid {pid} to exit")


async def wait_probe(socket_path: Path, wanted: Probe) -> None:
    async def check() -> bool:
        return await probe(socket_path) == wanted

    await until(check, f"{socket_path} to be {wanted}")


class Command:
    """``python -m counter <args>`` on a data directory; stderr (its log) read as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stderr is not None
        self.log = Output(proc.stderr)

    @classmethod
    async def start(cls, data_dir: Path, *args: str, binary: str | None = None) -> Command:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "counter", *args,
            env=process_env(data_dir, binary),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        return cls(proc)

    async def result(self) -> Any:
        """The command's JSON output once it exits with 0."""
        assert self.proc.stdout is not None
        out = await asyncio.wait_for(self.proc.stdout.read(), DEADLINE_S)
        code = await asyncio.wait_for(self.proc.wait(), DEADLINE_S)
        await self.log.finished()
        assert code == 0, self.log.text()
        return orjson.loads(out)

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


def real_binary() -> str:
    return find_server_binary(os.environ.get("COUNTER_REDIS_SERVER") or None)


def slow_loading_binary(folder: Path, delay_us: int = 3000) -> str:
    """A server binary that loads its data ``delay_us`` per key, answering ``-LOADING``
    meanwhile; ``release_loading`` lets it finish at once."""
    path = folder / "slow-loading-server"
    path.write_text(
        f"#!/bin/sh\nexec '{real_binary()}' \"$@\" --key-load-delay {delay_us}"
        " --loading-process-events-interval-bytes 1024\n"
    )
    path.chmod(0o755)
    return str(path)


async def release_loading(socket_path: Path) -> None:
    """Let a slowly loading server finish: CONFIG SET is answered while loading (sent bare, as
    a client library's connection handshake would be refused with -LOADING)."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    try:
        writer.write(b"CONFIG SET key-load-delay 0\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), DEADLINE_S)).startswith(b"+OK")
    finally:
        writer.close()
        await writer.wait_closed()


async def fill_aof(data_dir: Path, keys: int = 20_000) -> None:
    """Give ``data_dir`` an AOF whose base (an RDB, read key by key) holds ``keys`` keys."""
    server = EmbeddedServer(data_dir, real_binary())
    await server.start()
    redis = connect(server.url, 30.0)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(keys):
                pipe.set(f"ballast:{n}", os.urandom(64))
            await pipe.execute()
        await redis.bgrewriteaof()

        async def rewritten() -> bool:
            info: Mapping[str, Any] = await redis.info("persistence")
            return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]

        await until(rewritten, "the AOF rewrite")
    finally:
        await redis.aclose()
        await server.stop()


def copy_data(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.sock", "*.lock"))
    return target
