"""``counter backup`` and ``counter restore`` as real subprocesses against the test server."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import orjson
import pytest
from redis import Redis

from counter.__main__ import main
from counter.backup.codec import prefix
from counter.embedded import EmbeddedServer
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, FakeClock, make_site
from tests.test_backup import populate, snapshot
from tests.test_polls_cli import _cli


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, stats_cache_ms=0, site_cache_ms=0)


def _files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


async def test_backup_then_restore_on_the_command_line(
    redis_server: EmbeddedServer,
    redis: RedisClient,
    client: Client,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    polls = await populate(client, clock)
    before = await snapshot(client, polls)
    file = tmp_path / "demo.jsonl"

    summary = orjson.loads(await _cli(redis_server, "backup", "demo", "--out", str(file)))

    assert summary["file"] == str(file)
    assert summary["sites"] == ["demo"]
    assert summary["bytes"] == file.stat().st_size
    assert orjson.loads(file.read_bytes().splitlines()[0])["format"] == "counter-backup"
    assert _files(tmp_path) == [file]  # the partial file was renamed into place
    await redis.flushall()

    restored = orjson.loads(await _cli(redis_server, "restore", str(file)))

    assert restored["restored"] == ["demo"]
    assert await snapshot(client, polls) == before

    err = await _cli(redis_server, "restore", str(file), ok=False)
    assert err.startswith("counter: site_exists: site demo exists; nothing was restored")
    assert "--replace" in err

    replaced = orjson.loads(await _cli(redis_server, "restore", str(file), "--replace"))
    assert replaced["replaced"] == ["demo"]
    assert await snapshot(client, polls) == before


async def test_every_site_into_a_gzip_file_and_one_back(
    redis_server: EmbeddedServer, redis: RedisClient, client: Client, tmp_path: Path
) -> None:
    for site in ("demo", "news", "sport"):
        await make_site(client, site)
    file = tmp_path / "all.jsonl.gz"

    summary = orjson.loads(await _cli(redis_server, "backup", "--out", str(file)))

    assert summary["sites"] == ["demo", "news", "sport"]
    assert file.read_bytes()[:2] == b"\x1f\x8b"
    await redis.flushall()
    out = await _cli(redis_server, "restore", str(file), "--site", "news")
    assert orjson.loads(out)["restored"] == ["news"]
    listed = await (await client.get("/v1/admin/sites", headers=ADMIN)).json()
    assert listed == {"sites": ["news"]}


async def test_command_line_refusals_are_one_line_errors(
    redis_server: EmbeddedServer, redis: RedisClient, client: Client, tmp_path: Path
) -> None:
    err = await _cli(redis_server, "backup", "nowhere", "--out", str(tmp_path / "x"), ok=False)
    assert err == "counter: unknown_site: no site 'nowhere'\n"
    await make_site(client)
    await redis.xadd(f"{prefix('demo')}future:stream", {"a": "1"})
    err = await _cli(redis_server, "backup", "--out", str(tmp_path / "x"), ok=False)
    assert err.startswith("counter: unsupported_key: key b'c:{demo}:future:stream' is a stream")
    assert _files(tmp_path) == []  # neither the file nor its partial copy

    err = await _cli(redis_server, "restore", str(tmp_path / "missing.jsonl"), ok=False)
    assert err.startswith("counter: cannot_read: cannot read")

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_bytes(
        b'{"format": "counter-backup", "version": 1}\n{"t": "site", "site": "x"}\n'
    )
    err = await _cli(redis_server, "restore", str(truncated), ok=False)
    assert err == "counter: invalid_backup: line 2: the file ends before the end of the backup\n"


def _drain(master: int) -> bytes:
    """Everything written to a pseudo-terminal whose other end is closed. The kernel hands
    written bytes to the master side asynchronously: one read may see only the first write,
    so read until the end (EIO once the closed side is drained)."""
    chunks = []
    try:
        while chunk := os.read(master, 65536):
            chunks.append(chunk)
    except OSError:
        pass
    finally:
        os.close(master)
    return b"".join(chunks)


def test_progress_goes_to_stderr_only_when_it_is_a_terminal(
    redis_server: EmbeddedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    with Redis.from_url(redis_server.url) as plain:
        plain.flushall()
    assert main(["site", "add", "demo"]) == 0
    assert main(["backup", "--out", str(tmp_path / "piped.jsonl")]) == 0
    assert capsys.readouterr().err == ""  # stderr captured: not a terminal

    master, replica = os.openpty()
    with open(replica, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        assert main(["backup", "--out", str(tmp_path / "shown.jsonl")]) == 0
    shown = _drain(master).decode()

    assert shown.startswith("\rbackup: 0/1 sites, 0 keys, 0.0 MB")
    assert shown.endswith("\rbackup: 1/1 sites, 1 keys, 0.0 MB\r\n")  # the terminal's newline
