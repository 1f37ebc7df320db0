"""Open live streams (Server-Sent Events) of one process: how many per client and in all,
and how long each may live.

A stream holds a connection and a subscriber for as long as the client keeps it, so each
kind of stream (poll results, live site stats) opens through :meth:`Streams.open`: at most
``per_client`` at a time per client (an IPv4 address or IPv6 /64; ``429`` beyond; clients in
``allowlist``, such as an office's NAT gateway, are exempt) and ``total`` in the process
(``503`` beyond), both with ``Retry-After``.
A stream ends after its lifetime (``max_s``, less up to a tenth at random, so streams opened
together do not all come back together); the browser's ``EventSource`` then reconnects by
itself, which also moves long-lived clients onto new replicas after a scale-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Iterator

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from counter.clients import listed, rate_subject
from counter.errors import too_many, unavailable
from counter.instruments import Instruments
from counter.settings import IPNetwork
from counter.sites.model import SiteConfig
from counter.web.errors import cors_grant

JITTER = 0.1
"""A stream lives between ``(1 - JITTER) * max_s`` and ``max_s``."""
RETRY_PER_CLIENT_S = 30
RETRY_TOTAL_S = 10
RECONNECT_MS = (2000, 5000)
"""The reconnection delay a stream asks its browser for (``retry:``), drawn in this range."""


class Slot:
    """One open stream: its lifetime, and what to do when the lifetime is over."""

    def __init__(self, lifetime_s: float, reconnect_ms: int) -> None:
        self.lifetime_s = lifetime_s
        self.reconnect_ms = reconnect_ms
        self.expired = False
        self._on_expiry: list[Callable[[], None]] = []

    def on_expiry(self, end: Callable[[], None]) -> None:
        """Call ``end`` (which makes the stream finish) once its lifetime is over."""
        self._on_expiry.append(end)

    def expire(self) -> None:
        self.expired = True
        for end in self._on_expiry:
            end()


class Streams:
    def __init__(
        self,
        *,
        per_client: int,
        total: int,
        max_s: float,
        instruments: Instruments,
        allowlist: tuple[IPNetwork, ...] = (),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.per_client = per_client
        self.allowlist = allowlist
        self.total = total
        self.max_s = max_s
        self.instruments = instruments
        self.rng = rng
        self.open_now = 0
        self._by_client: dict[str, int] = {}

    def held_by(self, client: str) -> int:
        return self._by_client.get(client, 0)

    @contextlib.contextmanager
    def open(self, ip: str, kind: str, site: str) -> Iterator[Slot]:
        """A slot for one stream of ``kind`` about ``site`` for the client at ``ip``, held for
        as long as the block runs; refused (``429``/``503``) when the client or the process is
        full."""
        if self.open_now >= self.total:
            self.instruments.refused("streams_total", site)
            message = "too many live streams; retry later"
            raise unavailable("too_many_streams", message, RETRY_TOTAL_S)
        client = rate_subject(ip)
        if self.held_by(client) >= self.per_client and not listed(ip, self.allowlist):
            self.instruments.refused("streams_per_client", site)
            raise too_many(
                "too_many_streams",
                f"at most {self.per_client} live streams per client; close one first",
                RETRY_PER_CLIENT_S,
            )
        slot = Slot(
            self.max_s * (1 - JITTER * self.rng()),
            int(RECONNECT_MS[0] + (RECONNECT_MS[1] - RECONNECT_MS[0]) * self.rng()),
        )
        timer = asyncio.get_running_loop().call_later(slot.lifetime_s, self._expire, slot, site)
        self.open_now += 1
        self._by_client[client] = self.held_by(client) + 1
        try:
            with self.instruments.stream(kind, site):
                yield slot
        finally:
            timer.cancel()
            self.open_now -= 1
            left = self._by_client.pop(client) - 1
            if left:
                self._by_client[client] = left

    def _expire(self, slot: Slot, site: str) -> None:
        self.instruments.refused("stream_lifetime", site)
        slot.expire()


@contextlib.asynccontextmanager
async def event_stream(
    request: web.Request, site: SiteConfig, on_gone: Callable[[], None]
) -> AsyncIterator[EventSourceResponse]:
    """The started Server-Sent-Events answer to ``request`` (not cached, readable by the
    site's origins), for as long as the block runs; ``on_gone`` is called once the client
    has gone, so that the block stops waiting for news. A client that went away mid-send
    ends the block quietly."""
    resp = EventSourceResponse(headers=cors_grant(request, site))
    resp.headers["Cache-Control"] = "no-store"
    await resp.prepare(request)
    async with resp:
        watch = asyncio.ensure_future(resp.wait())
        watch.add_done_callback(lambda _: on_gone())
        try:
            yield resp
        except ConnectionResetError:
            pass  # the client went away
        finally:
            watch.cancel()
