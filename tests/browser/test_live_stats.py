"""Live numbers: the stats box follows the site's stats stream while the tab is visible."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.harness import Portal, Service

BOXES = '<div data-counter="stats"></div><p>Lượt xem: <span data-counter="page-views"></span></p>'
TODAY = '[data-counter="stats"] dd[data-k="visits.today"]'
LIVE_WITHIN_MS = 2000

# Every EventSource the page creates, so the test can see which are open.
TRACK_STREAMS = """
window.streams = [];
window.EventSource = class extends EventSource {
  constructor(...args) { super(...args); window.streams.push(this); }
};
"""
STREAM_OPEN = "(n) => streams.length === n && streams[n - 1].readyState === 1"
SET_VISIBILITY = """(state) => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def test_a_hit_from_another_page_shows_in_the_stats_box_without_a_reload(
    page: Page, browser: Browser, portal: Portal, service: Service
) -> None:
    url = portal.page(BOXES, path="/news/1")  # the default heartbeat: a minute away
    await page.add_init_script(TRACK_STREAMS)
    await page.goto(url)
    await expect(page.locator(TODAY)).to_have_text("1")
    await page.wait_for_function(STREAM_OPEN, arg=1)
    assert "/v1/stats/events?site=demo&page=%2Fnews%2F1" in await page.evaluate("streams[0].url")

    other_reader = await browser.new_context()
    second = await other_reader.new_page()
    async with second.expect_response(lambda r: r.url.endswith("/v1/hit")) as counted:
        await second.goto(url)
    assert (await (await counted.value).json())["visits"]["today"] == 2
    # No reload, no heartbeat: the stream brings the second reader's visit and page view.
    await expect(page.locator(TODAY)).to_have_text("2", timeout=LIVE_WITHIN_MS)
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("2")
    await expect(page.locator('[data-counter="stats"] dd[data-k="online.total"]')).to_have_text("2")
    assert (await service.stats("/news/1"))["visits"]["today"] == 2
    await other_reader.close()


async def test_the_stream_is_closed_while_the_tab_is_hidden_and_reopened_when_shown(
    page: Page, portal: Portal, service: Service
) -> None:
    await page.add_init_script(TRACK_STREAMS)
    await page.goto(portal.page(BOXES))
    await page.wait_for_function(STREAM_OPEN, arg=1)

    await page.evaluate(SET_VISIBILITY, "hidden")
    assert await page.evaluate("streams.map((s) => s.readyState)") == [2]  # closed

    await page.evaluate(SET_VISIBILITY, "visible")
    await page.wait_for_function(STREAM_OPEN, arg=2)
    assert await page.evaluate("streams[0].readyState") == 2
