"""Shadow DOM: the host page's CSS cannot break the widget, the widget's CSS cannot leak out,
and the page themes it only through the documented custom properties."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.harness import Portal

HOSTILE = """<style>
  * { display: none !important; }
  html, body { display: block !important; }
  div { color: red !important; font-size: 40px !important; }
  h2, dd { visibility: hidden; }
</style>"""
BODY = '<div data-counter="stats"></div><div data-counter="poll"></div><h2 id="own">Tin mới</h2>'
RED = "rgb(255, 0, 0)"


async def style(page: Page, selector: str, prop: str) -> str:
    value: str = await page.locator(selector).evaluate(f"(el) => getComputedStyle(el).{prop}")
    return value


async def test_hostile_page_css_does_not_change_the_widget(page: Page, portal: Portal) -> None:
    await page.goto(portal.page(BODY, head=HOSTILE))
    total = page.locator('[data-counter="stats"] dd[data-k="online.total"]')
    await expect(total).to_have_text("1")
    await expect(total).to_be_visible()
    await expect(page.locator('[data-counter="stats"] h2')).to_be_visible()
    await expect(
        page.get_by_text("Hiện tại không có bình chọn nào đang hoạt động.")
    ).to_be_visible()
    dd = '[data-counter="stats"] dd[data-k="online.total"]'
    assert await style(page, dd, "color") != RED
    assert await style(page, dd, "fontSize") == "14px"
    assert await style(page, '[data-counter="stats"]', "display") == "block"
    assert await style(page, "#own", "display") == "none"  # the page's own rules still apply


async def test_widget_css_does_not_leak_and_custom_properties_theme_it(
    page: Page, portal: Portal
) -> None:
    theme = "<style>[data-counter] { --counter-title-bg: rgb(0, 128, 0); }</style>"
    await page.goto(portal.page(BODY, head=theme))
    await expect(page.locator('[data-counter="stats"] dd[data-k="online.total"]')).to_have_text("1")
    title = '[data-counter="stats"] h2'
    assert await style(page, title, "backgroundColor") == "rgb(0, 128, 0)"
    # The page's own h2 gets none of the widget's h2 rules.
    assert await style(page, "#own", "backgroundColor") == "rgba(0, 0, 0, 0)"
    assert await style(page, "#own", "padding") == "0px"
