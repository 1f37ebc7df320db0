"""What ``appendfsync always`` costs the counting path, against ``everysec``.

    python -m benchmarks.fsync [--seconds 2] [--rounds 3]    # under a minute; a suite section too

Two embedded servers with AOF run at once, one per policy, in a scratch folder under
``benchmarks/results/tmp`` (so on the disk whose fsync is measured). Each run is the
in-process counting path of ``benchmarks/micro.py`` (callers looping on
``GroupCommit.submit`` for a fixed time, on one site); rounds alternate the policies, so
drift on a shared machine hits both alike. With ``always`` every flush (one script call)
waits for one fsync before it is answered, so group commit spreads one fsync over a batch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Literal

from benchmarks import micro
from benchmarks.common import Pinning, progress
from counter.embedded import EmbeddedServer

POLICIES: tuple[Literal["always", "everysec"], ...] = ("always", "everysec")
CALLERS = (1, 64, 1000)
SCRATCH = Path(__file__).with_name("results") / "tmp"


async def run(
    scratch: Path, pinning: Pinning, seconds: float = 2.0, rounds: int = 3
) -> dict[str, Any]:
    """Alternating rounds for each number of callers; every run, and the medians."""
    servers = {
        policy: EmbeddedServer(
            scratch / f"fsync-{policy}", os.environ.get("COUNTER_REDIS_SERVER"), appendfsync=policy
        )
        for policy in POLICIES
    }
    runs: list[dict[str, Any]] = []
    try:
        for server in servers.values():
            await server.start()
            pinning.pin(server.status.pid, pinning.load)
        pinning.pin(0, pinning.server)
        for rnd in range(1, rounds + 1):
            for callers in CALLERS:
                for policy, server in servers.items():
                    case = micro.Case(callers, 1, batch=True)
                    result = await micro.run_case(server.url, case, seconds)
                    runs.append({"round": rnd, "policy": policy, **result})
                    progress(
                        f"fsync round {rnd} {policy}, {callers} callers: "
                        f"{result['hits_per_s']:,.0f} hits/s, flush p50 "
                        f"{result['flush_ms']['p50']} ms, p99 {result['flush_ms']['p99']} ms"
                    )
    finally:
        pinning.pin(0, pinning.all)
        for server in servers.values():
            await server.stop()
    return {"seconds": seconds, "rounds": rounds, "runs": runs, "median": _medians(runs)}


def _medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for callers in CALLERS:
        row: dict[str, Any] = {"callers": callers}
        for policy in POLICIES:
            mine = [r for r in runs if r["callers"] == callers and r["policy"] == policy]
            row[policy] = {
                "hits_per_s": round(statistics.median(r["hits_per_s"] for r in mine), 1),
                "flush_p50_ms": round(statistics.median(r["flush_ms"]["p50"] for r in mine), 3),
                "flush_p99_ms": round(statistics.median(r["flush_ms"]["p99"] for r in mine), 3),
                "batch_mean": round(statistics.median(r["batch_size"]["mean"] for r in mine), 1),
            }
        row["always_over_everysec"] = round(
            row["always"]["hits_per_s"] / max(row["everysec"]["hits_per_s"], 1.0), 3
        )
        rows.append(row)
    return rows


def markdown(data: dict[str, Any]) -> list[str]:
    """The section's table: medians of the rounds, per number of callers."""
    lines = [
        f"## fsync: `appendfsync always` against `everysec` ({data['rounds']} alternating "
        f"rounds of {data['seconds']} s, one site, group commit)",
        "",
        "| callers | always hits/s | everysec hits/s | always/everysec | always flush p50/p99 ms "
        "| everysec flush p50/p99 ms | batch mean (always) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in data["median"]:
        a, e = row["always"], row["everysec"]
        lines.append(
            f"| {row['callers']} | {a['hits_per_s']:,.0f} | {e['hits_per_s']:,.0f} "
            f"| {row['always_over_everysec']} | {a['flush_p50_ms']}/{a['flush_p99_ms']} "
            f"| {e['flush_p50_ms']}/{e['flush_p99_ms']} | {a['batch_mean']} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fsync", description=__doc__)
    p.add_argument("--seconds", type=float, default=2.0, help="seconds of each run")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each policy")
    args = p.parse_args(argv)
    scratch = SCRATCH / f"fsync-{time.strftime('%Y%m%d-%H%M%S')}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        data = asyncio.run(run(scratch, Pinning.detect(), args.seconds, args.rounds))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\n".join(markdown(data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
