"""deploy/prometheus and deploy/grafana: valid for promtool, and only name exposed metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.settings import Settings
from tests.conftest import ADMIN_TOKEN, FakeClock, hit
from tests.metrics_helpers import (
    METRICS_TOKEN_FILE,
    check_prometheus_config,
    exposed_names,
    needs_promtool,
    promtool,
    scrape,
    value,
)

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARD = DEPLOY / "grafana" / "counter-dashboard.json"
METRIC_NAME = re.compile(r"\bcounter_[a-z0-9_]+")


def _exprs(node: Any) -> Iterator[str]:
    """Every ``expr`` string anywhere in a JSON or YAML document."""
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "expr" and isinstance(child, str):
                yield child
            else:
                yield from _exprs(child)
    elif isinstance(node, list):
        for child in node:
            yield from _exprs(child)


def _referenced(exprs: Iterable[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


async def test_dashboard_and_rules_name_only_metrics_the_service_exposes(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FakeClock
) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, demo=True)
    client = await aiohttp_client(create_app(settings, clock=clock))  # embedded server mode
    await hit(client)
    text = await scrape(client)
    assert value(text, "counter_embedded_server_up") == 1
    exposed = exposed_names(text)
    dashboard = _referenced(_exprs(json.loads(DASHBOARD.read_text())))
    rules = _referenced(line for line in RULES.read_text().splitlines() if "#" not in line)
    assert len(dashboard) >= 10
    assert len(rules) >= 4
    assert dashboard - exposed == set()
    assert rules - exposed == set()


def test_every_dashboard_panel_has_a_query() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in dashboard["panels"] if p["targets"]}
    for wanted in ("Hits per second", "Online now by class", "Request latency percentiles"):
        assert wanted in titles
    assert {"Flush batch size", "Errors"} <= titles


@needs_promtool
def test_promtool_accepts_the_scrape_config_and_rules(tmp_path: Path) -> None:
    config = DEPLOY / "prometheus" / "prometheus.yml"
    result = check_prometheus_config(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 rules found" in result.stdout


def test_the_scrape_config_sends_a_bearer_token_to_the_private_metrics_port() -> None:
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert f"credentials_file: {METRICS_TOKEN_FILE}\n" in config
    assert "type: Bearer\n" in config
    assert 'targets: ["127.0.0.1:9464"]' in config


@needs_promtool
def test_alert_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", str(DEPLOY / "prometheus" / "tests" / "rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
