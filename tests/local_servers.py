"""Real server processes for the cluster and sentinel tests: ports, spawning, stopping.

Each process runs the suite's server binary on 127.0.0.1, dies with the test process
(``PR_SET_PDEATHSIG``: spawn from the thread that runs the tests), and is stopped by
:func:`stop_all` with SIGTERM, then SIGKILL after 10 s.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from counter.embedded import die_with_parent

MAX_PORT = 55_535
"""The cluster bus listens on port + 10000, which must stay a valid port."""


class ClusterStartError(RuntimeError):
    """Local servers did not come up in time."""


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _highest_port() -> int:
    """The highest port to pick, its bus port (+10000) below the kernel's ephemeral range: a
    port picked inside it can be taken by an outgoing connection before its server binds it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return MAX_PORT
    highest = low - 1 - 10_000
    return highest if highest >= 21_000 else MAX_PORT


def free_cluster_ports(n: int, rng: random.Random | None = None) -> list[int]:
    """``n`` ports <= 55535 whose cluster bus port (+10000) is free too."""
    rng = rng or random.Random()
    ports: list[int] = []
    highest = _highest_port()
    for _ in range(10_000):
        p = rng.randrange(20_000, highest + 1)
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


@dataclass
class Process:
    """One server or sentinel process on ``port``, with a client to it."""

    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
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

    def replication(self) -> dict[str, Any]:
        return self.client.info("replication")

    def spawn(self, cmd: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last words to a replica."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)
        self.client.close()


def stop_all(processes: Iterable[Process]) -> None:
    processes = list(processes)
    for process in processes:
        process.client.close()
        if process.alive:
            assert process.proc is not None
            process.proc.terminate()
    for process in processes:
        if process.proc is not None:
            try:
                process.proc.wait(10)
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.proc.wait()
