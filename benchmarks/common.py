"""Small helpers shared by the sections: progress, percentiles, ports, CPU pinning, Redis."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from counter.storage import RedisClient

_START = time.monotonic()


def progress(message: str) -> None:
    """One line of progress on stderr, prefixed with the seconds since the run started."""
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table's lines, and an empty line after it."""
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return [*out, *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which CPUs the server under test and the load side (generator, Redis) may use.

    With two or more CPUs and ``taskset`` present the server gets CPU 0 and the load side
    the rest, so they do not steal cycles from each other; otherwise nothing is pinned.
    """

    server: tuple[int, ...]
    load: tuple[int, ...]
    enabled: bool

    @classmethod
    def detect(cls) -> Pinning:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2 and shutil.which("taskset"):
            return cls((cpus[0],), tuple(cpus[1:]), True)
        return cls(tuple(cpus), tuple(cpus), False)

    @property
    def all(self) -> tuple[int, ...]:
        return tuple(sorted({*self.server, *self.load}))

    def prefix(self, cpus: Sequence[int]) -> list[str]:
        """A ``taskset`` command prefix for ``cpus`` (empty when not pinning)."""
        if not self.enabled:
            return []
        return ["taskset", "-c", ",".join(str(c) for c in cpus)]

    def pin(self, pid: int, cpus: Sequence[int]) -> None:
        if self.enabled:
            os.sched_setaffinity(pid, set(cpus))


async def redis_counters(redis: RedisClient) -> dict[str, int]:
    """Commands processed and EVALSHA calls so far (INFO stats / commandstats).

    Commands run inside scripts count too. The load runs on one site and reads its stats
    nowhere but from the hits' answers, so every EVALSHA is one flush of ``batch.lua``: one
    write round trip.
    """
    stats: dict[str, Any] = await redis.info("stats")
    cmds: dict[str, Any] = await redis.info("commandstats")

    def calls(name: str) -> int:
        entry = cmds.get(f"cmdstat_{name}", {})
        return int(entry.get("calls", 0)) if isinstance(entry, dict) else 0

    return {
        "commands": int(stats["total_commands_processed"]),
        "evalsha": calls("evalsha"),
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and its child processes so far (Linux /proc).

    CPU time per request is far less sensitive than req/s to other load on a shared machine.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    try:
        while todo:
            p = todo.pop()
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, ValueError, IndexError):
        return None
    return total


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
