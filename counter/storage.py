"""The storage boundary: one Redis client per app, Lua scripts, bounded retries.

Every Redis error becomes :class:`~counter.errors.StoreUnavailable` here, after a bounded
number of retries with logging, so no caller above this module sees a redis-py exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from importlib import resources
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from counter.errors import StoreUnavailable
from counter.sentinel import is_sentinel_url, primary_client

log = logging.getLogger(__name__)

T = TypeVar("T")
RedisClient = Redis | RedisCluster
ScriptArg = str | bytes | int | float

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

STORE_ERRORS = (RedisError, RedisClusterException)
"""What a failed Redis call raises. A cluster client also raises RedisClusterException
(no reachable node, slot not covered, a command it refuses), which is not a RedisError."""

_STALE_TOPOLOGY = (RedisConnectionError, RedisTimeoutError, ClusterDownError, SlotNotCoveredError)

error_observers: list[Callable[[Exception], None]] = []
"""Called with every Redis error caught below, retried ones included (the app's metrics
add one while the app runs and remove it on shutdown)."""


def _observe(exc: Exception) -> None:
    for observe in error_observers:
        observe(exc)


def connect(url: str, timeout_s: float) -> RedisClient:
    """A client for ``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://`` or
    ``redis+sentinel://`` URLs (see :mod:`counter.sentinel`).

    The client does not retry on its own: :func:`retrying` does, once, visibly.
    """
    if is_sentinel_url(url):
        return primary_client(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )
    scheme, sep, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        return RedisCluster.from_url(
            f"{CLUSTER_SCHEMES[scheme]}{sep}{rest}",
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )


def subscriber(url: str, connect_timeout_s: float) -> Redis:
    """A client for pub/sub on a plain or sentinel URL: no read timeout, one connection
    attempt. With sentinels it subscribes on the current primary, which PUBLISH reaches."""
    if is_sentinel_url(url):
        return primary_client(
            url, socket_connect_timeout=connect_timeout_s, retry=Retry(NoBackoff(), 0)
        )
    return Redis.from_url(url, socket_connect_timeout=connect_timeout_s)


async def retrying(
    what: str, attempt: Callable[[], Awaitable[T]], retries: int, base_delay: float = 0.05
) -> T:
    """Run ``attempt`` (which must be idempotent) up to ``retries + 1`` times."""
    for n in range(retries + 1):
        try:
            return await attempt()
        except STORE_ERRORS as exc:
            _observe(exc)
            if n == retries:
                log.error("%s failed after %d attempts: %s", what, n + 1, exc)
                raise StoreUnavailable(f"{what}: {exc}") from exc
            delay = base_delay * (4**n)
            log.warning("%s failed (%s); retry %d/%d in %.2fs", what, exc, n + 1, retries, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def pipeline(client: RedisClient) -> AsyncIterator[Pipeline | ClusterPipeline]:
    """A non-transactional pipeline that keeps a cluster client's topology fresh.

    A cluster client's single commands rediscover the slot map after a connection failure,
    but its pipeline only does so when the client retries by itself, which ours does not
    (see :func:`connect`). Without this, after a primary fails over every later pipeline
    would keep dialling the dead node. So a pipeline failure that hints at a topology
    change closes the cluster client, and its next command asks the cluster again.
    """
    try:
        async with client.pipeline(transaction=False) as pipe:
            yield pipe
    except _STALE_TOPOLOGY:
        if isinstance(client, RedisCluster):
            await client.aclose()
        raise


def wrap_errors(what: str) -> Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]:
    """Map redis errors of a non-idempotent call to StoreUnavailable without retrying."""

    async def run(attempt: Callable[[], Awaitable[T]]) -> T:
        try:
            return await attempt()
        except STORE_ERRORS as exc:
            _observe(exc)
            log.error("%s failed: %s", what, exc)
            raise StoreUnavailable(f"{what}: {exc}") from exc

    return run


class Script:
    """A Lua script from ``counter/lua/<name>.lua``, loaded by SHA, reloaded on NOSCRIPT."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = resources.files("counter.lua").joinpath(f"{name}.lua").read_text()
        self.sha: str | None = None

    async def load(self, client: RedisClient) -> str:
        sha = await client.script_load(self.source)
        self.sha = sha if isinstance(sha, str) else sha.decode()
        return self.sha

    async def __call__(
        self, client: RedisClient, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> object:
        sha = self.sha or await self.load(client)
        try:
            return await client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            sha = await self.load(client)
            return await client.evalsha(sha, len(keys), *keys, *args)
