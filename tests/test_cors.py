"""CORS: only a site's origins are granted; writes from other origins are refused."""

from __future__ import annotations

from counter.storage import RedisClient
from tests.conftest import Client, make_site

PORTAL = "https://portal.example.vn"
EVIL = "https://evil.example.com"


async def test_allowed_origin_is_granted_on_hits_and_reads(client: Client) -> None:
    await make_site(client, origins=[PORTAL])
    body = {"site": "demo", "page": "/a", "visitor": "visitor-aaaa"}
    resp = await client.post("/v1/hit", json=body, headers={"Origin": PORTAL})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == PORTAL
    assert resp.headers["Cache-Control"] == "no-store"
    resp = await client.get("/v1/stats?site=demo", headers={"Origin": PORTAL})
    assert resp.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "Origin" in resp.headers["Vary"]


async def test_other_origin_gets_no_grant_and_counts_nothing(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client, origins=[PORTAL])
    body = {"site": "demo", "page": "/a", "visitor": "visitor-aaaa"}
    resp = await client.post("/v1/hit", json=body, headers={"Origin": EVIL})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = await client.get("/v1/stats?site=demo", headers={"Origin": EVIL})
    assert resp.status == 200
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert (await resp.json())["pageviews"]["total"] == 0


async def test_site_without_origins_accepts_any_origin(client: Client) -> None:
    await make_site(client)
    body = {"site": "demo", "page": "/a", "visitor": "visitor-aaaa"}
    resp = await client.post("/v1/hit", json=body, headers={"Origin": EVIL})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == EVIL


async def test_preflight_answers_for_json_posts(client: Client) -> None:
    resp = await client.options(
        "/v1/hit",
        headers={"Origin": PORTAL, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "content-type" in resp.headers["Access-Control-Allow-Headers"].lower()


async def test_null_origin_is_refused_by_a_site_with_origins(client: Client) -> None:
    await make_site(client, origins=[PORTAL])
    body = {"site": "demo", "page": "/a", "visitor": "visitor-aaaa"}
    resp = await client.post("/v1/hit", json=body, headers={"Origin": "null"})
    assert resp.status == 403
