"""A profile of the hot path: ``counter serve`` under cProfile while wrk loads it.

The server runs as users run it (``python -m cProfile -o ... -m counter serve``), pinned like
the end-to-end runs; after the load it gets SIGTERM, exits cleanly and cProfile writes its
stats. The summary groups self time by where the code lives and lists the costliest
functions, per request.
"""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

from benchmarks import servers
from benchmarks.common import Pinning, progress
from benchmarks.load import run_load

AREAS = (
    ("/counter/", "counter"),
    ("/aiohttp/", "aiohttp"),
    ("/redis/", "redis-py"),
    ("/logging/", "logging (access log)"),
    ("/asyncio/", "asyncio"),
    ("/multidict/", "multidict/yarl"),
    ("/yarl/", "multidict/yarl"),
    ("/zoneinfo/", "datetime/zoneinfo"),
    ("/uuid.py", "uuid"),
    ("/urllib/", "urllib"),
)

# (cProfile key, as shown): the counting-path functions worth a line of their own.
WATCH = (
    ("web/counting.py", "hit"),
    ("web/counting.py", "_accept"),
    ("web/counting.py", "parse"),
    ("web/responses.py", "read_json"),
    ("sites/store.py", "require"),
    ("counting/service.py", "visitor_id"),
    ("counting/service.py", "identify"),
    ("counting/service.py", "record"),
    ("counting/batcher.py", "_flush"),
    ("counting/store.py", "apply"),
    ("counting/store.py", "script_call"),
    ("counting/stats.py", "from_script"),
    ("web/counting.py", "_stats_response"),
    ("counting/stats.py", "stats_json"),
    ("web/responses.py", "json_response"),
    ("web/counting.py", "stats"),
    ("counting/pages.py", "normalize_page"),
    ("logging/__init__.py", "handle"),
)


def _area(filename: str, func: str) -> str:
    if filename == "~":
        return "C built-ins: socket I/O" if "sock" in func or "send" in func else "C built-ins"
    return next((name for marker, name in AREAS if marker in filename), "other Python")


def _row(name: str, calls: int, self_us: float, cum_us: float) -> dict[str, Any]:
    return {
        "function": name,
        "calls": calls,
        "self_us_per_request": round(self_us, 2),
        "cum_us_per_request": round(cum_us, 2),
    }


def summarise(path: Path, requests: int, top: int = 20) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in table.values()) or 1.0
    areas: dict[str, float] = {}
    rows = []
    for (filename, line, func), (_cc, calls, tottime, cumtime, _callers) in table.items():
        areas[_area(filename, func)] = areas.get(_area(filename, func), 0.0) + tottime
        rows.append((tottime, cumtime, calls, f"{Path(filename).name}:{line}({func})"))
    rows.sort(reverse=True)
    per_req = 1e6 / max(requests, 1)
    watched: list[dict[str, Any]] = []
    for (filename, line, func), (_cc, calls, tt, ct, _c) in table.items():
        if any(filename.endswith(suffix) and func == name for suffix, name in WATCH):
            name = f"{'/'.join(Path(filename).parts[-2:])}:{line}({func})"
            watched.append(_row(name, calls, tt * per_req, ct * per_req))
    watched.sort(key=lambda w: -w["cum_us_per_request"])
    return {
        "requests": requests,
        "profiled_cpu_s": round(total, 3),
        "us_per_request": round(total * per_req, 1),
        "areas": {
            k: {"share": round(v / total, 3), "us_per_request": round(v * per_req, 1)}
            for k, v in sorted(areas.items(), key=lambda kv: -kv[1])
        },
        "top_self": [_row(n, c, tt * per_req, ct * per_req) for tt, ct, c, n in rows[:top]],
        "counting_path": watched,
    }


async def run(redis_url: str, scratch: Path, pinning: Pinning, seconds: int) -> dict[str, Any]:
    out = scratch / "counter.prof"
    server = servers.start_counter(
        "profiled", redis_url, scratch, taskset=pinning.prefix(pinning.server), profile_to=out
    )
    await servers.wait_ready(server)
    try:
        result = await run_load(server.url, seconds, 64, taskset=pinning.prefix(pinning.load))
    finally:
        await servers.stop(server)
    progress(f"profile: {result.rps:,.0f} req/s under cProfile, {result.requests:,} requests")
    summary = summarise(out, result.requests)
    summary["load"] = result.as_dict()
    return summary
