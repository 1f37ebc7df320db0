"""Stopping a real ``counter serve`` under load: every way ends in a clean exit.

SIGTERM or SIGINT, to the process or to its process group, once or again during the stop,
with one process or ``--workers 2``: the process exits 0, no hit is answered with an error,
every hit answered ``200`` is counted in Redis, and the output holds no traceback
(``benchmarks/stops.py`` runs the same stops, 20 in a row).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from benchmarks.stops import WAYS, Outcome, Way, counted, stop_under_load
from counter.embedded import EmbeddedServer
from counter.storage import RedisClient
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.polls_support import next_event

STOP_DEADLINE_S = 30.0


@pytest.mark.parametrize("way", WAYS, ids=str)
async def test_a_stop_under_load_is_clean(
    way: Way, redis_server: EmbeddedServer, redis: RedisClient, tmp_path: Path
) -> None:
    redis_url = None if way.embedded else redis_server.url
    outcome = await stop_under_load(way, redis_url, tmp_path)
    outcome.counted = await counted(way, redis_url, tmp_path)
    assert outcome.problems() == [], "\n".join(outcome.output)
    assert outcome.counted == outcome.statuses[200]  # nothing counted that was not answered
    assert f"{way.sig.name} received: stopping" in "\n".join(outcome.output)


async def test_a_stop_ends_live_streams_at_once(
    redis_server: EmbeddedServer, redis: RedisClient, tmp_path: Path
) -> None:
    """A poll's live stream ends (the client reads its end), so the stop does not wait for
    the grace period."""
    streams: list[asyncio.Task[bytes]] = []

    async def open_stream(url: str) -> None:
        http = aiohttp.ClientSession()
        poll = {"site": "demo", "question": "?", "options": ["a", "b"]}
        async with http.post(url + "/v1/admin/polls", json=poll, headers=ADMIN) as resp:
            assert resp.status == 201, await resp.text()
            poll_id = (await resp.json())["id"]
        stream = await http.get(f"{url}/v1/polls/{poll_id}/events?visitor=visitor-0001")
        assert (await next_event(stream))[0] == "poll"

        async def rest() -> bytes:
            async with http, stream:
                return await stream.content.read()

        streams.append(asyncio.create_task(rest()))

    outcome = await stop_under_load(
        Way(),
        redis_server.url,
        tmp_path,
        extra_env={"COUNTER_ADMIN_TOKEN": ADMIN_TOKEN, "COUNTER_SHUTDOWN_TIMEOUT_S": "120"},
        before_signal=open_stream,
    )
    await asyncio.wait_for(streams[0], STOP_DEADLINE_S)  # ended, not reset
    assert outcome.code == 0, "\n".join(outcome.output)
    assert outcome.stop_s < STOP_DEADLINE_S  # far below the grace period of 120 s


async def test_requests_in_flight_are_answered_503_when_redis_is_gone(tmp_path: Path) -> None:
    """Redis dies under load, then the service is stopped: the hits in flight are answered
    503 (not acknowledged), the process still exits 0, and every hit answered 200 is in the
    AOF of the Redis that died."""
    redis = EmbeddedServer(tmp_path / "redis", os.environ.get("COUNTER_REDIS_SERVER") or None)
    await redis.start()

    async def kill_redis(_: str) -> None:
        os.kill(int(redis.pidfile.read_text()), signal.SIGKILL)

    try:
        outcome = await stop_under_load(
            Way(), redis.url, tmp_path / "data", before_signal=kill_redis
        )
    finally:
        await redis.stop()
    assert outcome.code == 0, "\n".join(outcome.output)
    assert set(outcome.statuses) <= {200, 503}
    assert not [line for line in outcome.output if "Traceback" in line]
    revived = EmbeddedServer(tmp_path / "redis", os.environ.get("COUNTER_REDIS_SERVER") or None)
    await revived.start()
    try:
        assert await counted(Way(), revived.url, tmp_path) >= outcome.statuses[200]
    finally:
        await revived.stop()


async def test_requests_in_flight_past_the_grace_period_are_cut_and_the_exit_is_clean(
    redis_server: EmbeddedServer, redis: RedisClient, tmp_path: Path
) -> None:
    """A client that never finishes its body holds its request past the grace period: the
    stop waits that long, no longer, and still exits 0."""
    held: list[asyncio.StreamWriter] = []

    async def hold_a_request(url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        held.append(writer)
        writer.write(
            b"POST /v1/hit HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        # "100 Continue" comes once the request is in the app's hands: it is in flight.
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
        writer.write(b"{")

    outcome: Outcome = await stop_under_load(
        Way(),
        redis_server.url,
        tmp_path,
        extra_env={"COUNTER_SHUTDOWN_TIMEOUT_S": "2", "COUNTER_BODY_TIMEOUT_S": "300"},
        before_signal=hold_a_request,
    )
    held[0].close()
    assert outcome.code == 0, "\n".join(outcome.output)
    assert outcome.stop_s >= 1.9  # it waited for the request held open
    assert outcome.stop_s < STOP_DEADLINE_S
    assert not [line for line in outcome.output if "Traceback" in line]
