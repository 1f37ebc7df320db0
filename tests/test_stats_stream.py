"""Live stats (``GET /v1/stats/events``): a snapshot on connect, then the stats whenever a
flush on any replica changes them, read at most once a second per site and process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.appkeys import STATS_HUB
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, FakeClock, hit, make_site
from tests.metrics_helpers import scrape, value
from tests.polls_support import LOCALHOST, app_client, next_event

WAIT_S = 30.0
"""A bound on any wait for an event: a broken stream fails the test, never hangs it."""


@contextlib.asynccontextmanager
async def stats_stream(
    client: Client, *pages: str, ip: str = "127.0.0.1"
) -> AsyncIterator[ClientResponse]:
    """A stream of the demo site's stats with ``pages``, opened from ``ip``."""
    query = [("site", "demo"), *(("page", p) for p in pages)]
    headers = {"X-Forwarded-For": ip}
    async with client.get("/v1/stats/events", params=query, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        yield resp


async def next_stats(stream: ClientResponse) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        name, data = await next_event(stream)
    assert name == "stats"
    assert isinstance(data, dict)
    return data


async def stats_until(stream: ClientResponse, page: str, count: int) -> dict[str, Any]:
    """The stream's events up to the first one that counts ``count`` views of ``page``."""
    while True:
        stats = await next_stats(stream)
        if stats["pages"][page] == count:
            return stats
        assert stats["pages"][page] < count, stats


async def evalsha_calls(redis: RedisClient) -> int:
    """Scripts Redis has run: the counting script's reads and flushes are all of them here."""
    info = await redis.info("commandstats")
    return int(info.get("cmdstat_evalsha", {}).get("calls", 0))


def flushes(text: str) -> int:
    return int(value(text, "counter_flushes_total", result="ok") or 0)


async def test_a_stream_sends_the_stats_then_each_change(client: Client) -> None:
    await make_site(client)
    await hit(client, page="/news/1")
    async with stats_stream(client, "/news/1/?utm_source=x") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert stream.headers["Cache-Control"] == "no-store"
        first = await next_stats(stream)
        read = await (await client.get("/v1/stats?site=demo&page=/news/1")).json()
        assert first == read  # the same body as GET /v1/stats
        assert first["pages"] == {"/news/1": 1}
        assert value(
            await scrape(client), "counter_sse_connections_open", kind="stats", site="demo"
        )

        await hit(client, "visitor-0002", page="/news/1")
        update = await stats_until(stream, "/news/1", 2)
        assert (update["visits"]["today"], update["online"]["guests"]) == (2, 2)


async def test_a_hit_through_one_replica_reaches_a_stream_on_another(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, client: Client
) -> None:
    other = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(client)
    async with stats_stream(client, "/a") as stream:
        assert (await next_stats(stream))["pages"] == {"/a": 0}
        await hit(other, page="/a")
        assert (await stats_until(stream, "/a", 1))["pageviews"]["total"] == 1


async def test_many_streams_of_a_site_cost_at_most_one_read_a_second(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client)
    loop = asyncio.get_running_loop()
    pages = [f"/news/{n % 4}" for n in range(20)]
    flushes_before = flushes(await scrape(client))  # a scrape may run scripts: not counted
    scripts_before = await evalsha_calls(redis)
    started = loop.time()
    async with contextlib.AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(stats_stream(client, p)) for p in pages]
        for stream, page in zip(streams, pages, strict=True):
            assert (await next_stats(stream))["pages"] == {page: 0}
        for n in range(1, 4):
            await hit(client, f"visitor-{n:04}", page="/news/0")
            for stream, page in zip(streams, pages, strict=True):
                stats = await stats_until(stream, page, n if page == "/news/0" else 0)
                if page != "/news/0":  # their own page is unchanged; the site's numbers move
                    while stats["pageviews"]["total"] < n:
                        stats = await next_stats(stream)
        scripts = await evalsha_calls(redis) - scripts_before
        elapsed = loop.time() - started
    reads = scripts - (flushes(await scrape(client)) - flushes_before)  # flushes run it too
    assert 1 <= reads <= int(elapsed) + 1, (reads, elapsed)  # never one per stream


async def test_a_slow_reader_holds_only_the_latest_snapshot(client: Client) -> None:
    await make_site(client)
    hub = client.app[STATS_HUB]
    with hub.subscribe("demo", ["/a"]) as slow, hub.subscribe("demo", ["/a"]) as witness:
        assert (await slow.next()) is not None
        async with asyncio.timeout(WAIT_S):
            await witness.next()
            for n in range(1, 4):  # announcements are a second apart: one read for each
                await hit(client, f"visitor-{n:04}", page="/a")
                while (seen := await witness.next()) is None or seen.pages["/a"] < n:
                    pass
        # Every read was pushed to both; the slow one kept the last snapshot only.
        latest = await slow.next()
        assert latest is not None
        assert latest.pages == {"/a": 3}
        assert slow.latest is None


async def test_a_stream_follows_the_site_after_its_listener_reconnects(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client)
    async with stats_stream(client, "/a") as stream:
        await next_stats(stream)
        killed = await redis.client_kill_filter(_type="pubsub")
        assert killed >= 1
        await hit(client, page="/a")  # announced to nobody, or to the new subscription
        assert (await stats_until(stream, "/a", 1))["pages"] == {"/a": 1}


async def test_deleting_a_site_ends_its_streams_on_every_replica(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, client: Client
) -> None:
    other = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(client)
    async with stats_stream(client) as here, stats_stream(other) as there:
        await next_stats(here)
        await next_stats(there)  # that replica now holds the site's config for a while
        assert (await client.delete("/v1/admin/sites/demo", headers=ADMIN)).status == 204
        async with asyncio.timeout(WAIT_S):
            assert await next_event(here) == ("deleted", {})
            assert await next_event(there) == ("deleted", {})


async def test_unknown_site_and_too_many_pages_are_json_errors(client: Client) -> None:
    resp = await client.get("/v1/stats/events?site=nosuchsite")
    assert (resp.status, (await resp.json())["error"]["code"]) == (404, "unknown_site")
    await make_site(client)
    query = "&".join(f"page=/p{n}" for n in range(51))
    resp = await client.get(f"/v1/stats/events?site=demo&{query}")
    assert (resp.status, (await resp.json())["error"]["code"]) == (400, "invalid_page")


async def _refused(client: Client, ip: str, *pages: str) -> ClientResponse:
    """A refused stream: the JSON error with ``Retry-After`` and the site's CORS grant."""
    query = [("site", "demo"), *(("page", p) for p in pages)]
    headers = {"X-Forwarded-For": ip, "Origin": "https://portal.example.vn"}
    resp = await client.get("/v1/stats/events", params=query, headers=headers)
    assert resp.content_type == "application/json"
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["Access-Control-Allow-Origin"] == "https://portal.example.vn"
    return resp


async def test_streams_are_capped_per_client_and_in_total(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(
        aiohttp_client,
        settings,
        clock,
        streams_per_client=2,
        streams_max=3,
        trusted_proxies=LOCALHOST,
    )
    await make_site(client, origins=["https://portal.example.vn"])
    one, other = "2001:db8:1:1::1", "2001:db8:1:2::1"
    async with stats_stream(client, ip=one), stats_stream(client, ip="2001:db8:1:1::2"):
        resp = await _refused(client, "2001:db8:1:1::3")  # the same /64: the same client
        assert (resp.status, (await resp.json())["error"]["code"]) == (429, "too_many_streams")
        async with stats_stream(client, ip=other):
            resp = await _refused(client, "203.0.113.9")
            assert (resp.status, (await resp.json())["error"]["code"]) == (503, "too_many_streams")
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="streams_per_client") == 1
    assert value(text, "counter_limited_total", limit="streams_total") == 1
    assert value(text, "counter_sse_connections_open", kind="stats", site="demo") == 0


async def test_the_pages_one_sites_streams_follow_are_capped(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(aiohttp_client, settings, clock, stream_pages=2)
    await make_site(client, origins=["https://portal.example.vn"])
    async with stats_stream(client, "/a", "/b"):
        resp = await _refused(client, "127.0.0.1", "/c")
        assert (resp.status, (await resp.json())["error"]["code"]) == (503, "too_many_pages")
        async with stats_stream(client, "/b") as same_pages:  # followed already: no more
            assert (await next_stats(same_pages))["pages"] == {"/b": 0}
    async with stats_stream(client, "/c") as later:  # the first streams are gone
        assert (await next_stats(later))["pages"] == {"/c": 0}
    assert value(await scrape(client), "counter_limited_total", limit="stream_pages") == 1


async def test_the_server_ends_a_stats_stream_after_its_lifetime(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await app_client(aiohttp_client, settings, clock, stream_max_s=1)
    await make_site(client)
    async with stats_stream(client) as stream:
        head = (await stream.content.readuntil(b"\r\n\r\n")).decode()
        retry = next(line for line in head.splitlines() if line.startswith("retry: "))
        assert 2000 <= int(retry.removeprefix("retry: ")) <= 5000
        async with asyncio.timeout(WAIT_S):
            await stream.content.read()  # to the end: the server closed the stream
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="stream_lifetime") == 1
    assert value(text, "counter_sse_connections_open", kind="stats", site="demo") == 0
