"""End-to-end HTTP load: counter against the plain aiohttp app and its own naive mode.

(a) counter with one worker and (b) the plain aiohttp app (``plain_app.py``), both with the
access log off; (A) and (B), the same two with it on; (c) counter with ``COUNTER_BATCH=off``.
All run on the same event loop, started at once and pinned to the server CPU; the load
generator and Redis share the other CPUs. Rounds alternate a, b, A, B, c, a, b... so that
drift on a noisy machine hits all alike. Then a sweep over connection counts, the latency at
half of counter's throughput, and one against two worker processes.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import servers
from benchmarks.common import Pinning, cpu_seconds, progress, redis_counters
from benchmarks.load import STATS_PCT, Load, run_load
from counter.storage import RedisClient

NAMES = {
    "a": "counter, 1 worker, access log off",
    "b": "plain aiohttp app, fixed JSON, access log off",
    "A": "counter, 1 worker, access log on",
    "B": "plain aiohttp app, fixed JSON, access log on",
    "c": "counter, COUNTER_BATCH=off, access log off",
}
SWEPT = ("a", "b", "c")
"""The servers of the concurrency sweep."""


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: int = 8
    rounds: int = 3
    connections: int = 64
    sweep: tuple[int, ...] = (1, 8, 64, 256)
    sweep_seconds: int = 3
    half_rate_seconds: int = 8
    warmup: int = 2


def _medians(loads: Sequence[Load]) -> dict[str, float]:
    return {
        k: round(statistics.median(getattr(x, k) for x in loads), 3)
        for k in ("rps", "p50", "p90", "p99")
    } | {
        "cpu_us": round(statistics.median(x.server_cpu_us_per_request or 0 for x in loads), 1),
        "busy": round(statistics.median(x.server_busy or 0 for x in loads), 3),
    }


def _ratio(x: float, y: float) -> float:
    return round(x / y, 3) if y else 0.0


RATIOS = ("a_over_b", "A_over_B", "a_over_c", "cpu_a_over_b")
"""Per round: counter / plain req/s with the access log off and on, counter / naive req/s,
and counter / plain server CPU per request (log off)."""


def _ratios(row: dict[str, Any]) -> dict[str, float]:
    cpu = "server_cpu_us_per_request"
    return {
        "a_over_b": _ratio(row["a"]["rps"], row["b"]["rps"]),
        "A_over_B": _ratio(row["A"]["rps"], row["B"]["rps"]),
        "a_over_c": _ratio(row["a"]["rps"], row["c"]["rps"]),
        "cpu_a_over_b": _ratio(row["a"][cpu] or 0, row["b"][cpu] or 0),
    }


class Bench:
    """The three servers, started together, and the load runs against them."""

    def __init__(self, redis: RedisClient, pinning: Pinning, plan: Plan) -> None:
        self.redis = redis
        self.pinning = pinning
        self.plan = plan
        self.redis_calls: dict[str, list[dict[str, float]]] = {}

    async def load(self, server: servers.Server, seconds: int, connections: int) -> Load:
        before = await redis_counters(self.redis)
        cpu_before = cpu_seconds(server.proc.pid)
        result = await run_load(
            server.url,
            seconds,
            connections,
            taskset=self.pinning.prefix(self.pinning.load),
            threads=len(self.pinning.load) if self.pinning.enabled else 2,
        )
        cpu_after = cpu_seconds(server.proc.pid)
        if cpu_before is not None and cpu_after is not None and result.requests:
            used = (cpu_after - cpu_before) * 1e6 / result.requests
            busy = (cpu_after - cpu_before) / max(result.seconds, 1e-9)
            result = dataclasses.replace(
                result, server_cpu_us_per_request=round(used, 1), server_busy=round(busy, 3)
            )
        if connections == self.plan.connections and seconds == self.plan.seconds:
            after = await redis_counters(self.redis)
            hits = max(result.requests * (100 - STATS_PCT) / 100, 1)
            self.redis_calls.setdefault(server.name, []).append(
                {
                    "evalsha_per_request": (after["evalsha"] - before["evalsha"])
                    / max(result.requests, 1),
                    "write_flushes_per_hit": (after["evalsha"] - before["evalsha"]) / hits,
                }
            )
        if result.errors:
            progress(f"  warning: {result.errors} errors against {server.name}")
        return result

    def redis_medians(self) -> dict[str, dict[str, float]]:
        """Per server, the median over rounds of Redis calls per request and per hit."""
        return {
            name: {k: round(statistics.median(r[k] for r in runs), 5) for k in runs[0]}
            for name, runs in self.redis_calls.items()
        }

    async def rounds(self, trio: dict[str, servers.Server]) -> list[dict[str, Any]]:
        plan, out = self.plan, []
        for r in range(1, plan.rounds + 1):
            row: dict[str, Any] = {"round": r}
            for key, server in trio.items():
                result = await self.load(server, plan.seconds, plan.connections)
                row[key] = result.as_dict()
                progress(
                    f"e2e round {r}/{plan.rounds} {key} ({NAMES[key]}): {result.rps:,.0f} req/s, "
                    f"p50 {result.p50:.2f} ms, p99 {result.p99:.2f} ms, "
                    f"{result.server_cpu_us_per_request} µs server CPU/request, "
                    f"server core {result.server_busy or 0:.0%} busy"
                )
            row |= _ratios(row)
            out.append(row)
        return out

    async def sweep(self, trio: dict[str, servers.Server]) -> list[dict[str, Any]]:
        out = []
        for conns in self.plan.sweep:
            row: dict[str, Any] = {"connections": conns}
            for key in SWEPT:
                server = trio[key]
                row[key] = (await self.load(server, self.plan.sweep_seconds, conns)).as_dict()
            progress(
                f"sweep {conns} connections: "
                + ", ".join(f"{k} {row[k]['rps']:,.0f}" for k in SWEPT)
                + " req/s"
            )
            out.append(row)
        return out

    async def half_rate(self, trio: dict[str, servers.Server], rate: float) -> dict[str, Any]:
        out: dict[str, Any] = {"rate": round(rate, 1)}
        for key in ("a", "b"):
            result = await run_load(
                trio[key].url,
                self.plan.half_rate_seconds,
                self.plan.connections,
                taskset=self.pinning.prefix(self.pinning.load),
                rate=rate,
            )
            out[key] = result.as_dict()
            progress(
                f"half rate {rate:,.0f} req/s against {key}: p50 {result.p50:.2f} ms, "
                f"p99 {result.p99:.2f} ms (generator lag up to {result.generator_max_lag_ms} ms, "
                f"busy {result.generator_busy})"
            )
        out["wrk_few_connections"] = await self.few_connections(trio, rate)
        return out

    async def few_connections(self, trio: dict[str, servers.Server], rate: float) -> dict[str, Any]:
        """The other way to load at about half of the maximum: wrk (closed loop, cheap on the
        CPU it shares with Redis) with the connection count whose throughput comes closest."""
        seconds = self.plan.sweep_seconds + 1
        probes = {n: await self.load(trio["a"], seconds, n) for n in (2, 4)}
        conns, best = min(probes.items(), key=lambda kv: abs(kv[1].rps - rate))
        plain = await self.load(trio["b"], seconds, conns)
        progress(
            f"wrk with {conns} connections: a {best.rps:,.0f} req/s p99 {best.p99:.2f} ms, "
            f"b {plain.rps:,.0f} req/s p99 {plain.p99:.2f} ms"
        )
        return {"connections": conns, "a": best.as_dict(), "b": plain.as_dict()}


async def run(
    redis: RedisClient, redis_url: str, scratch: Path, pinning: Pinning, plan: Plan
) -> dict[str, Any]:
    pin = pinning.prefix(pinning.server)
    trio = {
        "a": servers.start_counter("a", redis_url, scratch, taskset=pin),
        "b": servers.start_plain("b", scratch, taskset=pin),
        "A": servers.start_counter("A", redis_url, scratch, taskset=pin, access_log=True),
        "B": servers.start_plain("B", scratch, taskset=pin, access_log=True),
        "c": servers.start_counter("c", redis_url, scratch, taskset=pin, batch=False),
    }
    bench = Bench(redis, pinning, plan)
    try:
        for server in trio.values():
            await servers.wait_ready(server)
            await bench.load(server, plan.warmup, plan.connections)
        progress("e2e: servers up and warm")
        rounds = await bench.rounds(trio)
        sweep = await bench.sweep(trio)
        median = {k: _medians([Load(**r[k]) for r in rounds]) for k in trio}
        half = await bench.half_rate(trio, median["a"]["rps"] / 2)
    finally:
        for server in trio.values():
            await servers.stop(server)
    return {
        "servers": NAMES,
        "connections": plan.connections,
        "seconds": plan.seconds,
        "rounds": rounds,
        "median": {
            **median,
            **{k: round(statistics.median(r[k] for r in rounds), 3) for k in RATIOS},
        },
        "redis_calls": bench.redis_medians(),
        "sweep": sweep,
        "half_rate": half,
    }


async def run_workers(
    redis: RedisClient, redis_url: str, scratch: Path, pinning: Pinning, plan: Plan
) -> dict[str, Any]:
    """``counter serve --workers 2`` against one worker; nothing pinned (both need the CPUs)."""
    free = Pinning(pinning.all, pinning.all, enabled=False)
    pair = {
        "w1": servers.start_counter("w1", redis_url, scratch, workers=1),
        "w2": servers.start_counter("w2", redis_url, scratch, workers=2),
    }
    bench = Bench(redis, free, plan)
    rounds: list[dict[str, Any]] = []
    try:
        for server in pair.values():
            await servers.wait_ready(server)
            await bench.load(server, plan.warmup, plan.connections)
        for r in range(1, plan.rounds + 1):
            row: dict[str, Any] = {"round": r}
            for key, server in pair.items():
                row[key] = (await bench.load(server, plan.seconds, plan.connections)).as_dict()
            row["w2_over_w1"] = _ratio(row["w2"]["rps"], row["w1"]["rps"])
            progress(
                f"workers round {r}/{plan.rounds}: 1 worker {row['w1']['rps']:,.0f} req/s, "
                f"2 workers {row['w2']['rps']:,.0f} req/s ({row['w2_over_w1']:.2f}x)"
            )
            rounds.append(row)
    finally:
        for server in pair.values():
            await servers.stop(server)
    return {
        "rounds": rounds,
        "median": {
            "w1": _medians([Load(**r["w1"]) for r in rounds]),
            "w2": _medians([Load(**r["w2"]) for r in rounds]),
            "w2_over_w1": round(statistics.median(r["w2_over_w1"] for r in rounds), 3),
        },
    }
