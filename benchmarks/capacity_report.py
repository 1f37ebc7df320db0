"""The capacity figures as Markdown, and the model derived from them (docs/capacity.md).

Everything here reads the dictionary ``benchmarks/capacity.py`` measured; the arithmetic of
the sizing is ``benchmarks/sizing.py``'s.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from benchmarks import sizing
from benchmarks.common import markdown_table

ONE_LABEL = "1 site"
SPREAD_LABEL = "100 sites per flush"
READ_LABEL = "1 site, reads (no events)"
HEADROOM = 0.7
ONLINE_S_PER_HIT = 30
"""Visitors online per hit/s: a reader online sends a ping a minute while the tab is visible
and a hit per page view; one counting request every 30 s per reader is the shape assumed."""
SHAPES = (
    sizing.Shape(10_000, 100, 0.2, 10_000, 10_000 * ONLINE_S_PER_HIT),
    sizing.Shape(100_000, 1_000, 0.1, 10_000, 100_000 * ONLINE_S_PER_HIT),
    sizing.Shape(1_000_000, 10_000, 0.02, 10_000, 1_000_000 * ONLINE_S_PER_HIT),
)
"""The traffic the sizing tables are for."""
SITE_DAY_KEYS = ("hours", "refs", "online")
"""A day's keys that grow with days, not pages (a day's page list is counted per page)."""


def _curve(rows: list[dict[str, Any]]) -> tuple[tuple[float, float], ...]:
    return tuple((float(r["k"]), float(r["cpu_us_per_call"])) for r in rows if r["k"])


def costs_from(data: dict[str, Any]) -> sizing.Costs | None:
    """The measured costs the sizing needs, or None when a section is missing. Per-key
    sizes (``MEMORY USAGE``) are scaled so that they add up to the ``used_memory`` growth
    measured over the same inserts."""
    cost, svc, mem = data.get("cost"), data.get("service"), data.get("memory")
    if not (cost and svc and mem):
        return None
    series = cost["variants"][0]["series"]
    pages, day = mem["pages"], mem["day"]
    in_keys = pages["pages_hash_per_page"] + pages["day_pages_per_page"]
    per_page = pages["bytes_per_page"] / in_keys
    per_day = day["used_memory_growth"] / sum(day["keys"].values())
    return sizing.Costs(
        service_us_per_hit=svc["on"]["cpu_us_per_hit"],
        flushes_per_s=svc["on"]["flushes_per_s"],
        busy_site=_curve(series[ONE_LABEL]),
        spread=_curve(series[SPREAD_LABEL]),
        bytes_per_visitor=mem["visitors"]["bytes_per_online_visitor"],
        bytes_per_page=round(pages["pages_hash_per_page"] * per_page, 1),
        bytes_per_day_page=round(pages["day_pages_per_page"] * per_page, 1),
        bytes_per_site_day=round(
            sum(v for k, v in day["keys"].items() if k in SITE_DAY_KEYS) * per_day
        ),
        bytes_per_uniques_day=round(day["keys"].get("u", 0) * per_day),
        bytes_per_history_day=mem["history_bytes_per_day"],
        bytes_per_site=mem["visitors"]["bytes_per_site_fixed"],
        bytes_per_marker=mem["bytes_per_marker"],
        headroom=HEADROOM,
    )


def _load(load: sizing.Load | None) -> dict[str, float] | None:
    if load is None:
        return None
    return {
        "hits_per_s": round(load.hits_per_s),
        "calls_per_s": round(load.calls_per_s),
        "events_per_call": round(load.events_per_call, 2),
        "us_per_call": round(load.us_per_call, 1),
        "cores": round(load.cores, 2),
    }


def _plan(plan: sizing.Plan) -> dict[str, Any]:
    return {
        "shape": dataclasses.asdict(plan.shape),
        "processes": plan.processes,
        "own_pool": plan.own_pool,
        "busiest": _load(plan.busiest),
        "busiest_own_pool": _load(plan.busiest_own_pool),
        "others": _load(plan.others),
        "redis_cores": round(plan.redis_cores, 2),
        "primaries": plan.primaries,
        "busiest_fits": plan.busiest_fits,
        "memory": {k: round(v) for k, v in plan.memory.items()},
    }


def model(data: dict[str, Any]) -> dict[str, Any]:
    """Hits/s per primary core at each measured size, the single-site ceiling, and the
    sizing of ``SHAPES``."""
    costs = costs_from(data)
    if costs is None:
        return {}
    per_core = {
        label: [
            {"k": k, "us_per_call": us, "hits_per_core_s": round(1e6 * k / us)} for k, us in curve
        ]
        for label, curve in ((ONE_LABEL, costs.busy_site), (SPREAD_LABEL, costs.spread))
    }
    busy_k = data["service"]["on"]["events_per_flush"]
    reads = data["cost"]["variants"][0]["series"].get(READ_LABEL)
    return {
        "headroom": HEADROOM,
        "costs": dataclasses.asdict(costs),
        "per_core": per_core,
        "read_us_per_call": reads[0]["cpu_us_per_call"] if reads else None,
        "ceiling": {
            "events_per_call": busy_k,
            "us_per_call": round(sizing.per_call_us(costs.busy_site, busy_k), 1),
            "at_headroom": round(sizing.ceiling(costs, busy_k)),
        },
        "sizing": [_plan(sizing.plan(shape, costs)) for shape in SHAPES],
    }


def _n(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators, or a dash."""
    return "—" if value is None else f"{value:,.{digits}f}"


def _cost_lines(section: dict[str, Any]) -> list[str]:
    lines = [
        f"## Redis CPU per `batch.lua` call (medians of {section['rounds']} rounds, "
        f"{section['flushers']} flushers)",
        "",
        "`CPU µs/call`: the server's user + system CPU time (`INFO cpu`) over the calls; "
        "`commandstats µs/call`: `INFO commandstats` `usec_per_call` of EVALSHA (wall-clock "
        "time inside the command, inflated whenever the server waits for the CPU).",
        "",
    ]
    for v in section["variants"]:
        lines += [f"**{v['variant']}**: {v['server']}, {v['config']}", ""]
        lines += markdown_table(
            ["series", "calls/flush", "events/call", "calls", "pages/call", "CPU µs/call (range)",
             "of which sys", "server busy", "CPU µs/hit", "hits/s per core",
             "commandstats µs/call", "commands/call"],
            [[label, r["calls_per_flush"], r["k"], r["calls"], r["distinct_pages"],
              f"{r['cpu_us_per_call']} ({r['cpu_us_per_call_range'][0]}-"
              f"{r['cpu_us_per_call_range'][1]})", r["sys_us_per_call"], r["busy"],
              _n(r["cpu_us_per_hit"], 2), _n(r["hits_per_core_s"]), r["evalsha_usec_per_call"],
              r["inner_commands_per_call"]]
             for label, rows in v["series"].items() for r in rows],
        )  # fmt: skip
        lines += [
            f"Least-squares line, {label}: {f['fixed']} µs per call + {f['per_event']} µs per "
            "event."
            for label, f in v["fits"].items()
        ]
        lines.append("")
    return lines


PART_NAMES = {
    "evalShaCommand": "EVALSHA: arguments in, the script, the reply out",
    "lua_pcall": "the script, the commands it calls included",
    "VM_CallArgv": "the commands it calls (`redis.call`)",
    "scriptCall": "the commands it calls (`redis.call`)",
    "feedAppendOnlyFile": "writing the AOF buffer",
    "lua_gc": "Lua garbage collection",
}


def _part_lines(section: dict[str, Any]) -> list[str]:
    """Where a call's instructions go, for the first variant's one-site series."""
    rows = section["variants"][0]["series"].get(ONE_LABEL, [])
    if not rows or not rows[0].get("parts_per_call"):
        return []
    names = [n for n in PART_NAMES if n in rows[0]["parts_per_call"]]
    lines = [
        "Where a call's instructions go (shares of all, inclusive, so nested; callgrind_annotate):",
        "",
    ]
    return lines + markdown_table(
        ["part", *[f"{r['k']} events/call" for r in rows]],
        [[PART_NAMES[n], *[f"{r['parts_per_call'].get(n, 0) / r['instructions_per_call']:.0%}"
                           for r in rows]] for n in names],
    )  # fmt: skip


def _instruction_lines(section: dict[str, Any]) -> list[str]:
    lines = ["## Instructions per `batch.lua` call (callgrind)", ""]
    rows = []
    for v in section["variants"]:
        for label, series in v["series"].items():
            rows += [[v["variant"], v["server"], label, r["calls_per_flush"], r["k"], r["calls"],
                      r["distinct_pages"], _n(r["instructions_per_call"]),
                      _n(r["instructions_per_hit"])]
                     for r in series]  # fmt: skip
    lines += markdown_table(
        ["server", "version", "series", "calls/flush", "events/call", "calls", "pages/call",
         "instructions/call", "instructions/hit"],
        rows,
    )  # fmt: skip
    for v in section["variants"]:
        lines += [
            f"Least-squares line, {v['variant']}, {label}: {f['fixed']:,.0f} instructions per "
            f"call + {f['per_event']:,.0f} per event."
            for label, f in v["fits"].items()
        ]
        a = v.get("anatomy")
        if a:
            lines.append(
                f"{v['variant']} ({v['server']}): EVALSHA of `return 1` with a one-event call's "
                f"{a['keys']} keys and {a['args']} arguments: {a['evalsha_return_1']:,} "
                f"instructions; one `redis.call('EXISTS', ...)` from a script: "
                f"{a['per_redis_call']:,}."
            )
    if "page_model" in section:
        p = section["page_model"]
        lines.append(
            f"One site, with pages: {p['fixed']:,} per call + {p['per_event']:,} per event + "
            f"{p['per_page']:,} per distinct page beyond the first."
        )
    return [*lines, "", *_part_lines(section)]


def _memory_lines(m: dict[str, Any]) -> list[str]:
    v, p, d = m["visitors"], m["pages"], m["day"]
    kept = d["days_kept"]
    lines = [
        "## Redis memory (`used_memory` deltas)",
        "",
        f"- Per online visitor: {v['bytes_per_online_visitor']} B (100,000 visitors on one "
        f"site, each one hit); a site with one visitor: {v['bytes_per_site_fixed']:,.0f} B.",
        f"- Per tracked page: {p['bytes_per_page']} B ({p['pages']:,} new pages of "
        f"{p['name_bytes']}-character names, one hit each); by `MEMORY USAGE`, "
        f"{p['pages_hash_per_page']} B in the pages hash (kept while tracked) and "
        f"{p['day_pages_per_page']} B in the day's page list (kept {kept.get('dpages', 3)} days).",
        f"- Per day of history (period counters of visits and page views): "
        f"{m['history_bytes_per_day']} B, kept for ever.",
        f"- Per batch marker (one per write call, kept {sizing.MARKER_TTL_S:g} s with the "
        f"default retries): {m['bytes_per_marker']} B.",
        f"- Per site-day: one day of {d['hits']:,} hits from {d['visitors']:,} visitors over "
        f"{d['pages']:,} pages, after a day like it: `used_memory` grew "
        f"{d['used_memory_growth']:,} B. Its keys, by `MEMORY USAGE`:",
        "",
    ]
    lines += markdown_table(
        ["key", "bytes", "days kept"],
        [[k, f"{b:,}", kept[k]] for k, b in d["keys"].items()],
    )
    return lines


def _service_lines(s: dict[str, Any]) -> list[str]:
    lines = [f"## The service, one worker on one core ({s['source']}, {s['connections']} "
             "connections, all hits)", ""]  # fmt: skip
    lines += markdown_table(
        ["access log", "req/s", "server CPU µs/hit", "core busy", "hits/s per core",
         "events per flush", "flushes/s"],
        [[log, _n(x["rps"]), x["cpu_us_per_hit"], x["busy"], _n(x["hits_per_core_s"]),
          x["events_per_flush"], _n(x.get("flushes_per_s"))]
         for log, x in ((k, s[k]) for k in ("on", "off"))],
    )  # fmt: skip
    return lines


def _cluster_lines(c: dict[str, Any]) -> list[str]:
    lines = [
        f"## A local cluster: 3 primaries, 3 replicas, AOF on (medians of {c['rounds']} "
        f"rounds of {c['seconds']} s, {c['flushers']} flushers, nothing pinned)",
        "",
        f"100 sites per primary (port: sites): {c['sites_per_primary']}. Busy: CPU seconds "
        "per second. Ceiling: the hits/s at which the busiest primary would be one core "
        "100 % busy, its CPU per hit held.",
        "",
    ]
    rows = []
    for m in c["median"]:
        primaries = sorted(
            (n for n in m["nodes"] if n["role"] == "primary"), key=lambda n: -n["busy"]
        )
        replicas = [n for n in m["nodes"] if n["role"] == "replica"]
        top = primaries[0]
        rows.append([
            m["case"], m["k"], m["fsync"], _n(m["hits_per_s"]),
            f"{top['busy']:.2f}, {top['cpu_us_per_hit']}",
            ", ".join(f"{n['busy']:.2f}" for n in primaries[1:]),
            round(sum(n["cpu_us_per_hit"] for n in replicas), 2),
            _n(m["ceiling_hits_per_s"]),
        ])  # fmt: skip
    lines += markdown_table(
        ["case", "events/call", "appendfsync", "hits/s", "busiest primary: busy, CPU µs/hit",
         "other primaries: busy", "replicas: CPU µs/hit", "ceiling hits/s"],
        rows,
    )  # fmt: skip
    return lines


def _gb(n: float) -> str:
    return f"{n / 1e9:,.2f} GB"


def _sizing_lines(m: dict[str, Any]) -> list[str]:
    c = m["costs"]
    lines = [
        f"### Sizing (every core at most {m['headroom']:.0%} busy)",
        "",
        f"Service: {c['service_us_per_hit']} µs per hit, {c['flushes_per_s']:,} flushes/s per "
        f"busy process. Memory: {c['bytes_per_visitor']} B per visitor remembered, "
        f"{c['bytes_per_page']} B per tracked page + {c['bytes_per_day_page']} B per page in "
        f"each day's list, {c['bytes_per_site_day']:,} B per site-day (3 days), "
        f"{c['bytes_per_uniques_day']:,} B per day of uniques (40 days), "
        f"{c['bytes_per_history_day']} B per day of history, {c['bytes_per_marker']} B per "
        f"batch marker ({sizing.MARKER_TTL_S:g} s).",
        "",
    ]
    rows = []
    for p in m["sizing"]:
        s, big, others, alone = p["shape"], p["busiest"], p["others"], p["busiest_own_pool"]
        chosen = alone or big
        pool = f" (its own pool: {p['own_pool']})" if p["own_pool"] else ""
        rows.append([
            _n(s["hits_per_s"]), _n(s["sites"]), f"{_n(big['hits_per_s'])}{pool}",
            _n(s["online"]), p["processes"],
            f"{others['events_per_call']} / {chosen['events_per_call']}",
            f"{others['cores']} + {chosen['cores']}", p["primaries"],
            "yes" if p["busiest_fits"] else "**no**",
            " + ".join(_gb(p["memory"][k]) for k in
                       ("visitors", "pages", "days", "sites", "markers")),
            _gb(p["memory"]["total"]),
        ])  # fmt: skip
    lines += markdown_table(
        ["hits/s", "sites", "busiest site hits/s", "online", "service processes",
         "events/call: others / busiest", "Redis cores: others + busiest", "primaries",
         "busiest fits one primary", "memory: visitors + pages + days + sites + markers",
         "memory"],
        rows,
    )  # fmt: skip
    return lines


def _model_lines(m: dict[str, Any]) -> list[str]:
    if "sizing" not in m:
        return []
    lines = ["## Model (derived from the figures above)", "", "### Hits/s per primary core", ""]
    rows = []
    for label, points in m["per_core"].items():
        rows += [[label, _n(p["k"]), p["us_per_call"],
                  f"1,000,000 * {p['k']:,.0f} / {p['us_per_call']}", _n(p["hits_per_core_s"]),
                  _n(p["hits_per_core_s"] * m["headroom"])]
                 for p in points]  # fmt: skip
    lines += markdown_table(
        [
            "series",
            "events/call",
            "CPU µs/call",
            "arithmetic",
            "hits/s per core",
            f"at {m['headroom']:.0%}",
        ],
        rows,
    )
    if m.get("read_us_per_call"):
        lines += [f"A read (no events, one page): {m['read_us_per_call']} µs.", ""]
    ceiling = m["ceiling"]
    lines += [
        f"One site's ceiling at the batches of busy processes ({ceiling['events_per_call']} "
        f"events per call, {ceiling['us_per_call']} µs per call), {m['headroom']:.0%} of a "
        f"core: {m['headroom']} * 1,000,000 * {ceiling['events_per_call']} / "
        f"{ceiling['us_per_call']} = {_n(ceiling['at_headroom'])} hits/s.",
        "",
    ]
    return lines + _sizing_lines(m)


def markdown(data: dict[str, Any]) -> list[str]:
    """The capacity figures as Markdown lines (also the suite report's section)."""
    lines: list[str] = []
    if "cost" in data:
        lines += _cost_lines(data["cost"])
    if "instructions" in data:
        lines += _instruction_lines(data["instructions"])
    if "memory" in data:
        lines += _memory_lines(data["memory"])
    if "service" in data:
        lines += _service_lines(data["service"])
    if "cluster" in data:
        lines += _cluster_lines(data["cluster"])
    return [*lines, *_model_lines(data.get("model", {}))]
