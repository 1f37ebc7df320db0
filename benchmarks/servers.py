"""Server processes under test: counter (``counter serve``) and the plain aiohttp app.

Each runs as its own process, pinned with ``taskset`` when asked, on 127.0.0.1 only, with
its log in the run's scratch folder. Children die with the suite (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.common import free_port
from counter.embedded import die_with_parent

ADMIN_TOKEN = "bench-admin-token-0123456789"
ROOT = Path(__file__).resolve().parents[1]
"""The checkout: children run from here so that ``-m benchmarks.plain_app`` resolves."""


@dataclass(slots=True)
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _spawn(
    name: str, cmd: list[str], env: dict[str, str], scratch: Path, port: int, root: Path = ROOT
) -> Server:
    log = scratch / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=die_with_parent,
        )
    return Server(name, port, proc, log)


def start_counter(
    name: str,
    redis_url: str,
    scratch: Path,
    *,
    taskset: Sequence[str] = (),
    workers: int = 1,
    batch: bool = True,
    access_log: bool = False,
    profile_to: Path | None = None,
    root: Path = ROOT,
    extra_env: dict[str, str] | None = None,
    wrap: Sequence[str] = (),
) -> Server:
    """``counter serve`` with ``REDIS_URL`` set; under cProfile when ``profile_to`` is set.

    ``root`` is the folder it runs from, whose ``counter`` package it imports first; ``wrap``
    is a module (with its arguments) that runs ``-m counter`` itself, such as
    ``benchmarks.soak_trace``.
    """
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "COUNTER_HOST": "127.0.0.1",
        "COUNTER_PORT": str(port),
        "COUNTER_ADMIN_TOKEN": ADMIN_TOKEN,
        "COUNTER_DEMO": "off",
        "COUNTER_BATCH": "on" if batch else "off",
        "COUNTER_ACCESS_LOG": "on" if access_log else "off",
        "COUNTER_HIT_RATE": "0",  # the load generator is one client: no per-client limit
        "COUNTER_DATA_DIR": str(scratch / name),
        **(extra_env or {}),
    }
    profiler = ["-m", "cProfile", "-o", str(profile_to)] if profile_to else []
    cmd = [*taskset, sys.executable, *profiler, *wrap, "-m", "counter", "serve"]
    cmd += ["--workers", str(workers)]
    return _spawn(name, cmd, env, scratch, port, root)


def start_plain(
    name: str, scratch: Path, *, taskset: Sequence[str] = (), access_log: bool = False
) -> Server:
    """The plain app, on the same event loop (``COUNTER_LOOP``) and request log as counter."""
    port = free_port()
    cmd = [*taskset, sys.executable, "-m", "benchmarks.plain_app", "--port", str(port)]
    env = {**os.environ, "COUNTER_ACCESS_LOG": "on" if access_log else "off"}
    return _spawn(name, cmd, env, scratch, port)


async def wait_ready(server: Server, timeout_s: float = 30.0) -> None:
    """Until ``GET /healthz`` answers 200."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited: see {server.log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(server.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            if loop.time() > deadline:
                raise RuntimeError(f"{server.name} not ready after {timeout_s:.0f}s")
            await asyncio.sleep(0.1)


async def stop(server: Server, timeout_s: float = 15.0) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(server.proc.wait, timeout_s)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            await asyncio.to_thread(server.proc.wait)
