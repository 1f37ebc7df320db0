"""The benchmarks' open-loop generator (``benchmarks/loadgen.py``) against a real HTTP server:
every scheduled request is sent and its answer read whole, refusals and dropped connections
are counted, and a server that closes every connection does not hang it."""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib

import pytest
from aiohttp import web

from benchmarks.loadgen import Mix, Tally, generate, open_loop

RATE = 400.0
SECONDS = 0.5
BOUND_S = 30.0
"""A generator that hangs fails the test rather than the suite."""


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> collections.abc.AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def app_answering(status: int, body: bytes) -> tuple[web.Application, list[str]]:
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path} {len(await request.read())}")
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app, seen


@pytest.fixture
async def ok_server() -> collections.abc.AsyncIterator[tuple[str, list[str]]]:
    app, seen = app_answering(200, b'{"visits": {"today": 1}}' * 40)  # more than one read
    async with serve(app) as url:
        yield url, seen


async def test_every_scheduled_request_is_sent_and_its_answer_read(
    ok_server: tuple[str, list[str]],
) -> None:
    url, seen = ok_server
    out = await asyncio.wait_for(generate(url, SECONDS, 4, RATE, Mix(stats_pct=10)), BOUND_S)
    expected = int(SECONDS * RATE)
    assert out["requests"] == len(seen) == expected
    assert out["errors"] == {"io": 0, "status": 0}
    assert out["bytes"] == expected * len(b'{"visits": {"today": 1}}') * 40
    assert {line.split()[0] for line in seen} == {"GET", "POST"}
    assert all(int(line.split()[2]) > 0 for line in seen if line.startswith("POST /v1/hit"))
    assert 0 < out["latency_us"]["p50"] <= out["latency_us"]["p99"] <= out["latency_us"]["max"]
    assert out["generator_busy"] > 0


async def test_refusals_are_counted() -> None:
    app, seen = app_answering(429, b'{"error": {"code": "rate_limited", "message": "slow"}}')
    async with serve(app) as url:
        out = await asyncio.wait_for(generate(url, SECONDS, 2, RATE, Mix()), BOUND_S)
    assert out["errors"] == {"io": 0, "status": int(SECONDS * RATE)}
    assert len(seen) == int(SECONDS * RATE)


async def test_a_server_that_drops_every_connection_ends_the_run_with_io_errors() -> None:
    async def drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        raise web.HTTPOk

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", drop)
    tally = Tally()
    async with serve(app) as url:
        await asyncio.wait_for(open_loop(url, SECONDS, 3, RATE, Mix(), tally), BOUND_S)
    assert tally.io_errors == int(SECONDS * RATE)
    assert not tally.latencies
