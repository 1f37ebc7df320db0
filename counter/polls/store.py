"""Polls in Redis: save (compare-and-set on a revision), delete, read, and the vote script.

Every call that changes a poll is one Lua script on the site's slot; each change publishes
``<site>/<poll id>`` on :data:`counter.redis_keys.POLL_EVENTS` from inside the script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from counter import redis_keys as keys
from counter.polls.model import Poll, Tally
from counter.storage import RedisClient, Script, ScriptArg, retrying, wrap_errors

MAX_POLLS_PER_SITE = 500

Voter = tuple[str, ...]
"""A voter's ballot keys (digests): the member's first when signed in, then the visitor's."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A poll as read: definition, revision, results, and whether the asking voter voted."""

    poll: Poll
    rev: str
    tally: Tally
    voted: bool


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    """``code`` is "ok" (then ``poll`` and ``tally`` are set) or the script's refusal."""

    code: str
    detail: str = ""
    poll: Poll | None = None
    tally: Tally | None = None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _tally(voters: object, flat: Sequence[object]) -> Tally:
    votes = {_text(flat[i]): int(_text(flat[i + 1])) for i in range(0, len(flat) - 1, 2)}
    return Tally(int(_text(voters)), votes)


def poll_keys(site: str, poll_id: str) -> list[str]:
    return [
        keys.poll(site, poll_id),
        keys.poll_votes(site, poll_id),
        keys.poll_ballots(site, poll_id),
    ]


class PollStore:
    def __init__(self, redis: RedisClient, *, retries: int = 3, retention_ms: int) -> None:
        self.redis = redis
        self.retries = retries
        self.retention_ms = retention_ms
        self.scripts = {n: Script(n) for n in ("vote", "poll_save", "poll_delete", "poll_read")}
        self._sites: dict[str, str] = {}

    async def load(self) -> None:
        for script in self.scripts.values():
            await script.load(self.redis)

    async def site_of(self, poll_id: str) -> str | None:
        """The site a poll belongs to (ids are never reused, so this is cached)."""
        if poll_id in self._sites:
            return self._sites[poll_id]

        async def attempt() -> object:
            return await self.redis.hget(keys.POLLS, poll_id)

        raw = await retrying(f"find poll {poll_id}", attempt, self.retries)
        if raw is None:
            return None
        if len(self._sites) > 100_000:
            self._sites.clear()
        self._sites[poll_id] = _text(raw)
        return self._sites[poll_id]

    async def register(self, poll_id: str, site: str) -> bool:
        """File a saved poll under its id; False when the id belongs to another site."""

        async def attempt() -> object:
            if await self.redis.hsetnx(keys.POLLS, poll_id, site):
                return True
            return _text(await self.redis.hget(keys.POLLS, poll_id)) == site

        return bool(await retrying(f"register poll {poll_id}", attempt, self.retries))

    async def count(self, site: str) -> int:
        async def attempt() -> int:
            return int(await self.redis.zcard(keys.poll_index(site)))

        return await retrying(f"count polls of {site}", attempt, self.retries)

    async def save(self, poll: Poll, rev: str) -> tuple[str, str]:
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
        call_keys = [*poll_keys(poll.site, poll.id), keys.poll_index(poll.site)]
        run = wrap_errors(f"save poll {poll.id}")
        out = await run(lambda: self.scripts["poll_save"](self.redis, call_keys, args))
        assert isinstance(out, list)
        return _text(out[0]), _text(out[1])

    async def discard(self, site: str, poll_id: str) -> bool:
        """Delete the poll's data on its site (not its registration); True if it existed."""
        call_keys = [*poll_keys(site, poll_id), keys.poll_index(site)]
        args = [poll_id, keys.POLL_EVENTS, f"{site}/{poll_id}"]

        async def attempt() -> object:
            return await self.scripts["poll_delete"](self.redis, call_keys, args)

        return await retrying(f"delete poll {poll_id}", attempt, self.retries) == 1

    async def delete(self, site: str, poll_id: str) -> bool:
        existed = await self.discard(site, poll_id)

        async def unregister() -> object:
            return await self.redis.hdel(keys.POLLS, poll_id)

        await retrying(f"unregister poll {poll_id}", unregister, self.retries)
        self._sites.pop(poll_id, None)
        return existed

    async def ids(self, site: str) -> list[str]:
        """The site's poll ids, newest first."""

        async def attempt() -> list[object]:
            return list(await self.redis.zrevrange(keys.poll_index(site), 0, -1))

        return [_text(i) for i in await retrying(f"list polls of {site}", attempt, self.retries)]

    async def read(self, site: str, poll_ids: Sequence[str], voter: Voter = ()) -> list[Stored]:
        """The polls that exist among ``poll_ids``, in order, read in one script call."""
        if not poll_ids:
            return []
        call_keys = [k for poll_id in poll_ids for k in poll_keys(site, poll_id)]

        async def attempt() -> object:
            return await self.scripts["poll_read"](self.redis, call_keys, [" ".join(voter)])

        out = await retrying(f"read polls of {site}", attempt, self.retries)
        assert isinstance(out, list)
        found = []
        for poll_id, entry in zip(poll_ids, out, strict=True):
            if entry:
                poll = Poll.from_storage(poll_id, site, orjson.loads(entry[0]))
                tally = _tally(entry[2], entry[4:])
                found.append(Stored(poll, _text(entry[1]), tally, entry[3] == 1))
        return found

    async def vote(
        self,
        site: str,
        poll_id: str,
        *,
        now_ms: int,
        voter: Voter,
        options: Sequence[str],
        rate: tuple[str, int, int],
    ) -> VoteOutcome:
        """Run ``vote.lua``; ``rate`` is (IP key, limit per window or 0, window in ms).

        Not retried: a vote whose answer was lost may have been applied.
        """
        ip_key, limit, window_ms = rate
        call_keys = [*poll_keys(site, poll_id), keys.vote_rate(site, ip_key)]
        args: list[ScriptArg] = [
            now_ms,
            " ".join(voter),
            limit,
            window_ms,
            self.retention_ms,
            keys.POLL_EVENTS,
            f"{site}/{poll_id}",
            *options,
        ]
        run = wrap_errors(f"vote in poll {poll_id}")
        out = await run(lambda: self.scripts["vote"](self.redis, call_keys, args))
        assert isinstance(out, list)
        code = _text(out[0])
        if code != "ok":
            return VoteOutcome(code, _text(out[1]))
        poll = Poll.from_storage(poll_id, site, orjson.loads(out[1]))
        return VoteOutcome(code, poll=poll, tally=_tally(out[2], out[3:]))
