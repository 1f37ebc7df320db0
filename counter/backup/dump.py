"""Writing a backup: each site's keys by type, in chunks, then its global index entries.

A site's keys are written as SCAN finds them, its config last (a restore writes it last
too, so a half-restored site is never visible), then its ``c:sites`` membership and the
``c:polls`` entries of its polls. The result streams: memory stays bounded by one chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from counter import redis_keys as keys
from counter.backup.codec import Chunk, ephemeral, header, prefix, split
from counter.backup.codec import encode as encode_line
from counter.backup.progress import Counts
from counter.backup.scan import KeyReader
from counter.errors import not_found
from counter.storage import RedisClient
from counter.validation import site_id


async def sites_to_back_up(redis: RedisClient, named: Sequence[str], retries: int) -> list[str]:
    """The named sites (each must exist), or every registered site when none is named."""
    reader = KeyReader(redis, retries=retries)
    if not named:
        return await reader.site_ids()
    sites = list(dict.fromkeys(site_id(s) for s in named))
    for site in sites:
        if not await reader.site_exists(site):
            raise not_found("unknown_site", f"no site {site!r}")
    return sites


async def _key(
    reader: KeyReader, site: str, name: bytes, meta: tuple[str, int | None]
) -> AsyncIterator[Chunk]:
    type_, ttl = meta
    if type_ == "none":
        return
    suffix = name.removeprefix(prefix(site).encode())
    part = 0
    async for data in reader.pages(name, type_):
        for piece in split(type_, data):
            yield Chunk("key", site, suffix, type_, part, piece, ttl)
            part += 1


async def _site_keys(reader: KeyReader, site: str) -> AsyncIterator[Chunk]:
    config = keys.config(site).encode()
    async for found in reader.scan_keys(site):
        names = [n for n in found if n != config and not ephemeral(site, n)]
        if not names:
            continue
        for name, meta in zip(names, await reader.key_types(names), strict=True):
            async for chunk in _key(reader, site, name, meta):
                yield chunk
    (meta,) = await reader.key_types([config])
    async for chunk in _key(reader, site, config, meta):
        yield chunk


async def _index(reader: KeyReader, site: str) -> AsyncIterator[Chunk]:
    """The site's entries in the global keys: its ``c:sites`` membership, and the
    ``c:polls`` entries (poll id -> site) of the polls in its poll index."""
    if await reader.listed(site):
        yield Chunk("index", site, keys.SITES.encode(), "set", 0, [site.encode()])
    part = 0
    async for data in reader.pages(keys.poll_index(site).encode(), "zset"):
        ids = data[::2]
        found = await reader.poll_owners(ids)
        entries = [x for i, o in zip(ids, found, strict=True) if o == site.encode() for x in (i, o)]
        for piece in split("hash", entries):
            yield Chunk("index", site, keys.POLLS.encode(), "hash", part, piece)
            part += 1


async def _site(reader: KeyReader, site: str, counts: Counts) -> AsyncIterator[bytes]:
    yield encode_line({"t": "site", "site": site})
    n_keys = n_lines = 0
    for chunks in (_site_keys(reader, site), _index(reader, site)):
        async for chunk in chunks:
            if chunk.part == 0 and chunk.scope == "key":
                n_keys += 1
                counts.keys += 1
            n_lines += 1
            yield encode_line(chunk.to_json())
    yield encode_line({"t": "end", "site": site, "keys": n_keys, "lines": n_lines})


async def dump(
    redis: RedisClient, sites: Sequence[str], *, now: float, counts: Counts, retries: int
) -> AsyncIterator[bytes]:
    """The backup of ``sites`` as lines of bytes; ``counts`` follows along."""

    def counted(line: bytes) -> bytes:
        counts.lines += 1
        counts.bytes += len(line)
        return line

    counts.total_sites = len(sites)
    reader = KeyReader(redis, retries=retries)
    yield counted(encode_line(header(now)))
    for site in sites:
        async for line in _site(reader, site, counts):
            yield counted(line)
        counts.sites += 1
    yield counted(encode_line({"t": "done", "sites": len(sites)}))
