"""A Redis connection for the group-commit flusher: commands written back to back, replies
read in order.

A flush is one command, so the machinery of a general client (a connection pool with its
lock, a task per write to time it out, argument encoding, response callbacks) would cost more
than the write itself. This connection is an asyncio protocol: a command is one
``transport.write`` of bytes packed by the caller, its reply a future resolved from
``data_received`` by hiredis, and several commands may be in flight at once (Redis answers a
connection's commands in order, so flushes are never reordered). It serves a single server
or a Sentinel's current primary; a Redis Cluster routes by slot and goes through redis-py.

Failures are redis-py's exceptions (``ConnectionError``, ``TimeoutError``, ``NoScriptError``,
...), so the storage boundary maps them like any other; after one, the connection is closed
and the next command opens a new one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import hiredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from counter.sentinel import is_sentinel_url, parse_sentinel_url, primary_client
from counter.storage import CLUSTER_SCHEMES

Arg = bytes | str | int | float

_ERRORS: dict[str, type[RedisError]] = {
    "NOSCRIPT": NoScriptError,
    "LOADING": BusyLoadingError,
    "READONLY": ReadOnlyError,
    "MOVED": MovedError,
    "ASK": AskError,
    "CLUSTERDOWN": ClusterDownError,
    "TRYAGAIN": TryAgainError,
}
TOPOLOGY_ERRORS = (MovedError, AskError, ClusterDownError, TryAgainError, RedisConnectionError)
"""Errors after which a cluster's slot map is asked for again."""


class ReplicaAckError(RedisError):
    """Fewer replicas than asked for acknowledged a flush in time (``WAIT``)."""


def pack(args: Sequence[Arg]) -> bytes:
    """One command in the Redis protocol (RESP): ``*<n>`` then ``$<len>`` and each argument."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        else:
            data = repr(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def _error(reply: hiredis.ReplyError) -> RedisError:
    text = str(reply)
    code, _, rest = text.partition(" ")
    cls = _ERRORS.get(code)
    return ResponseError(text) if cls is None else cls(rest)


class _Protocol(asyncio.Protocol):
    """Replies, in order, to the futures of the commands written."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while (reply := self.reader.gets()) is not False:
            if not waiting:  # nothing asked for this: the stream is out of step
                self.fail(RedisConnectionError("unexpected reply from Redis"))
                return
            future = waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(_error(reply))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def fail(self, exc: RedisError) -> None:
        """Fail every command still waiting and close the connection."""
        self.lost = exc
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class Wire:
    """One connection to the server (or Sentinel primary) of ``url``, opened on first use."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._opening: asyncio.Future[_Protocol] | None = None

    async def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Write one packed command (see :func:`pack`); the future is its reply."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None:
            protocol = await self._open()
        assert protocol.transport is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        protocol.waiting.append(future)
        protocol.transport.write(packed)
        return future

    async def replies(self, futures: Sequence[asyncio.Future[Any]]) -> list[Any]:
        """The replies of commands already sent, in order; an error reply (NOSCRIPT, say)
        stands in its command's place. A connection failure or a timeout raises, and closes
        the connection (the next command opens a new one), as does a primary demoted to a
        replica by a failover."""
        protocol = self._protocol
        results: list[Any] = []
        try:
            async with asyncio.timeout(self.timeout_s):
                for future in futures:
                    try:
                        results.append(await future)
                    except ResponseError as exc:
                        results.append(exc)
        except TimeoutError:
            self._abandon(protocol, futures, RedisTimeoutError("Timeout reading from Redis"))
            raise RedisTimeoutError("Timeout reading from Redis") from None
        except RedisError as exc:
            self._abandon(protocol, futures, exc)
            raise
        if any(isinstance(r, ReadOnlyError) for r in results):
            self._abandon(protocol, futures, RedisConnectionError("the primary became a replica"))
        return results

    @staticmethod
    def _abandon(
        protocol: _Protocol | None, futures: Sequence[asyncio.Future[Any]], exc: RedisError
    ) -> None:
        if protocol is not None:
            protocol.fail(exc)
        for future in futures:  # their failures are reported once, by the caller
            if future.done() and not future.cancelled():
                future.exception()
            else:
                future.cancel()

    async def call(self, packed: bytes) -> Any:
        """Send one packed command and wait for its reply (an error reply is raised)."""
        (reply,) = await self.replies([await self.send(packed)])
        if isinstance(reply, RedisError):
            raise reply
        return reply

    async def close(self) -> None:
        if self._protocol is not None:
            self._protocol.fail(RedisConnectionError("closed"))
            self._protocol = None

    async def _open(self) -> _Protocol:
        """Open the connection, or wait for the opening another command started."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._connect())
        opening = self._opening
        try:
            self._protocol = await asyncio.shield(opening)
            return self._protocol
        finally:
            if opening.done():
                self._opening = None

    async def _connect(self) -> _Protocol:
        options = await self._address()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout_s):
                if "path" in options:
                    _, protocol = await loop.create_unix_connection(_Protocol, options["path"])
                else:
                    _, protocol = await loop.create_connection(
                        _Protocol, options["host"], options["port"], ssl=options.get("ssl")
                    )
                await self._handshake(protocol, options)
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
        return protocol

    async def _handshake(self, protocol: _Protocol, options: dict[str, Any]) -> None:
        commands: list[list[Arg]] = []
        if options.get("password"):
            user = options.get("username")
            commands.append(["AUTH", *([user] if user else []), options["password"]])
        if options.get("db"):
            commands.append(["SELECT", options["db"]])
        assert protocol.transport is not None
        for command in commands:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            protocol.waiting.append(future)
            protocol.transport.write(pack(command))
            await future

    async def _address(self) -> dict[str, Any]:
        """Where to connect: parsed from the URL, or asked of the sentinels."""
        if not is_sentinel_url(self.url):
            options = dict(parse_url(self.url))
            if self.url.startswith("rediss://"):
                options["ssl"] = ssl.create_default_context()
            return options
        parsed = parse_sentinel_url(self.url)
        client = primary_client(self.url, socket_timeout=self.timeout_s)
        assert client.manager is not None
        try:
            host, port = await client.manager.discover_master(parsed.service)
        finally:
            await client.aclose()
        options = {
            "host": host,
            "port": port,
            "db": parsed.db,
            "username": parsed.username,
            "password": parsed.password,
        }
        if parsed.tls:
            options["ssl"] = ssl.create_default_context()
        return options


def node_url(cluster_url: str, host: str, port: int) -> str:
    """The URL of one node of the cluster of ``cluster_url`` (its credentials and TLS kept)."""
    scheme, netloc, *_ = urlsplit(cluster_url)
    userinfo = netloc.rpartition("@")[0]
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    netloc = f"{userinfo}@{where}" if userinfo else where
    return urlunsplit((CLUSTER_SCHEMES.get(scheme, scheme), netloc, "", "", ""))


class Wires:
    """The flusher's connections, one per server: the server of a plain, unix-socket or
    Sentinel URL, or on a Redis Cluster the primary that serves a key's slot (the cluster
    client's slot map says which; after a topology error it is asked for again)."""

    def __init__(self, url: str, timeout_s: float, cluster: RedisCluster | None = None):
        self.url = url
        self.timeout_s = timeout_s
        self.cluster = cluster
        self._single = None if cluster is not None else Wire(url, timeout_s)
        self._nodes: dict[str, Wire] = {}
        self._stale = False

    async def for_key(self, key: str) -> Wire:
        """The connection to the server that holds ``key``."""
        if self._single is not None:
            return self._single
        cluster = self.cluster
        assert cluster is not None
        if self._stale:
            # As counter.storage.pipeline does: closing the client makes its next use ask
            # the cluster for the slot map afresh (a failed-over primary is then replaced).
            self._stale = False
            await cluster.aclose()
        await cluster.initialize()
        node = cluster.get_node_from_key(key)
        assert node is not None
        wire = self._nodes.get(node.name)
        if wire is None:
            url = node_url(self.url, node.host, int(node.port))
            wire = self._nodes[node.name] = Wire(url, self.timeout_s)
        return wire

    def failed(self, exc: BaseException) -> None:
        """A command failed with ``exc``: after a topology error a cluster's slot map is
        asked for again before the next command."""
        if self.cluster is not None and isinstance(exc, TOPOLOGY_ERRORS):
            self._stale = True

    def all(self) -> list[Wire]:
        return [self._single] if self._single is not None else list(self._nodes.values())

    async def close(self) -> None:
        for wire in self.all():
            await wire.close()
        self._nodes.clear()
