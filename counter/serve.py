"""``counter serve``: one process, or a supervisor of N worker processes on one port."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web
from prometheus_client import multiprocess

from counter.app import DEMO_DEFAULTS, DEMO_SITE, admin_token_file, create_app
from counter.appkeys import METRICS
from counter.embedded import EmbeddedServer, die_with_parent, wait_exit
from counter.settings import Settings
from counter.sites.store import SiteStore
from counter.storage import connect
from counter.web.server import AcceptErrors, CounterRunner

log = logging.getLogger(__name__)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _announce(settings: Settings) -> None:
    print(f"counter serving on http://{settings.host}:{settings.port}", flush=True)


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """A fresh event loop of the kind ``COUNTER_LOOP`` names (``uvloop`` or ``asyncio``)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class StopSignals:
    """SIGTERM or SIGINT, to the process or to its group, once or again and again: one stop.

    Caught from the start of ``counter serve`` (a signal while it starts stops it once it is
    up) until its very end (a second signal, such as the one ``make`` forwards after the
    terminal's, can neither kill the stop half-way nor turn it into a KeyboardInterrupt).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._stopping = asyncio.Event()
        self._actions: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        return self.received is not None

    def catch(self) -> None:
        """Before the loop runs: note a signal, nothing more (it is acted on once the loop
        runs)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._noted)

    def _noted(self, signum: int, _: object) -> None:
        self.received = self.received or signum

    def attach(
        self, loop: asyncio.AbstractEventLoop, action: Callable[[], None] | None = None
    ) -> None:
        """Handle the signals in ``loop`` from now on; ``action`` runs on each one."""
        if action is not None:
            self._actions.append(action)
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)
        if self.received is not None:
            log.info("%s received while starting: stopping", signal.Signals(self.received).name)
            self._stop()

    def _received(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = signum
            log.info("%s received: stopping", name)
        else:
            log.info("%s received: the stop is already under way", name)
        self._stop()

    def _stop(self) -> None:
        self._stopping.set()
        for action in self._actions:
            action()

    async def wait(self) -> None:
        await self._stopping.wait()

    def detach(self, loop: asyncio.AbstractEventLoop) -> None:
        """At the end: ignore the signals from now on (closing the loop would otherwise put
        back their defaults, under which a late one kills the process on its way out)."""
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)


def serve_one(settings: Settings, *, reuse_port: bool = False, announce: bool = True) -> None:
    """Serve until SIGINT/SIGTERM, then stop in order (see :func:`_serve`); the URL is printed
    once the port is bound."""
    stop = StopSignals()
    stop.catch()
    with asyncio.Runner(loop_factory=lambda: new_loop(settings.loop)) as runner:
        runner.run(_serve(settings, stop, reuse_port=reuse_port, announce=announce))


async def _serve(
    settings: Settings, stop: StopSignals, *, reuse_port: bool, announce: bool
) -> None:
    """Start the app and its listener, wait for a stop signal, then stop in this order: the
    listener closes, idle connections close, live streams end, every request already
    received is answered (for up to ``COUNTER_SHUTDOWN_TIMEOUT_S``; then cancelled), and the
    app's cleanup runs: the group-commit queue is flushed, the Redis clients close, the
    embedded server stops last."""
    loop = asyncio.get_running_loop()
    stop.attach(loop)
    app = create_app(settings)
    loop.set_exception_handler(AcceptErrors(app[METRICS]))
    runner = CounterRunner(app, settings)
    try:
        await runner.setup()
        if not stop.requested:
            site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port)
            await site.start()
            if announce:
                _announce(settings)
            else:
                log.info("worker serving on http://%s:%d", settings.host, settings.port)
            await stop.wait()
        log.info(
            "closing the listener; the requests in flight on %d connections have %d s "
            "to be answered", runner.open_connections, settings.shutdown_timeout_s,
        )  # fmt: skip
    finally:
        await runner.cleanup()
        stop.detach(loop)
    log.info("stopped")


async def _prepare_embedded(settings: Settings) -> EmbeddedServer:
    server = EmbeddedServer.from_settings(settings)
    await server.start()
    redis = connect(server.url, settings.redis_timeout_s)
    try:
        if settings.demo:
            await SiteStore(redis).ensure(DEMO_SITE, DEMO_DEFAULTS)
    except BaseException:
        await server.stop()
        raise
    finally:
        await redis.aclose()
    return server


def fresh_multiproc_dir(data_dir: Path, environ: Mapping[str, str]) -> Path:
    """``PROMETHEUS_MULTIPROC_DIR`` for the workers: the operator's, else ``<data dir>/metrics``;
    emptied of a previous run's files so old counts never leak into this one."""
    path = Path(environ.get("PROMETHEUS_MULTIPROC_DIR") or data_dir / "metrics").resolve()
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


async def _wait_marking_dead(
    children: list[subprocess.Popen[bytes]], metrics_dir: Path
) -> list[int]:
    """Wait for every worker; as each exits, drop its live gauges from the merged metrics."""

    async def watch(child: subprocess.Popen[bytes]) -> int:
        code = await wait_exit(child)
        # Unannotated upstream; it deletes the exited pid's live-gauge files.
        multiprocess.mark_process_dead(child.pid, str(metrics_dir))  # type: ignore[no-untyped-call]
        log.info("worker %d exited with %s", child.pid, code)
        return code

    return list(await asyncio.gather(*(watch(child) for child in children)))


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)


def serve_workers(settings: Settings, workers: int) -> bool:
    """Own and supervise the embedded server, then run ``workers`` processes on one port; a
    stop signal is passed on to every worker. True when every worker stopped cleanly."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("--workers needs SO_REUSEPORT, which this platform lacks")
    stop = StopSignals()
    stop.catch()
    codes = asyncio.run(_run_workers(settings, workers, stop))
    # A worker told to stop before it could catch the signal (still starting) is stopped too.
    clean = {0, -signal.SIGTERM} if stop.requested else {0}
    if any(code not in clean for code in codes):
        log.error("worker exit codes: %s", codes)
        return False
    return True


async def _run_workers(settings: Settings, workers: int, stop: StopSignals) -> list[int]:
    loop = asyncio.get_running_loop()
    children: list[subprocess.Popen[bytes]] = []
    stop.attach(loop, lambda: _stop_all(children))
    env = dict(os.environ)
    server: EmbeddedServer | None = None
    try:
        if settings.redis_url is None:
            server = await _prepare_embedded(settings)
            env["REDIS_URL"] = server.url
            env["COUNTER_DEMO"] = "on" if settings.demo else "off"
            env.setdefault(
                "COUNTER_ADMIN_TOKEN", settings.admin_token or admin_token_file(settings.data_dir)
            )
        if stop.requested:
            return []
        metrics_dir = fresh_multiproc_dir(settings.data_dir, os.environ)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        env["COUNTER_HOST"], env["COUNTER_PORT"] = settings.host, str(settings.port)
        cmd = [sys.executable, "-m", "counter", "serve", "--worker-process"]
        # Forked from the loop thread, which lives as long as the workers (PR_SET_PDEATHSIG).
        children.extend(
            subprocess.Popen(  # noqa: ASYNC220
                cmd, env={**env, "COUNTER_WORKER_ID": str(i)}, preexec_fn=die_with_parent
            )
            for i in range(workers)
        )
        _announce(settings)
        print(f"{workers} worker processes: {' '.join(str(c.pid) for c in children)}", flush=True)
        if server is not None:
            server.supervise()
        try:
            return await _wait_marking_dead(children, metrics_dir)
        finally:
            _stop_all(children)
            for child in children:
                await wait_exit(child)
    finally:
        if server is not None:
            await server.stop()  # after the last worker's last flush
        stop.detach(loop)
