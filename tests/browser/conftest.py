"""Fixtures for real headless Chromium against the service on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from counter.embedded import EmbeddedServer
from counter.storage import RedisClient
from tests.browser.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Portal,
    Service,
    running_service,
    serve,
)

# What a page shows is awaited, never slept for; on a loaded 2-core machine Chromium, the
# service and Redis can take longer than Playwright's default 5 s to get there.
expect.set_options(timeout=15_000)

if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)",
        allow_module_level=True,
    )


@pytest.fixture
async def service(redis: RedisClient, redis_server: EmbeddedServer) -> AsyncIterator[Service]:
    async with running_service(redis_server) as svc:
        yield svc


@pytest.fixture
async def portal(service: Service) -> AsyncIterator[Portal]:
    host = Portal(service)
    app = web.Application()
    app.router.add_get("/{tail:.*}", host.handle)
    runner, host.url = await serve(app)
    yield host
    await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """One reader: a fresh browser context (its own storage, so its own visitor id)."""
    context = await browser.new_context(locale="vi-VN")
    tab = await context.new_page()
    yield tab
    await context.close()
