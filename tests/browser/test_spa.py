"""Single-page-app navigation (pushState, replaceState, popstate) counts the new page once."""

from __future__ import annotations

from playwright.async_api import Page, expect

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


async def test_popstate_and_replace_state_count_only_a_changed_page(
    page: Page, portal: Portal, service: Service
) -> None:
    portal.page(APP, path="*")
    await page.goto(portal.url + "/app/a")
    await navigate(page, "history.pushState({}, '', '/app/b')", "/app/b")
    await navigate(page, "history.back()", "/app/a")  # popstate
    await expect(page.locator('[data-counter="page-views"]')).to_have_text("2")

    # Same page (only state or hash changes): not a new page view. The next real navigation
    # is then the only hit added, which shows the replaceState was not counted.
    await page.evaluate("history.replaceState({tab: 2}, '', '/app/a#comments')")
    await navigate(page, "history.replaceState({}, '', '/app/c')", "/app/c")
    stats = await service.stats("/app/a", "/app/b", "/app/c")
    assert stats["pages"] == {"/app/a": 2, "/app/b": 1, "/app/c": 1}
    assert stats["pageviews"]["total"] == 4
