"""A soak: ``counter serve`` as users run it, for minutes, under ordinary traffic and every
abuse pattern at once; whether its memory, descriptors and Redis stay bounded, and whether
ordinary visitors are still served and counted.

    python -m benchmarks.soak [--minutes 10] [--quick]     # --quick: about a minute

The service runs in its embedded mode (its own Valkey, AOF with ``appendfsync always``), on
127.0.0.1, with its access log on and default limits, except: it trusts 127.0.0.1 as its
proxy (the load generator plays a reverse proxy, so ``X-Forwarded-For`` names the clients),
``COUNTER_STREAMS_MAX`` is 100, ``COUNTER_STREAM_MAX_S`` 60 and ``COUNTER_STREAM_PAGES`` 100
(so the stream caps and lifetimes are reached within minutes). The site ``soak`` gets a small
``max_pages`` and 30 s / 60 s online and visit windows through the admin API, so that every
bound is reached within the first half of the run. Then, at once and until the end (see
``soak_load.py``): ordinary hits, busuanzi page views and votes, a client rotating visitor
ids, random pages, slow and dripped bodies and heads, floods of poll and live stats streams,
bursts of uncached reads, and garbage. Every few seconds it samples the service
(``soak_watch.py``). Results: ``benchmarks/results/<date>-<host>-soak.*`` (``-soak-<N>min.*``
for another length, ``-soak-quick.*``); the exit status is 1 when a verdict fails.

``--trace`` runs the service under ``benchmarks/soak_trace.py`` (tracemalloc and live objects
by type, recorded every 15 s) and keeps everything in the scratch folder, results included:
a diagnostic run, for when memory rises, whose RSS is not the product's.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
import platform
import re
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks import servers, soak_trace
from benchmarks.common import cpu_count, percentile, progress
from benchmarks.soak_load import GARBAGE, ORIGIN, SITE, TARGET_PAGE, Load, Rates, Recorder
from benchmarks.soak_watch import STALL_MS, Sample, Watch, growth
from counter import redis_keys
from counter.storage import RedisClient, connect

RESULTS = Path(__file__).with_name("results")
ENV = {
    "COUNTER_HIT_RATE": "600",  # the default (the benchmark servers turn it off)
    "COUNTER_TRUSTED_PROXIES": "127.0.0.1/32",
    "COUNTER_STREAMS_MAX": "100",
    "COUNTER_STREAM_MAX_S": "60",
    "COUNTER_STREAM_PAGES": "100",
}
HIT_RATE = 600
STREAMS_MAX = 100
TIMEOUT_S = 10.0
"""``COUNTER_HEADER_TIMEOUT_S`` and ``COUNTER_BODY_TIMEOUT_S`` (their defaults)."""
OVERRUN_S = 120.0
"""The most the load may run past its minutes (each pattern waits at most its client
timeouts once due to stop: 40 s for a silent stream); beyond, the run fails."""
CLOSE_SLACK_S = 5.0
"""A slow connection must be closed within its timeout plus this."""
FLAT = {"rss": 0.03, "used_memory": 0.03, "fds": 0.10}
"""The most a series's high-water mark may rise over the second half of the run (the first
half is the warm-up), as a fraction of its value at the half, for the series to be flat.

The high-water mark, because the service's memory swings by design: its bounded caches fill
and are emptied (the stats cache, up to 50,000 page counts, about every two minutes under
this load), so a line fitted through a few minutes of RSS rises or falls with where the
window cuts a swing (+5.6% in a run whose peaks rose 0.6%). Measured here with nothing
leaking: once warm (about 4 minutes), the high-water mark rose 0.0% to 0.7% over 15 to 24
minutes, and the Python heap's peaks (a traced run) not at all. 3% is four times the most
seen, and fails a leak of 28 MB an hour (about 40 bytes per request at the soak's 190
requests a second) within a 10-minute run; a 30-minute run fails one of a third of that."""
FDS_SLACK = 10
"""... or, for descriptors, this many (a few streams more or less at the end of a run)."""
IDLE_FDS_SLACK = 5
"""Once the load is gone, the service's descriptors but sockets are back to their idle
count, give or take this many."""
REDIS_POOL = 50
"""``COUNTER_REDIS_POOL`` (its default): Redis connections the pool keeps once opened."""
MIN_FLAT_MINUTES = 8
"""Shorter runs are reported, not judged flat or not: their half falls before the end of the
warm-up (about 4 minutes here, while the service's bounded caches fill for the first time),
so their high-water mark still rises without any leak."""
ORDINARY_OK = 0.999
EXPECTED_5XX = {"503 too_many_streams", "503 too_many_pages", "501 method_not_implemented"}
"""5xx answers that are refusals by design: the total stream cap and the pages the live stats
of a site may follow (``503`` with ``Retry-After``), and a method the server does not know
(``501``, RFC 9110)."""
RETRIED = re.compile(r" WARNING counter\.storage: .* failed \(.*\); retry \d+/\d+ in ")
DISK_STALL = "aof-"
"""Redis's stalls of this kind (``aof-fsync-always``, ``aof-write-...``) are its disk's."""
STALL_WINDOW_S = 5
"""A Redis call retried this close to the end of a stall of the disk was held up by it."""
SLOW_KINDS = ("slow_body", "slow_head")
STREAM_KINDS = ("poll_streams", "stats_streams", "page_flood_streams")
SLOW_OUTCOMES = {"408 request_timeout", "closed", "reset"}


@dataclass(frozen=True, slots=True)
class Plan:
    minutes: float
    sample_s: float
    window_s: float
    rates: Rates = field(default_factory=Rates)

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def max_pages(self) -> int:
        """Reached by the random pages a tenth of the way into the run."""
        return 51 + int(self.rates.random_pages * self.seconds / 10)


def plan_for(minutes: float, quick: bool) -> Plan:
    if quick:
        return Plan(minutes=1.0, sample_s=2.0, window_s=10.0)
    return Plan(minutes=minutes, sample_s=5.0, window_s=60.0 if minutes >= 5 else 10.0)


async def _prepare(url: str, plan: Plan) -> tuple[str, str]:
    """The soak site and an open poll on it (its id and first option's id)."""
    auth = {"Authorization": f"Bearer {servers.ADMIN_TOKEN}"}
    site = {"name": "soak", "max_pages": plan.max_pages, "online_window_s": 30,
            "visit_window_s": 60, "origins": [ORIGIN]}  # fmt: skip
    poll = {"site": SITE, "question": "Bạn thấy cổng thông tin thế nào?",
            "options": ["Tốt", "Chưa tốt"], "results_visibility": "always"}  # fmt: skip
    async with aiohttp.ClientSession(headers=auth) as admin:
        async with admin.put(f"{url}/v1/admin/sites/{SITE}", json=site) as resp:
            resp.raise_for_status()
        async with admin.post(f"{url}/v1/admin/polls", json=poll) as resp:
            resp.raise_for_status()
            made = await resp.json()
    return str(made["id"]), str(made["options"][0]["id"])


async def _report_progress(
    recorder: Recorder, samples: list[Sample], window_s: float, until: float
) -> None:
    """A progress line each window: the latest sample and the ordinary hits so far."""
    loop = asyncio.get_running_loop()
    while loop.time() + window_s <= until + 1:
        await asyncio.sleep(window_s)
        if not samples:
            continue
        s, ordinary = samples[-1], recorder.total("ordinary")
        progress(
            f"soak t={s.t:5.0f}s: service RSS {s.rss_service / 2**20:.1f} MB, "
            f"{s.fds_service} fds, used_memory {s.used_memory / 2**20:.2f} MB, "
            f"{s.keys:,} keys, {s.streams_open:.0f} streams; ordinary hits "
            f"{ordinary['200']:,}/{sum(ordinary.values()):,} answered 200"
        )


async def _drain(watch: Watch, idle: Sample, clock: Callable[[], float]) -> tuple[Sample, float]:
    """Samples after the load is gone, until the service holds no more client connections
    than when idle (or 30 s): the last one and the seconds it took."""
    started = time.monotonic()
    while True:
        s = await watch.sample(clock())
        back = s.tcp_service <= idle.tcp_service and s.streams_open == 0
        if back or time.monotonic() - started > 30:
            return s, time.monotonic() - started
        await asyncio.sleep(0.5)


async def _counted(redis: RedisClient, pages: list[str]) -> dict[str, int]:
    """Page views of ``pages`` in Redis, and how many pages the site tracks."""
    values = await redis.hmget(redis_keys.pages(SITE), pages)
    counted = {p: int(v or 0) for p, v in zip(pages, values, strict=True)}
    counted["tracked pages"] = int(await redis.hlen(redis_keys.pages(SITE)))
    return counted


def log_problems(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """Lines of tracebacks, errors and warnings in the service's log: (retried Redis calls,
    everything else)."""
    alarming = ("Traceback", " ERROR ", " CRITICAL ", " WARNING ")
    retried: list[str] = []
    other: list[str] = []
    for line in lines:
        if any(a in line for a in alarming):
            (retried if RETRIED.search(line) else other).append(line.rstrip())
    return retried, other


def logged_at(line: str) -> int:
    """The Unix second of a log line (``2026-12-01 18:18:48,438 WARNING ...``, local time)."""
    return int(datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").timestamp())


def unexplained(retried_at: dict[str, int], stalls: list[dict[str, Any]]) -> int:
    """Redis calls retried (``retried_at``: how many in each Unix second) when Redis's disk
    had not just stalled (within STALL_WINDOW_S of the end of a stall it recorded)."""
    disk = [s["at"] for s in stalls if s["kind"].startswith(DISK_STALL)]
    return sum(
        n for at, n in retried_at.items()
        if not any(abs(int(at) - end) <= STALL_WINDOW_S for end in disk)
    )  # fmt: skip


async def _server_version(redis: RedisClient) -> str:
    info: dict[str, Any] = await redis.info("server")
    if info.get("valkey_version"):
        return f"valkey {info['valkey_version']}"
    return f"redis {info.get('redis_version')}"


async def soak(plan: Plan, scratch: Path, trace: bool = False) -> dict[str, Any]:
    """Start the service, run every pattern for the plan's minutes, watch, stop; the raw
    figures (``summarise`` turns them into tables and verdicts)."""
    wrap = ["-m", "benchmarks.soak_trace", str(scratch / "trace.jsonl")] if trace else []
    server = servers.start_counter("soak", "", scratch, access_log=True, extra_env=ENV, wrap=wrap)
    # REDIS_URL empty: the embedded server, as ``make run`` and ``counter serve`` start it.
    data_dir = scratch / "soak"
    out: dict[str, Any] = {}
    try:
        await servers.wait_ready(server, 60.0)
        redis = connect(f"unix://{data_dir / 'redis.sock'}", 10.0)
        poll = await _prepare(server.url, plan)
        out["redis_server"] = await _server_version(redis)
        watch = Watch(server.proc.pid, data_dir / "redis.pid", redis, server.url, data_dir)
        await watch.monitor_stalls()
        recorder = Recorder(plan.window_s)
        out["started_at"] = time.time() - (time.monotonic() - recorder.started)
        loop = asyncio.get_running_loop()
        until = loop.time() + plan.seconds
        load = Load(server.url, server.port, poll, recorder, plan.rates, until,
                    header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S)  # fmt: skip
        await load.seed()
        idle = await watch.sample(-1.0)
        progress(f"soak: {server.url}, {plan.minutes:g} min, sampling every {plan.sample_s} s")

        def clock() -> float:
            return time.monotonic() - recorder.started

        samples: list[Sample] = []
        watching = asyncio.create_task(watch.every(plan.sample_s, until, clock, samples))
        reporting = asyncio.create_task(_report_progress(recorder, samples, plan.window_s, until))
        async with asyncio.timeout(plan.seconds + OVERRUN_S):  # a hung pattern ends the run
            await asyncio.gather(*load.tasks())
            await watching
        reporting.cancel()
        loaded = await watch.sample(clock())
        biggest = await watch.biggest_keys(SITE)
        counted = await _counted(redis, [*load.pages, *load.busuanzi_pages, TARGET_PAGE])
        await load.close()
        drained, drain_s = await _drain(watch, idle, clock)
        markers = await watch.drop_markers(SITE)
        out["stalls"] = await watch.stalls()  # this server's, from its start
        await watch.close()
        await redis.aclose()
        out |= {
            "idle": idle.as_dict(), "samples": [s.as_dict() for s in samples],
            "loaded": loaded.as_dict(), "drained": drained.as_dict(),
            "drain_s": round(drain_s, 1), "markers": markers,
            "biggest_keys": biggest,
            "counted": counted, "pages": load.pages, "busuanzi_pages": load.busuanzi_pages,
            "recorder": _recorded(recorder),
        }  # fmt: skip
    finally:
        await servers.stop(server, 30.0)
    out["exit_code"] = server.proc.returncode
    with server.log.open(errors="replace") as log:
        retried, problems = log_problems(log)
    out["log_problems"], out["log_retried"] = problems[:50], retried[:20]
    out["retried_at"] = dict(collections.Counter(str(logged_at(line)) for line in retried))
    return out


def _recorded(recorder: Recorder) -> dict[str, Any]:
    windows: dict[str, dict[str, Any]] = {}
    for (w, kind), tally in sorted(recorder.windows.items()):
        lat = tally.latencies_s
        windows.setdefault(str(w), {})[kind] = {
            "outcomes": dict(tally.outcomes),
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "max_ms": round(max(lat, default=0.0) * 1000, 2),
        }
    all_latencies: dict[str, list[float]] = collections.defaultdict(list)
    for (_, kind), tally in recorder.windows.items():
        all_latencies[kind] += tally.latencies_s
    return {
        "window_s": recorder.window_s,
        "windows": windows,
        "latency_ms": {
            k: {p: round(percentile(v, q) * 1000, 2) for p, q in (("p50", 50), ("p99", 99))}
            | {"max": round(max(v, default=0.0) * 1000, 2)}
            for k, v in all_latencies.items()
        },
        "garbage_cases": [
            {"case": case, "outcome": outcome, "count": n}
            for (case, outcome), n in sorted(recorder.cases.items())
        ],
    }


# -- summary -----------------------------------------------------------------------------


def _totals(raw: dict[str, Any]) -> dict[str, collections.Counter[str]]:
    totals: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for kinds in raw["recorder"]["windows"].values():
        for kind, tally in kinds.items():
            totals[kind].update(tally["outcomes"])
    return totals


def _status(outcome: str) -> int | None:
    head = outcome.split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def _unexpected_5xx(outcomes: collections.Counter[str]) -> int:
    return sum(n for o, n in outcomes.items() if (_status(o) or 0) >= 500 and o not in EXPECTED_5XX)


def _slow_late(raw: dict[str, Any]) -> int:
    """Slow connections the server kept open beyond its timeout plus the slack (the p100 of
    their close time per window is enough: each window's max)."""
    late = 0
    for kinds in raw["recorder"]["windows"].values():
        for kind in SLOW_KINDS:
            tally = kinds.get(kind)
            if tally and tally["max_ms"] > (TIMEOUT_S + CLOSE_SLACK_S) * 1000:
                late += 1
    return late


def _data(raw: dict[str, Any]) -> Callable[[Sample], float]:
    """Redis's data less the batch markers (each kept a minute or more, so their number
    follows the flush rate, not Redis's data), at what one was measured to hold when they
    were dropped at the end."""
    per_key = float(raw["markers"]["bytes_per_marker"])
    return lambda s: s.dataset - s.expiring_keys * per_key


Add = Callable[[str, str, str, bool | None], None]


def verdicts(raw: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    """Every verdict: what it checks, the bound, what was measured, and whether it holds
    (None: the run is too short to judge it)."""
    rows: list[dict[str, Any]] = []

    def add(name: str, criterion: str, measured: str, ok: bool | None) -> None:
        rows.append({"verdict": name, "criterion": criterion, "measured": measured, "ok": ok})

    _resource_verdicts(raw, plan, add)
    _traffic_verdicts(raw, plan, add)
    return rows


def _resource_verdicts(raw: dict[str, Any], plan: Plan, add: Add) -> None:
    samples = [Sample(**s) for s in raw["samples"]]
    half = plan.seconds / 2
    judged = plan.minutes >= MIN_FLAT_MINUTES

    def flat(
        name: str,
        value: Callable[[Sample], float],
        show: Callable[[float], str],
        limit: float,
        slack: float = 0.0,
        extra: str = "",
    ) -> None:
        g = growth(samples, value, half)
        bound = f"high-water mark rises < {limit:.0%} over the 2nd half"
        bound += f" (or by < {slack:g})" if slack else ""
        add(name, bound, f"{show(g.start)} -> {show(g.end)} ({g.rise:+.1%}); 2nd half "
            f"{show(g.low)} to {show(g.high)}{extra}",
            g.flat(limit, slack) if judged else None)  # fmt: skip

    def mb(n: float) -> str:
        return f"{n / 2**20:.2f} MB"

    flat("service RSS flat", lambda s: s.rss_service, mb, FLAT["rss"])
    flat("service descriptors flat", lambda s: s.fds_service, lambda n: f"{n:.0f}",
         FLAT["fds"], FDS_SLACK)  # fmt: skip
    used = growth(samples, lambda s: s.used_memory, half)
    flat("Redis data flat, batch markers aside", _data(raw), mb,
         FLAT["used_memory"],
         extra=f"; used_memory {mb(used.start)} -> {mb(used.end)}")  # fmt: skip
    flat("Redis keys without a TTL flat", lambda s: s.keys - s.expiring_keys,
         lambda n: f"{n:.0f}", 0.0, 1)  # fmt: skip
    idle, after = Sample(**raw["idle"]), Sample(**raw["drained"])
    add("descriptors released",
        f"after the load: TCP sockets as idle (+2), unix sockets (Redis) within "
        f"COUNTER_REDIS_POOL ({REDIS_POOL}), others as idle (+{IDLE_FDS_SLACK})",
        f"{raw['drain_s']} s after the load: TCP {idle.tcp_service} -> {after.tcp_service}, "
        f"unix {idle.unix_service} -> {after.unix_service}, "
        f"others {_others_fds(idle)} -> {_others_fds(after)}",
        after.tcp_service <= idle.tcp_service + 2
        and after.unix_service <= idle.unix_service + REDIS_POOL
        and _others_fds(after) <= _others_fds(idle) + IDLE_FDS_SLACK)  # fmt: skip
    add("streams released", "no stream open after the load",
        f"{after.streams_open:.0f} open", after.streams_open == 0)  # fmt: skip


def _others_fds(s: Sample) -> int:
    return s.fds_service - s.tcp_service - s.unix_service


def _traffic_verdicts(raw: dict[str, Any], plan: Plan, add: Add) -> None:
    totals = _totals(raw)
    samples = [Sample(**s) for s in raw["samples"]]
    ordinary = totals["ordinary"]
    sent = sum(ordinary.values())
    ok_share = ordinary["200"] / sent if sent else 0.0
    add("ordinary hits answered 200", f">= {ORDINARY_OK:.1%}",
        f"{ok_share:.3%} of {sent:,} ({_others(ordinary, '200')})",
        ok_share >= ORDINARY_OK)  # fmt: skip
    counted = sum(raw["counted"][p] for p in raw["pages"])
    add("ordinary hits counted", "page views of the ordinary pages >= hits answered 200",
        f"{counted:,} counted, {ordinary['200']:,} answered 200",
        counted >= ordinary["200"])  # fmt: skip
    busuanzi = totals["busuanzi"]
    sent = sum(busuanzi.values())
    counted = sum(raw["counted"][p] for p in raw["busuanzi_pages"])
    add("busuanzi page views answered and counted",
        f"answered 200 >= {ORDINARY_OK:.1%}; page views of its pages >= answered 200",
        f"{_share(busuanzi['200'], sent):.3%} of {sent:,} ({_others(busuanzi, '200')}); "
        f"{counted:,} counted",
        busuanzi["200"] >= ORDINARY_OK * sent and counted >= busuanzi["200"])  # fmt: skip
    everything: collections.Counter[str] = sum(totals.values(), collections.Counter())
    bad_5xx = _unexpected_5xx(everything)
    expected = sum(everything[o] for o in EXPECTED_5XX)
    add("no 5xx but refusals by design",
        "0 (503 too_many_streams or too_many_pages, and 501 for an unknown method, are "
        "refusals)",
        f"{bad_5xx} ({expected:,} by design)", bad_5xx == 0)  # fmt: skip
    shapeless = sum(n for o, n in everything.items() if o.endswith("not-json") or o == "garbled")
    add("every refusal is the JSON error", "0 refusals of another shape",
        str(shapeless), shapeless == 0)  # fmt: skip
    slow = sum((totals[k] for k in SLOW_KINDS), collections.Counter())
    odd = sum(n for o, n in slow.items() if o not in SLOW_OUTCOMES)
    late = _slow_late(raw)
    add("slow clients cut off", f"closed within {TIMEOUT_S + CLOSE_SLACK_S:.0f} s, "
        "by a 408 or a close", f"{sum(slow.values()):,} connections: {dict(slow)}; "
        f"{late} windows with one late", odd == 0 and late == 0)  # fmt: skip
    tracked = raw["counted"]["tracked pages"]
    capped = totals["random_pages"]["200 page-null"]
    add("max_pages reached and held", f"random pages answered null; {plan.max_pages} tracked",
        f"{capped:,} answered null; {tracked:,} tracked",
        capped > 0 and tracked == plan.max_pages)  # fmt: skip
    minutes = math.ceil(plan.seconds / 60) + 1
    target = raw["counted"][TARGET_PAGE]
    answered = totals["rotating"]["200"]
    add("hit rate held (rotating visitor ids)",
        f"at most {HIT_RATE} counted per minute window ({minutes} windows touched)",
        f"{answered:,} answered 200, {target:,} counted",
        0 < target <= HIT_RATE * minutes and answered > target)  # fmt: skip
    _stream_verdicts(totals, samples, add)
    retried_at, stalls = raw.get("retried_at", {}), raw.get("stalls", [])
    odd = unexplained(retried_at, stalls)
    disk = [s for s in stalls if s["kind"].startswith(DISK_STALL)]
    add("clean stop, quiet log", "exit 0 on SIGTERM; no traceback, error or warning logged, "
        f"but Redis calls retried within {STALL_WINDOW_S} s of a stall of Redis's disk",
        f"exit {raw['exit_code']}; {len(raw['log_problems'])} lines; "
        f"{sum(retried_at.values())} calls retried in {len(retried_at)} s, {odd} of them "
        f"not after a disk stall (Redis's disk stalled {len(disk)} times, at most "
        f"{max((s['ms'] for s in disk), default=0):,} ms)",
        raw["exit_code"] == 0 and not raw["log_problems"] and odd == 0)  # fmt: skip


def _stream_verdicts(
    totals: dict[str, collections.Counter[str]], samples: list[Sample], add: Add
) -> None:
    streams = sum((totals[k] for k in STREAM_KINDS), collections.Counter())
    most = max((s.streams_open for s in samples), default=0.0)
    add("stream caps held", f"429 and 503 both seen; never more than {STREAMS_MAX} open",
        f"{streams['200']:,} opened, {streams['429 too_many_streams']:,} x 429, "
        f"{streams['503 too_many_streams']:,} x 503; at most {most:.0f} open",
        streams["429 too_many_streams"] > 0 and streams["503 too_many_streams"] > 0
        and most <= STREAMS_MAX)  # fmt: skip
    flood, readers = totals["page_flood_streams"], totals["stats_streams"]
    add("live stats page cap held",
        "page floods refused (503 too_many_pages) while readers' streams open",
        f"floods: {_outcomes(flood)}; readers: {_outcomes(readers)}",
        flood["503 too_many_pages"] > 0 and readers["200"] > 0)  # fmt: skip


def _others(outcomes: collections.Counter[str], but: str) -> str:
    rest = {o: n for o, n in outcomes.items() if o != but}
    return ", ".join(f"{o}: {n}" for o, n in sorted(rest.items())) or "nothing else"


def _refusals(outcomes: collections.Counter[str]) -> dict[int, int]:
    """Answers with a 4xx or 5xx status, by status."""
    by_status: collections.Counter[int] = collections.Counter()
    for outcome, n in outcomes.items():
        status = _status(outcome)
        if status is not None and status >= 400:
            by_status[status] += n
    return dict(sorted(by_status.items()))


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def over_time(raw: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    """One row per window of the run: the last sample in it, the CPU used in it, and what
    the requests of the window got."""
    samples = [Sample(**s) for s in raw["samples"]]
    window_s = raw["recorder"]["window_s"]
    windows = raw["recorder"]["windows"]
    rows = []
    before = Sample(**raw["idle"])
    for w in range(math.ceil(seconds / window_s)):
        kinds = windows.get(str(w), {})
        end = (w + 1) * window_s
        s = ([x for x in samples if x.t < end] or samples[:1])[-1]
        ordinary = collections.Counter(kinds.get("ordinary", {}).get("outcomes", {}))
        every: collections.Counter[str] = collections.Counter()
        for tally in kinds.values():
            every.update(tally["outcomes"])
        spent = s.t - before.t
        lag = kinds.get("generator_lag", {})
        rows.append({
            "window": w, "until_s": end, "sample_t": s.t,
            "rss_service_mb": round(s.rss_service / 2**20, 1),
            "rss_server_mb": round(s.rss_server / 2**20, 1),
            "fds_service": s.fds_service, "tcp_service": s.tcp_service,
            "unix_service": s.unix_service, "fds_server": s.fds_server,
            "used_memory_mb": round(s.used_memory / 2**20, 2),
            "keys": s.keys, "expiring_keys": s.expiring_keys,
            "aof_mb": round(s.aof_bytes / 2**20, 1), "streams_open": s.streams_open,
            "cpu_service": round(_share(s.cpu_service - before.cpu_service, spent), 3),
            "cpu_server": round(_share(s.cpu_server - before.cpu_server, spent), 3),
            "cpu_load": round(_share(s.cpu_load - before.cpu_load, spent), 3),
            "ordinary": sum(ordinary.values()),
            "ordinary_ok": _share(ordinary["200"], sum(ordinary.values())),
            "ordinary_p99_ms": kinds.get("ordinary", {}).get("p99_ms", 0.0),
            "generator_lag_p99_ms": lag.get("p99_ms", 0.0),
            "hit_rate_limited": int(s.limited.get("hit_rate", 0.0)
                                    - before.limited.get("hit_rate", 0.0)),
            "refusals": _refusals(every),
            "closed_unanswered": every["closed"],
            "unexpected_5xx": _unexpected_5xx(every),
        })  # fmt: skip
        before = s
    return rows


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return [*out, *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


def markdown(result: dict[str, Any]) -> str:
    meta, raw = result["meta"], result["raw"]
    unit = "min" if raw["recorder"]["window_s"] == 60 else "s"
    lines = [
        f"# counter soak — {meta['date']} on {meta['host']}", "",
        f"Command: `{meta['command']}` ({meta['elapsed_s']:.0f} s in all). {meta['cpus']} CPUs, "
        f"Python {meta['python']}, aiohttp {meta['aiohttp']}, {raw.get('redis_server')} "
        f"(embedded, AOF, appendfsync always). Settings: "
        + ", ".join(f"`{k}={v}`" for k, v in ENV.items())
        + f"; site `soak`: max_pages {meta['max_pages']}, online/visit windows 30/60 s.", "",
        "Load at once: " + ", ".join(f"{k} {v}" for k, v in meta["rates"].items()) + ".", "",
        "## Verdicts", "",
    ]  # fmt: skip
    lines += _table(
        ["verdict", "criterion", "measured", "ok"],
        [[v["verdict"], v["criterion"], v["measured"], _ok(v["ok"])]
         for v in result["verdicts"]],
    )  # fmt: skip
    rows = result["over_time"]
    lines += ["## Resources over time", "", "At the end of each window; CPU as the share of one "
              "core over the window.", ""]  # fmt: skip
    lines += _table(
        [f"until ({unit})", "service RSS MB", "service fds (TCP, unix)", "service CPU",
         "Valkey RSS MB", "Valkey CPU", "used_memory MB", "keys (with a TTL)", "AOF MB",
         "streams open", "generator CPU"],
        [[_until(r["until_s"], unit), r["rss_service_mb"],
          f"{r['fds_service']} ({r['tcp_service']}, {r['unix_service']})",
          f"{r['cpu_service']:.0%}", r["rss_server_mb"], f"{r['cpu_server']:.0%}",
          r["used_memory_mb"], f"{r['keys']:,} ({r['expiring_keys']:,})", r["aof_mb"],
          f"{r['streams_open']:.0f}", f"{r['cpu_load']:.0%}"]
         for r in rows],
    )  # fmt: skip
    lines += ["## Traffic over time", ""]
    lines += _table(
        [f"until ({unit})", "ordinary hits", "answered 200", "p99 ms", "generator lag p99 ms",
         "hits not counted (hit rate)", "refusals by status", "closed unanswered",
         "unexpected 5xx"],
        [[_until(r["until_s"], unit), f"{r['ordinary']:,}",
          f"{r['ordinary_ok']:.2%}" if r["ordinary"] else "-", r["ordinary_p99_ms"],
          r["generator_lag_p99_ms"], f"{r['hit_rate_limited']:,}",
          ", ".join(f"{k}: {v:,}" for k, v in r["refusals"].items()), r["closed_unanswered"],
          r["unexpected_5xx"]]
         for r in rows],
    )  # fmt: skip
    lines += ["## Outcomes by kind (whole run)", ""]
    latency = raw["recorder"]["latency_ms"]
    lines += _table(
        ["kind", "requests", "outcomes", "p50 / p99 / max ms"],
        [[k, f"{sum(v.values()):,}", _outcomes(v), _lat(latency.get(k))]
         for k, v in sorted(result["totals"].items())],
    )  # fmt: skip
    loaded, markers = raw["loaded"], raw["markers"]
    lines += ["## Redis at the end of the load", "",
              f"{loaded['keys']:,} keys, {loaded['expiring_keys']:,} of them with a TTL. Batch "
              f"markers (kept ~1 min): {markers['markers']:,}, which held {markers['bytes']:,} "
              f"bytes of used_memory ({markers['bytes_per_marker']:.0f} B of data each, the rest "
              "in the key tables; measured by dropping them after the load). The largest other "
              "keys:",
              ""]  # fmt: skip
    lines += _table(
        ["key", "MEMORY USAGE, bytes", "TTL, s"],
        [[f"`{k['key']}`", f"{k['bytes']:,}", k["ttl_s"]] for k in raw["biggest_keys"]],
    )
    lines += ["## Garbage, case by case", ""]
    lines += _table(
        ["case", "outcome", "count"],
        [[g["case"], g["outcome"], g["count"]] for g in raw["recorder"]["garbage_cases"]],
    )
    lines += _stalls(raw)
    if raw["log_problems"] or raw.get("log_retried"):
        lines += ["## Log lines", "", "At most 50 problems, then at most 20 retried Redis "
                  "calls.", "", "```", *raw["log_problems"], *raw["log_retried"], "```",
                  ""]  # fmt: skip
    return "\n".join(lines)


def _stalls(raw: dict[str, Any]) -> list[str]:
    """Redis's stalls: how many of each length, and those of a second or more (or with calls
    the service retried around them) one by one."""
    stalls = raw.get("stalls", [])
    if not stalls:
        return []
    retried = {int(at): n for at, n in raw.get("retried_at", {}).items()}

    def near(at: int) -> int:
        return sum(n for t, n in retried.items() if abs(t - at) <= STALL_WINDOW_S)

    lengths = collections.Counter(
        next(name for name, below in STALL_BUCKETS if s["ms"] < below) for s in stalls
    )
    kinds = collections.Counter(s["kind"] for s in stalls)
    out = ["## Redis stalls", "",
           f"Recorded by Redis's latency monitor (>= {STALL_MS} ms): {len(stalls):,}, "
           + ", ".join(f"{k} {n:,}" for k, n in kinds.most_common()) + "; by length: "
           + ", ".join(f"{name} {lengths[name]:,}" for name, _ in STALL_BUCKETS if lengths[name])
           + f". Those of a second or more, or with calls retried within {STALL_WINDOW_S} s "
           "(t: when each ended):", ""]  # fmt: skip
    rows = [[round(s["at"] - raw["started_at"]), s["kind"], f"{s['ms']:,}", near(s["at"])]
            for s in stalls if s["ms"] >= 1000 or near(s["at"])]  # fmt: skip
    return out + (_table(["t (s)", "kind", "ms", "calls retried"], rows) if rows else ["None.", ""])


STALL_BUCKETS = (("100-250 ms", 250), ("250-500 ms", 500), ("0.5-1 s", 1000), ("1-2 s", 2000),
                 (">= 2 s", math.inf))  # fmt: skip


def _ok(ok: bool | None) -> str:
    return "n/a (run too short)" if ok is None else "yes" if ok else "**no**"


def _until(seconds: float, unit: str) -> str:
    return f"{seconds / 60:g}" if unit == "min" else f"{seconds:g}"


def _outcomes(counts: dict[str, int]) -> str:
    return ", ".join(f"{o}: {n:,}" for o, n in sorted(counts.items(), key=lambda x: -x[1]))


def _lat(lat: dict[str, float] | None) -> str:
    return f"{lat['p50']} / {lat['p99']} / {lat['max']}" if lat else ""


def summarise(raw: dict[str, Any], plan: Plan, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "meta": meta,
        "verdicts": verdicts(raw, plan),
        "over_time": over_time(raw, plan.seconds),
        "totals": {k: dict(v) for k, v in _totals(raw).items()},
        "raw": raw,
    }


def _meta(plan: Plan, argv: list[str]) -> dict[str, Any]:
    return {
        "date": date.today().isoformat(),
        "host": socket.gethostname(),
        "command": shlex.join(["python", "-m", "benchmarks.soak", *argv]),
        "cpus": cpu_count(),
        "python": platform.python_version(),
        "aiohttp": version("aiohttp"),
        "minutes": plan.minutes,
        "max_pages": plan.max_pages,
        "rates": asdict(plan.rates),
        "garbage_cases": len(GARBAGE),
    }


def _length(quick: bool, plan: Plan) -> str:
    """How a result's file name tells its run apart from the 10-minute one."""
    if quick:
        return "-quick"
    return "" if plan.minutes == 10 else f"-{plan.minutes:g}min"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--minutes", type=float, default=10.0, help="length of the run (default 10)")
    p.add_argument("--quick", action="store_true", help="a one-minute run, to try it out")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    p.add_argument("--keep-scratch", action="store_true", help="keep the service's log and data")
    p.add_argument("--trace", action="store_true", help="a diagnostic run: the service under "
                   "tracemalloc; results and traces in the scratch folder")  # fmt: skip
    args = p.parse_args(argv)
    plan = plan_for(args.minutes, args.quick)
    started = time.monotonic()
    scratch = RESULTS / "tmp" / time.strftime("soak-%Y%m%d-%H%M%S")
    scratch.mkdir(parents=True, exist_ok=True)
    if args.trace:
        args.out, args.keep_scratch = scratch, True
    raw = asyncio.run(soak(plan, scratch, args.trace))
    meta = _meta(plan, argv) | {"elapsed_s": round(time.monotonic() - started, 1)}
    result = summarise(raw, plan, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.trace:
        traced = soak_trace.report(scratch / "trace.jsonl", plan.seconds)
        (scratch / "trace.md").write_text(traced)
        progress(f"traced: {scratch / 'trace.md'}")
    stem = args.out / f"{meta['date']}-{meta['host']}-soak{_length(args.quick, plan)}"
    stem.with_suffix(".json").write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
    )
    stem.with_suffix(".md").write_text(markdown(result))
    if args.keep_scratch:
        progress(f"service log and data kept in {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    progress(f"wrote {stem}.json and {stem}.md")
    print(stem.with_suffix(".md").read_text())
    return 0 if all(v["ok"] is not False for v in result["verdicts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
