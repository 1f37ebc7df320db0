"""Online now: a second reader's tab raises it, closing that tab lowers it (sendBeacon)."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.harness import Portal, Service

BOX = '<div data-counter="stats"></div>'


async def test_second_tab_raises_the_online_count_and_closing_it_lowers_it(
    page: Page, browser: Browser, portal: Portal, service: Service
) -> None:
    url = portal.page(BOX, heartbeat="1")
    online = '[data-counter="stats"] dd[data-k="online.total"]'
    await page.goto(url)
    await expect(page.locator(online)).to_have_text("1")

    # The second reader's tab keeps the default heartbeat (a minute): a ping of its own still
    # in flight when it closes could land after its leave and bring it back (that order is
    # not what this test is about).
    other_reader = await browser.new_context()
    second = await other_reader.new_page()
    await second.goto(portal.page(BOX, path="/news/2"))
    await expect(second.locator(online)).to_have_text("2")
    await expect(page.locator(online)).to_have_text("2")  # the first tab's heartbeat sees it

    await second.close(run_before_unload=True)  # pagehide -> sendBeacon /v1/leave
    await expect(page.locator(online)).to_have_text("1")
    assert (await service.stats())["online"]["total"] == 1
    await other_reader.close()


async def test_closing_one_of_two_tabs_of_the_same_reader_keeps_the_reader_online(
    page: Page, portal: Portal, service: Service
) -> None:
    url = portal.page(BOX)  # default heartbeat: only the re-announcement pings within the test
    online = '[data-counter="stats"] dd[data-k="online.total"]'
    await page.goto(url)
    second = await page.context.new_page()
    await second.goto(url)
    await expect(second.locator(online)).to_have_text("1")  # same visitor id in both tabs

    # The open tab re-announces a second later, so that the closing tab's leave lands first;
    # a loaded machine can send the beacon later still: the test is about the re-announcement.
    await service.hold_until_left(page, "**/v1/ping")
    async with page.expect_response(lambda r: r.url.endswith("/v1/ping")) as pinged:
        await second.close(run_before_unload=True)
    assert (await (await pinged.value).json())["online"]["total"] == 1
    assert (await service.stats())["online"]["total"] == 1


HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def test_heartbeat_runs_while_visible_and_stops_while_hidden(
    page: Page, portal: Portal
) -> None:
    url = portal.page(BOX, heartbeat="1")
    pings: list[str] = []
    page.on("request", lambda r: pings.append(r.url) if r.url.endswith("/v1/ping") else None)
    await page.clock.install()  # the page's timers run only when the test moves the clock
    async with page.expect_response(lambda r: r.url.endswith("/v1/hit")):
        await page.goto(url)
    async with page.expect_request(lambda r: r.url.endswith("/v1/ping")):
        await page.clock.run_for(1500)
    visible_pings = len(pings)

    await page.evaluate(HIDE)
    await page.clock.run_for(10_000)  # ten heartbeats' worth of time, hidden
    async with page.expect_request(lambda r: r.url.endswith("/v1/ping")):
        await page.evaluate(SHOW)  # back in view: it pings at once
    assert len(pings) == visible_pings + 1  # nothing was sent while hidden
