"""``counter serve``: one process, or a supervisor of N worker processes on one port."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from prometheus_client import multiprocess

from counter.app import DEMO_DEFAULTS, DEMO_SITE, admin_token_file, create_app
from counter.embedded import EmbeddedServer, die_with_parent, wait_exit
from counter.settings import Settings
from counter.sites.store import SiteStore
from counter.storage import connect

log = logging.getLogger(__name__)


def _announce(settings: Settings) -> None:
    print(f"counter serving on http://{settings.host}:{settings.port}", flush=True)


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """A fresh event loop of the kind ``COUNTER_LOOP`` names (``uvloop`` or ``asyncio``)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def serve_one(settings: Settings, *, reuse_port: bool = False, announce: bool = True) -> None:
    """Serve until SIGINT/SIGTERM; the URL is printed once the port is bound."""
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        print=(lambda _: _announce(settings)) if announce else None,
        shutdown_timeout=10.0,
        loop=new_loop(settings.loop),
    )


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


def serve_workers(settings: Settings, workers: int) -> None:
    """Own and supervise the embedded server, then run ``workers`` processes on one port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("--workers needs SO_REUSEPORT, which this platform lacks")
    codes = asyncio.run(_run_workers(settings, workers))
    if any(codes):
        log.error("worker exit codes: %s", codes)


async def _run_workers(settings: Settings, workers: int) -> list[int]:
    env = dict(os.environ)
    server: EmbeddedServer | None = None
    if settings.redis_url is None:
        server = await _prepare_embedded(settings)
        env["REDIS_URL"] = server.url
        env["COUNTER_DEMO"] = "on" if settings.demo else "off"
        env.setdefault(
            "COUNTER_ADMIN_TOKEN", settings.admin_token or admin_token_file(settings.data_dir)
        )
    try:
        metrics_dir = fresh_multiproc_dir(settings.data_dir, os.environ)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        env["COUNTER_HOST"], env["COUNTER_PORT"] = settings.host, str(settings.port)
        cmd = [sys.executable, "-m", "counter", "serve", "--worker-process"]
        # Forked from the loop thread, which lives as long as the workers (PR_SET_PDEATHSIG).
        children = [
            subprocess.Popen(  # noqa: ASYNC220
                cmd, env={**env, "COUNTER_WORKER_ID": str(i)}, preexec_fn=die_with_parent
            )
            for i in range(workers)
        ]
        _announce(settings)
        print(f"{workers} worker processes: {' '.join(str(c.pid) for c in children)}", flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _stop_all, children)
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
            await server.stop()
