"""Live stats: one pub/sub listener per process turns announced changes into snapshots for
the streams of ``GET /v1/stats/events``.

A flush that changed a site's stats publishes the site id on ``c:stats:events`` (from inside
``batch.lua``), at most once a second per site: the first change of a second is announced, the
next ones in that second are not. So the hub reads a site at once when it hears of a change,
and once more a second later, which catches what the throttle held back; a stream that starts
(or a listener that reconnects) gets the same pair, since a change may have been held back by
an announcement it never heard. Per site and process the hub reads at most once per
``min_interval_s`` whatever the number of streams, with every page its streams follow in that
one call, and each stream's mailbox keeps only the latest snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from counter import redis_keys as keys
from counter.counting.service import CountingService
from counter.counting.stats import Answer
from counter.errors import StoreUnavailable, unavailable
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.pubsub import Listener, Mailbox
from counter.sites.store import SiteStore

log = logging.getLogger(__name__)

Reader = Callable[[str, Sequence[str]], Awaitable[Answer | None]]
"""A site's stats with these pages' counts, straight from Redis; None when the site is gone."""
READY_TIMEOUT_S = 5.0
AGAIN_AFTER_S = 1.05
"""When the catching-up read is due: ``batch.lua`` announces at most once a second per site
(its throttle key lives 1000 ms), plus a margin."""
COALESCE_S = 0.05
"""Catching-up reads wished for within this of each other are one (the later)."""
RETRY_PAGES_S = 30


class Feed(Mailbox[Answer]):
    """One stream's mailbox: the pages it follows and the latest snapshot for it."""

    def __init__(self, site: str, pages: Sequence[str]) -> None:
        super().__init__()
        self.site = site
        self.pages = tuple(dict.fromkeys(pages))
        self.received = False
        self.failed = False
        """Its first snapshot could not be read (the stream is refused with a 503)."""
        self.sent: Answer | None = None

    def push(self, snapshot: Answer | None) -> None:
        self.received = True
        super().push(snapshot)

    def fail(self) -> None:
        """No first snapshot: the read failed."""
        if not self.received:
            self.failed = True
            self.close()

    def render(self, answer: Answer) -> bytes | None:
        """The stats body for this stream, or None when nothing it shows has changed."""
        last, self.sent = self.sent, answer
        counts = {page: answer.pages.get(page, 0) for page in self.pages}
        unchanged = (
            last is not None
            and last.snapshot == answer.snapshot
            and all(last.pages.get(page, 0) == n for page, n in counts.items())
        )
        return None if unchanged else answer.render(counts)


@dataclass(eq=False)
class _Site:
    """What the hub knows of one followed site."""

    feeds: set[Feed] = field(default_factory=set)
    pages: dict[str, int] = field(default_factory=dict)
    """Every page its feeds follow, with how many follow it."""
    latest: Answer | None = None
    latest_at: float = float("-inf")
    """When the read that answered ``latest`` started (loop time)."""
    read_at: float = float("-inf")
    """When the last read started."""
    due_now: bool = False
    due_later: list[float] = field(default_factory=list)
    """When catching-up reads are due (loop time, ascending; at most one per COALESCE_S)."""
    task: asyncio.Task[None] | None = None


class StatsHub:
    def __init__(
        self,
        url: str,
        connect_timeout_s: float,
        read: Reader,
        *,
        max_pages: int = 1000,
        min_interval_s: float = 1.0,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self.read = read
        self.max_pages = max_pages
        """Distinct pages the feeds of one site may follow (the size of one read)."""
        self.min_interval_s = min_interval_s
        self.instruments = instruments
        self.listener = Listener(
            url, connect_timeout_s, keys.STATS_EVENTS, self._on_message, self._catch_up
        )
        self._sites: dict[str, _Site] = {}

    def start(self) -> None:
        self.listener.start()

    def end_streams(self) -> None:
        """Let every open stream finish (on shutdown)."""
        for state in self._sites.values():
            for feed in state.feeds:
                feed.close()

    async def close(self) -> None:
        self.end_streams()
        tasks = [s.task for s in self._sites.values() if s.task is not None]
        await self.listener.close(*tasks)

    async def wait_ready(self) -> None:
        await self.listener.wait_ready(READY_TIMEOUT_S, "live stats")

    @contextlib.contextmanager
    def subscribe(self, site: str, pages: Sequence[str]) -> Iterator[Feed]:
        """A mailbox for the site's stats with ``pages``' counts, for as long as the block
        runs; its first snapshot is the latest read when that is fresh and has the pages,
        else the next read's. 503 when the site's feeds would follow too many pages."""
        state = self._sites.setdefault(site, _Site())
        added = [p for p in dict.fromkeys(pages) if p not in state.pages]
        if len(state.pages) + len(added) > self.max_pages:
            if not state.feeds and state.task is None:
                del self._sites[site]
            self.instruments.refused("stream_pages", site)
            message = "live stats of this site follow too many pages; retry later"
            raise unavailable("too_many_pages", message, RETRY_PAGES_S)
        feed = Feed(site, pages)
        state.feeds.add(feed)
        for page in feed.pages:
            state.pages[page] = state.pages.get(page, 0) + 1
        self._first(state, feed)
        try:
            yield feed
        finally:
            self._leave(site, state, feed)

    def _first(self, state: _Site, feed: Feed) -> None:
        """The latest snapshot, when it is fresh and has the feed's pages; else a read. (A
        fresh one means the site was followed, so a change since was heard of.)"""
        latest = state.latest
        fresh = asyncio.get_running_loop().time() - state.latest_at < self.min_interval_s
        if latest is not None and fresh and _covers(latest, feed):
            feed.push(latest)
        else:
            self._want(feed.site, state)

    def _leave(self, site: str, state: _Site, feed: Feed) -> None:
        state.feeds.discard(feed)
        for page in feed.pages:
            left = state.pages.pop(page) - 1
            if left:
                state.pages[page] = left
        if not state.feeds and state.task is None and self._sites.get(site) is state:
            del self._sites[site]

    def notify(self, site: str) -> None:
        """The site's stats changed: read them now and once more after the throttle's second
        (both throttled to one read per ``min_interval_s``)."""
        state = self._sites.get(site)
        if state is not None and state.feeds:
            self._want(site, state)

    def _on_message(self, text: str) -> None:
        site = text.removeprefix(keys.SITE_DELETED)
        if site == text:
            self.notify(site)
        elif site in self._sites:  # deleted: its streams end (a read could find a cached config)
            for feed in list(self._sites[site].feeds):
                feed.push(None)

    def _catch_up(self) -> None:
        """(Re)subscribed: read every followed site, in case a change was missed meanwhile."""
        for site, state in list(self._sites.items()):
            if state.feeds:
                self._want(site, state)

    def _want(self, site: str, state: _Site) -> None:
        """A read as soon as the throttle allows, and a catching-up one a second later."""
        state.due_now = True
        later = asyncio.get_running_loop().time() + AGAIN_AFTER_S
        if state.due_later and later - state.due_later[-1] < COALESCE_S:
            state.due_later[-1] = later
        else:
            state.due_later.append(later)
        if state.task is None:
            state.task = asyncio.create_task(self._run(site, state))

    def _next_read(self, state: _Site, now: float) -> float | None:
        """When the next read is due (loop time), or None when none is wanted."""
        if state.due_now:
            due = now
        elif state.due_later:
            due = state.due_later[0]
        else:
            return None
        return max(due, state.read_at + self.min_interval_s)

    async def _run(self, site: str, state: _Site) -> None:
        """Read the site whenever a read is due, until none is or no stream follows it."""
        loop = asyncio.get_running_loop()
        try:
            while state.feeds:
                due = self._next_read(state, loop.time())
                if due is None:
                    break
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                    continue  # the feeds or the wishes may have changed meanwhile
                await self._read(site, state, loop.time())
        finally:
            state.task = None
            if not state.feeds and self._sites.get(site) is state:
                del self._sites[site]

    async def _read(self, site: str, state: _Site, now: float) -> None:
        """One read, for every feed whose pages it has (a feed that came meanwhile with other
        pages waits for the read its coming asked for)."""
        state.due_now = False
        state.due_later = [at for at in state.due_later if at > now]
        state.read_at = now
        pages = list(state.pages)
        try:
            answer = await self.read(site, pages)
        except StoreUnavailable as exc:
            log.warning("live stats of %s not sent: %s", site, exc)
            asked = set(pages)
            for feed in list(state.feeds):
                if asked.issuperset(feed.pages):
                    feed.fail()  # those still waiting for a first snapshot are refused
            return
        if answer is not None:
            state.latest, state.latest_at = answer, now
        for feed in list(state.feeds):
            if answer is None or _covers(answer, feed):
                feed.push(answer)


def _covers(answer: Answer, feed: Feed) -> bool:
    return all(page in answer.pages for page in feed.pages)


def stats_reader(sites: SiteStore, counting: CountingService) -> Reader:
    """The hub's reads: the site's config (None once deleted), then its stats past the
    per-process cache, which they refresh for ``GET /v1/stats`` too (where a flush answered
    after the read was sent, the streams get that flush's counts)."""

    async def read(site_id: str, pages: Sequence[str]) -> Answer | None:
        site = await sites.get(site_id)
        if site is None:
            return None
        sent = counting.cache.stamp()
        answer = await counting.snapshot(site, pages)
        return counting.cache.put(answer, sent)  # or fresher counts a flush put meanwhile

    return read
