"""The widget names pages as the service does: the shared table (tests/data/page_cases.json,
also run against counter.counting.pages) through the served widget in Chromium."""

from __future__ import annotations

from playwright.async_api import Page

from counter.counting.pages import normalize_page
from tests.browser.harness import Portal
from tests.data import page_cases

NAME_ALL = "(raws) => raws.map((raw) => window.CounterWidget.pageName(raw))"


async def test_widget_page_names_match_the_shared_table(page: Page, portal: Portal) -> None:
    cases = page_cases()
    async with page.expect_response(lambda r: r.url.endswith("/v1/hit")):
        await page.goto(portal.page("<main></main>", path="/news/1"))
    named = await page.evaluate(NAME_ALL, [case.raw for case in cases])
    wrong = {case.why: (case.raw, name, case.page) for case, name in zip(cases, named, strict=True)
             if name != case.page}  # fmt: skip
    assert wrong == {}, "(raw, widget, expected) per case"


async def test_the_hit_sends_the_address_named_as_the_service_names_it(
    page: Page, portal: Portal
) -> None:
    address = "/tin-tức//1/?utm_source=zalo&q=~a*b&b=%7E&a=&fbclid=x#binh-luan"
    portal.page("<main></main>", path="*")
    async with page.expect_request(lambda r: r.url.endswith("/v1/hit")) as sent:
        await page.goto(portal.url + address)
    location = await page.evaluate("location.pathname + location.search")
    body = (await sent.value).post_data_json
    assert isinstance(body, dict)
    assert body["page"] == normalize_page(location) == "/tin-t%E1%BB%A9c/1?a=&b=~&q=~a%2Ab"
