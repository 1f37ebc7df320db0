"""The runner: one Valkey for the whole run, every section in turn, then the reports."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson

from benchmarks import capacity, e2e, fsync, hotpath, memory, micro, plots, replicas, report
from benchmarks.common import Pinning, cpu_count, progress
from benchmarks.load import wrk_available
from counter.embedded import EmbeddedServer
from counter.sites.store import SiteStore
from counter.storage import RedisClient, connect

RESULTS = Path(__file__).with_name("results")
SECTIONS = ("micro", "memory", "fsync", "replicas", "e2e", "profile", "workers", "capacity")
DEFAULT_SECTIONS = SECTIONS[:-1]
"""Every section but ``capacity`` (several minutes more: ``python -m benchmarks.capacity``)."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _wrk_version() -> str:
    if not wrk_available():
        return "built-in aiohttp generator (wrk not installed)"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).split("Copyright")[0].strip()


async def _meta(redis: RedisClient, pinning: Pinning, argv: list[str]) -> dict[str, Any]:
    info: dict[str, Any] = await redis.info("server")
    server = "valkey " + str(info.get("valkey_version") or "") or "redis"
    if not info.get("valkey_version"):
        server = f"redis {info.get('redis_version')}"
    return {
        "date": date.today().isoformat(),
        "host": socket.gethostname(),
        "command": shlex.join(["python", "-m", "benchmarks", *argv]),
        "cpus": cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "aiohttp": version("aiohttp"),
        "redis_py": version("redis"),
        "redis_server": server,
        "load_tool": _wrk_version(),
        "pinning": (
            f"server on CPU {','.join(map(str, pinning.server))}, load generator and Redis on "
            f"CPU {','.join(map(str, pinning.load))} (taskset)"
            if pinning.enabled
            else "none (fewer than 2 CPUs or no taskset)"
        ),
    }


def plan_for(quick: bool) -> tuple[e2e.Plan, float, int]:
    """(end-to-end plan, seconds per micro case, seconds of profiled load)."""
    if quick:
        return e2e.Plan(seconds=2, rounds=2, sweep=(1, 64), sweep_seconds=1,
                        half_rate_seconds=2, warmup=1), 0.5, 2  # fmt: skip
    return e2e.Plan(), 3.0, 8


async def _capacity(
    args: argparse.Namespace, scratch: Path, pinning: Pinning, e2e_data: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``capacity`` section when asked for (its own servers; the service's figures from
    the end-to-end section when that ran)."""
    if "capacity" not in args.sections:
        return {}
    return {"capacity": await capacity.run(scratch, pinning, quick=args.quick, e2e_data=e2e_data)}


async def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    pinning = Pinning.detect()
    plan, micro_s, profile_s = plan_for(args.quick)
    if args.seconds or args.rounds:
        plan = dataclasses.replace(
            plan, seconds=args.seconds or plan.seconds, rounds=args.rounds or plan.rounds
        )
    scratch = RESULTS / "tmp" / time.strftime("%Y%m%d-%H%M%S")
    scratch.mkdir(parents=True, exist_ok=True)
    valkey = EmbeddedServer(
        scratch / "redis", os.environ.get("COUNTER_REDIS_SERVER"), persist=False
    )
    await valkey.start()
    vpid = int(valkey.pidfile.read_text())
    pinning.pin(vpid, pinning.load)
    redis = connect(valkey.url, 30.0)
    data: dict[str, Any] = {"meta": await _meta(redis, pinning, argv)}
    progress(f"{data['meta']['cpus']} CPUs; pinning: {data['meta']['pinning']}")
    try:
        if "micro" in args.sections:
            pinning.pin(0, pinning.server)
            data["micro"] = await micro.run(valkey.url, micro_s)
            pinning.pin(0, pinning.all)
        if "memory" in args.sections:
            data["memory"] = await memory.run(valkey.url)
        if "fsync" in args.sections:
            seconds, rounds = (0.5, 1) if args.quick else (2.0, 3)
            data["fsync"] = await fsync.run(scratch, pinning, seconds, rounds)
        if "replicas" in args.sections:
            seconds, rounds = (0.5, 1) if args.quick else (2.0, 3)
            data["replicas"] = await replicas.run(pinning, seconds, rounds)
        await redis.flushall()
        await SiteStore(redis).put("bench", {"name": "benchmark"})
        if "e2e" in args.sections:
            data["e2e"] = await e2e.run(redis, valkey.url, scratch, pinning, plan)
        if "profile" in args.sections:
            data["profile"] = await hotpath.run(valkey.url, scratch, pinning, profile_s)
        if "workers" in args.sections:
            pinning.pin(vpid, pinning.all)
            data["workers"] = await e2e.run_workers(redis, valkey.url, scratch, pinning, plan)
    finally:
        await redis.aclose()
        await valkey.stop()
    data |= await _capacity(args, scratch, pinning, data.get("e2e"))
    if not args.keep_scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    data["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    return data


def write(data: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{data['meta']['date']}-{data['meta']['host']}"
    data["targets"] = report.targets(data)
    data["meta"]["plots"] = [p.name for p in plots.write_all(data, stem)]
    stem.with_suffix(".json").write_bytes(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    stem.with_suffix(".md").write_text(report.markdown(data))
    return stem


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="short runs, to try the suite out")
    p.add_argument("--seconds", type=int, help="seconds of each end-to-end run (default 8)")
    p.add_argument("--rounds", type=int, help="end-to-end rounds (default 3)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(DEFAULT_SECTIONS))
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    p.add_argument("--keep-scratch", action="store_true", help="keep server logs and profile")
    args = p.parse_args(argv)
    data = asyncio.run(run(args, argv))
    stem = write(data, args.out)
    progress(f"wrote {stem}.json, {stem}.md and {len(data['meta']['plots'])} plots")
    print(stem.with_suffix(".md").read_text())
    return 0
