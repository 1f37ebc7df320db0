"""Who owns a data directory's embedded server, and what the owner reports about it.

The owner holds an exclusive ``flock`` on ``<data dir>/embedded.lock`` and writes the state of
its server to ``<data dir>/embedded-status.json``; every other process on the directory (a
command, a worker of ``counter serve --workers``) reads them (see :mod:`counter.embedded`).
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import orjson

Role = Literal["service", "command"]
State = Literal["running", "restarting", "failed"]

log = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    """True for a running process (a zombie, exited but not yet reaped, is not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass(frozen=True, slots=True)
class Owner:
    pid: int
    role: Role


class OwnerLock:
    """An exclusive ``flock`` on a file, held by the data directory's owner for its lifetime.

    The holder writes ``<pid> <role>`` into the file after taking the lock and empties it
    before letting go, so a live pid read there names the current holder. The lock goes with
    the holder's process, however it ends; its descriptor is not inherited by children.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self, role: Role) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {role}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor releases the flock

    def holder(self) -> Owner | None:
        """The process holding the lock, when it says so and is alive."""
        try:
            pid_text, role = self.path.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if role not in ("service", "command") or not pid_alive(pid):
            return None
        return Owner(pid, "service" if role == "service" else "command")


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What the owner reports about its server, for ``/healthz`` and ``/metrics``."""

    state: State
    pid: int
    restarts: int = 0
    used_memory: int | None = None
    maxmemory: int | None = None


def status_path(data_dir: Path) -> Path:
    return data_dir / "embedded-status.json"


def read_status(data_dir: Path) -> ServerStatus | None:
    """The owner's last report (None without an owner, or when unreadable)."""
    try:
        raw = orjson.loads(status_path(data_dir).read_bytes())
        return ServerStatus(**raw)
    except (OSError, orjson.JSONDecodeError, TypeError):
        return None


def write_status(data_dir: Path, status: ServerStatus) -> None:
    """Replace the status file in one step, so a reader never sees half of it. A report is
    advisory: failing to write it never fails the server."""
    path = status_path(data_dir)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_bytes(orjson.dumps(asdict(status)))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)
