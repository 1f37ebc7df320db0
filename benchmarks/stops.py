"""Stopping ``counter serve`` under load, in every way an operator or a supervisor stops it.

    python -m benchmarks.stops [--stops 20] [--clients 8]     # about a minute

Each stop starts a real ``counter serve`` (one process, or ``--workers 2``) as the leader of
its own process group, on a private Valkey (``REDIS_URL``), or on its embedded server; loads it
with ``--clients`` clients posting hits in a loop; then sends SIGTERM or SIGINT to the process
or to its group, once, or a second time once the stop is under way (as ``make``, which passes
the terminal's signal on to its child, does). A stop is clean when the process exits 0, its
output holds no traceback and no error line, no hit was answered with an error, and every hit
answered ``200`` is counted in Redis afterwards. The tests (``tests/test_stops.py``) run the
same stops.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.common import free_port, progress
from counter import redis_keys
from counter.embedded import EmbeddedServer, die_with_parent
from counter.storage import connect

DEADLINE_S = 60.0
"""Bound on starting a process, and on a stop beyond its grace period."""
WARMUP_HITS = 50
"""Hits answered before the signal: the stop happens under load, never before it."""
SITE = "demo"


@dataclass(frozen=True, slots=True)
class Way:
    """One way to stop the service."""

    workers: int = 1
    sig: signal.Signals = signal.SIGTERM
    group: bool = False
    twice: bool = False
    embedded: bool = False

    def __str__(self) -> str:
        target = "group" if self.group else "pid"
        return (
            f"{'embedded' if self.embedded else 'REDIS_URL'}, {self.workers} "
            f"{'worker' if self.workers == 1 else 'workers'}, {self.sig.name} to the {target}"
            f"{', twice' if self.twice else ''}"
        )


WAYS = [
    Way(workers, sig, group, twice)
    for workers, sig, group, twice in itertools.product(
        (1, 2), (signal.SIGTERM, signal.SIGINT), (False, True), (False, True)
    )
] + [Way(1, embedded=True), Way(2, signal.SIGINT, group=True, twice=True, embedded=True)]
"""Every combination on ``REDIS_URL``, and two stops of the embedded mode."""


@dataclass(slots=True)
class Outcome:
    """What one stop did."""

    way: Way
    code: int | None = None
    stop_s: float = 0.0
    """From the first signal to the process's exit."""
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    unanswered: int = 0
    """Hits that got no answer (sent as the listener closed): never acknowledged."""
    failed_early: int = 0
    """Hits that got no answer before any signal was sent."""
    counted: int = 0
    output: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything that makes this stop unclean (empty: clean)."""
        found = []
        if self.code != 0:
            found.append(f"exit code {self.code}")
        if self.failed_early:
            found.append(f"{self.failed_early} hits got no answer before the signal")
        if self.statuses[200] < WARMUP_HITS:
            found.append(f"only {self.statuses[200]} hits answered 200 before the stop")
        if errors := {s: n for s, n in self.statuses.items() if s != 200}:
            found.append(f"hits answered with errors: {errors}")
        if self.counted < self.statuses[200]:
            found.append(f"{self.statuses[200]} hits answered 200, {self.counted} counted")
        found += [f"output: {line}" for line in self.output if _alarming(line)]
        return found


def _alarming(line: str) -> bool:
    return "Traceback" in line or " ERROR " in line or " CRITICAL " in line


class Lines:
    """A child's output, line by line, as it comes."""

    def __init__(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        self.lines = into
        self._changed = asyncio.Event()
        self._done = False
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self._changed.set()
        self._done = True
        self._changed.set()

    async def wait_for(self, text: str, count: int = 1) -> None:
        """Until ``count`` lines holding ``text`` are printed."""
        async with asyncio.timeout(DEADLINE_S):
            while sum(text in line for line in self.lines) < count:
                if self._done:
                    raise RuntimeError(f"{text!r} never printed:\n" + "\n".join(self.lines))
                self._changed.clear()
                await self._changed.wait()


class Load:
    """``clients`` clients posting hits in a loop, each on its own keep-alive connection,
    until the service stops answering (or the load is closed)."""

    def __init__(self, url: str, clients: int, outcome: Outcome) -> None:
        self.url = url
        self.outcome = outcome
        self.warm = asyncio.Event()
        self.signalled = False
        self.tasks = [asyncio.create_task(self._client(n)) for n in range(clients)]

    async def _client(self, n: int) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=DEADLINE_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            for i in itertools.count():
                hit = {"site": SITE, "page": f"/p{i % 50}", "visitor": f"load-{n:03d}-{i:08d}"}
                try:
                    async with http.post(self.url + "/v1/hit", json=hit) as resp:
                        await resp.read()
                        self.outcome.statuses[resp.status] += 1
                except (aiohttp.ClientError, OSError):
                    self.outcome.unanswered += 1
                    self.outcome.failed_early += not self.signalled
                    return  # the listener is closed (or the service is gone)
                if self.outcome.statuses[200] >= WARMUP_HITS:
                    self.warm.set()

    async def warmed(self) -> None:
        """Until ``WARMUP_HITS`` hits are answered (an error if every client gave up)."""
        warm = asyncio.ensure_future(self.warm.wait())
        await asyncio.wait(
            [warm, *self.tasks], timeout=DEADLINE_S, return_when=asyncio.FIRST_COMPLETED
        )
        warm.cancel()
        if not self.warm.is_set():
            raise RuntimeError(f"no load: {self.outcome.statuses}, {self.outcome.output[-5:]}")

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.wait(self.tasks)


async def _pageviews(url: str) -> int:
    redis = connect(url, 5.0)
    try:
        return int(await redis.hget(redis_keys.pageviews(SITE), "all") or 0)
    finally:
        await redis.aclose()


async def counted(way: Way, redis_url: str | None, data_dir: Path) -> int:
    """Page views in Redis after the stop (the embedded server's, started again on its AOF:
    it holds exactly what was flushed before it stopped)."""
    if not way.embedded and redis_url is not None:
        return await _pageviews(redis_url)
    server = EmbeddedServer(data_dir, os.environ.get("COUNTER_REDIS_SERVER") or None)
    await server.start()
    try:
        return await _pageviews(server.url)
    finally:
        await server.stop()


def _env(
    way: Way, redis_url: str | None, data_dir: Path, extra: Mapping[str, str]
) -> dict[str, str]:
    drop = {"REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "COUNTER_PORT", "COUNTER_LOG_LEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(COUNTER_DATA_DIR=str(data_dir), COUNTER_ACCESS_LOG="off", COUNTER_DEMO="on")
    if not way.embedded and redis_url is not None:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


async def stop_under_load(
    way: Way,
    redis_url: str | None,
    data_dir: Path,
    *,
    clients: int = 8,
    extra_env: Mapping[str, str] | None = None,
    before_signal: Callable[[str], Awaitable[None]] | None = None,
) -> Outcome:
    """Start ``counter serve``, load it, stop it in ``way``; what happened. With
    ``way.embedded`` the service runs its own server in ``data_dir``; else it uses
    ``redis_url``. ``before_signal`` is awaited with the service's URL under load, just
    before the signal. The hits counted are for :func:`counted` to read."""
    outcome = Outcome(way)
    port = free_port()
    workers = ["--workers", str(way.workers)] if way.workers > 1 else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "counter", "serve", "--port", str(port), *workers,
        env=_env(way, redis_url, data_dir, extra_env or {}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        preexec_fn=die_with_parent,  # which also makes it the leader of its own process group
    )  # fmt: skip
    assert proc.stdout is not None
    lines = Lines(proc.stdout, outcome.output)
    load: Load | None = None
    try:
        url = f"http://127.0.0.1:{port}"
        await lines.wait_for(f"counter serving on {url}")
        if way.workers > 1:
            await lines.wait_for(f"worker serving on {url}", count=way.workers)
        load = Load(url, clients, outcome)
        await load.warmed()
        if before_signal is not None:
            await before_signal(url)
        started = time.monotonic()
        _send(proc.pid, way)
        load.signalled = True
        if way.twice:
            await lines.wait_for("received: stopping")
            _send(proc.pid, way)
        outcome.code = await asyncio.wait_for(proc.wait(), DEADLINE_S)
        outcome.stop_s = time.monotonic() - started
    finally:
        if load is not None:
            await load.close()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        await lines.task
    return outcome


def _send(pid: int, way: Way) -> None:
    if way.group:
        os.killpg(pid, way.sig)
    else:
        os.kill(pid, way.sig)


async def run(stops: int, clients: int, scratch: Path) -> list[Outcome]:
    """``stops`` stops, cycling through :data:`WAYS`, each on a fresh Valkey or data folder."""
    outcomes = []
    for n, way in zip(range(stops), itertools.cycle(WAYS), strict=False):
        folder = scratch / f"stop-{n:02d}"
        redis = EmbeddedServer(
            folder / "redis", os.environ.get("COUNTER_REDIS_SERVER"), persist=False
        )
        redis_url = None
        if not way.embedded:
            await redis.start()
            redis_url = redis.url
        try:
            outcome = await stop_under_load(way, redis_url, folder / "data", clients=clients)
            outcome.counted = await counted(way, redis_url, folder / "data")
        finally:
            await redis.stop()
        problems = outcome.problems()
        progress(
            f"stop {n + 1:2d}/{stops} ({way}): {outcome.stop_s:.2f} s, "
            f"{outcome.statuses[200]} answered 200, {outcome.unanswered} unanswered, "
            f"{outcome.counted} counted: {'; '.join(problems) or 'clean'}"
        )
        outcomes.append(outcome)
    return outcomes


def report(outcomes: list[Outcome]) -> list[str]:
    """A markdown table of the stops and a summary line."""
    lines = [
        "| # | way | stop (s) | answered 200 | unanswered | counted | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, o in enumerate(outcomes, 1):
        verdict = "; ".join(o.problems()) or "clean, exit 0"
        lines.append(
            f"| {n} | {o.way} | {o.stop_s:.2f} | {o.statuses[200]} | {o.unanswered} "
            f"| {o.counted} | {verdict} |"
        )
    durations = [o.stop_s for o in outcomes]
    clean = sum(not o.problems() for o in outcomes)
    lines += [
        "",
        f"{clean} of {len(outcomes)} clean; stop time median {statistics.median(durations):.2f} s,"
        f" max {max(durations):.2f} s.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stops", description=__doc__)
    p.add_argument("--stops", type=int, default=20, help="how many stops (default 20)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="counter-stops-") as scratch:
        outcomes = asyncio.run(run(args.stops, args.clients, Path(scratch)))
    print("\n".join(report(outcomes)))
    return 0 if all(not o.problems() for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
