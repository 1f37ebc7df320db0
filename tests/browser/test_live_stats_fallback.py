"""Live numbers refused: the stats box falls back to its heartbeat, and tries the stream again."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from counter.embedded import EmbeddedServer
from counter.storage import RedisClient
from tests.browser.harness import Portal, Service, running_service
from tests.browser.test_live_stats import BOXES, TODAY, TRACK_STREAMS


@pytest.fixture
async def service(redis: RedisClient, redis_server: EmbeddedServer) -> AsyncIterator[Service]:
    """The service with room for one live stream per client (this machine is one client)."""
    async with running_service(redis_server, streams_per_client=1) as svc:
        yield svc


@contextlib.asynccontextmanager
async def held_stream(service: Service) -> AsyncIterator[None]:
    """The one stream this client may hold, held by the test."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{service.url}/v1/stats/events?site=demo") as resp,
    ):
        assert resp.status == 200
        await resp.content.readuntil(b"\r\n\r\n")  # its first event: the slot is taken
        yield


async def test_a_refused_stream_leaves_the_heartbeat_to_refresh_the_numbers(
    page: Page, browser: Browser, portal: Portal, service: Service
) -> None:
    url = portal.page(BOXES, heartbeat="1")
    await page.add_init_script(TRACK_STREAMS)
    async with held_stream(service):
        async with page.expect_response(lambda r: "/v1/stats/events" in r.url) as refused:
            await page.goto(url)
        assert (await refused.value).status == 429
        await page.wait_for_function("streams[0].readyState === 2")  # refused for good

        other_reader = await browser.new_context()
        await (await other_reader.new_page()).goto(url)
        await expect(page.locator(TODAY)).to_have_text("2")  # brought by a heartbeat
        await other_reader.close()
    # The slot is free again: a later heartbeat opens the stream.
    await page.wait_for_function("streams.some((s) => s.readyState === 1)")
