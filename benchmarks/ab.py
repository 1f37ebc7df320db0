"""A/B: counter at another git revision against the working tree, in interleaved rounds.

    python -m benchmarks.ab HEAD~1 --rounds 4 --seconds 5
    python -m benchmarks.ab HEAD~1 --plain --access-log on      # the plain app as a third
    python -m benchmarks.ab HEAD --env COUNTER_FLUSHES_IN_FLIGHT=2   # a setting, same code

The servers run at once, pinned to the same CPU (the load generator and Redis share the
others); rounds alternate old, new(, plain), old, new... and report req/s, server CPU per
request (the figure other load on the machine disturbs least) and how busy the server's core
was. All requests are ``POST /v1/hit`` unless ``--stats-pct`` mixes in reads. Use it for the
before and after of any hot-path change.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks import servers
from benchmarks.common import Pinning, cpu_seconds, progress
from benchmarks.load import run_load
from counter.embedded import EmbeddedServer
from counter.sites.store import SiteStore
from counter.storage import connect


def export(rev: str, into: Path) -> None:
    """The ``counter`` package as it is at ``rev``, unpacked in ``into``."""
    archive = subprocess.run(
        ["git", "archive", rev, "counter"], cwd=servers.ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


async def ab(args: argparse.Namespace) -> None:
    pinning = Pinning.detect()
    log = args.access_log == "on"
    extra = dict(e.split("=", 1) for e in args.env)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        (scratch / "old").mkdir()
        export(args.rev, scratch / "old")
        valkey = EmbeddedServer(scratch / "redis", persist=False)
        await valkey.start()
        pinning.pin(int(valkey.pidfile.read_text()), pinning.load)
        redis = connect(valkey.url, 10.0)
        await SiteStore(redis).put("bench", {})
        await redis.aclose()
        pin = pinning.prefix(pinning.server)
        group = {
            args.rev: servers.start_counter(
                "old", valkey.url, scratch, taskset=pin, root=scratch / "old", access_log=log
            ),
            "working tree" + "".join(f" {e}" for e in args.env): servers.start_counter(
                "new", valkey.url, scratch, taskset=pin, access_log=log, extra_env=extra
            ),
        }
        if args.plain:
            group["plain app"] = servers.start_plain("plain", scratch, taskset=pin, access_log=log)
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in group}
        load_pin = pinning.prefix(pinning.load)
        try:
            for server in group.values():
                await servers.wait_ready(server)
                await run_load(server.url, 2, 64, taskset=load_pin, stats_pct=args.stats_pct)
            for r in range(1, args.rounds + 1):
                for name, server in group.items():
                    before = cpu_seconds(server.proc.pid) or 0.0
                    load = await run_load(
                        server.url, args.seconds, 64, taskset=load_pin, stats_pct=args.stats_pct
                    )
                    used = (cpu_seconds(server.proc.pid) or 0.0) - before
                    cpu = used * 1e6 / max(load.requests, 1)
                    busy = used / max(load.seconds, 1e-9)
                    figures[name].append((load.rps, cpu, busy))
                    progress(
                        f"round {r}/{args.rounds} {name}: {load.rps:,.0f} req/s, "
                        f"{cpu:.1f} µs CPU/request, core {busy:.0%} busy"
                    )
        finally:
            for server in group.values():
                await servers.stop(server)
            await valkey.stop()
    for name, runs in figures.items():
        rps = statistics.median(x for x, _, _ in runs)
        cpu = statistics.median(y for _, y, _ in runs)
        busy = statistics.median(z for _, _, z in runs)
        print(
            f"{name}: median {rps:,.0f} req/s, {cpu:.1f} µs server CPU per request, "
            f"core {busy:.0%} busy"
        )


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    p.add_argument("rev", help="git revision to compare the working tree with")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--access-log", choices=("on", "off"), default="off")
    p.add_argument("--stats-pct", type=int, default=0, help="share of GET /v1/stats, percent")
    p.add_argument("--plain", action="store_true", help="also run the plain aiohttp app")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the working tree's server only (repeatable)",
    )
    asyncio.run(ab(p.parse_args()))


if __name__ == "__main__":
    main()
