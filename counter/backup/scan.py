"""Reading a site's keys in chunks: SCAN over its hash tag, then each key page by page.

Every call is an idempotent read, retried through :func:`counter.storage.retrying`. On a
Redis Cluster all keys of a site live in one slot, so SCAN runs on the node serving it only.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable
from typing import Any

from redis.asyncio.cluster import RedisCluster

from counter import redis_keys as keys
from counter.backup.codec import CHUNK
from counter.errors import ApiError
from counter.storage import RedisClient, pipeline, retrying

Page = tuple[int, list[bytes]]
"""A cursor (0 when done) and the flat data read: see :mod:`counter.backup.codec`."""


async def site_exists(redis: RedisClient, site: str, retries: int) -> bool:
    """True when the site is registered or has a config."""

    async def attempt() -> bool:
        return bool(
            await redis.sismember(keys.SITES, site) or await redis.exists(keys.config(site))
        )

    return await retrying(f"look up site {site}", attempt, retries)


def _bytes(items: Iterable[object]) -> list[bytes]:
    """Replies as bytes (the clients are made without decode_responses)."""
    return [i if isinstance(i, bytes) else str(i).encode() for i in items]


async def _scan(redis: RedisClient, site: str, cursor: int) -> Page:
    pattern = keys.site_pattern(site)
    if isinstance(redis, RedisCluster):
        await redis.initialize()  # no-op once the client knows the slot map
        node = redis.get_node_from_key(keys.config(site))
        # a cluster client answers {node name: cursor} for the nodes asked: here one
        reply: Any = await redis.scan(cursor, match=pattern, count=CHUNK, target_nodes=node)
        return int(next(iter(reply[0].values()))), _bytes(reply[1])
    next_cursor, found = await redis.scan(cursor, match=pattern, count=CHUNK)
    return int(next_cursor), _bytes(found)


async def scan_keys(redis: RedisClient, site: str, retries: int) -> AsyncIterator[list[bytes]]:
    """The names of every key under the site's hash tag, one SCAN step at a time.

    Like SCAN, it may name a key twice; keys added or removed meanwhile may be missed.
    """
    cursor = 0
    while True:
        step = functools.partial(_scan, redis, site, cursor)
        cursor, found = await retrying(f"scan keys of {site}", step, retries)
        if found:
            yield found
        if cursor == 0:
            return


async def _meta(redis: RedisClient, names: list[bytes]) -> list[tuple[str, int]]:
    async with pipeline(redis) as pipe:
        for name in names:
            pipe.execute_command("TYPE", name)
            pipe.execute_command("PTTL", name)
        replies = await pipe.execute()
    return [(_text(replies[i]), int(replies[i + 1])) for i in range(0, len(replies), 2)]


async def key_types(
    redis: RedisClient, names: list[bytes], retries: int
) -> list[tuple[str, int | None]]:
    """Each key's type and remaining time in ms (None: no expiry); type "none" when the key
    is gone or about to expire."""
    metas = await retrying("read key types", functools.partial(_meta, redis, names), retries)
    return [("none", None) if ttl in (-2, 0) else (t, None if ttl < 0 else ttl) for t, ttl in metas]


def _raw(score: Any) -> bytes:
    """A zset score as the server wrote it (a RESP3 client gets a double: its repr)."""
    return score if isinstance(score, bytes) else repr(float(score)).encode()


async def _page(redis: RedisClient, name: bytes, type_: str, cursor: int) -> Page:
    if type_ == "string":
        value = await redis.get(name)
        return 0, _bytes([] if value is None else [value])
    if type_ == "hash":
        cursor, fields = await redis.hscan(name, cursor, count=CHUNK)
        assert isinstance(fields, dict)  # with values, HSCAN answers a mapping
        return cursor, _bytes(item for pair in fields.items() for item in pair)
    if type_ == "zset":
        cursor, members = await redis.zscan(name, cursor, count=CHUNK, score_cast_func=_raw)
        return cursor, _bytes(item for pair in members for item in pair)
    if type_ == "set":
        cursor, found = await redis.sscan(name, cursor, count=CHUNK)
        return cursor, _bytes(found)
    if type_ == "list":
        items = _bytes(await redis.lrange(name, cursor, cursor + CHUNK - 1))
        return (cursor + CHUNK if len(items) == CHUNK else 0), items
    raise ApiError(409, "unsupported_key", f"key {name!r} is a {type_}, which a backup cannot hold")


async def pages(
    redis: RedisClient, name: bytes, type_: str, retries: int
) -> AsyncIterator[list[bytes]]:
    """A key's content in pages of about :data:`CHUNK` entries (HSCAN, ZSCAN, SSCAN or
    LRANGE; one GET for a string). A key read in one page is read atomically."""
    cursor = 0
    while True:
        step = functools.partial(_page, redis, name, type_, cursor)
        cursor, data = await retrying(f"read key {name!r}", step, retries)
        if data:
            yield data
        if cursor == 0:
            return


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
