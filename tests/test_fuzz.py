"""The running service against its own OpenAPI document, fuzzed with schemathesis.

The service listens on a real port of 127.0.0.1 with the test Valkey behind it; schemathesis
reads ``/v1/openapi.json`` from it, then sends every operation examples, boundary cases and
generated (valid and invalid) requests, and runs stateful sequences along the document's links
(create a site, then count on it; create a poll, then vote in it). Every answer must conform to
the document (status, content type, headers, body schema), no answer may be a 5xx, invalid
data must be refused with a 4xx, and admin operations must refuse a missing token.

The run is bounded (few examples per operation) and derandomized (a fixed seed): a failure
reproduces with the same command. ``pytest tests/test_fuzz.py`` runs it alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from counter.app import create_app
from counter.embedded import EmbeddedServer
from counter.settings import Settings
from counter.storage import connect
from tests.conftest import ADMIN_TOKEN

SEED = 20261126
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 900.0
"""A bound on the whole run (it takes well under a minute here): a hang fails, never stalls."""
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
CONFIG = f"""
seed = {SEED}
hooks = "{HOOKS}"
request-timeout = 20
# A live-results stream never ends by itself: read its first event, then hang up.
max-stream-events = 1

[generation]
max-examples = 6
deterministic = true
database = "none"

[auth.openapi.adminToken]
bearer = "{ADMIN_TOKEN}"

[checks.positive_data_acceptance]
# Valid data is refused where the state says so (an unknown site is a 404): not a failure.
enabled = false

[phases.coverage]
# Every path is also sent two methods it does not take (a 405 with Allow is expected).
unexpected-methods = ["DELETE", "TRACE"]

[phases.stateful]
max-steps = 12

[phases.stateful.generation]
max-examples = 40

# Values the service accepts for fields whose valid values no pattern can say, so that
# generated sites and polls get created often enough for sequences to reach past them.
[dictionaries.timezones]
values = ["Asia/Ho_Chi_Minh", "UTC", "Europe/Berlin", "America/Sao_Paulo"]

[dictionaries.poll_times]
values = ["2001-01-01T00:00:00+00:00", "2099-12-31T23:59:59+07:00", "2026-11-26T10:00:00"]

[parameters]
"body.timezone" = {{ dictionary = "timezones", probability = 0.9 }}
"body.starts_at" = {{ dictionary = "poll_times", probability = 0.8 }}
"body.ends_at" = {{ dictionary = "poll_times", probability = 0.8 }}
"""


class ThreadedService:
    """The service on a real port, run by its own event loop in a thread of its own:
    schemathesis' calls block the test's thread, so the server cannot share its loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fuzzed-service", daemon=True)

    def __enter__(self) -> ThreadedService:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise TimeoutError(f"the service did not start within {START_TIMEOUT_S:.0f} s")
        if not self.url:
            raise RuntimeError("the service did not start (its thread's error is reported)")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT_S)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        finally:
            self._started.set()  # a failed start must not leave the test waiting

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        redis = connect(self.settings.redis_url or "", 5.0)
        await redis.flushall()
        await redis.aclose()
        runner = web.AppRunner(create_app(self.settings))
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self.url = f"http://{host}:{port}"
            self._started.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()


@pytest.fixture(scope="module")
def service(redis_server: EmbeddedServer) -> Iterator[ThreadedService]:
    settings = Settings(
        redis_url=redis_server.url, admin_token=ADMIN_TOKEN, demo=True, access_log=False
    )
    with ThreadedService(settings) as running:
        yield running


def test_every_answer_conforms_to_the_document(service: ThreadedService, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{service.url}/v1/openapi.json",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    print(run.stdout)  # the run's summary, for ``pytest -s tests/test_fuzz.py``
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
