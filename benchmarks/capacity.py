"""The figures of the capacity model (docs/capacity.md): what a hit costs Redis and the service.

    python -m benchmarks.capacity [--quick] [--sections cost instructions memory service cluster]

About eight minutes on 2 CPUs (``--quick``: about one); also the suite's optional ``capacity``
section. Writes ``benchmarks/results/capacity-<date>-<host>.{json,md}`` and prints the Markdown.

- ``cost``: Redis CPU per ``batch.lua`` call at 1 to 1,000 events per call, for one busy site
  and for 100 sites per flush, on the embedded server exactly as ``counter serve`` starts it
  (AOF with ``appendfsync always``, ``hash-max-listpack-entries 128``, ...), and on Redis 7
  when installed: the server's CPU time (``INFO cpu``) and ``INFO commandstats`` (whose
  ``usec`` is wall-clock time, inflated whenever the server waits for a CPU), medians of
  rounds. See ``benchmarks/script_cost.py`` for how the calls are made.
- ``instructions``: the same calls under valgrind's callgrind: noise-free figures, also for
  AOF off, ``hash-max-listpack-entries 512``, Redis 7 and the once-a-second housekeeping.
- ``memory``: ``benchmarks/memory.py``'s figures, plus bytes per page, per site and day, and
  per day of history.
- ``service``: ``counter serve`` (one worker, pinned) under wrk: CPU per hit, events per flush.
- ``cluster``: a local cluster (3 primaries, 3 replicas): one site, three sites on three
  primaries and 100 sites, flushes back to back, every node's CPU per hit.

The model (hits/s per core, sizing for 10k, 100k and 1M hits/s) is worked out from them.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shlex
import shutil
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from benchmarks import e2e, memory, servers
from benchmarks.common import Pinning, progress
from benchmarks.load import SITE
from benchmarks.script_cost import (
    PAGES,
    Budget,
    Driver,
    Series,
    Variant,
    add_fits,
    history,
    launcher,
    measure_variant,
    page_model,
)
from counter import redis_keys as keys
from counter.counting.model import Kind, VisitorClass
from counter.counting.store import CountingStore, SiteWork
from counter.counting.visitor import digest
from counter.embedded import HASH_LISTPACK_ENTRIES, EmbeddedServer
from counter.lua.batch import DAY_KEYS_TTL_S, UNIQUES_TTL_S, event
from counter.sites.model import SiteConfig
from counter.sites.store import SiteStore
from counter.storage import RedisClient, connect
from tests.cluster import PRIMARIES, LocalCluster, local_cluster

RESULTS = Path(__file__).with_name("results")
SECTIONS = ("cost", "instructions", "memory", "service", "cluster")
REDIS7 = "/usr/bin/redis-server"
MANY = 100
BATCH_FULL = 1000
"""``COUNTER_BATCH_MAX``'s default: the most events in one flush."""
BATCH_HTTP = 30
"""Events per flush of one worker at 64 connections (the ``service`` section measures it)."""
FLUSHERS = 16
"""Flushers sending at once, each its own connection and one flush at a time, as 16 workers'
would: the server then rarely waits for the next call, and its cost per call is the one of a
busy server, which is what capacity is about (``--flushers 1``: an idle server's)."""
HEADROOM = 0.7
"""Sizing plans every core at most this busy."""
TARGETS = (10_000, 100_000, 1_000_000)

ONE = Series("1 site", "one", 1, PAGES, (1, 10, 30, 100, 1000), 20_000)
ONE_PAGE = Series("1 site, 1 page", "one", 1, 1, ONE.sizes, 20_000)
SPREAD = Series(f"{MANY} sites per flush", "many", MANY, PAGES, (1, 10, 30, 100), 1_000)
HOUSEKEPT = Series("1 site, housekeeping every call", "one", 1, PAGES, (30,), 20_000, True)
FEW = (1, 30, 1000)
EMBEDDED = Variant("embedded")
Plan = list[tuple[Series, Sequence[int]]]


def _variants(quick: bool) -> list[Variant]:
    """The embedded server, and Redis 7 when installed and not the embedded one already."""
    out = [EMBEDDED]
    if not quick and Path(REDIS7).exists() and os.environ.get("COUNTER_REDIS_SERVER") != REDIS7:
        out.append(Variant("redis 7", REDIS7))
    return out


async def cost(scratch: Path, pinning: Pinning, quick: bool, flushers: int) -> dict[str, Any]:
    """CPU time: the embedded server (one site, 100 sites per flush), the same without AOF,
    and Redis 7 (one site, three sizes)."""
    budget = Budget(4000, 10, 400, 1, flushers) if quick else Budget(10_000, 20, 1000, 3, flushers)
    plans: list[tuple[Variant, Plan]] = [(EMBEDDED, [(ONE, ONE.sizes), (SPREAD, SPREAD.sizes)])]
    if not quick:
        plans.append((Variant("embedded, AOF off", persist=False), [(ONE, FEW), (SPREAD, (1, 10))]))
        plans += [(v, [(ONE, FEW)]) for v in _variants(quick) if v is not EMBEDDED]
    variants: list[dict[str, Any]] = []
    for variant, plan in plans:
        folder = scratch / f"cost-{len(variants)}"
        variants.append(await measure_variant(variant, plan, folder, pinning, budget, False))
    section = {"variants": variants, "rounds": budget.rounds, "flushers": flushers}
    add_fits(section, "cpu_us_per_call")
    return section


async def instructions(
    scratch: Path, pinning: Pinning, quick: bool, flushers: int
) -> dict[str, Any]:
    budget = Budget(3000, 3, 100, 1, flushers)
    embedded: Plan = [(ONE, ONE.sizes), (ONE_PAGE, ONE_PAGE.sizes), (SPREAD, SPREAD.sizes),
                      (HOUSEKEPT, HOUSEKEPT.sizes)]  # fmt: skip
    plans: list[tuple[Variant, Plan]] = [(EMBEDDED, [(ONE, FEW)] if quick else embedded)]
    if not quick:
        listpack = ("--hash-max-listpack-entries", "512")
        plans += [
            (Variant("embedded, AOF off", persist=False), [(ONE, FEW)]),
            (Variant("embedded, hash-max-listpack-entries 512", extra=listpack), [(ONE, FEW)]),
        ]
        plans += [(v, [(ONE, ONE.sizes)]) for v in _variants(quick) if v is not EMBEDDED]
    variants: list[dict[str, Any]] = []
    for variant, plan in plans:
        folder = scratch / f"callgrind-{len(variants)}"
        variants.append(await measure_variant(variant, plan, folder, pinning, budget, True))
    section: dict[str, Any] = {"variants": variants}
    add_fits(section, "instructions_per_call")
    series = variants[0]["series"]
    if ONE_PAGE.label in series:
        section["page_model"] = page_model(series[ONE.label], series[ONE_PAGE.label])
    return section


async def _day(store: CountingStore, hits: int, visitors: int) -> None:
    """One local day of a site, a flush a minute (each does the once-a-second work): hits
    from ``visitors`` visitors over 1,000 pages, a quarter of them referred by 100 hosts."""
    site = SiteConfig(id="mem-day")
    local = datetime.now(site.tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    rng = random.Random(2)
    for minute in range(1440):
        events = [
            event(
                Kind.HIT, VisitorClass.GUEST, digest("v", f"d{rng.randrange(visitors)}"),
                page=f"/news/{rng.randrange(1000)}",
                referrer=f"ref{rng.randrange(100)}.example" if rng.random() < 0.25 else "",
            )
            for _ in range(hits // 1440)
        ]  # fmt: skip
        await store.apply([SiteWork(site, events)], midnight + 60 * minute + 30)


async def _pages(redis: RedisClient, store: CountingStore, n: int) -> dict[str, Any]:
    """Bytes per page: ``n`` pages with a hit each."""
    site = SiteConfig(id="mem-pages")
    for start in range(0, n, 1000):
        events = [
            event(Kind.HIT, VisitorClass.GUEST, digest("v", f"p{i}"), page=f"/p/{i}")
            for i in range(start, start + 1000)
        ]
        await store.apply([SiteWork(site, events)], time.time())
    usage = await memory.key_usage(redis, site.id)
    day_pages = next(v for k, v in usage.items() if k.startswith("dpages:"))
    return {
        "pages": n,
        "pages_hash_per_page": round(usage["pages"] / n, 1),
        "day_pages_per_page": round(day_pages / n, 1),
    }


async def memory_section(url: str) -> dict[str, Any]:
    """``benchmarks/memory.py``'s scenarios, then bytes per page, per site and day, and per
    day of history."""
    visitors = await memory.run(url)
    redis = connect(url, 30.0)
    store = CountingStore(redis)
    day_hits, day_visitors = 20_160, 10_000
    try:
        await redis.execute_command("FLUSHALL", "SYNC")
        await store.load()
        pages = await _pages(redis, store, 5000)
        await _day(store, day_hits, day_visitors)
        day = {
            name.split(":", 1)[0]: size
            for name, size in (await memory.key_usage(redis, "mem-day")).items()
            if name.split(":", 1)[0] in ("hours", "dpages", "refs", "online", "u")
        }
        site = SiteConfig(id="mem-history")
        await history(redis, site, time.time(), 365)
        usage = await memory.key_usage(redis, site.id)
    finally:
        await redis.flushall()
        await redis.aclose()
    kept = dict.fromkeys(("hours", "dpages", "refs", "online"), DAY_KEYS_TTL_S // 86_400)
    kept["u"] = UNIQUES_TTL_S // 86_400
    return {
        "visitors": visitors,
        "pages": pages,
        "day": {
            "hits": day_hits,
            "visitors": day_visitors,
            "keys": day,
            "days_kept": kept,
            "steady_bytes": sum(size * kept[k] for k, size in day.items()),
        },
        "history_bytes_per_day": round((usage["visits"] + usage["pageviews"]) / 365, 1),
    }


def service_from_e2e(data: dict[str, Any]) -> dict[str, Any]:
    """The service figures from the suite's end-to-end section (A: log on, a: log off)."""
    median, calls = data["median"], data["redis_calls"]
    out: dict[str, Any] = {"source": "e2e section", "connections": data["connections"]}
    for key, log in (("A", "on"), ("a", "off")):
        m = median[key]
        out[log] = {
            "rps": m["rps"],
            "cpu_us_per_hit": m["cpu_us"],
            "busy": m["busy"],
            "hits_per_core_s": round(1e6 / m["cpu_us"]) if m["cpu_us"] else None,
            "events_per_flush": round(1 / calls[key]["write_flushes_per_hit"], 1),
        }
    return out


async def service(scratch: Path, pinning: Pinning, quick: bool) -> dict[str, Any]:
    """``counter serve``, one worker on its own CPU, access log on (the default) and off,
    under wrk at 64 connections (all hits), alternating rounds."""
    seconds, rounds = (2, 1) if quick else (5, 3)
    valkey = EmbeddedServer(
        scratch / "service", os.environ.get("COUNTER_REDIS_SERVER"), persist=False
    )
    await valkey.start()
    pinning.pin(int(valkey.pidfile.read_text()), pinning.load)
    redis = connect(valkey.url, 30.0)
    await SiteStore(redis).put(SITE, {"name": "capacity"})
    pin = pinning.prefix(pinning.server)
    pair = {
        log: servers.start_counter(f"log-{log}", valkey.url, scratch, taskset=pin,
                                   access_log=log == "on")
        for log in ("on", "off")
    }  # fmt: skip
    plan = e2e.Plan(seconds=seconds, rounds=rounds)
    bench = e2e.Bench(redis, pinning, plan)
    runs: dict[str, list[Any]] = {log: [] for log in pair}
    try:
        for server in pair.values():
            await servers.wait_ready(server)
            await bench.load(server, plan.warmup, plan.connections)
        for _ in range(rounds):
            for log, server in pair.items():
                runs[log].append(await bench.load(server, seconds, plan.connections))
    finally:
        for server in pair.values():
            await servers.stop(server)
        await redis.aclose()
        await valkey.stop()
    calls = bench.redis_medians()
    out: dict[str, Any] = {"source": "measured", "connections": plan.connections}
    for log, loads in runs.items():
        cpu = statistics.median(x.server_cpu_us_per_request or 0 for x in loads)
        out[log] = {
            "rps": round(statistics.median(x.rps for x in loads)),
            "cpu_us_per_hit": round(cpu, 1),
            "busy": round(statistics.median(x.server_busy or 0 for x in loads), 3),
            "hits_per_core_s": round(1e6 / cpu) if cpu else None,
            "events_per_flush": round(1 / calls[f"log-{log}"]["write_flushes_per_hit"], 1),
        }
    progress(
        f"service: {out['on']['cpu_us_per_hit']} µs/hit (log on), "
        f"{out['off']['cpu_us_per_hit']} µs/hit (log off), "
        f"{out['on']['events_per_flush']} events per flush"
    )
    return out


class NodeCounters:
    """Every node's role, CPU time and EVALSHA calls, read before and after a stretch."""

    def __init__(self, nodes: dict[int, RedisClient]) -> None:
        self.nodes = nodes
        self.reads: list[dict[int, dict[str, Any]]] = []

    async def read(self) -> None:
        read = {}
        for port, client in self.nodes.items():
            cpu: dict[str, Any] = await client.info("cpu")
            stats: dict[str, Any] = await client.info("commandstats")
            repl: dict[str, Any] = await client.info("replication")
            read[port] = {
                "primary": repl["role"] == "master",
                "cpu_s": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
                "evalsha": int(stats.get("cmdstat_evalsha", {}).get("calls", 0)),
            }
        self.reads.append(read)

    def window(self, hits: float, seconds: float) -> list[dict[str, Any]]:
        """Per node, over the last stretch: role, CPU µs per hit, busy, share of EVALSHA."""
        before, after = self.reads[-2], self.reads[-1]
        calls = sum(after[p]["evalsha"] - before[p]["evalsha"] for p in after) or 1
        return [
            {
                "port": port,
                "role": "primary" if a["primary"] else "replica",
                "cpu_us_per_hit": round((a["cpu_s"] - b["cpu_s"]) * 1e6 / max(hits, 1), 2),
                "busy": round((a["cpu_s"] - b["cpu_s"]) / seconds, 3),
                "evalsha_share": round((a["evalsha"] - b["evalsha"]) / calls, 3),
            }
            for port, a, b in ((p, after[p], before[p]) for p in sorted(after))
        ]


def _one_per_primary(local: LocalCluster) -> tuple[str, ...]:
    """Site ids, one on each primary (in port order)."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < PRIMARIES:
        site = f"spread-{n}"
        found.setdefault(local.primary_for(keys.visits(site)).port, site)
        n += 1
    return tuple(found[port] for port in sorted(found))


async def cluster(scratch: Path, quick: bool) -> dict[str, Any]:
    """One site, three (one per primary) and 100 on a local cluster whose nodes have the
    embedded server's hash option; flushes of 1,000 events back to back, nothing pinned."""
    seconds, rounds = (1.0, 1) if quick else (3.0, 2)
    extra = ("--hash-max-listpack-entries", str(HASH_LISTPACK_ENTRIES))
    binary = launcher(scratch / "cluster", os.environ.get("COUNTER_REDIS_SERVER"), extra=extra)
    with local_cluster(scratch / "cluster", binary) as local:
        return await _on_cluster(local, seconds, rounds)


async def _on_cluster(local: LocalCluster, seconds: float, rounds: int) -> dict[str, Any]:
    ids = _one_per_primary(local)
    cases = [
        (Series("1 site", "c", 1, PAGES, (BATCH_FULL,), 20_000, ids=ids[:1]), BATCH_FULL),
        (Series(f"{PRIMARIES} sites, one per primary", "c", PRIMARIES, PAGES, (), 20_000,
                ids=ids), BATCH_FULL // PRIMARIES),
        (Series(f"{MANY} sites", "many", MANY, PAGES, (), 1_000), BATCH_FULL // MANY),
    ]  # fmt: skip
    homes = [local.primary_for(keys.visits(s.id)).port for s in cases[2][0].configs]
    nodes = {n.port: connect(f"redis://127.0.0.1:{n.port}", 10.0) for n in local.nodes}
    counters = NodeCounters(nodes)
    driver = Driver(local.url, FLUSHERS)
    runs: list[dict[str, Any]] = []
    try:
        for series, _ in cases:
            await driver.prepare(series)
        for rnd in range(rounds):
            for series, k in cases:
                await counters.read()
                done = await driver.sustained(series, k, seconds)
                await counters.read()
                per_node = counters.window(done["hits"], done["seconds"])
                hits_per_s = done["hits"] / done["seconds"]
                runs.append({"round": rnd + 1, "case": series.label, "k": k,
                             "hits_per_s": round(hits_per_s), "nodes": per_node})  # fmt: skip
                busiest = max(n["busy"] for n in per_node if n["role"] == "primary")
                progress(
                    f"cluster, {series.label}: {hits_per_s:,.0f} hits/s, busiest primary "
                    f"{busiest:.0%} busy"
                )
    finally:
        await driver.close()
        for client in nodes.values():
            await client.aclose()
    return {
        "seconds": seconds,
        "rounds": rounds,
        "flushers": FLUSHERS,
        "sites_per_primary": {str(p): homes.count(p) for p in sorted(set(homes))},
        "runs": runs,
        "median": [_cluster_median([r for r in runs if r["case"] == s.label]) for s, _ in cases],
    }


def _cluster_median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds. The ceiling: the hits/s at which the busiest primary would be a
    whole core busy, its CPU per hit held."""
    nodes = []
    for i, first in enumerate(runs[0]["nodes"]):
        mine = [r["nodes"][i] for r in runs]
        nodes.append({
            "port": first["port"],
            "role": mine[-1]["role"],
            **{k: round(statistics.median(n[k] for n in mine), 3)
               for k in ("cpu_us_per_hit", "busy", "evalsha_share")},
        })  # fmt: skip
    primaries = [n for n in nodes if n["role"] == "primary"]
    worst = max(n["cpu_us_per_hit"] for n in primaries)
    return {
        "case": runs[0]["case"],
        "k": runs[0]["k"],
        "hits_per_s": round(statistics.median(r["hits_per_s"] for r in runs)),
        "nodes": nodes,
        "primaries_cpu_us_per_hit": round(sum(n["cpu_us_per_hit"] for n in primaries), 2),
        "ceiling_hits_per_s": round(1e6 / worst) if worst else None,
    }


SCENARIOS = {
    f"one site, HTTP batches ({BATCH_HTTP} per call)": (ONE.label, BATCH_HTTP),
    f"one site, full batches ({BATCH_FULL} per call)": (ONE.label, BATCH_FULL),
    "many sites, HTTP batches (1 per call)": (SPREAD.label, 1),
    f"many sites, full batches ({BATCH_FULL // MANY} per call)": (SPREAD.label, BATCH_FULL // MANY),
}
"""The flushes the sizing considers: a busy site's, and those of many sites (a flush of 30
events over as many sites; one of 1,000 over 100), as measured series and sizes."""


def model(data: dict[str, Any]) -> dict[str, Any]:
    """Hits/s per core of Redis and of the service, and the sizing they imply."""
    out: dict[str, Any] = {"headroom": HEADROOM}
    cost_data, svc = data.get("cost"), data.get("service")
    if cost_data is None or svc is None:
        return out
    embedded = cost_data["variants"][0]["series"]
    redis_us = {}
    for name, (series, k) in SCENARIOS.items():
        row = next((r for r in embedded.get(series, []) if r["k"] == k), None)
        if row is not None:
            redis_us[name] = row["cpu_us_per_hit"]
    service_us = svc["on"]["cpu_us_per_hit"]
    out["redis_us_per_hit"] = redis_us
    out["redis_hits_per_core_s"] = {k: round(1e6 / v) for k, v in redis_us.items()}
    out["service_us_per_hit"] = {"access log on": service_us, "off": svc["off"]["cpu_us_per_hit"]}
    sizing = []
    for target in TARGETS:
        primaries: dict[str, int | None] = {}
        for name, us in redis_us.items():
            need = target * us / 1e6 / HEADROOM
            # One site is one slot: it can never use more than one primary.
            primaries[name] = None if name.startswith("one site") and need > 1 else math.ceil(need)
        cores = math.ceil(target * service_us / 1e6 / HEADROOM)
        sizing.append({"hits_per_s": target, "service_cores": cores, "primaries": primaries})
    out["sizing"] = sizing
    return out


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return [*out, *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


def _cost_lines(section: dict[str, Any]) -> list[str]:
    lines = [
        f"## Redis CPU per `batch.lua` call (median of {section['rounds']} rounds, "
        f"{section['flushers']} flushers)",
        "",
    ]
    for v in section["variants"]:
        lines += [f"{v['variant']}: {v['server']}, {v['config']}", ""]
        lines += _table(
            ["series", "calls/flush", "events/call", "calls", "pages/call", "CPU µs/call (range)",
             "of which sys", "server busy", "CPU µs/hit", "hits/s per core",
             "evalsha usec/call (wall)", "inner commands/call"],
            [[label, r["calls_per_flush"], r["k"], r["calls"], r["distinct_pages"],
              f"{r['cpu_us_per_call']} ({r['cpu_us_per_call_range'][0]}-"
              f"{r['cpu_us_per_call_range'][1]})", r["sys_us_per_call"], r["busy"],
              r["cpu_us_per_hit"],
              f"{r['hits_per_core_s']:,}", r["evalsha_usec_per_call"], r["inner_commands_per_call"]]
             for label, rows in v["series"].items() for r in rows],
        )  # fmt: skip
        lines += [
            f"Fit, {label}: {f['fixed']} µs per call + {f['per_event']} µs per event."
            for label, f in v["fits"].items()
        ]
        lines.append("")
    return lines


def _instruction_lines(section: dict[str, Any]) -> list[str]:
    lines = ["## Instructions per `batch.lua` call (callgrind)", ""]
    rows = []
    for v in section["variants"]:
        for label, series in v["series"].items():
            rows += [[v["variant"], v["server"], label, r["calls_per_flush"], r["k"], r["calls"],
                      r["distinct_pages"], f"{r['instructions_per_call']:,}",
                      f"{r['instructions_per_hit']:,}"]
                     for r in series]  # fmt: skip
    lines += _table(
        ["server", "version", "series", "calls/flush", "events/call", "calls", "pages/call",
         "instructions/call", "instructions/hit"],
        rows,
    )  # fmt: skip
    for v in section["variants"]:
        lines += [
            f"Fit, {v['variant']}, {label}: {f['fixed']:,.0f} instructions per call + "
            f"{f['per_event']:,.0f} per event."
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
    return [*lines, ""]


def _memory_lines(m: dict[str, Any]) -> list[str]:
    v, p, d = m["visitors"], m["pages"], m["day"]
    lines = [
        "## Redis memory",
        "",
        f"- {v['bytes_per_online_visitor']} B per visitor in the presence sets (100,000 on one "
        f"site); {v['bytes_per_site_fixed']:,.0f} B for a site with one visitor.",
        f"- Per page: {p['pages_hash_per_page']} B in the pages hash, {p['day_pages_per_page']} "
        f"B in a day's page list ({p['pages']:,} pages).",
        f"- Per day of history (period counters of visits and page views): "
        f"{m['history_bytes_per_day']} B, kept for ever.",
        f"- One day of {d['hits']:,} hits from {d['visitors']:,} visitors over 1,000 pages:",
        "",
    ]
    lines += _table(
        ["key", "bytes", "days kept"],
        [[k, f"{b:,}", d["days_kept"][k]] for k, b in d["keys"].items()],
    )
    lines.append(f"Steady state, these keys: {d['steady_bytes']:,} B per site.")
    return [*lines, ""]


def _service_lines(s: dict[str, Any]) -> list[str]:
    lines = [f"## The service, one worker on one core ({s['source']}, {s['connections']} "
             "connections, all hits)", ""]  # fmt: skip
    lines += _table(
        ["access log", "req/s", "server CPU µs/hit", "core busy", "hits/s per core",
         "events per flush"],
        [[log, f"{x['rps']:,}", x["cpu_us_per_hit"], x["busy"], f"{x['hits_per_core_s']:,}",
          x["events_per_flush"]] for log, x in ((k, s[k]) for k in ("on", "off"))],
    )  # fmt: skip
    return lines


def _cluster_lines(c: dict[str, Any]) -> list[str]:
    lines = [
        f"## A local cluster: 3 primaries, 3 replicas (medians of {c['rounds']} rounds of "
        f"{c['seconds']} s, {c['flushers']} flushers)",
        "",
        f"{MANY} sites per primary (port: sites): {c['sites_per_primary']}.",
        "",
    ]
    rows = []
    for m in c["median"]:
        for n in m["nodes"]:
            rows.append([m["case"], m["k"], f"{m['hits_per_s']:,}", n["port"], n["role"],
                         n["evalsha_share"], n["cpu_us_per_hit"], n["busy"],
                         f"{m['ceiling_hits_per_s']:,}"])  # fmt: skip
    lines += _table(
        ["case", "events/call", "hits/s", "node", "role", "share of EVALSHA", "CPU µs per hit",
         "busy", "ceiling hits/s (busiest primary at 100 %)"],
        rows,
    )  # fmt: skip
    return lines


def _model_lines(m: dict[str, Any]) -> list[str]:
    if "sizing" not in m:
        return []
    lines = ["## Model", ""]
    lines += _table(
        ["Redis scenario", "Redis CPU µs per hit", "hits/s per primary core"],
        [[k, v, f"{m['redis_hits_per_core_s'][k]:,}"] for k, v in m["redis_us_per_hit"].items()],
    )
    svc = m["service_us_per_hit"]
    lines += [
        f"Service: {svc['access log on']} µs per hit (access log on), {svc['off']} (off). "
        f"Sizing at {m['headroom']:.0%} busy:",
        "",
    ]
    names = list(m["redis_us_per_hit"])
    lines += _table(
        ["hits/s", "service cores (log on)", *[f"primaries: {n}" for n in names]],
        [[f"{r['hits_per_s']:,}", r["service_cores"],
          *[r["primaries"][n] or "over one primary" for n in names]] for r in m["sizing"]],
    )  # fmt: skip
    return lines


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


async def run(
    scratch: Path,
    pinning: Pinning,
    sections: Sequence[str] = SECTIONS,
    quick: bool = False,
    flushers: int = FLUSHERS,
    e2e_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sections asked for, then the model; ``e2e_data`` (the suite's end-to-end section)
    stands in for the ``service`` section when given."""
    data: dict[str, Any] = {"quick": quick}
    if "cost" in sections:
        data["cost"] = await cost(scratch, pinning, quick, flushers)
    if "instructions" in sections:
        if shutil.which("valgrind") and shutil.which("callgrind_control"):
            data["instructions"] = await instructions(scratch, pinning, quick, flushers)
        else:
            progress("capacity: valgrind is not installed; no instruction counts")
    if "memory" in sections:
        server = EmbeddedServer(
            scratch / "memory", os.environ.get("COUNTER_REDIS_SERVER"), persist=False
        )
        await server.start()
        try:
            data["memory"] = await memory_section(server.url)
        finally:
            await server.stop()
    if "service" in sections:
        if e2e_data:
            data["service"] = service_from_e2e(e2e_data)
        else:
            data["service"] = await service(scratch, pinning, quick)
    if "cluster" in sections:
        data["cluster"] = await cluster(scratch, quick)
    data["model"] = model(data)
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help="fewer cases and rounds, to try it out")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    p.add_argument(
        "--flushers",
        type=int,
        default=FLUSHERS,
        help="connections sending flushes at once (1: the server idles between flushes)",
    )
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    started = time.monotonic()
    scratch = RESULTS / "tmp" / f"capacity-{time.strftime('%Y%m%d-%H%M%S')}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        data = asyncio.run(run(scratch, Pinning.detect(), args.sections, args.quick, args.flushers))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    data["meta"] = {
        "date": date.today().isoformat(),
        "host": socket.gethostname(),
        "command": shlex.join(["python", "-m", "benchmarks.capacity", *argv]),
        "cpus": len(os.sched_getaffinity(0)),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"capacity-{data['meta']['date']}-{data['meta']['host']}"
    stem.with_suffix(".json").write_bytes(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    text = "\n".join([f"# counter capacity figures — {data['meta']['date']}", "",
                      f"`{data['meta']['command']}` ({data['meta']['elapsed_s']:.0f} s, "
                      f"{data['meta']['cpus']} CPUs)", "", *markdown(data)])  # fmt: skip
    stem.with_suffix(".md").write_text(text)
    progress(f"wrote {stem}.json and {stem}.md")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
