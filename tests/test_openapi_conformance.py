"""Answers the OpenAPI document promises, each of which the service once broke.

Found by fuzzing the service with its document (tests/test_fuzz.py) or while writing the
document against the handlers: each test here failed before its fix.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from counter.errors import ApiError
from counter.polls import sse
from counter.polls.sse import PollHub
from tests.conftest import ADMIN, Client, make_site
from tests.metrics_helpers import value


async def _refused(client: Client, site: str, body: dict[str, object]) -> tuple[int, str]:
    resp = await client.put(f"/v1/admin/sites/{site}", json=body, headers=ADMIN)
    answer = await resp.json()
    return resp.status, answer["error"]["code"]


async def test_a_timezone_naming_a_folder_of_the_zone_database_is_refused(client: Client) -> None:
    """``America`` is a directory: ZoneInfo raised IsADirectoryError, answered as a 500."""
    for name in ("America", "Asia", "Europe/"):
        assert await _refused(client, "demo", {"timezone": name}) == (400, "invalid_timezone")


async def test_an_origin_that_cannot_be_parsed_is_refused(client: Client) -> None:
    """``https://[x`` made urlsplit raise ValueError (a 500); a port out of range was stored."""
    for origin in ("https://[x", "https://[::1", "http://portal.example.vn:99999", "http://a:0"):
        assert await _refused(client, "demo", {"origins": [origin]}) == (400, "invalid_origins")
    resp = await client.put(
        "/v1/admin/sites/demo", json={"origins": ["https://[::1]:8443"]}, headers=ADMIN
    )
    assert resp.status == 201, await resp.text()


async def test_a_blank_page_is_refused_in_base_counts_as_in_hits(client: Client) -> None:
    """Base counts stored a page named ``""`` for a blank one; a hit refuses it."""
    await make_site(client)
    resp = await client.post(
        "/v1/admin/sites/demo/base", json={"pages": {" \u00a0 ": 5}}, headers=ADMIN
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_page"
    audit = await client.get("/v1/admin/sites/demo/audit", headers=ADMIN)
    assert (await audit.json())["entries"] == []


async def test_a_request_the_http_parser_refuses_is_counted_as_unmatched(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The request log read ``match_info`` of a request no route saw, which asserts: an
    'Unhandled exception' was logged and the request never counted."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /v1/stats HTTP/1.1\r\nHost: counter\r\nX-Probe: \x00\r\n\r\n")
    await writer.drain()
    answer = await reader.read()  # the parser's refusal closes the connection
    writer.close()
    await writer.wait_closed()
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    text = await (await client.get("/metrics")).text()
    # aiohttp knows no method for a request it could not parse: the request log says "other"
    counted = value(
        text, "counter_http_requests_total", method="other", route="unmatched", status="400"
    )
    assert counted == 1
    assert not [r for r in caplog.records if r.getMessage() == "Unhandled exception"]


def test_live_stream_limit_refusals_say_when_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The document promises ``Retry-After`` on every 503 of the event stream."""
    monkeypatch.setattr(sse, "MAX_SUBSCRIBERS", 2)
    hub = PollHub("redis://127.0.0.1:1", 1.0, read=_never_read)
    with contextlib.ExitStack() as streams:
        for _ in range(2):
            streams.enter_context(hub.subscribe("demo", "poll-1"))
        with pytest.raises(ApiError) as refused, hub.subscribe("demo", "poll-1"):
            pass
    assert (refused.value.status, refused.value.code) == (503, "too_many_streams")
    assert int(refused.value.headers["Retry-After"]) >= 1


async def test_live_results_unavailable_say_when_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "READY_TIMEOUT_S", 0.0)
    hub = PollHub("redis://127.0.0.1:1", 1.0, read=_never_read)  # never started: never ready
    with pytest.raises(ApiError) as refused:
        await hub.wait_ready()
    assert (refused.value.status, refused.value.code) == (503, "events_unavailable")
    assert int(refused.value.headers["Retry-After"]) >= 1


async def _never_read(site: str, poll_id: str) -> None:
    raise AssertionError("no poll is read in these tests")


@pytest.mark.xfail(
    strict=True,
    reason="aiohttp's HTTP parser refuses an over-long request line before any route runs, "
    "as a plain-text 400; the JSON error needs the server's request handler replaced",
)
async def test_a_request_line_too_long_is_the_json_error(client: Client) -> None:
    resp = await client.get("/v1/stats", params={"site": "demo", "page": "p" * 9000})
    assert resp.status == 414
    assert (await resp.json())["error"]["code"] == "uri_too_long"
