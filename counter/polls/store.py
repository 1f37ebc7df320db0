"""Polls in Redis: save (compare-and-set on a revision), delete, read, and the vote script.

Every call that changes a poll is one Lua script on the site's slot; each change publishes
``<site>/<poll id>`` on :data:`counter.redis_keys.POLL_EVENTS` from inside the script. The
scripts' replies are parsed by :mod:`counter.lua.polls`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from counter import redis_keys as keys
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.lua import Script, ScriptArg
from counter.lua.polls import (
    OpenPolls,
    SaveCode,
    Stored,
    TicketCode,
    VoteReply,
    parse_delete,
    parse_open,
    parse_read,
    parse_save,
    parse_seen,
    parse_ticket,
    parse_vote,
)
from counter.polls.model import Poll
from counter.storage import RedisClient, Store, idempotent, once

MAX_POLLS_PER_SITE = 500

Voter = tuple[str, ...]
"""A voter's ballot keys (digests): the member's first when signed in, then the visitor's."""

__all__ = ["MAX_POLLS_PER_SITE", "OpenPolls", "PollStore", "Rate", "Stored", "VoteReply", "Voter"]
SCRIPTS = (
    "vote",
    "poll_save",
    "poll_delete",
    "poll_read",
    "poll_open",
    "poll_seen",
    "stream_ticket",
)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Rate:
    """One client's rate counters for a script: its own (an IPv4 address or IPv6 /64, as a
    salted hash) and its wider prefix's (an IPv6 /48; limit 0 when there is none), with
    their limits per window (0: unlimited)."""

    key: str
    limit: int
    wide_key: str
    wide_limit: int
    window_ms: int


def poll_keys(site: str, poll_id: str) -> list[str]:
    return [
        keys.poll(site, poll_id),
        keys.poll_votes(site, poll_id),
        keys.poll_ballots(site, poll_id),
    ]


class PollStore(Store):
    def __init__(
        self,
        redis: RedisClient,
        *,
        retention_ms: int,
        retries: int = 3,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        super().__init__(redis, retries=retries, instruments=instruments)
        self.retention_ms = retention_ms
        self.scripts = {n: Script(n) for n in SCRIPTS}
        self._sites: dict[str, str] = {}

    @idempotent("load poll scripts")
    async def load(self) -> None:
        for script in self.scripts.values():
            await script.load(self.redis)

    async def site_of(self, poll_id: str) -> str | None:
        """The site a poll belongs to (ids are never reused, so this is cached)."""
        if poll_id in self._sites:
            return self._sites[poll_id]
        raw = await self._find(poll_id)
        if raw is None:
            return None
        if len(self._sites) > 100_000:
            self._sites.clear()
        self._sites[poll_id] = raw
        return raw

    @idempotent("find poll")
    async def _find(self, poll_id: str) -> str | None:
        raw = await self.redis.hget(keys.POLLS, poll_id)
        return None if raw is None else _text(raw)

    @idempotent("register poll")
    async def register(self, poll_id: str, site: str) -> bool:
        """File a saved poll under its id; False when the id belongs to another site."""
        if await self.redis.hsetnx(keys.POLLS, poll_id, site):
            return True
        return _text(await self.redis.hget(keys.POLLS, poll_id)) == site

    @idempotent("count polls")
    async def count(self, site: str) -> int:
        return int(await self.redis.zcard(keys.poll_index(site)))

    @once("save poll")
    async def save(self, poll: Poll, rev: str) -> tuple[SaveCode, str]:
        """Write ``poll`` if its revision is still ``rev`` ("" creates); (code, detail)."""
        args: list[ScriptArg] = [
            rev,
            poll.id,
            orjson.dumps(poll.to_storage()),
            poll.starts_at,
            "" if poll.ends_at is None else poll.ends_at,
            poll.max_choices,
            "1" if poll.allow_change else "0",
            poll.created_at,
            self.retention_ms,
            keys.POLL_EVENTS,
            f"{poll.site}/{poll.id}",
            *(o.id for o in poll.options),
        ]
        call_keys = [
            *poll_keys(poll.site, poll.id),
            keys.poll_index(poll.site),
            keys.poll_generation(poll.site),
        ]
        return parse_save(await self.scripts["poll_save"](self.redis, call_keys, args))

    @idempotent("delete poll")
    async def discard(self, site: str, poll_id: str) -> bool:
        """Delete the poll's data on its site (not its registration); True if it existed."""
        call_keys = [*poll_keys(site, poll_id), keys.poll_index(site), keys.poll_generation(site)]
        args = [poll_id, keys.POLL_EVENTS, f"{site}/{poll_id}"]
        return parse_delete(await self.scripts["poll_delete"](self.redis, call_keys, args))

    async def delete(self, site: str, poll_id: str) -> bool:
        existed = await self.discard(site, poll_id)
        await self._unregister(poll_id)
        self._sites.pop(poll_id, None)
        return existed

    @idempotent("unregister poll")
    async def _unregister(self, poll_id: str) -> None:
        await self.redis.hdel(keys.POLLS, poll_id)

    @idempotent("list polls")
    async def ids(self, site: str) -> list[str]:
        """The site's poll ids, newest first."""
        return [_text(i) for i in await self.redis.zrevrange(keys.poll_index(site), 0, -1)]

    @idempotent("read polls")
    async def read(self, site: str, poll_ids: Sequence[str], voter: Voter = ()) -> list[Stored]:
        """The polls that exist among ``poll_ids``, in order, read in one script call."""
        if not poll_ids:
            return []
        call_keys = [k for poll_id in poll_ids for k in poll_keys(site, poll_id)]
        reply = await self.scripts["poll_read"](self.redis, call_keys, [" ".join(voter)])
        return parse_read(reply, poll_ids, site)

    @idempotent("read open polls")
    async def open_polls(
        self, site: str, poll_ids: Sequence[str], now_ms: int, most: int
    ) -> OpenPolls:
        """The first ``most`` of ``poll_ids`` open at ``now_ms``, in one script call."""
        call_keys = [k for poll_id in poll_ids for k in poll_keys(site, poll_id)]
        reply = await self.scripts["poll_open"](self.redis, call_keys, [now_ms, most, *poll_ids])
        return parse_open(reply, site)

    @idempotent("read ballots")
    async def seen(
        self, site: str, poll_ids: Sequence[str], voter: Voter = ()
    ) -> tuple[str, list[bool]]:
        """The site's poll generation, and whether ``voter`` voted in each of ``poll_ids``."""
        call_keys = [keys.poll_generation(site), *(keys.poll_ballots(site, p) for p in poll_ids)]
        reply = await self.scripts["poll_seen"](self.redis, call_keys, [" ".join(voter)])
        return parse_seen(reply, len(poll_ids))

    @once("file stream ticket")
    async def file_ticket(
        self, site: str, *, ticket: str, value: str, ttl_ms: int, rate: Rate
    ) -> tuple[TicketCode, str]:
        """Store ``ticket`` for ``ttl_ms`` unless the client is over its ticket rate (keyword
        arguments: a failure's log line names the site, never the ticket)."""
        call_keys = [keys.stream_ticket(site, ticket), keys.ticket_rate(site, rate.key)]
        args: list[ScriptArg] = [value, ttl_ms, rate.limit, rate.window_ms]
        return parse_ticket(await self.scripts["stream_ticket"](self.redis, call_keys, args))

    @once("take stream ticket")
    async def take_ticket(self, site: str, *, ticket: str) -> str | None:
        """What ``ticket`` stands for, deleting it (a ticket opens one stream); None if it
        is unknown, used or expired."""
        raw = await self.redis.getdel(keys.stream_ticket(site, ticket))
        return None if raw is None else _text(raw)

    @once("vote")
    async def vote(
        self,
        site: str,
        poll_id: str,
        *,
        now_ms: int,
        voter: Voter,
        options: Sequence[str],
        rate: Rate,
    ) -> VoteReply:
        """Run ``vote.lua`` with the client's ``rate`` counters.

        Not retried: a vote whose answer was lost may have been applied.
        """
        call_keys = [
            *poll_keys(site, poll_id),
            keys.vote_rate(site, rate.key),
            keys.vote_rate(site, rate.wide_key),
        ]
        args: list[ScriptArg] = [
            now_ms,
            " ".join(voter),
            rate.limit,
            rate.window_ms,
            self.retention_ms,
            keys.POLL_EVENTS,
            f"{site}/{poll_id}",
            rate.wide_limit,
            *options,
        ]
        return parse_vote(await self.scripts["vote"](self.redis, call_keys, args), poll_id, site)
