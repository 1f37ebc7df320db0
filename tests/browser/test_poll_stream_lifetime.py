"""The service ends live-result streams after their lifetime; the poll box keeps showing live
results, for a guest (EventSource reconnects by itself) and for a member (whose stream URL
holds a single-use ticket, so the widget asks for a new one). No URL ever holds the token."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, Request, expect

from counter.counting import members
from counter.embedded import EmbeddedServer
from counter.storage import RedisClient
from tests.browser.harness import Portal, Service, running_service
from tests.browser.test_poll_voting import make_poll
from tests.metrics_helpers import value

SECRET = "member-secret-0123456789abcdefghijkl"

# Every EventSource the page creates, and how many times any of them opened.
TRACK_STREAMS = """
window.streams = [];
window.opens = 0;
window.EventSource = class extends EventSource {
  constructor(...args) {
    super(...args);
    window.streams.push(this);
    this.addEventListener('open', () => { window.opens += 1; });
  }
};
"""
REOPENED = "streams.length >= 2 && streams[streams.length - 1].readyState === 1"


@pytest.fixture
async def service(redis: RedisClient, redis_server: EmbeddedServer) -> AsyncIterator[Service]:
    """The service with streams that live about a second."""
    async with running_service(redis_server, stream_max_s=1) as svc:
        yield svc


async def _vote(service: Service, poll_id: str, visitor: str, **extra: Any) -> None:
    body = {"visitor": visitor, "options": ["o3"], **extra}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{service.url}/v1/polls/{poll_id}/vote", json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def _streams_ended_by_the_service(service: Service) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{service.url}/metrics") as resp:
        found = value(await resp.text(), "counter_limited_total", limit="stream_lifetime")
    return found or 0.0


async def test_a_guests_box_stays_live_across_a_stream_the_service_ended(
    page: Page, portal: Portal, service: Service
) -> None:
    poll = await make_poll(service, results_visibility="always")
    await page.add_init_script(TRACK_STREAMS)
    await page.goto(portal.page('<div data-counter="poll"></div>'))
    box = page.locator('[data-counter="poll"]')
    await expect(box.get_by_text("Số người bình chọn: 0")).to_be_visible()

    await page.wait_for_function("opens >= 2", timeout=30_000)  # ended, then reconnected
    assert await page.evaluate("streams.length") == 1  # the browser's own reconnection
    assert await _streams_ended_by_the_service(service) >= 1

    await _vote(service, poll["id"], "another-reader-01")
    await expect(box.get_by_text("Số người bình chọn: 1")).to_be_visible(timeout=20_000)


async def test_a_members_box_gets_a_new_ticket_and_stays_live(
    page: Page, portal: Portal, service: Service
) -> None:
    await service.admin("PUT", "/v1/admin/sites/demo", {"member_secret": SECRET})
    poll = await make_poll(service, results_visibility="after_vote")
    token = members.mint(SECRET, "demo", "alice", int(time.time()) + 3600)
    await _vote(service, poll["id"], "alice-phone-01", member=token)  # on another device

    urls: list[str] = []

    def remember(request: Request) -> None:
        urls.append(request.url)

    page.on("request", remember)
    await page.add_init_script(TRACK_STREAMS)
    await page.goto(portal.page('<div data-counter="poll"></div>', member_token=token))
    box = page.locator('[data-counter="poll"]')
    # The member's vote from the phone shows here: the read sent the token in a header.
    await expect(box.get_by_text("Số người bình chọn: 1")).to_be_visible()
    await expect(box.locator("form")).to_have_count(0)

    await page.wait_for_function(REOPENED, timeout=30_000)  # a new stream, a new ticket
    await _vote(service, poll["id"], "another-reader-01")
    await expect(box.get_by_text("Số người bình chọn: 2")).to_be_visible(timeout=20_000)

    streams = [u for u in urls if "/events?" in u]
    assert len(streams) >= 2
    assert all("ticket=" in u and "visitor=" not in u for u in streams)
    assert sum(u.endswith("/ticket") for u in urls) >= 2
    assert not [u for u in urls if token in u or "member=" in u]
