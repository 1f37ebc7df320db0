"""busuanzi's own client script, unmodified, counting here from a blog on another origin.

The blog serves ``busuanzi.pure.js`` 1.0.3 exactly as published (tests/data/busuanzi). The
script asks its hard-coded host for ``/busuanzi?jsonpCallback=...``; the browser context sends
those requests on to the service unchanged (Referer included), so the third-party code runs
as it would on a blog that maps busuanzi's host to its own counter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.harness import Service, serve

SCRIPT = Path(__file__).parents[1] / "data" / "busuanzi" / "busuanzi.pure.js"
BUSUANZI_HOST = "http://busuanzi.ibruce.info/"
"""Where the script sends its requests (``//busuanzi.ibruce.info/busuanzi``, on an http page)."""
NUMBERS = ("site_pv", "site_uv", "page_pv")
REFERRER_META = '<meta name="referrer" content="no-referrer-when-downgrade">'


def blog_page(head: str) -> str:
    """A blog post with busuanzi's markup, loading its script as its docs say."""
    spans = "".join(
        f'<span id="busuanzi_container_{n}" style="display:none">{n}: '
        f'<span id="busuanzi_value_{n}"></span></span>'
        for n in NUMBERS
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{head}<title>Blog</title></head>'
        f"<body><article>Xin chào</article><footer>{spans}</footer>"
        "<script>var module = {exports: {}};</script>"  # the script is CommonJS
        '<script src="/busuanzi.pure.js"></script></body></html>'
    )


class Blog:
    """A blog on its own origin: posts with busuanzi's markup, and busuanzi's script."""

    def __init__(self) -> None:
        self.head = REFERRER_META
        self.url = ""

    async def script(self, request: web.Request) -> web.Response:
        return web.Response(body=SCRIPT.read_bytes(), content_type="application/javascript")

    async def post(self, request: web.Request) -> web.Response:
        return web.Response(text=blog_page(self.head), content_type="text/html")


@pytest.fixture
async def blog(service: Service) -> AsyncIterator[Blog]:
    host = Blog()
    app = web.Application()
    app.router.add_get("/busuanzi.pure.js", host.script)
    app.router.add_get("/posts/{name}", host.post)
    runner, host.url = await serve(app)
    await service.admin("PUT", "/v1/admin/sites/blog", {"origins": [host.url]})
    yield host
    await runner.cleanup()


@pytest.fixture
async def reader(browser: Browser, service: Service) -> AsyncIterator[BrowserContext]:
    """A reader whose requests to busuanzi's host go to the service instead."""
    context = await browser.new_context()

    async def to_service(route: Route) -> None:
        await route.continue_(url=service.url + "/" + route.request.url.removeprefix(BUSUANZI_HOST))

    await context.route(BUSUANZI_HOST + "**", to_service)
    yield context
    await context.close()


async def shown(page: Page) -> dict[str, str]:
    """The numbers busuanzi's script wrote into the page, once it has."""
    for name in NUMBERS:
        await expect(page.locator(f"#busuanzi_container_{name}")).to_be_visible()
    return {n: await page.locator(f"#busuanzi_value_{n}").inner_text() for n in NUMBERS}


async def read_stats(service: Service, *pages: str) -> Any:
    query = "&".join(["site=blog", *(f"page={p}" for p in pages)])
    return await service.get(f"/v1/stats?{query}")


async def test_busuanzis_script_shows_the_counts_of_each_page(
    reader: BrowserContext, blog: Blog, service: Service
) -> None:
    page = await reader.new_page()
    async with page.expect_response(lambda r: "/busuanzi?jsonpCallback=" in r.url) as called:
        await page.goto(blog.url + "/posts/1.html")
    answer = await called.value
    assert answer.url.startswith(service.url + "/busuanzi?jsonpCallback=BusuanziCallback_")
    assert (await answer.request.all_headers())["referer"] == blog.url + "/posts/1.html"
    assert await shown(page) == {"site_pv": "1", "site_uv": "1", "page_pv": "1"}

    await page.goto(blog.url + "/posts/2.html")
    assert await shown(page) == {"site_pv": "2", "site_uv": "1", "page_pv": "1"}
    await page.goto(blog.url + "/posts/1.html")
    numbers = await shown(page)
    assert numbers == {"site_pv": "3", "site_uv": "1", "page_pv": "2"}

    stats = await read_stats(service, "/posts/1.html", "/posts/2.html")
    assert numbers["site_pv"] == str(stats["pageviews"]["total"])
    assert stats["pages"] == {"/posts/1.html": 2, "/posts/2.html": 1}


async def test_base_counts_carry_an_imported_total_on(
    reader: BrowserContext, blog: Blog, service: Service
) -> None:
    base = {"pageviews": 120_000, "pages": {"/posts/1.html": 138}}
    await service.admin("POST", "/v1/admin/sites/blog/base", base)
    page = await reader.new_page()
    await page.goto(blog.url + "/posts/1.html")
    assert await shown(page) == {"site_pv": "120001", "site_uv": "1", "page_pv": "139"}
    stats = await read_stats(service, "/posts/1.html")
    assert (stats["pageviews"]["total"], stats["pages"]) == (120_001, {"/posts/1.html": 139})


async def test_without_the_referrer_policy_only_the_origin_is_sent(
    reader: BrowserContext, blog: Blog, service: Service
) -> None:
    blog.head = ""  # the browser's default policy: a cross-origin request gets the origin only
    page = await reader.new_page()
    await page.goto(blog.url + "/posts/1.html")
    await shown(page)
    await page.goto(blog.url + "/posts/2.html")
    assert await shown(page) == {"site_pv": "2", "site_uv": "1", "page_pv": "2"}
    assert (await read_stats(service, "/"))["pages"] == {"/": 2}  # every post counted as "/"
