"""Restoring a backup: the whole file is checked first, then written site by site.

Nothing is written unless the file is complete and valid and no site in it exists (or
``replace`` is set), so a refusal leaves the store as it was. Each site is then:

1. emptied (a replaced site is deleted as ``counter site delete`` does) and frozen by its
   tombstone, which the counting script honours, so no hit lands in a half-written site;
2. written with pipelines on its own slot, a chunk at a time, each key emptied at its first
   part; every command is idempotent (a list's later parts trim it to the length written
   before appending), so a pipeline that failed is simply sent again;
3. unfrozen, then given its config, then its global index entries (``c:sites``, ``c:polls``,
   the origin index, written apart from the site's slot): until its config exists the site
   is unknown, so a restore that stopped midway is never visible and can be run again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from counter import redis_keys as keys
from counter.backup.codec import CHUNK, Chunk, SiteEnd, SiteStart, entries, records
from counter.backup.progress import Counts
from counter.backup.scan import KeyReader
from counter.errors import ApiError, not_found
from counter.sites.store import TOMBSTONE_S, SiteStore
from counter.storage import RedisClient, Store, idempotent, pipeline

Command = tuple[Any, ...]
ProgressHook = Callable[[Counts], None]
TOMBSTONE_MS = TOMBSTONE_S * 1000


@dataclass
class Plan:
    """What a checked file holds: its sites in order, and the poll ids each one registers
    (bounded by the polls a site may have)."""

    sites: list[str] = field(default_factory=list)
    polls: dict[str, list[bytes]] = field(default_factory=dict)


def check(lines: Iterable[bytes]) -> Plan:
    """Read the whole file; :class:`~counter.backup.codec.BackupFormatError` at a fault."""
    plan = Plan()
    for record in records(lines):
        if isinstance(record, SiteStart):
            plan.sites.append(record.site)
        elif isinstance(record, Chunk) and record.key == keys.POLLS.encode():
            plan.polls.setdefault(record.site, []).extend(record.data[::2])
    return plan


def writes(chunk: Chunk, written: int) -> list[Command]:
    """The writes of one chunk; ``written``: elements of this list key already restored."""
    key, data = chunk.key, chunk.data
    out: list[Command] = [("DEL", key)] if chunk.part == 0 and chunk.scope == "key" else []
    if chunk.type == "string":
        out.append(("SET", key, data[0]))
    elif chunk.type == "hash":
        out.append(("HSET", key, *data))
    elif chunk.type == "zset":
        pairs = zip(data[::2], data[1::2], strict=True)
        out.append(("ZADD", key, *(x for member, score in pairs for x in (score, member))))
    elif chunk.type == "set":
        out.append(("SADD", key, *data))
    else:
        if chunk.part > 0:
            out.append(("LTRIM", key, 0, written - 1))
        out.append(("RPUSH", key, *data))
    if chunk.ttl_ms is not None:
        out.append(("PEXPIRE", key, chunk.ttl_ms))
    return out


async def send(redis: RedisClient, commands: Sequence[Command]) -> None:
    async with pipeline(redis) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        await pipe.execute()


class SiteLoader(Store):
    """Writes one site's records; see the module docstring for the order. Every write is
    safe to repeat, and retried by the store's own mechanism."""

    def __init__(self, redis: RedisClient, site: str, retries: int, counts: Counts) -> None:
        super().__init__(redis, retries=retries)
        self.site, self.counts = site, counts
        self.tombstone = keys.tombstone(site)
        self.pending: list[Command] = []
        self.queued = 0
        self.written = 0
        self.held: list[Chunk] = []

    async def begin(self) -> None:
        existed = await SiteStore(self.redis, retries=self.retries).delete(self.site)
        await self._freeze()
        if not existed:  # keys left by a restore that stopped midway
            reader = KeyReader(self.redis, retries=self.retries)
            async for found in reader.scan_keys(self.site):
                stale = [k for k in found if k != self.tombstone.encode()]
                if stale:
                    await self._delete(stale)

    async def add(self, chunk: Chunk) -> None:
        if chunk.scope == "key" and chunk.part == 0:
            self.counts.keys += 1
        if chunk.scope == "index" or chunk.key == keys.config(self.site).encode():
            self.held.append(chunk)  # written last: the config, a few index entries
            return
        self._queue(chunk)
        if self.queued >= CHUNK:
            await self._flush()

    def _queue(self, chunk: Chunk) -> None:
        self.written = 0 if chunk.part == 0 else self.written
        self.pending += writes(chunk, self.written)
        self.written += len(chunk.data)
        self.queued += entries(chunk.type, chunk.data)

    async def _flush(self) -> None:
        if not self.pending:
            return
        await self._send([*self.pending, ("PEXPIRE", self.tombstone, TOMBSTONE_MS)])
        self.pending.clear()
        self.queued = 0

    async def finish(self) -> None:
        await self._flush()
        await self._delete([self.tombstone.encode()])
        for chunk in self.held:
            if chunk.scope == "key":
                self._queue(chunk)
        if self.pending:
            await self._send(self.pending)
            self.pending.clear()
        for chunk in self.held:
            if chunk.scope == "index":
                add = "SADD" if chunk.type == "set" else "HSET"
                await self._send([(add, chunk.key, *chunk.data)])
                await self._announce(chunk)
        await SiteStore(self.redis, retries=self.retries).reindex(self.site)
        self.counts.sites += 1

    async def _announce(self, chunk: Chunk) -> None:
        """Tell live-result streams that the site's polls are back."""
        if chunk.key != keys.POLLS.encode():
            return
        for poll_id in chunk.data[::2]:
            await self._send([("PUBLISH", keys.POLL_EVENTS, f"{self.site}/{poll_id.decode()}")])

    @idempotent("restore: freeze the site")
    async def _freeze(self) -> None:
        await self.redis.set(self.tombstone, b"1", px=TOMBSTONE_MS)

    @idempotent("restore: delete keys")
    async def _delete(self, names: list[bytes]) -> None:
        await self.redis.delete(*names)

    @idempotent("restore: write")
    async def _send(self, commands: Sequence[Command]) -> None:
        await send(self.redis, commands)


def _select(plan: Plan, only: Sequence[str]) -> list[str]:
    missing = sorted(set(only) - set(plan.sites))
    if missing:
        raise not_found("unknown_site", f"the backup holds no site {', '.join(missing)}")
    return [s for s in plan.sites if not only or s in only]


async def _refuse_conflicts(
    redis: RedisClient, plan: Plan, sites: list[str], replace: bool, retries: int
) -> list[str]:
    """The sites that exist; ApiError (nothing written) when that or a poll id conflicts."""
    reader = KeyReader(redis, retries=retries)
    existing = [s for s in sites if await reader.site_exists(s)]
    if existing and not replace:
        raise ApiError(
            409,
            "site_exists",
            f"site {', '.join(existing)} exists; nothing was restored "
            "(restore with --replace to overwrite it)",
        )
    for site in sites:
        ids = plan.polls.get(site, [])
        if not ids:
            continue
        taken = [o for o in await reader.poll_owners(ids) if o is not None]
        if any(o != site.encode() for o in taken):
            raise ApiError(
                409, "poll_conflict", f"a poll of {site!r} has an id another site uses now"
            )
    return existing


def _counted(lines: Iterable[bytes], counts: Counts) -> Iterator[bytes]:
    for line in lines:
        counts.lines += 1
        counts.bytes += len(line)
        yield line


async def restore(
    redis: RedisClient,
    open_lines: Callable[[], Iterable[bytes]],
    *,
    replace: bool = False,
    only: Sequence[str] = (),
    retries: int = 3,
    counts: Counts | None = None,
    progress: ProgressHook | None = None,
) -> dict[str, Any]:
    """Restore the sites of a backup (``only`` these, when given); returns a summary.

    ``open_lines`` is called twice: the file is read once to check it, once to write;
    ``counts`` (and ``progress``, after each line) follow the writing.
    """
    plan = check(open_lines())
    sites = _select(plan, only)
    existing = await _refuse_conflicts(redis, plan, sites, replace, retries)
    counts = Counts() if counts is None else counts
    counts.total_sites = len(sites)
    loader: SiteLoader | None = None
    for record in records(_counted(open_lines(), counts)):
        if isinstance(record, SiteStart) and record.site in sites:
            loader = SiteLoader(redis, record.site, retries, counts)
            await loader.begin()
        elif isinstance(record, Chunk) and loader is not None:
            await loader.add(record)
        elif isinstance(record, SiteEnd) and loader is not None:
            await loader.finish()
            loader = None
        if progress is not None:
            progress(counts)
    return {"restored": sites, "replaced": existing, "keys": counts.keys, "bytes": counts.bytes}
