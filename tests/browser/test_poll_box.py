"""The poll box: its empty state, in both built-in languages."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.harness import Portal


@pytest.mark.parametrize(
    ("lang", "title", "empty"),
    [
        ("vi", "Bình chọn", "Hiện tại không có bình chọn nào đang hoạt động."),
        ("en", "Poll", "There is no active poll at the moment."),
    ],
)
async def test_no_active_poll_shows_the_empty_text(
    page: Page, portal: Portal, lang: str, title: str, empty: str
) -> None:
    await page.goto(portal.page('<div data-counter="poll"></div>', lang=lang))
    box = page.locator('[data-counter="poll"]')
    await expect(box.locator("h2")).to_have_text(title)
    await expect(box.locator(".in")).to_have_text(empty)
    await expect(box.locator("form")).to_have_count(0)
