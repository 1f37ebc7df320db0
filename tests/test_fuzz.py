"""The running service against its own OpenAPI document, fuzzed with schemathesis.

The service is a real ``counter serve`` process on a port of 127.0.0.1 with the test Valkey
behind it, so every request goes through the server layer a deployment runs: a URL or a
header too long for it is answered by the server's own JSON refusal (``414``, ``431``), and
such requests are fuzzed like any other. schemathesis reads ``/v1/openapi.json`` from the
service, then sends every operation examples, boundary cases and generated (valid and
invalid) requests, and runs stateful sequences along the document's links (create a site,
then count on it; create a poll, then vote in it or stream it with a ticket). Every answer
must conform to the document (status, content type, headers, body schema), no answer may be
a 5xx, invalid data must be refused with a 4xx, and admin operations must refuse a missing
token. The process must then stop cleanly, with no traceback in its log.

Loopback is exempt from the per-client limits (hits, votes, tickets, streams): what the run
reaches then depends on the seed alone, never on how many requests fell into one minute.
The answers of those limits are checked against the document by
tests/test_openapi_conformance.py.

The run is bounded (few examples per operation) and derandomized (a fixed seed): a failure
reproduces with the same command. ``pytest tests/test_fuzz.py -s`` runs it alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from counter.embedded import EmbeddedServer
from counter.storage import connect
from tests.conftest import ADMIN_TOKEN
from tests.server_support import ServeProcess, serving

SEED = 20261126
METRICS_TOKEN = "test-metrics-token-0123456789"
RUN_TIMEOUT_S = 900.0
"""A bound on the whole run (15-20 s here, about 50 s with both cores busy elsewhere): a hang
fails, never stalls."""
LOOPBACK = "127.0.0.0/8"
CONFIG = f"""
seed = {SEED}
request-timeout = 20
# A live-results stream ends only after COUNTER_STREAM_MAX_S: read its first event, hang up.
max-stream-events = 1

[generation]
max-examples = 6
deterministic = true
database = "none"

[auth.openapi.adminToken]
bearer = "{ADMIN_TOKEN}"

[auth.openapi.metricsToken]
bearer = "{METRICS_TOKEN}"

[checks.positive_data_acceptance]
# Valid data is refused where the state says so (an unknown site is a 404): not a failure.
enabled = false

[checks.negative_data_rejection]
# Refusals by the server layer count as refusals too: a body over its limit (413), a URL or a
# header too long for the server (414, 431). The rest are schemathesis' defaults.
expected-statuses = [
    "400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429",
    "431", "5xx",
]

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

# The site demo mode creates at start: hits, reads and polls often land on a site that exists.
[dictionaries.sites]
values = ["demo"]

[dictionaries.poll_times]
values = ["2001-01-01T00:00:00+00:00", "2099-12-31T23:59:59+07:00", "2026-11-26T10:00:00"]

[parameters]
"body.site" = {{ dictionary = "sites", probability = 0.5 }}
"query.site" = {{ dictionary = "sites", probability = 0.5 }}
"body.timezone" = {{ dictionary = "timezones", probability = 0.9 }}
"body.starts_at" = {{ dictionary = "poll_times", probability = 0.8 }}
"body.ends_at" = {{ dictionary = "poll_times", probability = 0.8 }}
"""


async def _flushall(url: str) -> None:
    redis = connect(url, 5.0)
    try:
        await redis.flushall()
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
def service(
    redis_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """``counter serve`` on an empty store, in demo mode (the demo site and page exist)."""
    folder = tmp_path_factory.mktemp("fuzz")
    asyncio.run(_flushall(redis_server.url))
    env = {
        "COUNTER_METRICS_TOKEN": METRICS_TOKEN,
        "COUNTER_DEMO": "on",
        "COUNTER_ACCESS_LOG": "off",
        "COUNTER_ALLOWLIST": LOOPBACK,
        "COUNTER_SHUTDOWN_TIMEOUT_S": "5",
    }
    with serving(redis_server.url, folder, env) as served:
        yield served
    assert "Traceback" not in served.log(), served.log()


def test_every_answer_conforms_to_the_document(service: ServeProcess, tmp_path: Path) -> None:
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
