"""Every malformed request gets its 4xx JSON error, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, make_site

OK_HIT = {"site": "demo", "page": "/a", "visitor": "visitor-aaaa"}
JSON = {"Content-Type": "application/json"}

CASES: list[tuple[str, str, str, Any, dict[str, str], int, str]] = [
    # (name, method, path, body, headers, status, code)
    ("not json", "POST", "/v1/hit", b"{nope", JSON, 400, "invalid_json"),
    ("json array", "POST", "/v1/hit", b"[1, 2]", JSON, 400, "invalid_body"),
    ("empty body", "POST", "/v1/hit", b"", JSON, 400, "invalid_json"),
    ("wrong media type", "POST", "/v1/hit", b"site=demo", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ("too large", "POST", "/v1/hit", {**OK_HIT, "title": "x" * 9000}, {}, 413, "body_too_large"),
    ("unknown field", "POST", "/v1/hit", {**OK_HIT, "count": 1000}, {}, 400, "unknown_field"),
    ("missing site", "POST", "/v1/hit", {"page": "/a"}, {}, 400, "invalid_site"),
    ("bad site id", "POST", "/v1/hit", {**OK_HIT, "site": "Demo!"}, {}, 400, "invalid_site"),
    ("site not a string", "POST", "/v1/hit", {**OK_HIT, "site": 7}, {}, 400, "invalid_site"),
    ("unknown site", "POST", "/v1/hit", {**OK_HIT, "site": "nope"}, {}, 404, "unknown_site"),
    ("missing page", "POST", "/v1/hit", {"site": "demo"}, {}, 400, "invalid_page"),
    ("blank page", "POST", "/v1/hit", {**OK_HIT, "page": "   "}, {}, 400, "invalid_page"),
    ("page too long", "POST", "/v1/hit", {**OK_HIT, "page": "/" + "a" * 600}, {}, 400, "invalid_page"),
    ("page with control chars", "POST", "/v1/hit", {**OK_HIT, "page": "/a\n/b"}, {}, 400, "invalid_page"),
    ("page not a string", "POST", "/v1/hit", {**OK_HIT, "page": ["/a"]}, {}, 400, "invalid_page"),
    ("short visitor", "POST", "/v1/hit", {**OK_HIT, "visitor": "abc"}, {}, 400, "invalid_visitor"),
    ("visitor bad chars", "POST", "/v1/hit", {**OK_HIT, "visitor": "visitor aaaa"}, {}, 400, "invalid_visitor"),
    ("member not a string", "POST", "/v1/hit", {**OK_HIT, "member": 5}, {}, 400, "invalid_member"),
    ("title too long", "POST", "/v1/hit", {**OK_HIT, "title": "t" * 301}, {}, 400, "invalid_title"),
    ("referrer too long", "POST", "/v1/hit", {**OK_HIT, "referrer": "r" * 2049}, {}, 400, "invalid_referrer"),
    ("ping without visitor", "POST", "/v1/ping", {"site": "demo"}, {}, 400, "invalid_visitor"),
    ("ping with page", "POST", "/v1/ping", {**OK_HIT}, {}, 400, "unknown_field"),
    ("leave without visitor", "POST", "/v1/leave", {"site": "demo"}, {}, 400, "invalid_visitor"),
    ("stats without site", "GET", "/v1/stats", None, {}, 400, "invalid_site"),
    ("stats unknown site", "GET", "/v1/stats?site=nope", None, {}, 404, "unknown_site"),
    ("stats too many pages", "GET", "/v1/stats?site=demo" + "&page=/p" * 51, None, {}, 400, "invalid_page"),
    ("wrong method", "GET", "/v1/hit", None, {}, 405, "method_not_allowed"),
    ("no such path", "GET", "/v1/nothing", None, {}, 404, "not_found"),
    ("admin without token", "PUT", "/v1/admin/sites/demo", {"name": "x"}, {}, 401, "unauthorized"),
    ("admin wrong token", "PUT", "/v1/admin/sites/demo", {"name": "x"}, {"Authorization": "Bearer wrong"}, 401, "unauthorized"),
    ("admin unknown field", "PUT", "/v1/admin/sites/demo", {"colour": "red"}, ADMIN, 400, "unknown_field"),
    ("admin bad timezone", "PUT", "/v1/admin/sites/demo", {"timezone": "Mars/Olympus"}, ADMIN, 400, "invalid_timezone"),
    ("admin bad origin", "PUT", "/v1/admin/sites/demo", {"origins": ["portal.vn/x"]}, ADMIN, 400, "invalid_origins"),
    ("admin short secret", "PUT", "/v1/admin/sites/demo", {"member_secret": "short"}, ADMIN, 400, "invalid_member_secret"),
    ("admin window too small", "PUT", "/v1/admin/sites/demo", {"online_window_s": 1}, ADMIN, 400, "invalid_online_window_s"),
    ("admin window not int", "PUT", "/v1/admin/sites/demo", {"online_window_s": "300"}, ADMIN, 400, "invalid_online_window_s"),
    ("admin visit below online", "PUT", "/v1/admin/sites/demo", {"visit_window_s": 100}, ADMIN, 400, "invalid_visit_window_s"),
    ("admin bad week start", "PUT", "/v1/admin/sites/demo", {"week_start": "funday"}, ADMIN, 400, "invalid_week_start"),
    ("admin bad site id", "PUT", "/v1/admin/sites/BAD_ID", {}, ADMIN, 400, "invalid_site"),
    ("base negative", "POST", "/v1/admin/sites/demo/base", {"visits": -1}, ADMIN, 400, "invalid_visits"),
    ("base not int", "POST", "/v1/admin/sites/demo/base", {"visits": 1.5}, ADMIN, 400, "invalid_visits"),
    ("base bool", "POST", "/v1/admin/sites/demo/base", {"pageviews": True}, ADMIN, 400, "invalid_pageviews"),
    ("base empty", "POST", "/v1/admin/sites/demo/base", {}, ADMIN, 400, "invalid_body"),
    ("base pages not object", "POST", "/v1/admin/sites/demo/base", {"pages": [1]}, ADMIN, 400, "invalid_pages"),
    ("base one bad page", "POST", "/v1/admin/sites/demo/base", {"visits": 5, "pages": {"/a": -3}}, ADMIN, 400, "invalid_pages"),
    ("base unknown site", "POST", "/v1/admin/sites/nope/base", {"visits": 5}, ADMIN, 404, "unknown_site"),
    ("history bad date", "GET", "/v1/admin/sites/demo/history?from=yesterday", None, ADMIN, 400, "invalid_from"),
    ("history reversed", "GET", "/v1/admin/sites/demo/history?from=2026-11-26&to=2026-11-01", None, ADMIN, 400, "invalid_range"),
    ("history too long", "GET", "/v1/admin/sites/demo/history?from=2020-01-01&to=2026-11-01", None, ADMIN, 400, "invalid_range"),
    ("history at year one", "GET", "/v1/admin/sites/demo/history?to=0001-01-01", None, ADMIN, 400, "invalid_range"),
    ("history bad format", "GET", "/v1/admin/sites/demo/history?format=xml", None, ADMIN, 400, "invalid_format"),
    ("delete unknown site", "DELETE", "/v1/admin/sites/nope", None, ADMIN, 404, "unknown_site"),
]  # fmt: skip


async def _snapshot(redis: RedisClient) -> dict[bytes, Any]:
    state: dict[bytes, Any] = {}
    async for key in redis.scan_iter():
        state[key] = await redis.dump(key)
    return state


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
async def test_malformed_request_is_a_json_error_and_writes_nothing(
    client: Client,
    redis: RedisClient,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    await make_site(client)
    before = await _snapshot(redis)
    kwargs: dict[str, Any] = {"headers": headers}
    if isinstance(body, bytes):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    resp = await client.request(method, path, **kwargs)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert await _snapshot(redis) == before
