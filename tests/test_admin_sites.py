"""Admin API for sites, and the same operations on the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import orjson
import pytest
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.counting.model import Kind, VisitorClass
from counter.counting.store import CountingStore, SiteWork
from counter.counting.visitor import digest
from counter.embedded import EmbeddedServer
from counter.lua.batch import event
from counter.settings import Settings
from counter.sites.model import SiteConfig
from counter.sites.store import SiteStore
from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, FakeClock, hit, make_site


async def test_put_creates_then_updates_only_the_given_fields(client: Client) -> None:
    resp = await client.put(
        "/v1/admin/sites/portal",
        json={"name": "Cổng thông tin", "origins": ["https://Portal.example.vn"],
              "member_secret": "m" * 32},
        headers=ADMIN,
    )  # fmt: skip
    assert resp.status == 201
    created = await resp.json()
    assert created["origins"] == ["https://portal.example.vn"]
    assert created["timezone"] == "Asia/Ho_Chi_Minh"
    assert created["member_secret_set"] is True
    assert "member_secret" not in created

    resp = await client.put(
        "/v1/admin/sites/portal", json={"timezone": "Europe/Paris"}, headers=ADMIN
    )
    assert resp.status == 200
    updated = await (await client.get("/v1/admin/sites/portal", headers=ADMIN)).json()
    assert updated["timezone"] == "Europe/Paris"
    assert updated["name"] == "Cổng thông tin"
    assert updated["origins"] == ["https://portal.example.vn"]
    listing = await (await client.get("/v1/admin/sites", headers=ADMIN)).json()
    assert listing == {"sites": ["portal"]}


async def test_delete_removes_the_site_and_all_its_counts(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client)
    await make_site(client, "other")
    await hit(client, "visitor-aaaa")
    assert [k async for k in redis.scan_iter(match="c:{demo}:*")]
    resp = await client.delete("/v1/admin/sites/demo", headers=ADMIN)
    assert resp.status == 204
    # only the tombstone is left, and it expires by itself
    assert [k async for k in redis.scan_iter(match="c:{demo}:*")] == [b"c:{demo}:deleted"]
    assert 0 < await redis.ttl("c:{demo}:deleted") <= 120
    assert [k async for k in redis.scan_iter(match="c:{other}:*")] != []
    resp = await client.post("/v1/hit", json={"site": "demo", "page": "/a"})
    assert resp.status == 404


async def test_a_flush_still_queued_for_a_deleted_site_writes_nothing(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    await make_site(client)
    await hit(client, "visitor-aaaa")
    assert (await client.delete("/v1/admin/sites/demo", headers=ADMIN)).status == 204
    late_hit = event(Kind.HIT, VisitorClass.GUEST, digest("v", "v-late"), page="/a")
    late = SiteWork(SiteConfig(id="demo"), [late_hit])
    await CountingStore(redis).apply([late], clock())  # another replica's stale flush
    assert [k async for k in redis.scan_iter(match="c:{demo}:*")] == [b"c:{demo}:deleted"]

    await make_site(client)  # the same id again: it starts from zero
    stats = await hit(client, "visitor-bbbb")
    assert (stats["visits"]["total"], stats["pages"]) == (1, {"/a": 1})


async def test_admin_api_is_disabled_without_a_token(
    aiohttp_client: AiohttpClient, redis_server: EmbeddedServer, redis: RedisClient
) -> None:
    no_token = Settings(redis_url=redis_server.url, admin_token=None)
    client = await aiohttp_client(create_app(no_token))
    resp = await client.put("/v1/admin/sites/demo", json={}, headers=ADMIN)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "admin_disabled"
    assert await redis.exists("c:{demo}:conf") == 0


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "counter", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cli_adds_shows_lists_sites_and_sets_base(
    redis_server: EmbeddedServer, redis: RedisClient
) -> None:
    url = redis_server.url
    added = _cli(url, "site", "add", "portal", "--origin", "https://portal.example.vn",
                 "--timezone", "Asia/Bangkok", "--online-window", "120")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert orjson.loads(added.stdout)["created"] is True
    shown = orjson.loads(_cli(url, "site", "show", "portal").stdout)
    assert (shown["timezone"], shown["online_window_s"]) == ("Asia/Bangkok", 120)
    assert orjson.loads(_cli(url, "site", "list").stdout) == {"sites": ["portal"]}

    base = _cli(url, "base", "set", "portal", "--visits", "77445445", "--page", "/news/1=138")
    assert base.returncode == 0, base.stderr
    assert orjson.loads(base.stdout)["after"] == {"visits": 77445445, "pages": {"/news/1": 138}}
    assert await redis.hget("c:{portal}:base", "visits") == b"77445445"
    audit = orjson.loads(_cli(url, "site", "audit", "portal").stdout)
    assert audit["entries"][0]["actor"] == "cli"


async def test_cli_reports_bad_input_and_unknown_sites(redis_server: EmbeddedServer) -> None:
    bad = _cli(redis_server.url, "site", "add", "portal", "--timezone", "Nowhere/Land")
    assert bad.returncode == 1
    assert "invalid_timezone" in bad.stderr
    missing = _cli(redis_server.url, "site", "show", "nope")
    assert missing.returncode == 1
    assert "unknown_site" in missing.stderr


async def test_a_config_read_sent_before_a_change_does_not_bring_the_old_config_back(
    redis: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await SiteStore(redis).put("demo", {"name": "Cũ"})
    sites = SiteStore(redis)  # another process: nothing cached yet
    read, release = asyncio.Event(), asyncio.Event()
    read_config = sites._read

    async def first_read_held(site: str) -> bytes | None:
        raw = await read_config(site)
        if not read.is_set():  # the request's read; the change's own reads go through
            read.set()
            await release.wait()
        return raw

    monkeypatch.setattr(sites, "_read", first_read_held)
    request = asyncio.create_task(sites.get("demo"))
    await read.wait()
    changed, _ = await sites.put("demo", {"name": "Mới"})  # made here while the read is out
    release.set()
    assert (await request) == changed  # the change made meanwhile, not the older read
    assert sites.cached("demo") == changed

    deleting = SiteStore(redis)
    read.clear()
    release.clear()
    read_config = deleting._read
    monkeypatch.setattr(deleting, "_read", first_read_held)
    request = asyncio.create_task(deleting.get("demo"))
    await read.wait()
    assert await deleting.delete("demo")
    release.set()
    assert (await request) is None
    assert await deleting.get("demo") is None


async def test_an_origin_lookup_sent_before_a_change_does_not_hide_the_new_origin(
    redis: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = "https://portal.example.vn"
    await SiteStore(redis).put("demo", {"origins": ["https://old.example.vn"]})
    sites = SiteStore(redis)
    read, release = asyncio.Event(), asyncio.Event()
    read_index = sites._origin_sites

    async def first_lookup_held(looked_up: str) -> set[bytes | str]:
        found = await read_index(looked_up)
        if not read.is_set():  # the request's lookup: sent before the change below
            read.set()
            await release.wait()
        return found

    monkeypatch.setattr(sites, "_origin_sites", first_lookup_held)
    request = asyncio.create_task(sites.by_origin(origin))
    await read.wait()
    changed, _ = await sites.put("demo", {"origins": [origin]})
    release.set()
    assert (await request) == changed  # looked up again: the first lookup predates the change
    assert await sites.by_origin(origin) == changed
