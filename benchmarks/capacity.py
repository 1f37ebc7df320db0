"""The figures of the capacity model (docs/capacity.md): what a hit costs Redis and the service.

    python -m benchmarks.capacity [--quick] [--sections cost instructions memory service cluster]

About ten minutes on 2 CPUs (``--quick``: about one); also the suite's optional ``capacity``
section. Writes ``benchmarks/results/<date>-<host>-capacity.{json,md}`` and prints the
Markdown. Every server listens on 127.0.0.1 or a unix socket and stops with the run.

- ``cost``: Redis CPU per ``batch.lua`` call at 1 to 1,000 events per call, for one busy site
  and for 100 sites per flush, and per read, on the embedded server exactly as
  ``counter serve`` starts it (AOF with ``appendfsync always``, ``hash-max-listpack-entries
  128``, ...), the same without AOF, and Redis 7 when installed: the server's CPU time
  (``INFO cpu``) and ``INFO commandstats`` (whose ``usec`` is wall-clock time, inflated
  whenever the server waits for a CPU), medians of rounds. See ``benchmarks/script_cost.py``
  for how the calls are made.
- ``instructions``: the same calls under valgrind's callgrind: noise-free figures, also for
  AOF off, ``hash-max-listpack-entries 512``, Redis 7 and the once-a-second housekeeping,
  with where a call's instructions go.
- ``memory``: ``used_memory`` growth per online visitor, per site, per tracked page, per
  site-day, per day of history and per batch marker.
- ``service``: ``counter serve`` (one worker, pinned) under wrk: CPU per hit, events per
  flush, flushes per second.
- ``cluster``: a local cluster (3 primaries, 3 replicas, AOF): one site (``appendfsync``
  always and everysec), three sites on three primaries and 100 sites, flushes back to back,
  every node's CPU per hit.

The model (hits/s per primary core, one site's ceiling, sizing for 10k, 100k and 1M hits/s)
is worked out from them by ``benchmarks/capacity_report.py`` and ``benchmarks/sizing.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shlex
import shutil
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from benchmarks import capacity_report, e2e, memory, servers, sizing
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
from counter.lua.batch import event
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
"""Events per call of a busy site: one busy worker makes about 30 per flush (the ``service``
section measures it); a primary that falls behind makes the next flushes bigger."""
FLUSHERS = 16
"""Flushers sending at once, each its own connection and one flush at a time, as 16 workers'
would: the server then rarely waits for the next call, and its cost per call is the one of a
busy server, which is what capacity is about (``--flushers 1``: an idle server's)."""

ONE = Series(capacity_report.ONE_LABEL, "one", 1, PAGES, (1, 10, 30, 100, 1000), 20_000)
ONE_PAGE = Series("1 site, 1 page", "one", 1, 1, ONE.sizes, 20_000)
SPREAD = Series(capacity_report.SPREAD_LABEL, "many", MANY, PAGES, ONE.sizes, 1_000)
HOUSEKEPT = Series("1 site, housekeeping every call", "one", 1, PAGES, (30,), 20_000, True)
READ = Series(capacity_report.READ_LABEL, "one", 1, PAGES, (0,), 20_000)
"""What ``GET /v1/stats`` and the live stats hub cost a site per read (once a second per
process and site at most, whatever the number of readers)."""
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
    budget = Budget(4000, 10, 400, 1, flushers) if quick else Budget(10_000, 20, 1000, 5, flushers)
    plans: list[tuple[Variant, Plan]] = [
        (EMBEDDED, [(ONE, ONE.sizes), (SPREAD, SPREAD.sizes), (READ, READ.sizes)])
    ]
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
    """Instructions per call under callgrind (one round: they do not depend on the load):
    the embedded server's series, a page model, and the variants' three sizes."""
    budget = Budget(3000, 3, 100, 1, flushers)
    embedded: Plan = [(ONE, ONE.sizes), (ONE_PAGE, ONE_PAGE.sizes), (SPREAD, SPREAD.sizes),
                      (HOUSEKEPT, HOUSEKEPT.sizes), (READ, READ.sizes)]  # fmt: skip
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


DAY_HITS = 20_160
DAY_VISITORS = 10_000
DAY_PAGES = 1_000
PAGES_MEASURED = 10_000
"""Pages the per-page figure is measured over (``DAY_PAGES_MAX``: all in one day's list)."""


def _page_name(n: int) -> str:
    """A page name of a portal's length (45 characters)."""
    return f"/tin-tuc/thoi-su/{n:07d}-mot-bai-viet-moi-nhat"


async def _day(store: CountingStore, site: SiteConfig, midnight: float) -> None:
    """One local day of ``site`` from ``midnight``, a flush a minute (each also does the
    once-a-second work): ``DAY_HITS`` hits from ``DAY_VISITORS`` visitors over ``DAY_PAGES``
    pages, a quarter of them referred by one of 100 hosts."""
    rng = random.Random(2)
    for minute in range(1440):
        events = [
            event(
                Kind.HIT, VisitorClass.GUEST, digest("v", f"d{rng.randrange(DAY_VISITORS)}"),
                page=_page_name(rng.randrange(DAY_PAGES)),
                referrer=f"ref{rng.randrange(100)}.example" if rng.random() < 0.25 else "",
            )
            for _ in range(DAY_HITS // 1440)
        ]  # fmt: skip
        await store.apply([SiteWork(site, events)], midnight + 60 * minute + 30)


async def _site_day(redis: RedisClient, store: CountingStore) -> dict[str, Any]:
    """What a further day adds to a site: two days of traffic (the day before yesterday,
    then yesterday), ``used_memory`` growth over the second, and its day keys' sizes."""
    site = SiteConfig(id="mem-day")
    today = datetime.now(site.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    await _day(store, site, (today - timedelta(days=2)).timestamp())
    before = await memory.used_memory(redis)
    await _day(store, site, (today - timedelta(days=1)).timestamp())
    grown = await memory.used_memory(redis) - before
    yesterday = (today - timedelta(days=1)).date().isoformat()
    day = {
        name.split(":", 1)[0]: size
        for name, size in (await memory.key_usage(redis, site.id)).items()
        if name.endswith(yesterday)
    }
    return {
        "hits": DAY_HITS,
        "visitors": DAY_VISITORS,
        "pages": DAY_PAGES,
        "used_memory_growth": grown,
        "keys": day,
        "days_kept": {k: sizing.UNIQUES_DAYS if k == "u" else sizing.DAY_KEYS_DAYS for k in day},
    }


async def _pages(redis: RedisClient, store: CountingStore) -> dict[str, Any]:
    """Bytes per tracked page: ``used_memory`` growth over ``PAGES_MEASURED`` new pages of
    45-character names, each hit once by the same visitor (so nothing else grows)."""
    site = SiteConfig(id="mem-pages")
    reader = digest("v", "reader")
    now = time.time()
    await store.apply([SiteWork(site, [event(Kind.HIT, VisitorClass.GUEST, reader)])], now)
    before = await memory.used_memory(redis)
    for start in range(0, PAGES_MEASURED, 1000):
        events = [
            event(Kind.HIT, VisitorClass.GUEST, reader, page=_page_name(i))
            for i in range(start, start + 1000)
        ]
        await store.apply([SiteWork(site, events)], now)
    grown = await memory.used_memory(redis) - before
    usage = await memory.key_usage(redis, site.id)
    day_pages = next(v for k, v in usage.items() if k.startswith("dpages:"))
    return {
        "pages": PAGES_MEASURED,
        "name_bytes": len(_page_name(0)),
        "bytes_per_page": round(grown / PAGES_MEASURED, 1),
        "pages_hash_per_page": round(usage["pages"] / PAGES_MEASURED, 1),
        "day_pages_per_page": round(day_pages / PAGES_MEASURED, 1),
    }


MARKERS_MEASURED = 20_000


async def _markers(redis: RedisClient, store: CountingStore) -> float:
    """Bytes per batch marker (the key each write call sets for ``MARKER_TTL_S``, so that a
    retried flush counts once): ``used_memory`` growth over one-event calls by one visitor
    on one page, with batch ids as a flusher makes them."""
    site = SiteConfig(id="mem-markers")
    hit = event(Kind.HIT, VisitorClass.GUEST, digest("v", "reader"), page=_page_name(0))
    now = time.time()
    await store.apply([SiteWork(site, [hit])], now)
    prefix = secrets.token_hex(6)
    before = await memory.used_memory(redis)
    for start in range(0, MARKERS_MEASURED, 1000):
        calls = [
            SiteWork(site, [hit], batch_id=f"{prefix}{n:x}") for n in range(start, start + 1000)
        ]
        await store.apply(calls, now)
    return round((await memory.used_memory(redis) - before) / MARKERS_MEASURED, 1)


async def _history(redis: RedisClient) -> float:
    """Bytes per day of history: ``used_memory`` growth over a year of period counters."""
    before = await memory.used_memory(redis)
    await history(redis, SiteConfig(id="mem-history"), time.time(), 365)
    return round((await memory.used_memory(redis) - before) / 365, 1)


async def memory_section(url: str) -> dict[str, Any]:
    """``benchmarks/memory.py``'s scenarios (per online visitor, per site), then bytes per
    page, per site and day, and per day of history, each a ``used_memory`` delta."""
    visitors = await memory.run(url)
    redis = connect(url, 30.0)
    store = CountingStore(redis)
    try:
        await redis.execute_command("FLUSHALL", "SYNC")
        await store.load()
        pages = await _pages(redis, store)
        day = await _site_day(redis, store)
        history_per_day = await _history(redis)
        marker = await _markers(redis, store)
    finally:
        await redis.flushall()
        await redis.aclose()
    progress(
        f"memory: {pages['bytes_per_page']} B/page, {day['used_memory_growth']:,} B per "
        f"site-day, {history_per_day} B per day of history"
    )
    return {
        "visitors": visitors,
        "pages": pages,
        "day": day,
        "history_bytes_per_day": history_per_day,
        "bytes_per_marker": marker,
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
            "flushes_per_s": round(m["rps"] * calls[key]["write_flushes_per_hit"]),
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
            "flushes_per_s": round(
                statistics.median(x.rps for x in loads)
                * calls[f"log-{log}"]["write_flushes_per_hit"]
            ),
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


CLUSTER_OPTIONS = ("--appendonly", "yes", "--appendfsync", "always")
"""Every node persists as the embedded server does (the test cluster's nodes do not)."""


async def cluster(scratch: Path, quick: bool) -> dict[str, Any]:
    """One site (calls of 30 and of 1,000 events), three (one per primary) and 100 on a
    local cluster whose nodes have the embedded server's hash option and AOF; flushes back to
    back from ``FLUSHERS`` connections, nothing pinned."""
    seconds, rounds = (1.0, 1) if quick else (3.0, 3)
    extra = ("--hash-max-listpack-entries", str(HASH_LISTPACK_ENTRIES), *CLUSTER_OPTIONS)
    binary = launcher(scratch / "cluster", os.environ.get("COUNTER_REDIS_SERVER"), extra=extra)
    with local_cluster(scratch / "cluster", binary) as local:
        return await _on_cluster(local, seconds, rounds)


async def _fsync(nodes: dict[int, RedisClient], policy: str) -> None:
    """``appendfsync`` on every node."""
    for client in nodes.values():
        await client.config_set("appendfsync", policy)


async def _on_cluster(local: LocalCluster, seconds: float, rounds: int) -> dict[str, Any]:
    ids = _one_per_primary(local)
    one = Series("1 site", "c", 1, PAGES, (BATCH_HTTP, BATCH_FULL), 20_000, ids=ids[:1])
    spread = Series(f"{MANY} sites", "many", MANY, PAGES, (), 1_000)
    cases = [
        (one, BATCH_HTTP, "always"),
        (one, BATCH_FULL, "always"),
        (one, BATCH_HTTP, "everysec"),
        (one, BATCH_FULL, "everysec"),
        (Series(f"{PRIMARIES} sites, one per primary", "c", PRIMARIES, PAGES, (), 20_000,
                ids=ids), BATCH_FULL // PRIMARIES, "always"),
        (spread, BATCH_FULL // MANY, "always"),
    ]  # fmt: skip
    homes = [local.primary_for(keys.visits(s.id)).port for s in spread.configs]
    nodes = {n.port: connect(f"redis://127.0.0.1:{n.port}", 10.0) for n in local.nodes}
    counters = NodeCounters(nodes)
    driver = Driver(local.url, FLUSHERS)
    runs: list[dict[str, Any]] = []
    try:
        for series, _, _ in cases:
            await driver.prepare(series)
        for rnd in range(rounds):
            for series, k, policy in cases:
                await _fsync(nodes, policy)
                await counters.read()
                done = await driver.sustained(series, k, seconds)
                await counters.read()
                per_node = counters.window(done["hits"], done["seconds"])
                hits_per_s = done["hits"] / done["seconds"]
                runs.append({"round": rnd + 1, "case": series.label, "k": k, "fsync": policy,
                             "hits_per_s": round(hits_per_s), "nodes": per_node})  # fmt: skip
                busiest = max(n["busy"] for n in per_node if n["role"] == "primary")
                progress(
                    f"cluster, {series.label}, {k} per call, appendfsync {policy}: "
                    f"{hits_per_s:,.0f} hits/s, busiest primary {busiest:.0%} busy"
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
        "median": [
            _cluster_median([r for r in runs if (r["case"], r["k"], r["fsync"]) == case])
            for case in ((s.label, k, policy) for s, k, policy in cases)
        ],
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
        "fsync": runs[0]["fsync"],
        "hits_per_s": round(statistics.median(r["hits_per_s"] for r in runs)),
        "nodes": nodes,
        "primaries_cpu_us_per_hit": round(sum(n["cpu_us_per_hit"] for n in primaries), 2),
        "ceiling_hits_per_s": round(1e6 / worst) if worst else None,
    }


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
    data["model"] = capacity_report.model(data)
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
    stem = args.out / f"{data['meta']['date']}-{data['meta']['host']}-capacity"
    stem.with_suffix(".json").write_bytes(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    meta = data["meta"]
    took = f"`{meta['command']}` ({meta['elapsed_s']:.0f} s, {meta['cpus']} CPUs)"
    head = [f"# counter capacity figures — {meta['date']}", "", took, ""]
    text = "\n".join([*head, *capacity_report.markdown(data)])
    stem.with_suffix(".md").write_text(text)
    progress(f"wrote {stem}.json and {stem}.md")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
