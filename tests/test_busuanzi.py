"""busuanzi's JSONP protocol at ``GET /busuanzi``: a page that embeds busuanzi's client script
counts here once the script's requests are sent to this service."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.settings import Settings
from counter.sites.hosts import site_id_for_host
from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, FakeClock, make_site
from tests.metrics_helpers import scrape, value

BLOG = "https://blog.example.vn"
CALLBACK = "BusuanziCallback_1077741291239"
ANSWER = re.compile(r"try\{(BusuanziCallback_\d+)\((\{.*\})\);\}catch\(e\)\{\}")
REFUSAL = "jsonpCallback must be BusuanziCallback_ followed by digits"
"""The same words whatever was sent: a callback is never written into an answer."""
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


async def call(
    client: Client,
    referer: str | None,
    callback: str = CALLBACK,
    user_agent: str = BROWSER,
    **headers: str,
) -> ClientResponse:
    if referer is not None:
        headers["Referer"] = referer
    headers["User-Agent"] = user_agent
    return await client.get("/busuanzi", params={"jsonpCallback": callback}, headers=headers)


async def counted(client: Client, referer: str, **options: Any) -> dict[str, Any]:
    """The numbers a call answers (and the call's callback checked)."""
    resp = await call(client, referer, **options)
    assert resp.status == 200, await resp.text()
    match = ANSWER.fullmatch(await resp.text())
    assert match is not None, await resp.text()
    assert match[1] == options.get("callback", CALLBACK)
    numbers: dict[str, Any] = orjson.loads(match[2])
    return numbers


async def stats(client: Client, site: str, *pages: str) -> dict[str, Any]:
    query = [("site", site), *(("page", p) for p in pages)]
    body: dict[str, Any] = await (await client.get("/v1/stats", params=query)).json()
    return body


async def test_a_call_counts_a_page_view_and_answers_busuanzis_jsonp(client: Client) -> None:
    await make_site(client, "blog", origins=[BLOG])
    resp = await call(client, f"{BLOG}/2026/11/hello-world/")
    assert resp.status == 200
    assert resp.content_type == "application/javascript"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    text = await resp.text()
    assert text == (
        f'try{{{CALLBACK}({{"site_uv":1,"page_pv":1,"version":2.4,"site_pv":1}});}}catch(e){{}}'
    )
    read = await stats(client, "blog", "/2026/11/hello-world")
    assert read["pageviews"]["total"] == 1
    assert read["pages"] == {"/2026/11/hello-world": 1}  # named as a hit names it


@pytest.mark.parametrize(
    "callback",
    [
        "",
        "alert",
        "alert(document.cookie)//",
        "BusuanziCallback_",
        "BusuanziCallback_12a",
        "BusuanziCallback_1;alert(1)",
        "busuanzicallback_1",
        "BusuanziCallback_" + "1" * 21,
        "x.BusuanziCallback_1",
    ],
)
async def test_any_other_callback_is_refused_and_never_reflected(
    client: Client, redis: RedisClient, callback: str
) -> None:
    await make_site(client, "blog", origins=[BLOG])
    resp = await call(client, f"{BLOG}/a", callback)
    assert resp.status == 400
    assert resp.content_type == "application/json"
    assert await resp.json() == {"error": {"code": "invalid_callback", "message": REFUSAL}}
    assert (await stats(client, "blog"))["pageviews"]["total"] == 0  # nothing counted


async def test_the_site_is_the_one_listing_the_referers_origin(client: Client) -> None:
    await make_site(client, "blog", origins=[BLOG, "http://blog.example.vn"])
    await make_site(client, "shop", origins=["https://shop.example.vn"])
    assert (await counted(client, f"{BLOG}/a"))["site_pv"] == 1
    assert (await counted(client, "http://blog.example.vn/b"))["site_pv"] == 2
    assert (await counted(client, "https://SHOP.example.vn/a?utm_source=x#top"))["site_pv"] == 1
    assert (await stats(client, "blog", "/a", "/b"))["pages"] == {"/a": 1, "/b": 1}
    assert (await stats(client, "shop", "/a"))["pages"] == {"/a": 1}

    resp = await call(client, "https://elsewhere.example.vn/a")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "unknown_origin"


async def test_the_origin_index_follows_site_changes_and_deletions(client: Client) -> None:
    await make_site(client, "blog", origins=[BLOG])
    assert (await call(client, f"{BLOG}/a")).status == 200
    await make_site(client, "blog", origins=["https://new.example.vn"])  # moved
    assert (await call(client, f"{BLOG}/a")).status == 404
    assert (await counted(client, "https://new.example.vn/a"))["site_pv"] == 2
    assert (await client.delete("/v1/admin/sites/blog", headers=ADMIN)).status == 204
    assert (await call(client, "https://new.example.vn/a")).status == 404


async def test_the_index_is_shared_by_replicas_and_kept_in_redis(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: FakeClock,
    client: Client,
    redis: RedisClient,
) -> None:
    other = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(client, "blog", origins=[BLOG])
    assert await redis.smembers(f"c:origin:{BLOG}") == {b"blog"}
    assert (await counted(other, f"{BLOG}/a"))["page_pv"] == 1
    assert (await client.delete("/v1/admin/sites/blog", headers=ADMIN)).status == 204
    assert await redis.exists(f"c:origin:{BLOG}") == 0


async def test_page_and_site_counts_include_base_counts(client: Client) -> None:
    await make_site(client, "blog", origins=[BLOG])
    base = {"pageviews": 120_000, "pages": {"/a": 138}}
    resp = await client.post("/v1/admin/sites/blog/base", json=base, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    first = await counted(client, f"{BLOG}/a/")
    assert (first["site_pv"], first["page_pv"]) == (120_001, 139)
    other_page = await counted(client, f"{BLOG}/b")
    assert (other_page["site_pv"], other_page["page_pv"]) == (120_002, 1)
    read = await stats(client, "blog", "/a", "/b")
    assert read["pageviews"]["total"] == other_page["site_pv"]
    assert read["pages"] == {"/a": 139, "/b": 1}


async def test_site_uv_counts_distinct_visitors_of_all_time(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, "blog", origins=[BLOG])
    assert (await counted(client, f"{BLOG}/a"))["site_uv"] == 1
    assert (await counted(client, f"{BLOG}/b"))["site_uv"] == 1  # the same reader again
    # Another reader: counted at once, but site_uv is read at most once a second.
    assert (await counted(client, f"{BLOG}/a", user_agent=BROWSER + " 2"))["site_uv"] == 1
    clock.advance(1.5)
    assert (await counted(client, f"{BLOG}/a", user_agent=BROWSER + " 2"))["site_uv"] == 2
    clock.advance(3 * 86_400)  # days later, past any daily counts
    numbers = await counted(client, f"{BLOG}/c", user_agent=BROWSER + " 3")
    assert (numbers["site_uv"], numbers["site_pv"]) == (3, 5)


async def test_bots_and_the_hit_rate_apply_as_to_hits(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    app = create_app(dataclasses.replace(settings, hit_rate=3), clock=clock)
    client = await aiohttp_client(app)
    await make_site(client, "blog", origins=[BLOG])
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    assert (await counted(client, f"{BLOG}/a", user_agent=bot))["site_pv"] == 0
    assert (await counted(client, f"{BLOG}/a"))["site_pv"] == 1
    assert (await counted(client, f"{BLOG}/a"))["site_pv"] == 2
    assert (await counted(client, f"{BLOG}/a"))["site_pv"] == 2  # over the client's rate
    text = await scrape(client)
    assert value(text, "counter_limited_total", limit="hit_rate") == 1  # the bot's hit counts too
    assert (await stats(client, "blog"))["online"]["bots"] == 1


@pytest.mark.parametrize(
    ("referer", "code"),
    [
        (None, "missing_referer"),
        ("", "missing_referer"),
        ("ftp://blog.example.vn/a", "invalid_referer"),
        ("/relative/path", "invalid_referer"),
        ("https://[blog/a", "invalid_referer"),
        ("https://blog.example.vn:99999/a", "invalid_referer"),
    ],
)
async def test_a_missing_or_unusable_referer_is_a_json_400(
    client: Client, referer: str | None, code: str
) -> None:
    await make_site(client, "blog", origins=[BLOG])
    resp = await call(client, referer)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == code


def test_a_host_names_a_valid_site_id() -> None:
    assert site_id_for_host("Blog.Example.vn") == "blog-example-vn"
    assert site_id_for_host("127.0.0.1:8080") == "127-0-0-1-8080"
    assert site_id_for_host("[2001:db8::1]:8080") == "2001-db8-1-8080"
    long = site_id_for_host("a" * 80 + ".example.vn")
    assert len(long) == 63
    assert re.fullmatch(r"a+-[0-9a-f]{8}", long)
    assert long != site_id_for_host("a" * 80 + ".example.com")


async def _open_client(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, per_day: int
) -> Client:
    changed = dataclasses.replace(settings, busuanzi_open=True, busuanzi_sites_per_day=per_day)
    return await aiohttp_client(create_app(changed, clock=clock))


async def test_the_open_mode_makes_a_site_for_a_new_host(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await _open_client(aiohttp_client, settings, clock, per_day=5)
    assert (await counted(client, f"{BLOG}/a"))["site_pv"] == 1
    made = await client.get("/v1/admin/sites/blog-example-vn", headers=ADMIN)
    config = await made.json()
    assert config["origins"] == [BLOG, "http://blog.example.vn"]
    assert config["name"] == "blog.example.vn"
    assert (await counted(client, "http://blog.example.vn/b"))["site_pv"] == 2  # the same site
    assert (await counted(client, "http://127.0.0.1:8000/"))["site_pv"] == 1
    assert (await stats(client, "127-0-0-1-8000", "/"))["pages"] == {"/": 1}


async def test_the_open_mode_makes_at_most_its_daily_cap_of_sites(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await _open_client(aiohttp_client, settings, clock, per_day=2)
    for n in (1, 2):
        assert (await counted(client, f"https://blog{n}.example.vn/"))["site_pv"] == 1
    refused = await call(client, "https://blog3.example.vn/")
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "too_many_sites"
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    assert (await counted(client, "https://blog1.example.vn/"))["site_pv"] == 2  # known: fine
    assert value(await scrape(client), "counter_limited_total", limit="busuanzi_sites") == 1

    clock.advance(86_400)  # the next UTC day
    assert (await counted(client, "https://blog3.example.vn/"))["site_pv"] == 1


async def test_the_open_mode_never_takes_over_a_site_of_the_same_name(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    client = await _open_client(aiohttp_client, settings, clock, per_day=5)
    await make_site(client, "blog-example-vn", origins=["https://portal.example.vn"])
    resp = await call(client, f"{BLOG}/a")
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "origin_not_allowed"
    assert (await stats(client, "blog-example-vn"))["pageviews"]["total"] == 0


async def test_without_the_open_mode_no_site_is_made(client: Client, redis: RedisClient) -> None:
    resp = await call(client, f"{BLOG}/a")
    assert resp.status == 404
    assert await redis.exists("c:{blog-example-vn}:conf") == 0
