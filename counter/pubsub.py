"""One Redis pub/sub subscription per process, kept open: what feeds the live streams.

Scripts publish changes (poll tallies, a site's stats) on a channel, so every replica hears
every change however many streams it serves. A :class:`Listener` subscribes on a plain
connection (in a cluster, PUBLISH reaches subscribers on every node), hands each message to
its owner, and reconnects with a growing pause when the connection fails; ``on_ready`` runs at
every (re)subscription, so the owner can catch up on what it missed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from redis.exceptions import RedisError

from counter.errors import unavailable
from counter.storage import CLUSTER_SCHEMES, subscriber

log = logging.getLogger(__name__)

T = TypeVar("T")

LISTEN_TIMEOUT_S = 1.0
"""The listener reads with this timeout, so it notices a close even if a cancel is lost."""
CLOSE_TIMEOUT_S = 3.0
FIRST_DELAY_S, MAX_DELAY_S = 0.1, 5.0
"""The pause before a reconnection: doubled after each failure, up to the second figure."""


class Mailbox(Generic[T]):
    """One stream's mailbox: only the latest snapshot is kept (a slow client never makes
    memory grow), or the news that what it follows is gone."""

    def __init__(self) -> None:
        self.latest: T | None = None
        self.gone = False
        self.closed = False
        self._event = asyncio.Event()

    def push(self, snapshot: T | None) -> None:
        """Hand over a snapshot (replacing one not yet taken); None: the subject is gone."""
        if snapshot is None:
            self.gone = True
        else:
            self.latest = snapshot
        self._event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def next(self) -> T | None:
        """The next snapshot; None once the subject is gone or the stream must end."""
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


class Listener:
    def __init__(
        self,
        url: str,
        connect_timeout_s: float,
        channel: str,
        on_message: Callable[[str], None],
        on_ready: Callable[[], None],
    ) -> None:
        self.url = subscriber_url(url)
        self.connect_timeout_s = connect_timeout_s
        self.channel = channel
        self.on_message = on_message
        self.on_ready = on_ready
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen())

    async def wait_ready(self, timeout_s: float, what: str) -> None:
        """Return once subscribed; 503 ``events_unavailable`` after ``timeout_s``."""
        try:
            await asyncio.wait_for(self.ready.wait(), timeout_s)
        except TimeoutError:
            raise unavailable("events_unavailable", f"{what} are unavailable") from None

    async def close(self, *others: asyncio.Task[None]) -> None:
        """Stop listening (and cancel ``others``, the owner's tasks). redis-py may swallow a
        cancellation inside a pub/sub read, so the listener also stops by itself at its next
        read timeout, and the wait is bounded."""
        self._closing = True
        tasks = [*others, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            if pending:
                log.warning("%s listener still running after %.0fs", self.channel, CLOSE_TIMEOUT_S)

    async def _listen(self) -> None:
        delay = FIRST_DELAY_S
        while not self._closing:
            client = subscriber(self.url, self.connect_timeout_s)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while not self._closing:
                    message = await pubsub.get_message(timeout=LISTEN_TIMEOUT_S)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.ready.set()
                        delay = FIRST_DELAY_S
                        self.on_ready()
                    elif message["type"] == "message":
                        data = message["data"]
                        self.on_message(data.decode() if isinstance(data, bytes) else str(data))
            except (RedisError, OSError) as exc:
                log.warning("%s listener: %s; reconnecting in %.1fs", self.channel, exc, delay)
            finally:
                self.ready.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
                await client.aclose()
            if self._closing:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
