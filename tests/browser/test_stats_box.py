"""The stats box and the page view count, in the reader's language."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.harness import Portal

BOXES = '<div data-counter="stats"></div><p>Lượt xem: <span data-counter="page-views"></span></p>'


async def test_stats_box_shows_the_readers_own_visit(page: Page, portal: Portal) -> None:
    await page.goto(portal.page(BOXES, path="/news/1"))
    stats = page.locator('[data-counter="stats"]')
    await expect(stats.locator('dd[data-k="online.total"]')).to_have_text("1")
    await expect(stats.locator('dd[data-k="online.guests"]')).to_have_text("1")
    await expect(stats.locator('dd[data-k="online.members"]')).to_have_text("0")
    await expect(stats.locator('dd[data-k="visits.today"]')).to_have_text("1")
    await expect(stats.locator('dd[data-k="visits.total"]')).to_have_text("1")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")
