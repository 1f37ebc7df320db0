"""Reading a /metrics exposition in tests, and finding the system tools some tests need."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Client

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus)"
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not installed (Debian package prometheus)"
)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    """One sample's value, None when the exposition lacks it."""
    return samples(text).get((name, frozenset(labels.items())))


def exposed_names(text: str) -> set[str]:
    """Every series name a query may use: the TYPE lines, histograms expanded."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


async def scrape(client: Client) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    return await resp.text()


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


METRICS_TOKEN_FILE = "counter-metrics-token"
"""The file deploy/prometheus/prometheus.yml reads the metrics bearer token from."""


def check_prometheus_config(config: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check config`` on a copy of ``config``'s directory in ``scratch``, with the
    token file it names in place (an operator's secret: never in the repository)."""
    copy = scratch / config.parent.name
    shutil.copytree(config.parent, copy)
    (copy / METRICS_TOKEN_FILE).write_text("metrics-token-0123456789\n")
    return promtool("check", "config", str(copy / config.name))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
