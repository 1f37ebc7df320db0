"""Driving load: ``wrk`` with ``mix.lua`` when installed, else the built-in generator."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

MIX = Path(__file__).with_name("mix.lua")
ROOT = MIX.resolve().parents[1]
SITE, VISITORS, PAGES, STATS_PCT = "bench", 100_000, 500, 0
"""The end-to-end mix: POST /v1/hit from 100,000 visitors over 500 pages, no reads (the
counting path alone, where counter does the most work per request)."""


@dataclass(frozen=True, slots=True)
class Load:
    """One load run's outcome; latencies in milliseconds."""

    tool: str
    connections: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50: float
    p90: float
    p99: float
    max: float
    generator_max_lag_ms: float | None = None
    generator_busy: float | None = None
    """The built-in generator's CPU seconds per second of the run (it shares a CPU with Redis)."""
    server_cpu_us_per_request: float | None = None
    server_busy: float | None = None
    """CPU seconds the server used per second of the run (1.0: its core never idled)."""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _parse(tool: str, connections: int, stdout: bytes) -> Load:
    for line in stdout.decode(errors="replace").splitlines():
        if line.startswith("BENCH_JSON "):
            raw: dict[str, Any] = orjson.loads(line.removeprefix("BENCH_JSON "))
            break
    else:
        raise RuntimeError(f"{tool} printed no result:\n{stdout.decode(errors='replace')}")
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return Load(
        tool=tool,
        connections=connections,
        seconds=round(seconds, 3),
        requests=raw["requests"],
        errors=sum(raw["errors"].values()),
        rps=round(raw["requests"] / seconds, 1),
        p50=round(lat["p50"] / 1000, 3),
        p90=round(lat["p90"] / 1000, 3),
        p99=round(lat["p99"] / 1000, 3),
        max=round(lat["max"] / 1000, 3),
        generator_max_lag_ms=raw.get("generator_max_lag_ms"),
        generator_busy=raw.get("generator_busy"),
    )


async def _run(cmd: list[str], timeout_s: float) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return out


async def run_load(
    url: str,
    seconds: int,
    connections: int,
    *,
    taskset: Sequence[str] = (),
    threads: int = 1,
    rate: float | None = None,
    builtin: bool = False,
    stats_pct: int = STATS_PCT,
) -> Load:
    """Closed-loop load with ``connections`` clients, or open loop at ``rate`` req/s (which
    always uses the built-in generator: wrk has no fixed-rate mode)."""
    if rate is None and not builtin and wrk_available():
        cmd = [
            *taskset, "wrk", "-t", str(threads), "-c", str(max(connections, threads)),
            "-d", f"{seconds}s", "--timeout", "5s", "-s", str(MIX), url,
            "--", SITE, str(VISITORS), str(PAGES), str(stats_pct),
        ]  # fmt: skip
        return _parse("wrk", connections, await _run(cmd, seconds + 30))
    cmd = [
        *taskset, sys.executable, "-m", "benchmarks.loadgen", "--url", url,
        "--seconds", str(seconds), "--connections", str(connections),
        "--site", SITE, "--visitors", str(VISITORS), "--pages", str(PAGES),
        "--stats-pct", str(stats_pct),
    ]  # fmt: skip
    if rate is not None:
        cmd += ["--rate", str(rate)]
    return _parse("builtin", connections, await _run(cmd, seconds + 60))
