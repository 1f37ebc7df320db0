"""The stats box and the page view count: numbers, labels and formats in the reader's language."""

from __future__ import annotations

import time

from playwright.async_api import Page, expect

from counter.counting import members
from tests.browser.harness import Portal, Service

BOXES = '<div data-counter="stats"></div><p>Lượt xem: <span data-counter="page-views"></span></p>'
VI_LABELS = ["Khách", "Thành viên", "Tổng", "Hôm nay", "Hôm qua", "Tuần này", "Tháng này",
             "Tổng lượt truy cập"]  # fmt: skip
EN_LABELS = ["Guests", "Members", "Total", "Today", "Yesterday", "This week", "This month",
             "Total visits"]  # fmt: skip


async def test_stats_box_shows_the_readers_own_visit(
    page: Page, portal: Portal, service: Service
) -> None:
    await page.goto(portal.page(BOXES, path="/news/1"))
    stats = page.locator('[data-counter="stats"]')
    await expect(stats.locator('dd[data-k="online.total"]')).to_have_text("1")
    await expect(stats.locator('dd[data-k="online.guests"]')).to_have_text("1")
    await expect(stats.locator('dd[data-k="online.members"]')).to_have_text("0")
    await expect(stats.locator('dd[data-k="visits.today"]')).to_have_text("1")
    await expect(stats.locator('dd[data-k="visits.total"]')).to_have_text("1")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")
    counted = await service.stats("/news/1")
    assert counted["pageviews"]["total"] == 1
    assert counted["pages"] == {"/news/1": 1}


async def test_vietnamese_labels_and_number_grouping(
    page: Page, portal: Portal, service: Service
) -> None:
    await service.admin("POST", "/v1/admin/sites/demo/base", {"visits": 77445444})
    await page.goto(portal.page(BOXES, lang="vi"))
    stats = page.locator('[data-counter="stats"]')
    await expect(stats.locator('dd[data-k="visits.total"]')).to_have_text("77.445.445")
    await expect(stats.locator("h2")).to_have_text("Thống kê truy cập")
    await expect(stats.get_by_text("Người trực tuyến")).to_be_visible()
    await expect(stats.locator("dt")).to_have_text(VI_LABELS)


async def test_english_labels_and_number_grouping(
    page: Page, portal: Portal, service: Service
) -> None:
    await service.admin("POST", "/v1/admin/sites/demo/base", {"visits": 77445444})
    await page.goto(portal.page(BOXES, lang="en"))
    stats = page.locator('[data-counter="stats"]')
    await expect(stats.locator('dd[data-k="visits.total"]')).to_have_text("77,445,445")
    await expect(stats.locator("h2")).to_have_text("Visitor statistics")
    await expect(stats.get_by_text("Online now")).to_be_visible()
    await expect(stats.locator("dt")).to_have_text(EN_LABELS)


async def test_several_placeholders_on_one_page_work_independently(
    page: Page, portal: Portal, service: Service
) -> None:
    await service.admin("POST", "/v1/admin/sites/demo/base", {"pages": {"/news/2": 1380}})
    body = (
        '<div data-counter="stats" id="a"></div><div data-counter="stats" id="b"></div>'
        '<span data-counter="page-views" id="here"></span>'
        '<span data-counter="page-views" id="other" data-page="/news/2"></span>'
    )
    await page.goto(portal.page(body, path="/news/1"))
    for box in ("#a", "#b"):
        await expect(page.locator(f'{box} dd[data-k="online.total"]')).to_have_text("1")
    await expect(page.locator("#here")).to_have_text("1")
    await expect(page.locator("#other")).to_have_text("1.380")
    counted = await service.stats("/news/1", "/news/2")
    assert counted["pages"] == {"/news/1": 1, "/news/2": 1380}  # the listing read counted nothing


async def test_read_only_mode_shows_numbers_without_counting(
    page: Page, portal: Portal, service: Service
) -> None:
    await service.admin("POST", "/v1/admin/sites/demo/base", {"visits": 41, "pages": {"/a": 7}})
    await page.goto(portal.page(BOXES, path="/a", count="false"))
    await expect(page.locator('[data-counter="stats"] dd[data-k="visits.total"]')).to_have_text(
        "41"
    )
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("7")
    counted = await service.stats("/a")
    assert counted["online"]["total"] == 0
    assert counted["pages"] == {"/a": 7}


async def test_a_reload_is_the_same_visitor_and_the_same_visit(
    page: Page, portal: Portal, service: Service
) -> None:
    url = portal.page(BOXES, path="/news/1")
    await page.goto(url)
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")

    await service.hold_until_left(page, "**/v1/hit")  # the unloaded page's leave first
    await page.reload()
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("2")
    stats = page.locator('[data-counter="stats"]')
    await expect(stats.locator('dd[data-k="online.total"]')).to_have_text("1")
    await expect(stats.locator('dd[data-k="visits.total"]')).to_have_text("1")


async def test_blocked_storage_still_counts_with_an_in_memory_visitor(
    page: Page, portal: Portal, service: Service
) -> None:
    await page.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() {"
        " throw new DOMException('storage is blocked', 'SecurityError'); }});"
    )
    await page.goto(portal.page(BOXES, path="/news/1"))
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")
    await expect(page.locator('[data-counter="stats"] dd[data-k="online.total"]')).to_have_text("1")
    visitor = await page.evaluate("window.CounterWidget.visitor()")
    assert 8 <= len(visitor) <= 64


async def test_member_token_makes_the_reader_a_member(
    page: Page, portal: Portal, service: Service
) -> None:
    secret = "s" * 40
    await service.admin("PUT", "/v1/admin/sites/demo", {"member_secret": secret})
    token = members.mint(secret, "demo", "user_42", int(time.time()) + 3600)
    await page.goto(portal.page(BOXES, member_token=token))
    stats = page.locator('[data-counter="stats"]')
    await expect(stats.locator('dd[data-k="online.members"]')).to_have_text("1")
    await expect(stats.locator('dd[data-k="online.guests"]')).to_have_text("0")
    await expect(stats.locator('dd[data-k="online.total"]')).to_have_text("1")
