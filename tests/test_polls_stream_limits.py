"""Live-result streams on the real server: per-client and total caps, and a bounded lifetime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient

from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import Client, FakeClock, make_site
from tests.metrics_helpers import scrape, value
from tests.polls_support import LOCALHOST, app_client, make_poll, next_event


@contextlib.asynccontextmanager
async def _stream(client: Client, poll_id: str, ip: str) -> AsyncIterator[ClientResponse]:
    """A stream opened from ``ip``, its first snapshot read."""
    async with client.get(f"/v1/polls/{poll_id}/events", headers={"X-Forwarded-For": ip}) as resp:
        assert resp.status == 200, await resp.text()
        assert (await next_event(resp))[0] == "poll"
        yield resp


async def _refused(client: Client, poll_id: str, ip: str) -> ClientResponse:
    resp = await client.get(
        f"/v1/polls/{poll_id}/events",
        headers={"X-Forwarded-For": ip, "Origin": "https://portal.example.vn"},
    )
    assert resp.content_type == "application/json"
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["Access-Control-Allow-Origin"] == "https://portal.example.vn"
    assert (await resp.json())["error"]["code"] == "too_many_streams"
    return resp


async def test_a_client_may_hold_only_so_many_streams(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(
        aiohttp_client, settings, clock, streams_per_client=2, trusted_proxies=LOCALHOST
    )
    await make_site(client)
    poll = await make_poll(client)
    pid = poll["id"]
    async with _stream(client, pid, "2001:db8:1:1::1"), _stream(client, pid, "2001:db8:1:1::2"):
        # another address of the same /64 is the same client
        assert (await _refused(client, pid, "2001:db8:1:1::3")).status == 429
        async with _stream(client, pid, "2001:db8:1:2::1"):  # the next /64 is another
            pass
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="streams_per_client") == 1


async def test_the_process_holds_at_most_its_total_of_streams(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(
        aiohttp_client, settings, clock, streams_max=2, trusted_proxies=LOCALHOST
    )
    await make_site(client)
    pid = (await make_poll(client))["id"]
    async with _stream(client, pid, "203.0.113.1"), _stream(client, pid, "203.0.113.2"):
        assert (await _refused(client, pid, "203.0.113.3")).status == 503
    assert value(await scrape(client), "counter_limited_total", limit="streams_total") == 1


async def test_the_server_ends_a_stream_after_its_lifetime(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(aiohttp_client, settings, clock, stream_max_s=1)
    await make_site(client)
    pid = (await make_poll(client))["id"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with client.get(f"/v1/polls/{pid}/events") as stream:
        head = (await stream.content.readuntil(b"\r\n\r\n")).decode()
        retry = next(line for line in head.splitlines() if line.startswith("retry: "))
        assert 2000 <= int(retry.removeprefix("retry: ")) <= 5000  # how soon to come back
        rest = await stream.content.read()  # to the end: the server closed the stream
        assert b"event: poll" not in rest
    assert loop.time() - started >= 0.9
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="stream_lifetime") == 1
    assert value(text, "counter_sse_connections_open", kind="poll", site="demo") == 0
