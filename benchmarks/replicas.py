"""What ``COUNTER_REPLICA_ACKS=1`` costs the counting path: each flush also waits for a
replica to acknowledge it (``WAIT``, sent with the flush on the same connection).

    python -m benchmarks.replicas [--seconds 2] [--rounds 3]    # a suite section too

A primary and its replica (two server processes on 127.0.0.1, no persistence) and the
in-process counting path of ``benchmarks/micro.py``; rounds alternate 0 and 1 acks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from benchmarks import micro
from benchmarks.common import Pinning, free_port, progress
from counter.embedded import die_with_parent, find_server_binary
from counter.storage import connect

CALLERS = (64, 1000)
ACKS = (0, 1)


def _server(binary: str, port: int, folder: Path, *extra: str) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", str(folder), *extra]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent
    )


async def _linked(replica_url: str, timeout_s: float = 20.0) -> None:
    """Until the replica reports its link to the primary up."""
    client = connect(replica_url, 2.0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while True:
            try:
                info: dict[str, Any] = await client.info("replication")
                if info.get("master_link_status") == "up":
                    return
            except RedisError:
                pass  # not listening yet
            if loop.time() > deadline:
                raise RuntimeError("the replica did not link to its primary")
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def run(pinning: Pinning, seconds: float = 2.0, rounds: int = 3) -> dict[str, Any]:
    binary = find_server_binary(os.environ.get("COUNTER_REDIS_SERVER"))
    primary_port, replica_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        primary = _server(binary, primary_port, Path(tmp) / "primary")
        replica = _server(
            binary, replica_port, Path(tmp) / "replica",
            "--replicaof", "127.0.0.1", str(primary_port),
        )  # fmt: skip
        runs: list[dict[str, Any]] = []
        try:
            for proc in (primary, replica):
                pinning.pin(proc.pid, pinning.load)
            await _linked(f"redis://127.0.0.1:{replica_port}")
            pinning.pin(0, pinning.server)
            url = f"redis://127.0.0.1:{primary_port}"
            for rnd in range(1, rounds + 1):
                for callers in CALLERS:
                    for acks in ACKS:
                        case = micro.Case(callers, 1, batch=True)
                        result = await micro.run_case(url, case, seconds, replica_acks=acks)
                        runs.append({"round": rnd, "acks": acks, **result})
                        progress(
                            f"replicas round {rnd}, {acks} acks, {callers} callers: "
                            f"{result['hits_per_s']:,.0f} hits/s, flush p50 "
                            f"{result['flush_ms']['p50']} ms"
                        )
        finally:
            pinning.pin(0, pinning.all)
            for proc in (replica, primary):
                proc.terminate()
                proc.wait()
    return {"seconds": seconds, "rounds": rounds, "runs": runs, "median": _medians(runs)}


def _medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for callers in CALLERS:
        row: dict[str, Any] = {"callers": callers}
        for acks in ACKS:
            mine = [r for r in runs if r["callers"] == callers and r["acks"] == acks]
            row[f"acks_{acks}"] = {
                "hits_per_s": round(statistics.median(r["hits_per_s"] for r in mine), 1),
                "flush_p50_ms": round(statistics.median(r["flush_ms"]["p50"] for r in mine), 3),
                "batch_mean": round(statistics.median(r["batch_size"]["mean"] for r in mine), 1),
            }
        row["one_over_none"] = round(
            row["acks_1"]["hits_per_s"] / max(row["acks_0"]["hits_per_s"], 1.0), 3
        )
        rows.append(row)
    return rows


def markdown(data: dict[str, Any]) -> list[str]:
    lines = [
        f"## Replica acknowledgements ({data['rounds']} rounds of {data['seconds']} s, medians)",
        "",
        "| callers | 0 acks hits/s | 1 ack hits/s | 1 / 0 | flush p50 ms, 0 / 1 | batch, 0 / 1 |",
        "|---|---|---|---|---|---|",
    ]
    for row in data["median"]:
        a, b = row["acks_0"], row["acks_1"]
        lines.append(
            f"| {row['callers']} | {a['hits_per_s']:,.0f} | {b['hits_per_s']:,.0f} | "
            f"{row['one_over_none']} | {a['flush_p50_ms']} / {b['flush_p50_ms']} | "
            f"{a['batch_mean']} / {b['batch_mean']} |"
        )
    return [*lines, ""]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    data = asyncio.run(run(Pinning.detect(), a.seconds, a.rounds))
    print("\n".join(markdown(data)))


if __name__ == "__main__":
    main()
