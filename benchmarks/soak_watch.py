"""What the soak watches every few seconds: the service's and its server's memory and
descriptors (``/proc``), Redis's memory and keys, the service's own metrics, the AOF's size;
and what "flat" means for a series of such samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import RedisError

from benchmarks.common import cpu_seconds
from counter import redis_keys as keys
from counter.storage import RedisClient

STALL_MS = 100
"""Redis's stalls of this long or longer are recorded (by its latency monitor)."""


@dataclass(slots=True)
class Sample:
    t: float
    """Seconds since the load started (negative: before it)."""
    rss_service: int = 0
    """Bytes resident: the ``counter serve`` process (and any worker it runs)."""
    rss_server: int = 0
    """Bytes resident: the embedded Valkey."""
    fds_service: int = 0
    tcp_service: int = 0
    """The service's TCP sockets: its listener and client connections."""
    unix_service: int = 0
    """The service's unix sockets: its connections to the embedded server."""
    fds_server: int = 0
    cpu_service: float = 0.0
    """CPU seconds so far (user and system) of the service and of its server."""
    cpu_server: float = 0.0
    cpu_load: float = 0.0
    """CPU seconds so far of the load generator (this process)."""
    used_memory: int = 0
    keys: int = 0
    expiring_keys: int = 0
    """Keys with a TTL (almost all of them group-commit batch markers, kept 10 minutes)."""
    dataset: int = 0
    """The part of ``used_memory`` that is data (``MEMORY STATS`` ``dataset.bytes``): not
    the tables of keys and TTLs (which grow in steps, each doubling, with the number of
    keys, batch markers above all), client buffers, scripts or the server's own."""
    aof_bytes: int = 0
    connections_open: float = 0.0
    streams_open: float = 0.0
    limited: dict[str, float] = field(default_factory=dict)
    """``counter_limited_total`` by limit, so far."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _fds(pid: int) -> list[str]:
    """Where each descriptor of ``pid`` points (``socket:[inode]``, a path, ...)."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed while listed
            found.append(os.readlink(fd))
    return found


def _socket_inodes(pid: int, *tables: str) -> set[str]:
    """Inodes of the sockets listed in ``/proc/<pid>/net/<table>`` (its network namespace)."""
    inodes = set()
    for table in tables:
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        column = 6 if table == "unix" else 9
        inodes |= {f"socket:[{line.split()[column]}]" for line in lines}
    return inodes


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a process that ends meanwhile may be left out)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):  # ended while listed
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def _metrics(text: str) -> tuple[float, float, dict[str, float]]:
    """(connections open, streams open, limited by limit) from a ``/metrics`` page."""
    connections, streams, limited = 0.0, 0.0, {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "counter_http_connections_open":
                connections = s.value
            elif s.name == "counter_sse_connections_open":
                streams += s.value
            elif s.name == "counter_limited_total":
                limited[s.labels["limit"]] = s.value
    return connections, streams, limited


class Watch:
    """Samples of one service: its process tree under ``pid``, its embedded server (pid in
    ``server_pidfile``), Redis through ``redis``, its metrics at ``url``."""

    def __init__(
        self, pid: int, server_pidfile: Path, redis: RedisClient, url: str, data_dir: Path
    ) -> None:
        self.pid = pid
        self.server_pid = int(server_pidfile.read_text().split()[0])
        self.redis = redis
        self.url = url
        self.aof_dir = data_dir / "appendonlydir"
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._stalls: dict[tuple[str, int], int] = {}

    async def close(self) -> None:
        await self.http.close()

    def _processes(self, sample: Sample) -> None:
        """Memory and descriptors of the service, and of its server apart. The server's own
        children (the fork that rewrites its AOF, for a second or so once the file has grown)
        are neither: they share the server's pages, and counted as the service's they would
        add the server's size to it for a sample."""
        tcp = _socket_inodes(self.pid, "tcp", "tcp6")
        unix = _socket_inodes(self.pid, "unix")
        processes = descendants(self.pid)
        server_tree = set(descendants(self.server_pid))  # after: it holds any fork listed above
        for p in processes:
            if p in server_tree and p != self.server_pid:
                continue
            try:
                fds, rss = _fds(p), _rss(p)
            except OSError:  # ended while listed
                continue
            if p == self.server_pid:
                sample.rss_server, sample.fds_server = rss, len(fds)
                continue
            sample.rss_service += rss
            sample.fds_service += len(fds)
            sample.tcp_service += sum(fd in tcp for fd in fds)
            sample.unix_service += sum(fd in unix for fd in fds)
        server_cpu = cpu_seconds(self.server_pid) or 0.0
        sample.cpu_server = server_cpu
        sample.cpu_service = (cpu_seconds(self.pid) or 0.0) - server_cpu
        sample.cpu_load = time.process_time()

    async def _redis(self, sample: Sample) -> None:
        sample.used_memory, sample.dataset = await self._memory()
        keyspace: dict[str, Any] = await self.redis.info("keyspace")
        db = keyspace.get("db0", {})
        sample.keys, sample.expiring_keys = int(db.get("keys", 0)), int(db.get("expires", 0))
        await self._collect_stalls()

    async def sample(self, t: float) -> Sample:
        sample = Sample(t)
        self._processes(sample)
        with contextlib.suppress(RedisError):  # a sample without Redis figures, not none
            await self._redis(sample)
        sample.aof_bytes = sum(f.stat().st_size for f in self.aof_dir.iterdir())
        try:
            async with self.http.get(self.url + "/metrics") as resp:
                text = await resp.text()
            sample.connections_open, sample.streams_open, sample.limited = _metrics(text)
        except (aiohttp.ClientError, TimeoutError):
            pass
        return sample

    async def every(
        self, seconds: float, until: float, clock: Callable[[], float], into: list[Sample]
    ) -> None:
        """A sample every ``seconds`` until ``until`` (loop time), appended to ``into``;
        ``clock`` gives each its t."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while due < until:
            into.append(await self.sample(clock()))
            due += seconds
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def _memory(self) -> tuple[int, int]:
        """``used_memory``, and the part of it that is data."""
        memory: dict[str, Any] = await self.redis.info("memory")
        stats = _pairs(await self.redis.execute_command("MEMORY", "STATS"))
        return int(memory["used_memory"]), int(stats.get(b"dataset.bytes", 0))

    async def drop_markers(self, site: str) -> dict[str, float]:
        """Delete the site's batch markers and measure what they held: once the load is
        over no flush can be retried, so they only wait for their TTL. The fall in
        data per key is what one marker holds (besides its share of the key tables)."""
        before, data_before = await self._memory()
        dropped, batch = 0, []
        async for key in self.redis.scan_iter(match=keys.batch_marker(site, "*"), count=1000):
            batch.append(key)
            if len(batch) == 1000:
                dropped += int(await self.redis.delete(*batch))
                batch.clear()
        if batch:
            dropped += int(await self.redis.delete(*batch))
        await asyncio.sleep(1.0)  # the server shrinks its tables in its cron (10 times a second)
        after, data_after = await self._memory()
        return {
            "markers": dropped,
            "bytes": before - after,
            "data_bytes": data_before - data_after,
            "bytes_per_marker": (data_before - data_after) / dropped if dropped else 0.0,
        }

    async def monitor_stalls(self) -> None:
        """Have Redis record each of its stalls of STALL_MS or more, by what it was doing
        (its latency monitor: ``aof-fsync-always`` for a slow disk, ``command`` for a slow
        command, ...)."""
        await self.redis.config_set("latency-monitor-threshold", STALL_MS)

    async def _collect_stalls(self) -> None:
        """Redis keeps only the last 160 stalls of each kind: collected at every sample."""
        for event in await self.redis.execute_command("LATENCY", "LATEST"):
            kind = _text(event[0])
            for at, ms in await self.redis.execute_command("LATENCY", "HISTORY", kind):
                self._stalls[kind, int(at)] = int(ms)

    async def stalls(self) -> list[dict[str, Any]]:
        """Every stall Redis recorded, oldest first: the kind, the Unix second it ended and
        how long it lasted."""
        await self._collect_stalls()
        found = sorted(self._stalls.items(), key=lambda x: (x[0][1], x[0][0]))
        return [{"kind": kind, "at": at, "ms": ms} for (kind, at), ms in found]

    async def biggest_keys(self, site: str, most: int = 12) -> list[dict[str, Any]]:
        """The site's largest keys but batch markers (``MEMORY USAGE``), largest first."""
        markers = keys.batch_marker(site, "")
        found: list[tuple[int, str, int]] = []
        async for key in self.redis.scan_iter(match=keys.site_pattern(site), count=1000):
            name = _text(key)
            if not name.startswith(markers):
                size = int(await self.redis.memory_usage(name, samples=0) or 0)
                found.append((size, name, int(await self.redis.ttl(name))))
        found.sort(reverse=True)
        return [{"key": k, "bytes": b, "ttl_s": t} for b, k, t in found[:most]]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(reply: object) -> dict[bytes, Any]:
    """A reply of name/value pairs: a flat list (RESP2) or a map (RESP3)."""
    if isinstance(reply, dict):
        return reply
    if isinstance(reply, list):
        return dict(zip(reply[::2], reply[1::2], strict=False))
    return {}


@dataclass(frozen=True, slots=True)
class Growth:
    """How a series's high-water mark (its highest value so far) moved from a moment on."""

    start: float
    """The high-water mark at that moment (the highest value before it)."""
    end: float
    """The high-water mark at the end."""
    low: float
    high: float
    """The lowest and highest values from that moment on: how far the series swings."""

    @property
    def rise(self) -> float:
        """The rise of the high-water mark, as a fraction of its value at the moment."""
        return (self.end - self.start) / self.start if self.start else 0.0

    def flat(self, limit: float, slack: float = 0.0) -> bool:
        """The high-water mark rose by less than ``limit`` (a fraction), or than ``slack``."""
        return self.rise < limit or self.end - self.start < slack


def growth(samples: list[Sample], value: Callable[[Sample], float], since: float) -> Growth:
    """How the high-water mark of ``value`` moves from ``since`` (seconds) to the end.

    A series that only swings, such as the memory of a cache emptied whenever it is full,
    sets its highest value once warm and stays under it, however low it dips in between;
    one that leaks keeps raising it. (A straight line fitted through such a series is no
    measure: over a few minutes its slope depends on where in a swing the window starts.)
    Fewer than three samples after ``since``, or none before: all zeros (nothing to judge).
    """
    head = [value(s) for s in samples if s.t < since]
    tail = [value(s) for s in samples if s.t >= since]
    if not head or len(tail) < 3:
        return Growth(0.0, 0.0, 0.0, 0.0)
    start = max(head)
    return Growth(start, max(start, *tail), min(tail), max(tail))
