"""A built-in HTTP load generator with the request mix of ``mix.lua``.

Closed loop (``--connections N``: N clients, each sends its next request when the last one
is answered) when ``wrk`` is not installed, and open loop (``--rate R``: requests start on a
fixed schedule of R per second, whatever the answers do) for the latency-at-a-given-rate
measurement. In open loop a request's latency counts from the tick that sent it, or that
found every connection busy and queued it, so a stalled server is not hidden by a generator
that waits for it (coordinated omission); the open loop speaks raw HTTP/1.1, cheap enough to
share a CPU with Redis. Prints one ``BENCH_JSON`` line shaped like the wrk script's.

    python -m benchmarks.loadgen --url http://127.0.0.1:8080 --seconds 5 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import orjson

from benchmarks.common import percentile
from counter.serve import new_loop
from counter.settings import uvloop_available

AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36 coc_coc_browser/86.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
TICK_S = 0.001
"""The open loop's shortest sleep: the event loop's timers have a resolution of a millisecond,
so the requests due before a tick go out together at it, and their latency counts from that
tick (the generator's own lateness is reported as its lag, not charged to the server)."""
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


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the open-loop generator, one request at a time.

    Raw bytes rather than an HTTP client library: the generator shares its CPU with Redis, and
    at half of counter's maximum an aiohttp client spends most of that CPU, which then shows
    as counter's latency. This costs a fraction of it (answers are small, with Content-Length).
    """

    def __init__(self, gen: _OpenLoop) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.due = 0.0
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, request: bytes, due: float) -> None:
        assert self.transport is not None
        self.due = due
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower() + b"\r\n"
        at = head.find(b"\r\ncontent-length:")
        length = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
        if len(self.buf) < end + 4 + length:
            return
        status = int(head[9:12])
        del self.buf[: end + 4 + length]
        self.gen.answered(self, status, length)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


class _OpenLoop:
    """Requests start on a fixed schedule of ``rate`` per second over ``connections``
    keep-alive connections; one that finds every connection busy waits for the first free
    one, and its latency still counts from the tick that should have sent it. A connection
    the server closes fails its request and is replaced; one that cannot be replaced fails
    what waits, and the requests after it."""

    def __init__(self, host: str, port: int, mix: Mix, tally: Tally) -> None:
        self.host, self.port, self.mix, self.tally = host, port, mix, tally
        self.idle: list[_Connection] = []
        self.open: set[_Connection] = set()
        self.backlog: collections.deque[float] = collections.deque()
        self.pending = 0
        """Requests started and not yet answered or failed."""
        self.broken = False
        self.finished = False
        self.drained: asyncio.Future[None] | None = None
        self.replacing: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.broken = True
            while self.backlog:
                self.backlog.popleft()
                self._failed()
            return
        self.open.add(conn)
        self._ready(conn)

    def request(self) -> bytes:
        method, path, headers, body = self.mix.next()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")

    def start(self, due: float) -> None:
        self.pending += 1
        if self.idle:
            self.idle.pop().send(self.request(), due)
        elif self.broken:
            self._failed()
        else:
            self.backlog.append(due)

    def answered(self, conn: _Connection, status: int, length: int) -> None:
        self.tally.latencies.append(time.perf_counter() - conn.due)
        self.tally.bytes += length
        if status >= 400:
            self.tally.status_errors += 1
        self._settled()
        self._ready(conn)

    def lost(self, conn: _Connection) -> None:
        self.open.discard(conn)
        if self.finished:
            return
        if conn in self.idle:
            self.idle.remove(conn)
        else:  # its request is lost with it
            self._failed()
        task = asyncio.get_running_loop().create_task(self.connect())
        self.replacing.add(task)
        task.add_done_callback(self.replacing.discard)

    def _ready(self, conn: _Connection) -> None:
        if self.backlog:
            conn.send(self.request(), self.backlog.popleft())
        else:
            self.idle.append(conn)

    def _failed(self) -> None:
        self.tally.io_errors += 1
        self._settled()

    def _settled(self) -> None:
        self.pending -= 1
        if self.pending == 0 and self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    async def finish(self) -> None:
        """Until every request started is answered or failed, then closes the connections."""
        while self.pending:
            self.drained = asyncio.get_running_loop().create_future()
            await self.drained
        self.finished = True
        replacing = list(self.replacing)
        for task in replacing:
            task.cancel()
        await asyncio.gather(*replacing, return_exceptions=True)  # their sockets closed too
        for conn in list(self.open):
            assert conn.transport is not None
            conn.transport.close()
        await asyncio.sleep(0)  # the transports' sockets close on the next turn of the loop


async def open_loop(
    url: str, seconds: float, connections: int, rate: float, mix: Mix, tally: Tally
) -> None:
    parts = urllib.parse.urlsplit(url)
    gen = _OpenLoop(parts.hostname or "127.0.0.1", parts.port or 80, mix, tally)
    for _ in range(connections):
        await gen.connect()
    start = time.perf_counter()
    total = int(seconds * rate)
    i = 0
    while i < total:  # every request now due, then sleep until the next one is, or a tick
        now = time.perf_counter()
        while i < total and start + i / rate <= now:
            gen.start(now)
            i += 1
        tally.max_lag = max(tally.max_lag, time.perf_counter() - (start + (i - 1) / rate))
        if i < total:
            await asyncio.sleep(max(TICK_S, start + i / rate - time.perf_counter()))
    await gen.finish()


def result(tally: Tally, elapsed: float, cpu: float) -> dict[str, Any]:
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
        "generator_busy": round(cpu / elapsed, 3),
    }


async def generate(
    url: str, seconds: float, connections: int, rate: float | None, mix: Mix
) -> dict[str, Any]:
    tally = Tally()
    started, cpu = time.perf_counter(), time.process_time()
    if rate is None:
        await closed_loop(url, seconds, connections, mix, tally)
    else:
        await open_loop(url, seconds, connections, rate, mix, tally)
    return result(tally, time.perf_counter() - started, time.process_time() - cpu)


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
    loop = new_loop("uvloop" if uvloop_available() else "asyncio")
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        out = runner.run(generate(a.url.rstrip("/"), a.seconds, a.connections, a.rate, mix))
    print("BENCH_JSON " + orjson.dumps(out).decode(), flush=True)


if __name__ == "__main__":
    main()
