"""A per-process cache of each site's open polls: what ``GET /v1/polls`` lists.

The list is the same for every reader except for ``voted``. Its shared part (the newest
``most`` open polls with their tallies) is read from Redis at most once per ``ttl_s`` per
site, by one load at a time: concurrent misses wait for the same load. What differs per
reader, and the site's poll generation, are read per request in one small script call
(:meth:`~counter.polls.store.PollStore.seen`); every creation, edit and deletion bumps the
generation, so the first request after an admin change, made by any process, reads the list
again. Votes made in other processes show within ``ttl_s``; votes made here at once (also
those made while a load was in flight: the load was sent before them, so their tallies are
applied to what it read).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from counter.polls.model import Poll, Tally
from counter.polls.store import PollStore, Stored

MAX_SITES = 10_000


@dataclass(frozen=True, slots=True)
class Listing:
    """A site's open polls as read at one time, newest first."""

    generation: str
    """The site's poll generation read before the polls were."""
    polls: tuple[Stored, ...]
    open: int
    """How many polls were open: more than ``polls`` when the list was cut at ``most``."""
    expires: float


class OpenPolls:
    def __init__(
        self, store: PollStore, clock: Callable[[], float], *, most: int, ttl_s: float = 1.0
    ) -> None:
        self.store = store
        self.clock = clock
        self.most = most
        self.ttl_s = ttl_s
        self._listings: dict[str, Listing] = {}
        self._loading: dict[str, asyncio.Task[Listing]] = {}
        self._voted: dict[str, dict[str, tuple[Poll, Tally]]] = {}
        """Votes made here while the site's listing was loading, by poll id."""

    async def listing(self, site: str) -> Listing:
        """The site's listing, read again when older than ``ttl_s``."""
        cached = self._listings.get(site)
        if cached is not None and cached.expires > self.clock():
            return cached
        task = self._loading.get(site)
        if task is None:
            task = asyncio.create_task(self._load(site))
            self._loading[site] = task
            task.add_done_callback(lambda done: self._loaded(site, done))
        loaded = await asyncio.shield(task)  # a reader that goes away leaves the load running
        return self._listings.get(site, loaded)  # with the votes made here meanwhile

    def forget(self, site: str, stale: Listing) -> None:
        """Drop ``stale`` (not a newer listing another request has loaded since)."""
        if self._listings.get(site) is stale:
            del self._listings[site]

    def voted(self, site: str, poll: Poll, tally: Tally) -> None:
        """A vote made in this process: its poll's tally in the cached listing is replaced."""
        if site in self._loading:
            self._voted.setdefault(site, {})[poll.id] = (poll, tally)
        cached = self._listings.get(site)
        if cached is not None:
            self._listings[site] = _with_votes(cached, {poll.id: (poll, tally)})

    async def _load(self, site: str) -> Listing:
        now = self.clock()
        generation, _ = await self.store.seen(site, [])
        ids = await self.store.ids(site)
        found = await self.store.open_polls(site, ids, int(now * 1000), self.most)
        return Listing(generation, found.polls, found.open, now + self.ttl_s)

    def _loaded(self, site: str, task: asyncio.Task[Listing]) -> None:
        del self._loading[site]
        votes = self._voted.pop(site, {})
        if task.cancelled() or task.exception() is not None:
            return  # every waiter got the error (StoreUnavailable: a 503)
        if len(self._listings) >= MAX_SITES:
            self._listings.clear()
        self._listings[site] = _with_votes(task.result(), votes)


def _with_votes(listing: Listing, votes: dict[str, tuple[Poll, Tally]]) -> Listing:
    """``listing`` with the polls and tallies that ``votes`` answered (by poll id)."""
    if not votes:
        return listing
    polls = tuple(
        dataclasses.replace(s, poll=votes[s.poll.id][0], tally=votes[s.poll.id][1])
        if s.poll.id in votes
        else s
        for s in listing.polls
    )
    return dataclasses.replace(listing, polls=polls)
