"""``counter poll ...`` as a real subprocess against the test Redis server."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from typing import Any

import orjson
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.embedded import EmbeddedServer
from counter.settings import Settings
from counter.storage import RedisClient
from tests.polls_support import vote


async def _cli(server: EmbeddedServer, *args: str, ok: bool = True) -> str:
    env = {**os.environ, "REDIS_URL": server.url, "COUNTER_LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "counter",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode == 0) is ok, err.decode()
    return out.decode() if ok else err.decode()


async def _json(server: EmbeddedServer, *args: str) -> Any:
    return orjson.loads(await _cli(server, *args))


async def test_poll_commands_create_list_close_reopen_export_delete(
    redis_server: EmbeddedServer,
    redis: RedisClient,
    aiohttp_client: AiohttpClient,
    settings: Settings,
) -> None:
    client = await aiohttp_client(create_app(settings))  # the CLI runs on the real clock
    await _cli(redis_server, "site", "add", "demo")
    poll = await _json(
        redis_server,
        "poll", "create", "demo",
        "--question", "Bạn thấy cổng thông tin thế nào?",
        "--option", "Tốt", "--option", "Chưa tốt",
        "--visibility", "after_close",
    )  # fmt: skip
    pid = poll["id"]
    assert poll["state"] == "open"
    assert poll["results_visibility"] == "after_close"

    public = await (await client.get("/v1/polls?site=demo")).json()
    assert [p["id"] for p in public["polls"]] == [pid]
    assert (await vote(client, pid, "visitor-0001", ["o2"])).status == 200

    listed = await _json(redis_server, "poll", "list", "demo")
    assert listed["polls"][0]["results"]["votes"] == {"o1": 0, "o2": 1}
    hidden = list(csv.DictReader(io.StringIO(await _cli(redis_server, "poll", "export", pid))))
    assert [r["votes"] for r in hidden] == ["", ""]

    assert (await _json(redis_server, "poll", "close", pid))["state"] == "closed"
    assert (await (await client.get("/v1/polls?site=demo")).json()) == {"polls": []}
    rows = list(csv.DictReader(io.StringIO(await _cli(redis_server, "poll", "export", pid))))
    assert [(r["option"], r["votes"]) for r in rows] == [("Tốt", "0"), ("Chưa tốt", "1")]

    reopened = await _json(redis_server, "poll", "reopen", pid)
    assert (reopened["state"], reopened["ends_at"]) == ("open", None)
    edited = await _json(redis_server, "poll", "edit", pid, "--question", "Đổi câu hỏi?")
    assert edited["question"] == "Đổi câu hỏi?"
    assert (await _json(redis_server, "poll", "show", pid))["results"]["voters"] == 1

    assert await _json(redis_server, "poll", "delete", pid) == {"deleted": pid}
    err = await _cli(redis_server, "poll", "show", pid, ok=False)
    assert "unknown_poll" in err
    bad = await _cli(redis_server, "poll", "create", "demo", "--question", "Q", ok=False)
    assert "invalid_options" in bad
    assert (await client.get(f"/v1/polls/{pid}")).status == 404
