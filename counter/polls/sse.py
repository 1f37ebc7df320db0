"""Live results: one Redis pub/sub listener per process fans poll changes out to streams.

Every vote and every admin change publishes ``<site>/<poll id>`` (from inside its Lua
script), so each replica's listener hears every change. Per poll, at most one snapshot per
``min_interval_s`` is read and handed to that poll's subscribers; a subscriber keeps only
the latest snapshot, so a slow client never makes memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from redis.exceptions import RedisError

from counter import redis_keys as keys
from counter.errors import StoreUnavailable, unavailable
from counter.polls.store import Stored
from counter.storage import CLUSTER_SCHEMES, subscriber

log = logging.getLogger(__name__)

Key = tuple[str, str]
Reader = Callable[[str, str], Awaitable[Stored | None]]
LISTEN_TIMEOUT_S = 1.0
"""The listener reads with this timeout, so it notices a close even if a cancel is lost."""
CLOSE_TIMEOUT_S = 3.0
READY_TIMEOUT_S = 5.0


class Subscriber:
    """One stream's mailbox: the latest snapshot, or the news that the poll is gone."""

    def __init__(self) -> None:
        self.latest: Stored | None = None
        self.gone = False
        self.closed = False
        self._event = asyncio.Event()

    def push(self, stored: Stored | None) -> None:
        if stored is None:
            self.gone = True
        else:
            self.latest = stored
        self._event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def next(self) -> Stored | None:
        """The next snapshot; None once the poll is gone or the stream must end."""
        await self._event.wait()
        self._event.clear()
        if self.gone or self.closed:
            return None
        latest, self.latest = self.latest, None
        return latest


def subscriber_url(url: str) -> str:
    """A plain-connection URL: in a cluster, PUBLISH reaches subscribers on every node."""
    scheme, sep, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        return f"{CLUSTER_SCHEMES[scheme]}{sep}{rest.split(',')[0]}"
    return url


class PollHub:
    def __init__(
        self, url: str, connect_timeout_s: float, read: Reader, *, min_interval_s: float = 1.0
    ) -> None:
        self.url = subscriber_url(url)
        self.connect_timeout_s = connect_timeout_s
        self.read = read
        self.min_interval_s = min_interval_s
        self.ready = asyncio.Event()
        self._subs: dict[Key, set[Subscriber]] = {}
        self._pending: set[Key] = set()
        self._last: dict[Key, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())

    def end_streams(self) -> None:
        """Let every open stream finish (on shutdown)."""
        for subs in self._subs.values():
            for sub in subs:
                sub.close()

    async def close(self) -> None:
        """Stop listening. redis-py may swallow a cancellation inside a pub/sub read, so the
        listener also stops by itself at its next read timeout, and the wait is bounded."""
        self._closing = True
        self.end_streams()
        tasks = [*self._tasks, *([self._listener] if self._listener else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            if pending:
                log.warning("poll events listener still running after %.0fs", CLOSE_TIMEOUT_S)

    async def wait_ready(self) -> None:
        try:
            await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT_S)
        except TimeoutError:
            raise unavailable("events_unavailable", "live results are unavailable") from None

    @contextlib.contextmanager
    def subscribe(self, site: str, poll_id: str) -> Iterator[Subscriber]:
        """A mailbox for the poll's snapshots, for as long as the block runs (how many
        streams may open is :class:`~counter.web.streams.Streams`' business)."""
        key = (site, poll_id)
        sub = Subscriber()
        self._subs.setdefault(key, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(key, set())
            subs.discard(sub)
            if not subs:
                self._subs.pop(key, None)
                self._last.pop(key, None)

    def notify(self, site: str, poll_id: str) -> None:
        """A poll changed: schedule one snapshot for its subscribers (throttled)."""
        key = (site, poll_id)
        if key not in self._subs or key in self._pending:
            return
        self._pending.add(key)
        task = asyncio.create_task(self._flush(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, key: Key) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last.get(key, float("-inf")) + self.min_interval_s - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._pending.discard(key)  # a change from now on schedules the next snapshot
        self._last[key] = loop.time()
        try:
            stored = await self.read(*key)
        except StoreUnavailable as exc:
            log.warning("live results of %s/%s not sent: %s", *key, exc)
            return
        for sub in list(self._subs.get(key, ())):
            sub.push(stored)

    def _on_message(self, data: object) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        site, sep, poll_id = text.partition("/")
        if sep:
            self.notify(site, poll_id)

    async def _listen(self) -> None:
        delay = 0.1
        while not self._closing:
            client = subscriber(self.url, self.connect_timeout_s)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(keys.POLL_EVENTS)
                while not self._closing:
                    message = await pubsub.get_message(timeout=LISTEN_TIMEOUT_S)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.ready.set()
                        delay = 0.1
                        for key in list(self._subs):  # catch up on what a reconnect missed
                            self.notify(*key)
                    elif message["type"] == "message":
                        self._on_message(message["data"])
            except (RedisError, OSError) as exc:
                log.warning("poll events listener: %s; reconnecting in %.1fs", exc, delay)
            finally:
                self.ready.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
                await client.aclose()
            if self._closing:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
