"""A built-in HTTP load generator with the request mix of ``mix.lua``.

Closed loop (``--connections N``: N clients, each sends its next request when the last one
is answered) when ``wrk`` is not installed, and open loop (``--rate R``: requests start on a
fixed schedule of R per second, whatever the answers do) for the latency-at-a-given-rate
measurement. In open loop a request's latency counts from the moment the schedule says it
should have started, so a stalled server is not hidden by a generator that waits for it
(coordinated omission). Prints one ``BENCH_JSON`` line shaped like the wrk script's.

    python -m benchmarks.loadgen --url http://127.0.0.1:8080 --seconds 5 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from benchmarks.common import percentile

AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36 coc_coc_browser/86.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@dataclass(slots=True)
class Mix:
    site: str = "bench"
    visitors: int = 100_000
    pages: int = 1_000
    stats_pct: int = 10
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> tuple[str, str, dict[str, str], bytes | None]:
        """Method, path, headers and body of the next request (as ``mix.lua`` makes them)."""
        page = self.rng.randrange(1, self.pages + 1)
        agent = CRAWLER if self.rng.randrange(50) == 0 else self.rng.choice(AGENTS)
        if self.rng.randrange(100) < self.stats_pct:
            path = f"/v1/stats?site={self.site}&page=/news/{page}"
            return "GET", path, {"User-Agent": agent}, None
        visitor = self.rng.randrange(1, self.visitors + 1)
        body = {"site": self.site, "page": f"/news/{page}", "visitor": f"v{visitor:07d}"}
        headers = {"User-Agent": agent, "Content-Type": "application/json"}
        return "POST", "/v1/hit", headers, orjson.dumps(body)


@dataclass(slots=True)
class Tally:
    latencies: list[float] = field(default_factory=list)
    bytes: int = 0
    status_errors: int = 0
    io_errors: int = 0
    max_lag: float = 0.0


async def _one(session: aiohttp.ClientSession, url: str, mix: Mix, tally: Tally, t0: float) -> None:
    method, path, headers, body = mix.next()
    try:
        async with session.request(method, url + path, data=body, headers=headers) as resp:
            tally.bytes += len(await resp.read())
            if resp.status >= 400:
                tally.status_errors += 1
    except (aiohttp.ClientError, TimeoutError):
        tally.io_errors += 1
        return
    tally.latencies.append(time.perf_counter() - t0)


async def closed_loop(url: str, seconds: float, connections: int, mix: Mix, tally: Tally) -> None:
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        end = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < end:
                await _one(session, url, mix, tally, time.perf_counter())

        await asyncio.gather(*(client() for _ in range(connections)))


async def open_loop(
    url: str, seconds: float, connections: int, rate: float, mix: Mix, tally: Tally
) -> None:
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        tasks: set[asyncio.Task[None]] = set()
        for i in range(int(seconds * rate)):
            due = start + i / rate
            lag = time.perf_counter() - due
            if lag < 0:
                await asyncio.sleep(-lag)
            else:
                tally.max_lag = max(tally.max_lag, lag)
                if i % 32 == 0:
                    await asyncio.sleep(0)
            task = asyncio.create_task(_one(session, url, mix, tally, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)


def result(tally: Tally, elapsed: float) -> dict[str, Any]:
    lat = [x * 1e6 for x in tally.latencies]
    return {
        "requests": len(lat) + tally.io_errors,
        "duration_us": int(elapsed * 1e6),
        "bytes": tally.bytes,
        "errors": {"io": tally.io_errors, "status": tally.status_errors},
        "latency_us": {
            "p50": percentile(lat, 50),
            "p90": percentile(lat, 90),
            "p99": percentile(lat, 99),
            "max": max(lat, default=0.0),
            "mean": sum(lat) / max(len(lat), 1),
        },
        "generator_max_lag_ms": round(tally.max_lag * 1000, 3),
    }


async def generate(
    url: str, seconds: float, connections: int, rate: float | None, mix: Mix
) -> dict[str, Any]:
    tally = Tally()
    started = time.perf_counter()
    if rate is None:
        await closed_loop(url, seconds, connections, mix, tally)
    else:
        await open_loop(url, seconds, connections, rate, mix, tally)
    return result(tally, time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rate", type=float, help="requests per second (open loop)")
    p.add_argument("--site", default="bench")
    p.add_argument("--visitors", type=int, default=100_000)
    p.add_argument("--pages", type=int, default=1_000)
    p.add_argument("--stats-pct", type=int, default=10)
    a = p.parse_args()
    mix = Mix(a.site, a.visitors, a.pages, a.stats_pct)
    out = asyncio.run(generate(a.url.rstrip("/"), a.seconds, a.connections, a.rate, mix))
    print("BENCH_JSON " + orjson.dumps(out).decode(), flush=True)


if __name__ == "__main__":
    main()
