"""Single-page-app navigation (pushState, replaceState, popstate) counts the new page once."""

from __future__ import annotations

from playwright.async_api import Page, Request, expect

from tests.browser.harness import Portal, Service

APP = '<main><span data-counter="page-views"></span></main>'


async def navigate(page: Page, script: str, counted_page: str) -> None:
    """Run ``script`` in the page and wait for the widget's hit for ``counted_page``."""
    async with page.expect_response(
        lambda r: (
            r.url.endswith("/v1/hit") and f'"page":"{counted_page}"' in (r.request.post_data or "")
        )
    ) as hit:
        await page.evaluate(script)
    assert (await hit.value).ok


async def test_push_state_counts_the_new_page(page: Page, portal: Portal, service: Service) -> None:
    portal.page(APP, path="*")
    await page.goto(portal.url + "/app/a")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")

    await navigate(page, "history.pushState({}, '', '/app/b')", "/app/b")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")
    stats = await service.stats("/app/a", "/app/b")
    assert stats["pages"] == {"/app/a": 1, "/app/b": 1}
    assert stats["pageviews"]["total"] == 2


async def test_popstate_counts_a_changed_page_and_replace_state_counts_nothing(
    page: Page, portal: Portal, service: Service
) -> None:
    portal.page(APP, path="*")
    hits = record_hits(page)
    await page.goto(portal.url + "/app/a")
    await navigate(page, "history.pushState({}, '', '/app/b')", "/app/b")
    await navigate(page, "history.back()", "/app/a")  # popstate
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("2")

    # replaceState rewrites the current entry (state, hash, or a new address): no page view.
    # The next real navigation is then the only hit added.
    await page.evaluate("history.replaceState({tab: 2}, '', '/app/a#comments')")
    await page.evaluate("history.replaceState({}, '', '/app/c')")
    await navigate(page, "history.pushState({}, '', '/app/d')", "/app/d")
    assert hits == ["/app/a", "/app/b", "/app/a", "/app/d"]
    stats = await service.stats("/app/a", "/app/b", "/app/c", "/app/d")
    assert stats["pages"] == {"/app/a": 2, "/app/b": 1, "/app/c": 0, "/app/d": 1}
    assert stats["pageviews"]["total"] == 4


def record_hits(page: Page) -> list[str]:
    """The ``page`` of every hit the widget sends from ``page``, in the order sent."""
    sent: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.endswith("/v1/hit"):
            body = request.post_data_json
            sent.append(body["page"] if isinstance(body, dict) else repr(body))

    page.on("request", on_request)
    return sent


async def test_tracking_parameters_stripped_with_replace_state_count_once(
    page: Page, portal: Portal, service: Service
) -> None:
    portal.page(APP, path="*")
    hits = record_hits(page)
    async with page.expect_response(lambda r: r.url.endswith("/v1/hit")):
        await page.goto(portal.url + "/news/1?utm_source=fb&fbclid=x1")
    await page.evaluate("history.replaceState(null, '', '/news/1')")  # the app cleans its URL
    # Only tracking parameters, parameter order or a trailing slash differ: the same page.
    await page.evaluate("history.pushState(null, '', '/news/1/?gclid=2')")
    async with page.expect_response(lambda r: '"page":"/news/2' in (r.request.post_data or "")):
        await page.evaluate("history.pushState(null, '', '/news/2?b=2&a=1&utm_medium=x')")
    # A router that pushes, then rewrites the new entry in the same task: counted once, as
    # its final address.
    script = (
        "history.pushState(null, '', '/news/3?zarsrc=1');"
        "history.replaceState(null, '', '/news/3#top')"
    )
    await navigate(page, script, "/news/3")
    assert hits == ["/news/1", "/news/2?a=1&b=2", "/news/3"]
    stats = await service.stats("/news/1", "/news/3")
    assert stats["pageviews"]["total"] == 3
    assert stats["pages"] == {"/news/1": 1, "/news/3": 1}


async def test_search_state_kept_with_replace_state_is_not_a_page_view(
    page: Page, portal: Portal, service: Service
) -> None:
    portal.page(APP, path="*")
    hits = record_hits(page)
    await page.goto(portal.url + "/search")
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")
    for typed in ["h", "ha", "ha noi"]:  # one replaceState per keystroke
        await page.evaluate("q => history.replaceState(null, '', '/search?q=' + q)", typed)
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("1")  # /search's
    await navigate(page, "history.pushState(null, '', '/news/3')", "/news/3")
    assert hits == ["/search", "/news/3"]
    stats = await service.stats("/search", "/news/3")
    assert stats["pages"] == {"/search": 1, "/news/3": 1}
    assert stats["pageviews"]["total"] == 2
