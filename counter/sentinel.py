"""Redis Sentinel URLs: ``redis+sentinel://[[user]:password@]host:port[,host:port...]/<name>[/db]``.

The sentinels are asked for the current primary of ``<name>`` whenever a connection to it is
(re)opened, so after a failover the client follows the promoted replica. The password (and
user) in the URL authenticate to the primary and replicas; ``?sentinel_password=...`` (and
``sentinel_username``) to the sentinels, which need none by default. ``rediss+sentinel://``
uses TLS for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
"""Scheme -> TLS."""
DEFAULT_PORT = 26379
QUERY_OPTIONS = {"sentinel_password", "sentinel_username"}
EXAMPLE = "redis+sentinel://[:password@]host:port[,host:port...]/<master name>[/db]"


class SentinelUrlError(ValueError):
    """A ``redis+sentinel://`` URL the service cannot use."""


@dataclass(frozen=True, slots=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls: bool = False


def is_sentinel_url(url: str) -> bool:
    return url.partition("://")[0] in SENTINEL_SCHEMES


def _address(part: str) -> tuple[str, int]:
    try:
        split = urlsplit(f"//{part}")
        host, port = split.hostname, split.port
    except ValueError as exc:
        raise SentinelUrlError(f"bad sentinel address {part!r}: {exc}") from None
    if not host:
        raise SentinelUrlError(f"bad sentinel address {part!r}")
    return host, port or DEFAULT_PORT


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse a sentinel URL; :class:`SentinelUrlError` names what is wrong."""
    scheme, _, rest = url.partition("://")
    if scheme not in SENTINEL_SCHEMES:
        raise SentinelUrlError(f"not a sentinel URL (expected {EXAMPLE})")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    parts = [p.strip() for p in hosts.split(",")]
    if not all(parts):
        raise SentinelUrlError(f"no sentinel host:port (expected {EXAMPLE})")
    segments = path.strip("/").split("/") if path.strip("/") else []
    if not 1 <= len(segments) <= 2:
        raise SentinelUrlError(f"missing or bad master name (expected {EXAMPLE})")
    if len(segments) == 2 and not segments[1].isdigit():
        raise SentinelUrlError(f"db must be a number, got {segments[1]!r}")
    options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(options) - QUERY_OPTIONS
    if unknown:
        raise SentinelUrlError(f"unknown option(s) {', '.join(sorted(unknown))}")
    return SentinelUrl(
        sentinels=tuple(_address(p) for p in parts),
        service=unquote(segments[0]),
        db=int(segments[1]) if len(segments) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
        tls=SENTINEL_SCHEMES[scheme],
    )


class SentinelClient(Redis):
    """A client of the current primary that also closes its connections to the sentinels."""

    manager: Sentinel | None = None
    """The sentinels' clients (``Redis.sentinel`` is the SENTINEL command)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.manager is not None:
            await self.manager.aclose()


def primary_client(url: str, **options: Any) -> SentinelClient:
    """A client of the primary the sentinels of ``url`` name; ``options`` are the
    connection options (timeouts, retry) for the primary and for the sentinels alike."""
    parsed = parse_sentinel_url(url)
    to_sentinels = {k: v for k, v in options.items() if k != "health_check_interval"}
    manager = Sentinel(  # type: ignore[no-untyped-call]  # untyped in redis-py
        list(parsed.sentinels),
        sentinel_kwargs={
            **to_sentinels,
            "username": parsed.sentinel_username,
            "password": parsed.sentinel_password,
            "ssl": parsed.tls,
        },
    )
    client = manager.master_for(
        parsed.service,
        redis_class=SentinelClient,
        db=parsed.db,
        username=parsed.username,
        password=parsed.password,
        ssl=parsed.tls,
        **options,
    )
    assert isinstance(client, SentinelClient)
    client.manager = manager
    return client
