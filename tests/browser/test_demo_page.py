"""GET / in demo mode: the portal page shows the live boxes and the snippet to embed them."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.harness import Service


async def test_demo_page_shows_live_numbers_the_poll_box_and_the_snippet(
    page: Page, service: Service
) -> None:
    await page.goto(service.url + "/")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")
    stats = page.locator('[data-counter="stats"]')
    await expect(stats.locator('dd[data-k="online.total"]')).to_have_text("1")
    await expect(stats.locator("h2")).to_have_text("Thống kê truy cập")
    poll = page.locator('[data-counter="poll"]')
    await expect(poll.locator("h2")).to_have_text("Bình chọn")
    await expect(poll.locator(".in")).to_have_text(
        "Hiện tại không có bình chọn nào đang hoạt động."
    )
    snippet = page.locator("#embed-code")
    await expect(snippet).to_contain_text(f'<script async src="{service.url}/widget.js"')
    counted = await service.stats("/tin-tuc/chuyen-doi-so-cai-cach-hanh-chinh")
    assert counted["pages"] == {"/tin-tuc/chuyen-doi-so-cai-cach-hanh-chinh": 1}
