"""Reading a site's keys in chunks: SCAN over its hash tag, then each key page by page.

Every call is an idempotent read, a method of :class:`KeyReader` retried by the store's own
mechanism (:func:`counter.storage.idempotent`). On a Redis Cluster all keys of a site live in
one slot, so SCAN runs on the node serving it only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster

from counter import redis_keys as keys
from counter.backup.codec import CHUNK
from counter.errors import ApiError
from counter.storage import Store, idempotent, pipeline

Page = tuple[int, list[bytes]]
"""A cursor (0 when done) and the flat data read: see :mod:`counter.backup.codec`."""


def _bytes(items: Iterable[object]) -> list[bytes]:
    """Replies as bytes (the clients are made without decode_responses)."""
    return [i if isinstance(i, bytes) else str(i).encode() for i in items]


def _raw(score: Any) -> bytes:
    """A zset score as the server wrote it (a RESP3 client gets a double: its repr)."""
    return score if isinstance(score, bytes) else repr(float(score)).encode()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class KeyReader(Store):
    """The reads a backup makes, each retried on its own."""

    @idempotent("look up site")
    async def site_exists(self, site: str) -> bool:
        """True when the site is registered or has a config."""
        redis = self.redis
        return bool(
            await redis.sismember(keys.SITES, site) or await redis.exists(keys.config(site))
        )

    @idempotent("list sites")
    async def site_ids(self) -> list[str]:
        return sorted(_text(m) for m in await self.redis.smembers(keys.SITES))

    @idempotent("look up site")
    async def listed(self, site: str) -> bool:
        """True when the site is in ``c:sites``."""
        return bool(await self.redis.sismember(keys.SITES, site))

    @idempotent("read poll owners")
    async def poll_owners(self, poll_ids: Sequence[bytes]) -> list[object]:
        """The site each poll id is filed under in ``c:polls`` (None: not filed)."""
        return list(await self.redis.hmget(keys.POLLS, list(poll_ids)))

    @idempotent("scan keys")
    async def scan(self, site: str, cursor: int) -> Page:
        redis = self.redis
        pattern = keys.site_pattern(site)
        if isinstance(redis, RedisCluster):
            await redis.initialize()  # no-op once the client knows the slot map
            node = redis.get_node_from_key(keys.config(site))
            # a cluster client answers {node name: cursor} for the nodes asked: here one
            reply: Any = await redis.scan(cursor, match=pattern, count=CHUNK, target_nodes=node)
            return int(next(iter(reply[0].values()))), _bytes(reply[1])
        next_cursor, found = await redis.scan(cursor, match=pattern, count=CHUNK)
        return int(next_cursor), _bytes(found)

    @idempotent("read key types")
    async def key_types(self, names: list[bytes]) -> list[tuple[str, int | None]]:
        """Each key's type and remaining time in ms (None: no expiry); type "none" when the
        key is gone or about to expire."""
        async with pipeline(self.redis) as pipe:
            for name in names:
                pipe.execute_command("TYPE", name)
                pipe.execute_command("PTTL", name)
            replies = await pipe.execute()
        metas = [(_text(replies[i]), int(replies[i + 1])) for i in range(0, len(replies), 2)]
        return [
            ("none", None) if ttl in (-2, 0) else (t, None if ttl < 0 else ttl) for t, ttl in metas
        ]

    @idempotent("read key")
    async def page(self, name: bytes, type_: str, cursor: int) -> Page:
        redis = self.redis
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
        raise ApiError(
            409, "unsupported_key", f"key {name!r} is a {type_}, which a backup cannot hold"
        )

    async def scan_keys(self, site: str) -> AsyncIterator[list[bytes]]:
        """The names of every key under the site's hash tag, one SCAN step at a time.

        Like SCAN, it may name a key twice; keys added or removed meanwhile may be missed.
        """
        cursor = 0
        while True:
            cursor, found = await self.scan(site, cursor)
            if found:
                yield found
            if cursor == 0:
                return

    async def pages(self, name: bytes, type_: str) -> AsyncIterator[list[bytes]]:
        """A key's content in pages of about :data:`CHUNK` entries (HSCAN, ZSCAN, SSCAN or
        LRANGE; one GET for a string). A key read in one page is read atomically."""
        cursor = 0
        while True:
            cursor, data = await self.page(name, type_, cursor)
            if data:
                yield data
            if cursor == 0:
                return
