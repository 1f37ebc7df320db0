"""The soak's traffic: ordinary visitors and every abuse pattern at once, each until a
deadline, every answer recorded by kind and time window (see ``benchmarks/soak.py``).

Client addresses travel in ``X-Forwarded-For``: the service under soak trusts 127.0.0.1 as
its proxy, so the load generator plays a reverse proxy in front of many clients.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
import orjson

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SITE = "soak"
ORIGIN = "https://soak.example"
"""The site's origin: busuanzi's requests name their page (and so the site) by a Referer
on it."""
TARGET_PAGE = "/target"
"""The page the rotating-visitor abuser inflates (nobody else hits it)."""
ORDINARY_ADDRESSES = tuple(f"192.0.2.{n}" for n in range(1, 9))
ROTATING_ADDRESS = "198.51.100.7"
RANDOM_PAGE_ADDRESSES = tuple(f"203.0.113.{n}" for n in range(1, 65))
READ_ADDRESSES = tuple(f"192.0.2.{n}" for n in range(200, 204))
BUSUANZI_ADDRESSES = tuple(f"192.0.2.{n}" for n in range(32, 40))
STREAM_ADDRESSES = tuple(f"198.51.100.{n}" for n in range(100, 106))
GREEDY_STREAM_ADDRESS = "198.51.100.200"
STATS_STREAM_ADDRESSES = tuple(f"198.51.100.{n}" for n in range(110, 114))
PAGE_FLOOD_ADDRESS = "198.51.100.210"
FLOOD_PAGES = 50
"""Pages each page-flood stream follows, new ones every time (the most one request may
name)."""
CLIENT_TIMEOUT_S = 10.0
"""How long a client waits for an answer (a hit not answered by then counts as a timeout)."""
STREAM_READ_TIMEOUT_S = 40.0
"""An open stream silent for this long is broken (the server pings every 15 s)."""


Query = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Rates:
    """How hard each pattern pushes (per second unless said otherwise)."""

    ordinary: float = 50.0
    busuanzi: float = 10.0
    """busuanzi's page views (``GET /busuanzi``), on pages of their own."""
    votes: float = 0.5
    rotating: float = 20.0
    random_pages: float = 40.0
    reads: int = 24
    """Requests in each once-a-second burst of uncached reads."""
    garbage: float = 4.0
    slow: int = 16
    """Slow connections held open at once (bodies and heads)."""
    streams_per_address: int = 25
    greedy_streams: int = 40
    """Stream clients on one address, twice the per-client cap."""
    stats_streams_per_address: int = 10
    """Live stats streams (``GET /v1/stats/events``) of ordinary readers, each on one page."""
    page_flood_streams: int = 10
    """Live stats streams on one address, each following FLOOD_PAGES new pages."""


@dataclass(slots=True)
class Tally:
    """What one kind of request got in one window."""

    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies_s: list[float] = field(default_factory=list)


class Recorder:
    """Outcomes by (window, kind): an HTTP status (``200``; ``429 too_many_streams`` for an
    error, with its code; ``400 not-json`` for an error that is not the JSON error), a page
    the answer maps to ``null`` (``200 page-null``), or what a client saw instead of an
    answer: ``closed`` (by the server, no answer), ``timeout``, ``reset``, ``skipped`` (the
    generator had too many requests of that kind in flight to start one more)."""

    def __init__(self, window_s: float) -> None:
        self.started = time.monotonic()
        self.window_s = window_s
        self.windows: dict[tuple[int, str], Tally] = {}
        self.cases: collections.Counter[tuple[str, str]] = collections.Counter()
        """Garbage: (case, outcome) -> count."""

    def add(self, kind: str, outcome: str, latency_s: float | None = None) -> None:
        window = int((time.monotonic() - self.started) // self.window_s)
        tally = self.windows.get((window, kind))
        if tally is None:
            tally = self.windows[window, kind] = Tally()
        tally.outcomes[outcome] += 1
        if latency_s is not None:
            tally.latencies_s.append(latency_s)

    def total(self, kind: str) -> collections.Counter[str]:
        out: collections.Counter[str] = collections.Counter()
        for (_, k), tally in self.windows.items():
            if k == kind:
                out += tally.outcomes
        return out


def classify(status: int, body: bytes) -> str:
    """``200``, or ``<status> <error code>``, or ``<status> not-json`` for an error that is
    not ``{"error": {"code", "message"}}``."""
    if status < 400:
        return str(status)
    try:
        error = orjson.loads(body)["error"]
        code, message = error["code"], error["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return f"{status} not-json"
    if not isinstance(code, str) or not isinstance(message, str):
        return f"{status} not-json"
    return f"{status} {code}"


def parse_raw(answer: bytes) -> str:
    """The outcome of a raw exchange: what the server wrote before closing."""
    if not answer:
        return "closed"
    head, _, body = answer.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return "garbled"
    return classify(int(parts[1]), body)


async def paced(
    rate: float,
    until: float,
    action: Callable[[int], Coroutine[None, None, None]],
    on_skip: Callable[[], None],
) -> None:
    """Start ``action(n)`` ``rate`` times a second (open loop) until ``until`` (loop time);
    with too many still running, a start is skipped (``on_skip``) instead of piling up."""
    loop = asyncio.get_running_loop()
    most = max(16, int(rate * CLIENT_TIMEOUT_S))
    running: set[asyncio.Task[None]] = set()
    interval, due, n = 1.0 / rate, loop.time(), 0
    while due < until:
        if len(running) < most:
            task = asyncio.create_task(action(n))
            running.add(task)
            task.add_done_callback(running.discard)
        else:
            on_skip()
        n += 1
        due = max(due + interval, loop.time() - 1.0)  # never a burst to catch up a stall
        await asyncio.sleep(max(0.0, due - loop.time()))
    if running:
        await asyncio.wait(running)  # each ends within its client timeout


async def raw_exchange(
    port: int, first: bytes, wait_s: float, trickle: bytes = b"", every_s: float = 1.0
) -> tuple[str, float]:
    """Connect, send ``first``, then ``trickle`` a byte every ``every_s``; the outcome (what
    the server answered before closing, ``closed``, ``reset`` or ``timeout`` when it kept the
    connection beyond ``wait_s``) and the seconds until then."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return "refused", time.monotonic() - started

    async def drip() -> None:
        with contextlib.suppress(OSError):
            for byte in trickle:
                await asyncio.sleep(every_s)
                writer.write(bytes([byte]))
                await writer.drain()

    dripping = asyncio.create_task(drip())
    try:
        writer.write(first)
        async with asyncio.timeout(wait_s):
            answer = await reader.read()  # until the server closes
        outcome = parse_raw(answer)
    except TimeoutError:
        outcome = "timeout"
    except OSError:
        outcome = "reset"
    finally:
        dripping.cancel()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return outcome, time.monotonic() - started


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Load:
    """Every pattern against one service, until ``until`` (loop time)."""

    def __init__(
        self,
        url: str,
        port: int,
        poll: tuple[str, str],
        recorder: Recorder,
        rates: Rates,
        until: float,
        *,
        pages: int = 50,
        visitors: int = 500,
        header_timeout_s: float = 10.0,
        body_timeout_s: float = 10.0,
        seed: int = 1,
    ) -> None:
        self.url = url
        self.port = port
        self.poll_id, self.option_id = poll
        self.recorder = recorder
        self.rates = rates
        self.until = until
        self.pages = [f"/news/{n}" for n in range(pages)]
        self.busuanzi_pages = [f"/blog/{n}" for n in range(pages // 5)]
        self.visitors = [f"visitor-{n:05d}" for n in range(visitors)]
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.rng = random.Random(seed)
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=128), timeout=timeout
        )
        self.streams_http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(
                connect=CLIENT_TIMEOUT_S, sock_read=STREAM_READ_TIMEOUT_S
            ),
        )

    async def close(self) -> None:
        await self.http.close()
        await self.streams_http.close()

    def _headers(self, address: str) -> dict[str, str]:
        return {"User-Agent": BROWSER, "X-Forwarded-For": address}

    async def _send(
        self,
        method: str,
        path: str,
        address: str,
        *,
        body: object = None,
        raw: bytes | None = None,
        page: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, float]:
        """One request: its outcome and how long it took. With ``page``, an answer mapping
        that page to ``null`` (not tracked) is ``200 page-null``."""
        sent = {**self._headers(address), **(headers or {})}
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        started = time.monotonic()
        try:
            async with self.http.request(method, self.url + path, data=data, headers=sent) as resp:
                answer = await resp.read()
                outcome = classify(resp.status, answer)
                if outcome == "200" and page and orjson.loads(answer)["pages"][page] is None:
                    outcome = "200 page-null"
        except TimeoutError:
            outcome = "timeout"
        except (aiohttp.ClientError, OSError):
            outcome = "reset"
        return outcome, time.monotonic() - started

    async def _request(
        self,
        kind: str,
        method: str,
        path: str,
        address: str,
        *,
        body: object = None,
        page: str | None = None,
    ) -> None:
        """One request, its outcome recorded under ``kind``."""
        outcome, took = await self._send(method, path, address, body=body, page=page)
        self.recorder.add(kind, outcome, took)

    def _skipped(self, kind: str) -> Callable[[], None]:
        return lambda: self.recorder.add(kind, "skipped")

    # -- ordinary visitors ----------------------------------------------------------------

    async def seed(self) -> None:
        """One hit on every page before any abuse: the ordinary pages (and the abuser's
        target, and busuanzi's pages) are tracked before random pages fill the site's page
        cap."""
        for page in [*self.pages, TARGET_PAGE]:
            kind = "ordinary" if page != TARGET_PAGE else "rotating"
            body = {"site": SITE, "page": page, "visitor": self.visitors[0]}
            await self._request(
                kind, "POST", "/v1/hit", ORDINARY_ADDRESSES[0], body=body, page=page
            )
        for n in range(len(self.busuanzi_pages)):
            await self.busuanzi_hit(n)

    async def ordinary_hit(self, n: int) -> None:
        page = self.rng.choice(self.pages)
        body = {"site": SITE, "page": page, "visitor": self.rng.choice(self.visitors)}
        address = ORDINARY_ADDRESSES[n % len(ORDINARY_ADDRESSES)]
        await self._request("ordinary", "POST", "/v1/hit", address, body=body, page=page)

    async def busuanzi_hit(self, n: int) -> None:
        """A page view as busuanzi's script asks for it: the page in the Referer."""
        page = self.busuanzi_pages[n % len(self.busuanzi_pages)]
        headers = {"Referer": ORIGIN + page}
        address = BUSUANZI_ADDRESSES[n % len(BUSUANZI_ADDRESSES)]
        path = f"/busuanzi?jsonpCallback=BusuanziCallback_{n}"
        outcome, took = await self._send("GET", path, address, headers=headers)
        self.recorder.add("busuanzi", outcome, took)

    async def vote(self, n: int) -> None:
        body = {"visitor": f"voter-{n:08d}", "options": [self.option_id]}
        address = ORDINARY_ADDRESSES[n % len(ORDINARY_ADDRESSES)]
        await self._request("votes", "POST", f"/v1/polls/{self.poll_id}/vote", address, body=body)

    # -- abuse ---------------------------------------------------------------------------

    async def rotating_hit(self, n: int) -> None:
        """One client, a new visitor id every hit, one page: over COUNTER_HIT_RATE."""
        body = {"site": SITE, "page": TARGET_PAGE, "visitor": f"rotating-{n:09d}"}
        await self._request("rotating", "POST", "/v1/hit", ROTATING_ADDRESS, body=body)

    async def random_page_hit(self, n: int) -> None:
        """A new page every hit, from a pool of addresses: fills the site's max_pages."""
        page = f"/r/{n}-{self.rng.getrandbits(40):x}"
        body = {"site": SITE, "page": page, "visitor": f"random-{n:09d}"}
        address = RANDOM_PAGE_ADDRESSES[n % len(RANDOM_PAGE_ADDRESSES)]
        await self._request("random_pages", "POST", "/v1/hit", address, body=body, page=page)

    async def read_burst(self, n: int) -> None:
        """``rates.reads`` uncached reads at once: stats of 1 to 50 never-seen pages, and
        poll lists for never-seen visitors."""
        await asyncio.gather(*(self._read(n, i) for i in range(self.rates.reads)))

    async def _read(self, n: int, i: int) -> None:
        address = READ_ADDRESSES[i % len(READ_ADDRESSES)]
        if i % 3 == 2:
            query = urlencode({"site": SITE, "visitor": f"reader-{n:06d}-{i:03d}"})
            await self._request("reads", "GET", f"/v1/polls?{query}", address)
            return
        pages = [f"/u/{n}-{i}-{k}" for k in range(self.rng.randint(1, 50))]
        query = urlencode([("site", SITE), *(("page", p) for p in pages)])
        await self._request("reads", "GET", f"/v1/stats?{query}", address)

    async def slow_client(self, slot: int) -> None:
        """Connections that never finish their request, one after another: a body or a head
        sent in part and then stalled, or dripped a byte a second, or nothing at all. The
        server must close each within its timeout (a body gets ``408``)."""
        n = 0
        loop = asyncio.get_running_loop()
        while loop.time() < self.until:
            variant = (slot + n) % 5
            n += 1
            body_head = _head(
                "POST", "/v1/hit",
                {**self._headers(ORDINARY_ADDRESSES[0]), "Content-Type": "application/json",
                 "Content-Length": "256"},
            )  # fmt: skip
            if variant == 0:  # a body stalled after a few bytes
                kind, first, drip = "slow_body", body_head + b'{"site": "soak", ', b""
            elif variant == 1:  # a body dripped a byte a second
                kind, first, drip = "slow_body", body_head + b"{", b'"site": "soak", ' * 16
            elif variant == 2:  # a head stalled half-way
                kind, first, drip = "slow_head", body_head[:40], b""
            elif variant == 3:  # a head dripped a byte a second
                kind, first, drip = "slow_head", body_head[:5], body_head[5:]
            else:  # a connection that never sends a byte
                kind, first, drip = "slow_head", b"", b""
            limit = self.body_timeout_s if kind == "slow_body" else self.header_timeout_s
            outcome, took = await raw_exchange(self.port, first, limit + 20, drip)
            self.recorder.add(kind, outcome, took)

    def poll_stream(self) -> tuple[str, Query]:
        """A live-results stream of the soak's poll, as a new visitor."""
        path = f"/v1/polls/{self.poll_id}/events"
        return path, [("visitor", f"watcher-{self.rng.getrandbits(32):08x}")]

    def stats_stream(self) -> tuple[str, Query]:
        """A reader's live stats: the site and one ordinary page, as the widget asks."""
        return "/v1/stats/events", [("site", SITE), ("page", self.rng.choice(self.pages))]

    def page_flood_stream(self) -> tuple[str, Query]:
        """Live stats of FLOOD_PAGES pages nobody else follows: fills the site's
        COUNTER_STREAM_PAGES."""
        pages = [f"/f/{self.rng.getrandbits(40):x}" for _ in range(FLOOD_PAGES)]
        return "/v1/stats/events", [("site", SITE), *(("page", p) for p in pages)]

    async def stream_client(
        self, kind: str, address: str, stream: Callable[[], tuple[str, Query]]
    ) -> None:
        """A live stream (``stream()`` names it), held for a random while, opened again and
        again; refusals (per-client and total caps) are retried after a few seconds, not
        Retry-After. Outcomes under ``kind``, how each ended under ``<kind>_ends``."""
        loop = asyncio.get_running_loop()
        while loop.time() < self.until:
            started = time.monotonic()
            path, params = stream()
            try:
                async with self.streams_http.get(
                    self.url + path, params=params, headers=self._headers(address)
                ) as resp:
                    if resp.status != 200:
                        self.recorder.add(kind, classify(resp.status, await resp.read()))
                        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
                        continue
                    self.recorder.add(kind, "200", time.monotonic() - started)
                    hold = min(self.rng.uniform(5.0, 120.0), self.until - loop.time())
                    ended = await self._hold(resp.content, hold)
                    self.recorder.add(f"{kind}_ends", ended, time.monotonic() - started)
            except TimeoutError:
                self.recorder.add(kind, "timeout", time.monotonic() - started)
            except (aiohttp.ClientError, OSError):
                self.recorder.add(kind, "reset", time.monotonic() - started)
                await asyncio.sleep(1.0)

    @staticmethod
    async def _hold(content: aiohttp.StreamReader, hold_s: float) -> str:
        """Read a stream for ``hold_s``: ``by-server`` if it ended first, else ``by-client``."""
        try:
            async with asyncio.timeout(max(0.0, hold_s)):
                async for _ in content:
                    pass
        except TimeoutError:
            return "by-client"
        return "by-server"

    async def lag_probe(self) -> None:
        """How late this process's own loop runs: a late loop inflates every latency the
        generator measures, whatever the service does."""
        loop = asyncio.get_running_loop()
        while loop.time() < self.until:
            due = loop.time() + 0.1
            await asyncio.sleep(0.1)
            self.recorder.add("generator_lag", "tick", loop.time() - due)

    async def garbage(self, n: int) -> None:
        name, send = GARBAGE[n % len(GARBAGE)]
        outcome = await send(self, n)
        self.recorder.add("garbage", outcome)
        self.recorder.cases[name, outcome] += 1

    def tasks(self) -> list[Awaitable[None]]:
        """Every pattern, each running until ``until``."""
        r, until = self.rates, self.until
        tasks: list[Awaitable[None]] = [
            paced(r.ordinary, until, self.ordinary_hit, self._skipped("ordinary")),
            paced(r.busuanzi, until, self.busuanzi_hit, self._skipped("busuanzi")),
            paced(r.votes, until, self.vote, self._skipped("votes")),
            paced(r.rotating, until, self.rotating_hit, self._skipped("rotating")),
            paced(r.random_pages, until, self.random_page_hit, self._skipped("random_pages")),
            paced(1.0, until, self.read_burst, self._skipped("reads")),
            paced(r.garbage, until, self.garbage, self._skipped("garbage")),
        ]
        tasks += [self.lag_probe(), *(self.slow_client(slot) for slot in range(r.slow))]
        polls = [a for a in STREAM_ADDRESSES for _ in range(r.streams_per_address)]
        polls += [GREEDY_STREAM_ADDRESS] * r.greedy_streams
        tasks += [self.stream_client("poll_streams", a, self.poll_stream) for a in polls]
        stats = [a for a in STATS_STREAM_ADDRESSES for _ in range(r.stats_streams_per_address)]
        tasks += [self.stream_client("stats_streams", a, self.stats_stream) for a in stats]
        tasks += [
            self.stream_client("page_flood_streams", PAGE_FLOOD_ADDRESS, self.page_flood_stream)
            for _ in range(r.page_flood_streams)
        ]
        return tasks


# -- garbage: each case sends one malformed or refused request --------------------------

Sender = Callable[[Load, int], Awaitable[str]]


def _app(method: str, path: str, raw: bytes | None = None, **headers: str) -> Sender:
    """A request through the HTTP client; ``{n}`` in the path, body or a header is the
    request's number (a new unknown site or path each time)."""

    async def send(load: Load, n: int) -> str:
        address = ORDINARY_ADDRESSES[n % len(ORDINARY_ADDRESSES)]
        number = str(n)
        body = raw.replace(b"{n}", number.encode()) if raw is not None else None
        sent = {k: v.replace("{n}", number) for k, v in headers.items()}
        outcome, _ = await load._send(
            method, path.replace("{n}", number), address, raw=body, headers=sent
        )
        return outcome

    return send


def _raw(data: bytes) -> Sender:
    async def send(load: Load, n: int) -> str:
        outcome, _ = await raw_exchange(load.port, data, CLIENT_TIMEOUT_S)
        return outcome

    return send


def _hit(**fields: object) -> bytes:
    return orjson.dumps({"site": SITE, "page": "/news/0", **fields})


GARBAGE: list[tuple[str, Sender]] = [
    ("truncated JSON", _app("POST", "/v1/hit", b'{"site": "soak", "page": ')),
    ("JSON array", _app("POST", "/v1/hit", b"[1, 2, 3]")),
    ("binary body", _app("POST", "/v1/hit", bytes(range(256)))),
    ("unknown field", _app("POST", "/v1/hit", _hit(colour="red"))),
    ("invalid visitor", _app("POST", "/v1/hit", _hit(visitor="<script>"))),
    ("page too long", _app("POST", "/v1/hit", _hit(page="/" + "p" * 600))),
    ("unknown site", _app("POST", "/v1/hit", b'{"site": "nosuch-{n}", "page": "/"}')),
    ("body too large", _app("POST", "/v1/hit", b"{" + b" " * 20_000 + b"}")),
    ("unknown path", _app("GET", "/wp-login.php?n={n}")),
    ("wrong method", _app("DELETE", "/v1/hit")),
    ("51 pages in a read", _app("GET", "/v1/stats?site=soak" + "&page=/x" * 51)),
    ("unknown poll stream", _app("GET", "/v1/polls/nosuch{n}/events")),
    ("stats stream of an unknown site", _app("GET", "/v1/stats/events?site=nosuch-{n}")),
    ("stats stream of 51 pages", _app("GET", "/v1/stats/events?site=soak" + "&page=/x" * 51)),
    ("busuanzi, foreign callback", _app(
        "GET", "/busuanzi?jsonpCallback=alert", Referer=f"{ORIGIN}/blog/0"
    )),
    ("busuanzi, unknown origin", _app(
        "GET", "/busuanzi?jsonpCallback=BusuanziCallback_1", Referer="https://n{n}.example/"
    )),
    ("busuanzi without Referer", _app("GET", "/busuanzi?jsonpCallback=BusuanziCallback_1")),
    ("member token in a URL", _app("GET", "/v1/polls?site=soak&member=v1.m.1.sig")),
    ("admin without token", _app("GET", "/v1/admin/sites")),
    ("unreadable X-Forwarded-For", _app("POST", "/v1/hit", _hit(), **{"X-Forwarded-For": "junk"})),
    ("long URL", _raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")),
    ("huge header", _raw(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")),
    ("100 headers", _raw(b"GET / HTTP/1.1\r\n" + b"X-H: 1\r\n" * 100 + b"\r\n")),
    ("unknown method", _raw(b"BREW /v1/hit HTTP/1.1\r\nHost: x\r\n\r\n")),
    ("TLS hello on plain HTTP", _raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 4)),
    ("bad header name", _raw(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n")),
    ("bad chunked body", _raw(
        b"POST /v1/hit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"
    )),
]  # fmt: skip
