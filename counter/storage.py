"""The storage boundary: Redis clients, the base of every store, bounded retries.

Every Redis error becomes :class:`~counter.errors.StoreUnavailable` here, once, so no caller
above this module sees a redis-py exception. Store methods declare how: ``@idempotent``
retries a call that is safe to repeat (with backoff and logging) before giving up, ``@once``
never repeats a call whose effect may already have happened (a vote). Both report every
Redis error to the store's instruments.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from counter.errors import StoreUnavailable
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.sentinel import is_sentinel_url, primary_client

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")
RedisClient = Redis | RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

STORE_ERRORS = (RedisError, RedisClusterException)
"""What a failed Redis call raises. A cluster client also raises RedisClusterException
(no reachable node, slot not covered, a command it refuses), which is not a RedisError."""

_STALE_TOPOLOGY = (RedisConnectionError, RedisTimeoutError, ClusterDownError, SlotNotCoveredError)

DEFAULT_POOL = 50
"""Connections per client (per node on a cluster) when the caller names no size."""


def connect(url: str, timeout_s: float, *, max_connections: int = DEFAULT_POOL) -> RedisClient:
    """A client for ``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://`` or
    ``redis+sentinel://`` URLs (see :mod:`counter.sentinel`), holding at most
    ``max_connections`` connections (per node on a cluster).

    On a single server the pool blocks: a caller waits up to ``timeout_s`` for a free
    connection instead of failing at once. The client does not retry on its own: stores do,
    once, visibly (:func:`retrying`).
    """
    options = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
    }
    if is_sentinel_url(url):
        return primary_client(
            url, **options, health_check_interval=30, max_connections=max_connections
        )
    scheme, sep, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        return RedisCluster.from_url(
            f"{CLUSTER_SCHEMES[scheme]}{sep}{rest}", **options, max_connections=max_connections
        )
    pool = BlockingConnectionPool.from_url(
        url, **options, health_check_interval=30, max_connections=max_connections,
        timeout=timeout_s,
    )  # fmt: skip
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


def subscriber(url: str, connect_timeout_s: float) -> Redis:
    """A client for pub/sub on a plain or sentinel URL: no read timeout, one connection
    attempt. With sentinels it subscribes on the current primary, which PUBLISH reaches."""
    if is_sentinel_url(url):
        return primary_client(
            url, socket_connect_timeout=connect_timeout_s, retry=Retry(NoBackoff(), 0)
        )
    return Redis.from_url(url, socket_connect_timeout=connect_timeout_s)


def _describe(what: str, args: tuple[object, ...]) -> str:
    """``what`` and the call's text arguments (site and poll ids), for a log line."""
    named = " ".join(a for a in args if isinstance(a, str))[:120]
    return f"{what} {named}" if named else what


RETRY_DELAY_S = 0.05
"""The wait before the first retry; each next wait is four times longer."""


def retry_span_s(retries: int, attempt_s: float) -> float:
    """The longest :func:`retrying` can take when every attempt lasts ``attempt_s``."""
    waits = sum(RETRY_DELAY_S * float(4**n) for n in range(retries))
    return waits + (retries + 1) * attempt_s


async def retrying(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    retries: int,
    instruments: Instruments = NO_INSTRUMENTS,
) -> T:
    """Run ``attempt`` (which must be idempotent) up to ``retries + 1`` times, waiting
    ``RETRY_DELAY_S * 4**n`` between tries (so :func:`retry_span_s` bounds it); then
    :class:`StoreUnavailable`."""
    for n in range(retries + 1):
        try:
            return await attempt()
        except STORE_ERRORS as exc:
            instruments.redis_error(exc)
            if n == retries:
                log.error("%s failed after %d attempts: %s", what, n + 1, exc)
                raise StoreUnavailable(f"{what}: {exc}") from exc
            delay = RETRY_DELAY_S * (4**n)
            log.warning("%s failed (%s); retry %d/%d in %.2fs", what, exc, n + 1, retries, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


class Store:
    """The base of every Redis-backed store: the client, its retry budget, its instruments."""

    def __init__(
        self, redis: RedisClient, *, retries: int = 3, instruments: Instruments = NO_INSTRUMENTS
    ) -> None:
        self.redis = redis
        self.retries = retries
        self.instruments = instruments


S = TypeVar("S", bound=Store)
Method = Callable[Concatenate[S, P], Awaitable[T]]


def idempotent(what: str) -> Callable[[Method[S, P, T]], Method[S, P, T]]:
    """A store method safe to repeat: retried ``store.retries`` times, then 503."""

    def wrap(method: Method[S, P, T]) -> Method[S, P, T]:
        @functools.wraps(method)
        async def run(store: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return await retrying(
                _describe(what, args),
                lambda: method(store, *args, **kwargs),
                store.retries,
                store.instruments,
            )

        return run

    return wrap


def once(what: str) -> Callable[[Method[S, P, T]], Method[S, P, T]]:
    """A store method that must not be repeated (its effect may have happened): a Redis
    error is logged and becomes a 503 at once."""

    def wrap(method: Method[S, P, T]) -> Method[S, P, T]:
        @functools.wraps(method)
        async def run(store: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await method(store, *args, **kwargs)
            except STORE_ERRORS as exc:
                store.instruments.redis_error(exc)
                log.error("%s failed: %s", _describe(what, args), exc)
                raise StoreUnavailable(f"{what}: {exc}") from exc

        return run

    return wrap


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
