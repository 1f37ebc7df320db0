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

from counter import redis_keys as keys
from counter.errors import StoreUnavailable
from counter.polls.store import Stored
from counter.pubsub import Listener, Mailbox

log = logging.getLogger(__name__)

Key = tuple[str, str]
Reader = Callable[[str, str], Awaitable[Stored | None]]
READY_TIMEOUT_S = 5.0


Subscriber = Mailbox[Stored]
"""One stream's mailbox: the latest snapshot, or the news that the poll is gone."""


class PollHub:
    def __init__(
        self, url: str, connect_timeout_s: float, read: Reader, *, min_interval_s: float = 1.0
    ) -> None:
        self.read = read
        self.min_interval_s = min_interval_s
        self.listener = Listener(
            url, connect_timeout_s, keys.POLL_EVENTS, self._on_message, self._catch_up
        )
        self._subs: dict[Key, set[Subscriber]] = {}
        self._pending: set[Key] = set()
        self._last: dict[Key, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.listener.start()

    def end_streams(self) -> None:
        """Let every open stream finish (on shutdown)."""
        for subs in self._subs.values():
            for sub in subs:
                sub.close()

    async def close(self) -> None:
        """Stop listening and reading (bounded: see :meth:`Listener.close`)."""
        self.end_streams()
        await self.listener.close(*self._tasks)

    async def wait_ready(self) -> None:
        await self.listener.wait_ready(READY_TIMEOUT_S, "live results")

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

    def _on_message(self, text: str) -> None:
        site, sep, poll_id = text.partition("/")
        if sep:
            self.notify(site, poll_id)

    def _catch_up(self) -> None:
        """(Re)subscribed: read every followed poll, in case a change was missed meanwhile."""
        for key in list(self._subs):
            self.notify(*key)
