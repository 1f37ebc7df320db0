"""A single-page app that replaces the poll box keeps one live-results stream, not one per view."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.harness import Portal, Service
from tests.browser.test_poll_voting import make_poll

APP = '<main id="view"><div data-counter="poll"></div></main>'

# Every EventSource the page creates, so the test can see which are still open.
TRACK_STREAMS = """
window.streams = [];
window.EventSource = class extends EventSource {
  constructor(...args) { super(...args); window.streams.push(this); }
};
"""

# The service's own gauge of open streams, read from the service's origin.
OPEN_STREAMS = """async (want) => {
  const text = await (await fetch('/metrics')).text();
  const name = 'counter_sse_connections_open{kind="poll",site="demo"} ';
  const line = text.split('\\n').find((l) => l.startsWith(name));
  return line !== undefined && Number(line.split(' ').pop()) === want;
}"""

NEXT_VIEW = """([n, how]) => {
  document.getElementById('view').innerHTML = '<div data-counter="poll"></div>';
  if (how === 'push') history.pushState({}, '', '/app/' + n); else CounterWidget.scan();
}"""


async def test_replaced_poll_boxes_close_their_streams(
    page: Page, portal: Portal, service: Service
) -> None:
    await make_poll(service, results_visibility="always")  # results, hence a stream, at once
    portal.page(APP, path="*")
    await page.add_init_script(TRACK_STREAMS)
    await page.goto(portal.url + "/app/0")
    box = page.locator('[data-counter="poll"]')
    await expect(box.locator("li")).to_have_count(3)
    await page.wait_for_function("streams.length === 1 && streams[0].readyState === 1")

    views = ["push", "push", "push", "scan", "push"]  # the last ones by CounterWidget.scan()
    for n, how in enumerate(views, start=1):
        await page.evaluate(NEXT_VIEW, [n, how])
        await expect(box.locator("li")).to_have_count(3)  # the new box shows its results
        await page.wait_for_function(f"streams.length === {n + 1} && streams[{n}].readyState === 1")

    # In the page: only the newest stream is open, every earlier one was closed.
    open_now = await page.evaluate("streams.map((s) => s.readyState !== 2)")
    assert open_now == [False] * len(views) + [True]

    # On the service: one subscriber left, once it has seen the others disconnect.
    probe = await page.context.new_page()
    await probe.goto(service.url + "/metrics")
    await probe.wait_for_function(OPEN_STREAMS, arg=1, polling=100, timeout=10_000)
    await probe.close()


async def test_a_box_removed_without_navigating_closes_its_stream_at_the_next_heartbeat(
    page: Page, portal: Portal, service: Service
) -> None:
    await make_poll(service, results_visibility="always")
    portal.page(APP, path="*", heartbeat="30")
    await page.clock.install()
    await page.add_init_script(TRACK_STREAMS)
    await page.goto(portal.url + "/app/0")
    await page.wait_for_function("streams.length === 1 && streams[0].readyState === 1")

    await page.evaluate("document.getElementById('view').remove()")  # no pushState, no scan()
    async with page.expect_response(lambda r: r.url.endswith("/v1/ping")):
        await page.clock.run_for(30_000)
    assert await page.evaluate("streams[0].readyState") == 2  # closed
