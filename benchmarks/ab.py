"""A/B: counter at another git revision against the working tree, in interleaved rounds.

    python -m benchmarks.ab HEAD~1 --rounds 4 --seconds 5

Both servers run at once, pinned to the same CPU; rounds alternate old, new, old, new...
and report req/s and server CPU per request (the figure that other load on the machine
disturbs least). Use it to show a hot-path change's before and after.
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


async def ab(rev: str, rounds: int, seconds: int) -> None:
    pinning = Pinning.detect()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        (scratch / "old").mkdir()
        export(rev, scratch / "old")
        valkey = EmbeddedServer(scratch / "redis", persist=False)
        await valkey.start()
        pinning.pin(int(valkey.pidfile.read_text()), pinning.load)
        redis = connect(valkey.url, 10.0)
        await SiteStore(redis).put("bench", {})
        await redis.aclose()
        pin = pinning.prefix(pinning.server)
        pair = {
            rev: servers.start_counter(
                "old", valkey.url, scratch, taskset=pin, root=scratch / "old"
            ),
            "working tree": servers.start_counter("new", valkey.url, scratch, taskset=pin),
        }
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in pair}
        try:
            for server in pair.values():
                await servers.wait_ready(server)
                await run_load(server.url, 2, 64, taskset=pinning.prefix(pinning.load))
            for r in range(1, rounds + 1):
                for name, server in pair.items():
                    before = cpu_seconds(server.proc.pid) or 0.0
                    load = await run_load(
                        server.url, seconds, 64, taskset=pinning.prefix(pinning.load)
                    )
                    cpu = (
                        ((cpu_seconds(server.proc.pid) or 0.0) - before)
                        * 1e6
                        / max(load.requests, 1)
                    )
                    figures[name].append((load.rps, cpu))
                    progress(
                        f"round {r}/{rounds} {name}: {load.rps:,.0f} req/s, "
                        f"{cpu:.1f} µs CPU/request"
                    )
        finally:
            for server in pair.values():
                await servers.stop(server)
            await valkey.stop()
    for name, runs in figures.items():
        rps = statistics.median(x for x, _ in runs)
        cpu = statistics.median(y for _, y in runs)
        print(f"{name}: median {rps:,.0f} req/s, {cpu:.1f} µs server CPU per request")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    p.add_argument("rev", help="git revision to compare the working tree with")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=int, default=5)
    a = p.parse_args()
    asyncio.run(ab(a.rev, a.rounds, a.seconds))


if __name__ == "__main__":
    main()
