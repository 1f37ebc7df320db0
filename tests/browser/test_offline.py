"""The service unreachable: the last known numbers stay on screen, never an error."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.harness import Portal, Service

BODY = '<div data-counter="stats"></div><span data-counter="page-views"></span>'


async def test_service_stopped_keeps_the_last_numbers(
    page: Page, portal: Portal, service: Service
) -> None:
    await service.admin("POST", "/v1/admin/sites/demo/base", {"visits": 77445444})
    url = portal.page(BODY, path="/news/1", heartbeat="1")
    total = page.locator('[data-counter="stats"] dd[data-k="visits.total"]')
    await page.goto(url)
    await expect(total).to_have_text("77.445.445")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")

    await service.stop()
    async with page.expect_event("requestfailed", lambda r: r.url.endswith("/v1/ping")):
        pass  # the next heartbeat finds nobody listening
    await expect(total).to_have_text("77.445.445")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")

    # A new page load while the service is down (widget.js from the browser's cache) shows the
    # numbers kept in localStorage.
    async with page.expect_event("requestfailed", lambda r: r.url.endswith("/v1/hit")):
        await page.goto(url)
    await expect(total).to_have_text("77.445.445")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")
    await expect(page.locator('[data-counter="stats"] dd[data-k="online.total"]')).to_have_text("1")
