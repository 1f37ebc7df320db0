"""Service settings: one frozen dataclass, parsed once from an environment mapping."""

from __future__ import annotations

import ipaddress
import os
import re
import resource
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from counter.embedded import DEFAULT_MAXMEMORY
from counter.sentinel import SentinelUrlError, is_sentinel_url, parse_sentinel_url

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


MIN_ADMIN_TOKEN = 16
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOOPS = ("asyncio", "uvloop")


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _optional_port(env: Mapping[str, str], name: str) -> int | None:
    """A port number, or None when the variable is unset or empty."""
    if not env.get(name):
        return None
    return _int(env, name, 0, 1, 65535)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "on", "true", "yes"}:
        return True
    if raw in {"0", "off", "false", "no"}:
        return False
    raise SettingsError(f"{name} must be on or off, got {raw!r}")


MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
                "g": 1000**3, "gb": 1024**3}  # fmt: skip
"""Redis's own memory units (``1gb`` is 1024³ bytes, ``1g`` 10⁹)."""
MIN_MAXMEMORY = 16 * 1024**2


def _memory(env: Mapping[str, str], name: str, default: int) -> int:
    """A size in bytes, written as Redis writes it (``1gb``, ``512mb``); 0 means no limit."""
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    match = re.fullmatch(r"(\d+)\s*([a-z]*)", raw)
    if match is None or match[2] not in MEMORY_UNITS:
        raise SettingsError(f"{name} must be a size such as 512mb or 1gb, got {raw!r}")
    value = int(match[1]) * MEMORY_UNITS[match[2]]
    if 0 < value < MIN_MAXMEMORY:
        raise SettingsError(f"{name} must be 0 (no limit) or at least 16mb, got {raw!r}")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    raw = env.get(name, "")
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


MAX_CONNECTIONS = 10_000
DESCRIPTORS_PER_SPARE = 4
"""By default a quarter of the descriptor limit stays free of client connections: for Redis
connections, the embedded server, logs and metric files."""


def default_max_connections() -> int:
    """``COUNTER_MAX_CONNECTIONS``'s default: three quarters of this process's descriptor
    limit (``ulimit -n``), at most 10,000, so that accepting a connection never fails with
    EMFILE while Redis connections still need descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - soft // DESCRIPTORS_PER_SPARE))


def uvloop_available() -> bool:
    """uvloop installs on Linux and macOS with CPython; elsewhere asyncio's loop runs."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _loop(env: Mapping[str, str]) -> str:
    raw = (env.get("COUNTER_LOOP") or "").strip().lower()
    if raw == "":
        return "uvloop" if uvloop_available() else "asyncio"
    if raw not in LOOPS:
        raise SettingsError(f"COUNTER_LOOP must be one of {', '.join(LOOPS)}, got {raw!r}")
    if raw == "uvloop" and not uvloop_available():
        raise SettingsError("COUNTER_LOOP=uvloop, but uvloop is not installed")
    return raw


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment (see the README's table)."""

    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    data_dir: Path = Path("var")
    redis_server: str | None = None
    batch: bool = True
    batch_max: int = 1000
    flushes_in_flight: int = 1
    replica_acks: int = 0
    """Replicas that must acknowledge each flush (``WAIT``) before its hits are answered."""
    redis_pool: int = 50
    loop: str = "uvloop"
    stats_cache_ms: int = 1000
    site_cache_ms: int = 5000
    max_body_bytes: int = 8192
    trusted_proxies: tuple[IPNetwork, ...] = field(default_factory=tuple)
    redis_timeout_s: float = 2.0
    store_retries: int = 3
    log_level: str = "INFO"
    demo: bool = False
    access_log: bool = True
    hit_rate: int = 600
    allowlist: tuple[IPNetwork, ...] = field(default_factory=tuple)
    """Networks no per-client limit holds: hits, votes, stream tickets, streams per client."""
    vote_rate: int = 30
    vote_rate_window_s: int = 60
    poll_retention_days: int = 30
    redis_maxmemory: int = DEFAULT_MAXMEMORY
    vote_rate_48: int = 8 * 30
    """Vote attempts per IPv6 /48 per window and site (every /64 in it together)."""
    polls_listed: int = 20
    stream_tickets_rate: int = 60
    streams_per_client: int = 20
    streams_max: int = 10_000
    stream_max_s: int = 900
    stream_pages: int = 1000
    """Distinct pages the live stats streams of one site may follow in one process."""
    busuanzi_open: bool = False
    """busuanzi's requests from an origin no site lists make a site for its host."""
    busuanzi_sites_per_day: int = 100
    metrics_token: str | None = None
    metrics_port: int | None = None
    """A listener of its own for ``/metrics`` (then the main port does not serve it)."""
    max_url_bytes: int = 8190
    max_header_bytes: int = 8190
    max_headers: int = 64
    header_timeout_s: int = 10
    body_timeout_s: int = 10
    keepalive_timeout_s: int = 75
    max_connections: int = MAX_CONNECTIONS
    shutdown_timeout_s: int = 10

    def __post_init__(self) -> None:
        if self.redis_url is not None and is_sentinel_url(self.redis_url):
            try:
                parse_sentinel_url(self.redis_url)
            except SentinelUrlError as exc:
                raise SettingsError(f"REDIS_URL: {exc}") from None

    @property
    def embedded(self) -> bool:
        """True when the service runs its own Redis-protocol server."""
        return self.redis_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        token = env.get("COUNTER_ADMIN_TOKEN") or None
        if token is not None and len(token) < MIN_ADMIN_TOKEN:
            raise SettingsError(
                f"COUNTER_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} characters"
            )
        metrics_token = env.get("COUNTER_METRICS_TOKEN") or None
        if metrics_token is not None and len(metrics_token) < MIN_ADMIN_TOKEN:
            raise SettingsError(
                f"COUNTER_METRICS_TOKEN must be at least {MIN_ADMIN_TOKEN} characters"
            )
        vote_rate = _int(env, "COUNTER_VOTE_RATE", 30, 0, 1_000_000)
        level = (env.get("COUNTER_LOG_LEVEL") or "INFO").upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"COUNTER_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return cls(
            redis_url=env.get("REDIS_URL") or None,
            host=env.get("COUNTER_HOST") or "127.0.0.1",
            port=_int(env, "COUNTER_PORT", 8080, 0, 65535),
            admin_token=token,
            data_dir=Path(env.get("COUNTER_DATA_DIR") or "var"),
            redis_server=env.get("COUNTER_REDIS_SERVER") or None,
            batch=_bool(env, "COUNTER_BATCH", True),
            batch_max=_int(env, "COUNTER_BATCH_MAX", 1000, 1, 10_000),
            flushes_in_flight=_int(env, "COUNTER_FLUSHES_IN_FLIGHT", 1, 1, 8),
            replica_acks=_int(env, "COUNTER_REPLICA_ACKS", 0, 0, 5),
            redis_pool=_int(env, "COUNTER_REDIS_POOL", 50, 2, 10_000),
            loop=_loop(env),
            stats_cache_ms=_int(env, "COUNTER_STATS_CACHE_MS", 1000, 0, 1000),
            site_cache_ms=_int(env, "COUNTER_SITE_CACHE_MS", 5000, 0, 60_000),
            max_body_bytes=_int(env, "COUNTER_MAX_BODY_BYTES", 8192, 1024, 256 * 1024),
            trusted_proxies=_networks(env, "COUNTER_TRUSTED_PROXIES"),
            redis_timeout_s=_int(env, "COUNTER_REDIS_TIMEOUT_MS", 2000, 50, 60_000) / 1000,
            store_retries=_int(env, "COUNTER_STORE_RETRIES", 3, 0, 10),
            log_level=level,
            demo=_bool(env, "COUNTER_DEMO", not env.get("REDIS_URL")),
            access_log=_bool(env, "COUNTER_ACCESS_LOG", True),
            hit_rate=_int(env, "COUNTER_HIT_RATE", 600, 0, 1_000_000),
            allowlist=(
                *_networks(env, "COUNTER_ALLOWLIST"),
                *_networks(env, "COUNTER_VOTE_ALLOWLIST"),  # its older name
            ),
            vote_rate=vote_rate,
            vote_rate_window_s=_int(env, "COUNTER_VOTE_RATE_WINDOW_S", 60, 1, 86_400),
            poll_retention_days=_int(env, "COUNTER_POLL_RETENTION_DAYS", 30, 1, 3650),
            redis_maxmemory=_memory(env, "COUNTER_REDIS_MAXMEMORY", DEFAULT_MAXMEMORY),
            vote_rate_48=_int(env, "COUNTER_VOTE_RATE_48", 8 * vote_rate, 0, 8_000_000),
            polls_listed=_int(env, "COUNTER_POLLS_LISTED", 20, 1, 500),
            stream_tickets_rate=_int(env, "COUNTER_STREAM_TICKETS_RATE", 60, 0, 1_000_000),
            streams_per_client=_int(env, "COUNTER_STREAMS_PER_CLIENT", 20, 1, 100_000),
            streams_max=_int(env, "COUNTER_STREAMS_MAX", 10_000, 1, 1_000_000),
            stream_max_s=_int(env, "COUNTER_STREAM_MAX_S", 900, 1, 86_400),
            stream_pages=_int(env, "COUNTER_STREAM_PAGES", 1000, 1, 100_000),
            busuanzi_open=_bool(env, "COUNTER_BUSUANZI_OPEN", False),
            busuanzi_sites_per_day=_int(env, "COUNTER_BUSUANZI_SITES_PER_DAY", 100, 0, 1_000_000),
            metrics_token=metrics_token,
            metrics_port=_optional_port(env, "COUNTER_METRICS_PORT"),
            max_url_bytes=_int(env, "COUNTER_MAX_URL_BYTES", 8190, 256, 65_536),
            max_header_bytes=_int(env, "COUNTER_MAX_HEADER_BYTES", 8190, 256, 65_536),
            max_headers=_int(env, "COUNTER_MAX_HEADERS", 64, 8, 1024),
            header_timeout_s=_int(env, "COUNTER_HEADER_TIMEOUT_S", 10, 1, 300),
            body_timeout_s=_int(env, "COUNTER_BODY_TIMEOUT_S", 10, 1, 300),
            keepalive_timeout_s=_int(env, "COUNTER_KEEPALIVE_TIMEOUT_S", 75, 1, 3600),
            max_connections=_int(
                env, "COUNTER_MAX_CONNECTIONS", default_max_connections(), 1, 1_000_000
            ),
            shutdown_timeout_s=_int(env, "COUNTER_SHUTDOWN_TIMEOUT_S", 10, 1, 600),
        )
