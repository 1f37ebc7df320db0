"""The targets of the benchmark issue, checked against one run, and the Markdown summary."""

from __future__ import annotations

from typing import Any

from benchmarks import capacity_report, fsync, replicas
from benchmarks.common import markdown_table
from benchmarks.e2e import NAMES, RATIOS, SWEPT


def _micro(data: dict[str, Any], callers: int, sites: int, mode: str) -> dict[str, Any]:
    for row in data.get("micro", []):
        if (row["callers"], row["sites"], row["mode"]) == (callers, sites, mode):
            return dict(row)
    return {}


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: what was measured, the bound, and whether it holds."""
    rows: list[dict[str, Any]] = []

    def add(name: str, measured: float | None, bound: float, at_least: bool, unit: str) -> None:
        if measured is None:
            return
        ok = measured >= bound if at_least else measured <= bound
        rows.append(
            {
                "target": name,
                "bound": f"{'>=' if at_least else '<='} {bound}{unit}",
                "measured": measured,
                "unit": unit,
                "met": ok,
            }
        )

    e2e = data.get("e2e", {})
    median = e2e.get("median", {})
    add("counter / plain aiohttp req/s, access log on in both (median of rounds)",
        median.get("A_over_B"), 0.8, True, "x")  # fmt: skip
    add("counter / plain aiohttp req/s, access log off in both (median of rounds)",
        median.get("a_over_b"), 0.7, True, "x")  # fmt: skip
    add("counter / plain server CPU per request, access log off (median of rounds)",
        median.get("cpu_a_over_b"), 1.4, False, "x")  # fmt: skip
    if "a" in median:
        add("counter's server core busy at saturation (a, median of rounds)",
            median["a"].get("busy"), 0.95, True, "")  # fmt: skip
    add("counter / naive mode req/s (median of rounds)", median.get("a_over_c"), 3.0, True, "x")
    half = e2e.get("half_rate", {}).get("a")
    add("p99 at half of counter's throughput (open loop)",
        half and half["p99"], 5.0, False, " ms")  # fmt: skip
    few = e2e.get("half_rate", {}).get("wrk_few_connections", {}).get("a")
    if few:
        add(f"p99 with wrk at {few['connections']} connections ({few['rps']:,.0f} req/s)",
            few["p99"], 5.0, False, " ms")  # fmt: skip
    saturated = _micro(data, 1000, 1, "batch")
    add(
        "Redis round trips per hit, 1000 callers (in process)",
        saturated.get("round_trips_per_hit"),
        0.05,
        False,
        "",
    )
    a_calls = e2e.get("redis_calls", {}).get("a", {})
    add(
        "Redis write round trips per hit, HTTP, 64 connections (a)",
        a_calls.get("write_flushes_per_hit"),
        0.05,
        False,
        "",
    )
    memory = data.get("memory", {})
    add(
        "Redis bytes per online visitor (100,000 online)",
        memory.get("bytes_per_online_visitor"),
        120,
        False,
        " B",
    )
    workers = data.get("workers", {}).get("median", {})
    cores = data["meta"]["cpus"]
    add(f"2 workers / 1 worker req/s ({cores} cores)", workers.get("w2_over_w1"), 1.7, True, "x")
    return rows


def _load_cells(x: dict[str, Any]) -> list[Any]:
    return [f"{x['rps']:,.0f}", x["p50"], x["p90"], x["p99"]]


GENERATOR = ("generator_max_lag_ms", "generator_busy")
"""What the open-loop generator says of itself: its lag behind the schedule, and its CPU."""


def markdown(data: dict[str, Any]) -> str:
    meta = data["meta"]
    lines = [
        f"# counter benchmark — {meta['date']} on {meta['host']}",
        "",
        f"Command: `{meta['command']}` ({meta['elapsed_s']:.0f} s). {meta['cpus']} CPUs "
        f"({meta['cpu_model']}), Python {meta['python']}, aiohttp {meta['aiohttp']}, "
        f"redis-py {meta['redis_py']}, server {meta['redis_server']}. Load: {meta['load_tool']}. "
        f"Pinning: {meta['pinning']}.",
        "",
        "## Targets",
        "",
    ]
    lines += markdown_table(
        ["target", "bound", "measured", "met"],
        [
            [
                t["target"],
                t["bound"],
                f"{t['measured']}{t['unit']}",
                "yes" if t["met"] else "**no**",
            ]
            for t in data["targets"]
        ],
    )
    e2e = data.get("e2e")
    if e2e:
        keys = [k for k in NAMES if k in e2e["median"]]
        lines += [f"## End to end ({e2e['connections']} connections, {e2e['seconds']} s a run)", ""]
        lines += ["; ".join(f"{k} = {NAMES[k]}" for k in keys) + ". Latency in ms.", ""]
        rows = [
            [r["round"], f"{k}: {NAMES[k]}", *_load_cells(r[k]),
             r[k]["server_cpu_us_per_request"], f"{r[k]['server_busy'] or 0:.0%}"]
            for r in e2e["rounds"]
            for k in keys
        ]  # fmt: skip
        m = e2e["median"]
        rows += [
            ["**median**", f"{k}: {NAMES[k]}", *_load_cells(m[k]), m[k]["cpu_us"],
             f"{m[k]['busy']:.0%}"]
            for k in keys
        ]  # fmt: skip
        head = ["round", "server", "req/s", "p50", "p90", "p99", "server CPU µs/request",
                "server core busy"]  # fmt: skip
        lines += markdown_table(head, rows)
        lines += markdown_table(
            ["round", "a/b req/s (log off)", "A/B req/s (log on)", "a/c req/s",
             "a/b CPU per request"],
            [[r["round"], *(r[k] for k in RATIOS)] for r in e2e["rounds"]]
            + [["**median**", *(f"**{m[k]}**" for k in RATIOS)]],
        )  # fmt: skip
        calls = e2e.get("redis_calls", {})
        lines += markdown_table(
            ["server", "EVALSHA per request", "write round trips per hit"],
            [
                [f"{k}: {NAMES[k]}", v["evalsha_per_request"], v["write_flushes_per_hit"]]
                for k, v in calls.items()
            ],
        )
        lines += ["Throughput against concurrency (req/s, p99 ms):", ""]
        lines += markdown_table(
            ["connections", *[f"{k} req/s" for k in SWEPT], *[f"{k} p99" for k in SWEPT]],
            [
                [
                    r["connections"],
                    *[f"{r[k]['rps']:,.0f}" for k in SWEPT],
                    *[r[k]["p99"] for k in SWEPT],
                ]
                for r in e2e["sweep"]
            ],
        )
        half = e2e["half_rate"]
        lines += [f"Fixed rate {half['rate']:,.0f} req/s (half of a's median), open loop:", ""]
        lines += markdown_table(
            ["server", "req/s", "p50", "p90", "p99", "generator lag max, ms", "generator busy"],
            [[NAMES[k], *_load_cells(half[k]), *(half[k].get(c) for c in GENERATOR)] for k in "ab"],
        )
        few = half.get("wrk_few_connections")
        if few:
            lines += [
                f"wrk with {few['connections']} connections (closed loop, near half rate):",
                "",
            ]
            lines += markdown_table(
                ["server", "req/s", "p50", "p90", "p99"],
                [[NAMES[k], *_load_cells(few[k])] for k in "ab"],
            )
    if data.get("micro"):
        lines += ["## Counting path in process", ""]
        lines += markdown_table(
            [
                "callers",
                "sites",
                "mode",
                "hits/s",
                "round trips/hit",
                "EVALSHA/hit",
                "Redis cmds/hit",
                "batch mean",
                "batch p50/p99/max",
                "latency p50/p99 ms",
            ],
            [
                [
                    r["callers"],
                    r["sites"],
                    r["mode"],
                    f"{r['hits_per_s']:,.0f}",
                    r["round_trips_per_hit"],
                    r["evalsha_per_hit"],
                    r["commands_per_hit"],
                    r["batch_size"]["mean"],
                    f"{r['batch_size']['p50']}/{r['batch_size']['p99']}/{r['batch_size']['max']}",
                    f"{r['latency_ms']['p50']}/{r['latency_ms']['p99']}",
                ]
                for r in data["micro"]
            ],
        )
    memory = data.get("memory")
    if memory:
        lines += ["## Redis memory", ""]
        lines += markdown_table(
            [
                "sites",
                "online per site",
                "used_memory delta",
                "B/online visitor",
                "B/site",
                "presence zset B/visitor",
            ],
            [
                [
                    s["sites"],
                    f"{s['online_per_site']:,}",
                    f"{s['used_memory_delta']:,}",
                    s["bytes_per_online_visitor"],
                    f"{s['bytes_per_site']:,.0f}",
                    s["presence_bytes_per_visitor"],
                ]
                for s in memory["scenarios"]
            ],
        )
    if data.get("fsync"):
        lines += fsync.markdown(data["fsync"])
    if data.get("replicas"):
        lines += replicas.markdown(data["replicas"])
    if data.get("capacity"):
        lines += capacity_report.markdown(data["capacity"])
    workers = data.get("workers")
    if workers:
        lines += [f"## Workers ({meta['cpus']} CPUs, nothing pinned)", ""]
        lines += markdown_table(
            ["round", "1 worker req/s", "2 workers req/s", "ratio"],
            [
                [r["round"], f"{r['w1']['rps']:,.0f}", f"{r['w2']['rps']:,.0f}", r["w2_over_w1"]]
                for r in workers["rounds"]
            ],
        )
    profile = data.get("profile")
    if profile:
        lines += [
            f"## Profile (cProfile, {profile['load']['rps']:,.0f} req/s under the profiler, "
            f"{profile['us_per_request']} µs of profiled CPU per request)",
            "",
        ]
        lines += markdown_table(
            ["area", "share of self time", "µs/request"],
            [[k, f"{v['share']:.1%}", v["us_per_request"]] for k, v in profile["areas"].items()],
        )
        lines += markdown_table(
            ["counting-path function", "calls", "cumulative µs/request"],
            [
                [r["function"], r["calls"], r["cum_us_per_request"]]
                for r in profile["counting_path"]
            ],
        )
    lines += ["Plots: " + ", ".join(f"`{p}`" for p in meta.get("plots", [])), ""]
    return "\n".join(lines)
