"""GET /widget.js (minified, cacheable, ETag, gzip) and the demo page at GET /."""

from __future__ import annotations

import gzip
import re
from importlib import resources

from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import Client

SOURCE = resources.files("counter").joinpath("static", "widget.js").read_text(encoding="utf-8")
GZIP_BUDGET = 8 * 1024


async def served_widget(client: Client) -> bytes:
    resp = await client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert resp.status == 200
    return await resp.read()


async def test_widget_is_served_minified(client: Client) -> None:
    served = (await served_widget(client)).decode()
    assert len(served) < 0.7 * len(SOURCE)
    assert served.startswith("/*! counter widget:")  # the banner is kept
    assert "\n  " not in served  # no indentation left
    comments = [line.strip() for line in SOURCE.splitlines() if line.strip().startswith("// ")]
    assert len(comments) > 50
    assert [comment for comment in comments if comment in served] == []
    # Every named function is still there, under its own name.
    for name in re.findall(r"^ *function (\w+)\(", SOURCE, re.M):
        assert f"function {name}(" in served


def test_widget_source_nests_no_template_literal() -> None:
    # The minifier keeps a template literal intact only when no other is nested inside it.
    assert re.findall(r"\$\{[^}`]*`", SOURCE) == []


async def test_served_widget_stays_under_its_gzipped_size_budget(client: Client) -> None:
    resp = await client.get(
        "/widget.js", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    assert len(await resp.read()) < GZIP_BUDGET


async def test_widget_is_served_with_long_lived_caching_and_an_etag(client: Client) -> None:
    resp = await client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert resp.status == 200
    assert resp.content_type == "text/javascript"
    assert "max-age=86400" in resp.headers["Cache-Control"]
    assert resp.headers["ETag"].startswith('"')
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


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
    assert gzip.decompress(await resp.read()) == await served_widget(client)


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
