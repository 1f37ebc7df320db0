"""GET /widget.js (cacheable, ETag, gzip) and the demo page at GET /."""

from __future__ import annotations

import gzip
from importlib import resources

from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import Client

WIDGET = resources.files("counter").joinpath("static", "widget.js").read_bytes()
GZIP_BUDGET = 8 * 1024


def test_widget_stays_under_its_gzipped_size_budget() -> None:
    assert len(gzip.compress(WIDGET, 9)) < GZIP_BUDGET


async def test_widget_is_served_with_long_lived_caching_and_an_etag(client: Client) -> None:
    resp = await client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert resp.status == 200
    assert resp.content_type == "text/javascript"
    assert "max-age=86400" in resp.headers["Cache-Control"]
    assert resp.headers["ETag"].startswith('"')
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert await resp.read() == WIDGET


async def test_widget_revalidates_with_if_none_match_to_304(client: Client) -> None:
    first = await client.get("/widget.js")
    etag = first.headers["ETag"]
    again = await client.get("/widget.js", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag
    assert await again.read() == b""
    other = await client.get("/widget.js", headers={"If-None-Match": '"something-else"'})
    assert other.status == 200


async def test_widget_is_sent_gzipped_when_the_browser_accepts_it(client: Client) -> None:
    resp = await client.get(
        "/widget.js", headers={"Accept-Encoding": "gzip, br"}, auto_decompress=False
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Vary"] == "Accept-Encoding"
    raw = await resp.read()
    assert len(raw) < GZIP_BUDGET
    assert gzip.decompress(raw) == WIDGET


async def test_demo_page_is_served_in_demo_mode(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient
) -> None:
    demo = await aiohttp_client(create_app(Settings(redis_url=settings.redis_url, demo=True)))
    resp = await demo.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    for placeholder in ("stats", "poll", "page-views"):
        assert f'data-counter="{placeholder}"' in html
    assert 'src="/widget.js"' in html


async def test_demo_page_is_a_404_when_demo_mode_is_off(client: Client) -> None:
    resp = await client.get("/")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
