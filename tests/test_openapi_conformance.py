"""Answers the OpenAPI document promises, checked against the document itself.

The first tests are bugs found by fuzzing the service with its document (tests/test_fuzz.py)
or while writing the document against the handlers: each failed before its fix. The rest
check, as schemathesis checks what the fuzzing reaches, the answers it does not reach: the
limits (loopback is exempt from them in the fuzzed service), and the refusals of the
``counter serve`` server layer, which the aiohttp test client does not go through.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import requests
import schemathesis
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from counter.embedded import EmbeddedServer
from counter.errors import ApiError
from counter.polls import sse
from counter.polls.sse import PollHub
from counter.settings import Settings
from counter.storage import RedisClient
from counter.web.static import read_static
from tests.conftest import ADMIN, Client, FakeClock, make_site
from tests.metrics_helpers import value
from tests.polls_support import app_client, make_poll
from tests.server_support import ServeProcess, serving

DOCUMENT: dict[str, Any] = orjson.loads(read_static("openapi.json"))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
ORIGIN = "https://portal.example.vn"


async def conforms(resp: ClientResponse, path: str, content: bytes | None = None) -> Any:
    """Check that ``resp`` is an answer the document gives the operation at ``path``: a
    documented status, its content type, its required headers and a body of its schema (as
    the fuzzing checks every answer); the body as JSON. ``content``: the part of an event
    stream read."""
    body = await resp.read() if content is None else content
    headers: dict[str, list[str]] = {}
    for name, header in resp.headers.items():
        headers.setdefault(name.lower(), []).append(header)
    answer = schemathesis.Response(
        status_code=resp.status,
        headers=headers,
        content=body,
        request=requests.Request(resp.method, str(resp.url)).prepare(),
        elapsed=0.0,
        verify=True,
        message=resp.reason or "",
        stream_cut_short=content is not None,
    )
    named = zip(path.split("/"), resp.url.path.split("/"), strict=True)
    parameters = {name[1:-1]: part for name, part in named if name.startswith("{")}
    case = SCHEMA[path][resp.method].Case(path_parameters=parameters)
    case.validate_response(answer, checks=CONFORMANCE)
    return None if content is not None or not body else orjson.loads(body)


async def refusal(resp: ClientResponse, path: str) -> tuple[int, str]:
    """The status and code of a refusal that conforms to the document."""
    answer = await conforms(resp, path)
    return resp.status, answer["error"]["code"]


async def _refused(client: Client, site: str, body: dict[str, object]) -> tuple[int, str]:
    resp = await client.put(f"/v1/admin/sites/{site}", json=body, headers=ADMIN)
    return await refusal(resp, "/v1/admin/sites/{site}")


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


async def test_a_page_cursor_or_count_that_int_cannot_read_is_refused(client: Client) -> None:
    """``"²".isdigit()`` is true but ``int("²")`` raises, and so does ``int()`` of more than
    4300 digits: both were answered as a 500."""
    await make_site(client)
    path = "/v1/admin/sites/{site}/pages"
    for name in ("cursor", "count"):
        for raw in ("²", "٣", "1" * 5000, "-1", "1.0"):
            resp = await client.get("/v1/admin/sites/demo/pages", params={name: raw}, headers=ADMIN)
            assert await refusal(resp, path) == (400, f"invalid_{name}"), raw
    resp = await client.get(
        "/v1/admin/sites/demo/pages", params={"cursor": "0" * 5000, "count": "007"}, headers=ADMIN
    )
    assert (await conforms(resp, path))["cursor"] == 0


async def test_live_stream_caps_refuse_as_documented(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    """Over its own cap a client gets a 429, over the process's cap anyone a 503, both with
    ``Retry-After`` and the site's CORS grant."""
    client = await app_client(
        aiohttp_client,
        settings,
        clock,
        streams_per_client=1,
        streams_max=2,
        trusted_proxies=LOOPBACK,
    )
    await make_site(client, origins=[ORIGIN])
    url = f"/v1/polls/{(await make_poll(client))['id']}/events"
    path = "/v1/polls/{id}/events"

    def sent_from(ip: str) -> dict[str, str]:
        return {"X-Forwarded-For": ip, "Origin": ORIGIN}

    async with client.get(url, headers=sent_from("203.0.113.1")) as first:
        await conforms(first, path, await _first_event(first))
        again = await client.get(url, headers=sent_from("203.0.113.1"))
        assert await refusal(again, path) == (429, "too_many_streams")
        async with client.get(url, headers=sent_from("203.0.113.2")) as second:
            assert second.status == 200
            full = await client.get(url, headers=sent_from("203.0.113.3"))
            assert await refusal(full, path) == (503, "too_many_streams")
    for refused in (again, full):
        assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_vote_and_ticket_rate_limits_refuse_as_documented(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    """A vote over the limit of its IPv6 /48 (from another /64 of it) and a stream ticket
    over the client's ticket rate are 429s with ``Retry-After``."""
    client = await app_client(
        aiohttp_client,
        settings,
        clock,
        vote_rate=5,
        vote_rate_48=1,
        stream_tickets_rate=1,
        trusted_proxies=LOOPBACK,
    )
    await make_site(client)
    poll = await make_poll(client)
    vote, option = f"/v1/polls/{poll['id']}/vote", poll["options"][0]["id"]
    for n, ip in enumerate(("2001:db8:1:1::1", "2001:db8:1:2::1")):
        body = {"visitor": f"visitor-{n:04d}", "options": [option]}
        resp = await client.post(vote, json=body, headers={"X-Forwarded-For": ip})
        if n == 0:
            await conforms(resp, "/v1/polls/{id}/vote")
    assert await refusal(resp, "/v1/polls/{id}/vote") == (429, "rate_limited")
    ticket = f"/v1/polls/{poll['id']}/ticket"
    resp = await client.post(ticket, json={"visitor": "visitor-0001"})
    await conforms(resp, "/v1/polls/{id}/ticket")
    resp = await client.post(ticket, json={"visitor": "visitor-0001"})
    assert await refusal(resp, "/v1/polls/{id}/ticket") == (429, "rate_limited")


async def test_streams_by_ticket_and_member_tokens_out_of_urls_answer_as_documented(
    client: Client,
) -> None:
    await make_site(client)
    poll_id = (await make_poll(client))["id"]
    path = "/v1/polls/{id}/events"
    ticket = await conforms(
        await client.post(f"/v1/polls/{poll_id}/ticket", json={}), "/v1/polls/{id}/ticket"
    )
    url = f"/v1/polls/{poll_id}/events"
    async with client.get(url, params={"ticket": ticket["ticket"]}) as stream:
        await conforms(stream, path, await _first_event(stream))
    used = await client.get(url, params={"ticket": ticket["ticket"]})
    assert await refusal(used, path) == (403, "invalid_ticket")
    for read, operation in (
        (url, path),
        (f"/v1/polls/{poll_id}", "/v1/polls/{id}"),
        ("/v1/polls?site=demo", "/v1/polls"),
    ):
        resp = await client.get(read, params={"member": "v1.user.1.sig"})
        assert await refusal(resp, operation) == (400, "member_in_url"), read
    resp = await client.get("/v1/polls?site=demo", headers={"X-Counter-Member": "v1.user.1.x"})
    assert (await conforms(resp, "/v1/polls"))["polls"][0]["voted"] is False


async def _first_event(stream: ClientResponse) -> bytes:
    """The stream up to the end of its first event."""
    assert stream.status == 200, await stream.text()
    read = b""
    async with asyncio.timeout(30):
        while not read.endswith((b"\n\n", b"\r\n\r\n")) or b"data:" not in read:
            read += await stream.content.readline()
    return read


async def test_hits_over_the_page_and_hit_limits_answer_as_documented(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    """A page the site cannot track any more is ``null``; a client over its hit rate is
    answered with the stats."""
    client = await app_client(aiohttp_client, settings, clock, hit_rate=1, trusted_proxies=LOOPBACK)
    await make_site(client, max_pages=1)
    answers = []
    for n, page in enumerate(("/a", "/b", "/b")):
        body = {"site": "demo", "page": page, "visitor": f"visitor-{n:04d}"}
        ip = "203.0.113.9" if n == 2 else f"198.51.100.{n}"
        resp = await client.post("/v1/hit", json=body, headers={"X-Forwarded-For": ip})
        answers.append(await conforms(resp, "/v1/hit"))
    assert [a["pages"] for a in answers] == [{"/a": 1}, {"/b": None}, {"/b": None}]
    resp = await client.post(
        "/v1/hit",
        json={"site": "demo", "page": "/a", "visitor": "visitor-0009"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    over = await conforms(resp, "/v1/hit")
    assert (over["pages"], over["pageviews"]["total"]) == ({"/a": 1}, 3)  # not counted


async def test_the_page_tools_and_the_peak_reset_answer_as_documented(client: Client) -> None:
    site = await make_site(client, member_token_max_s=3600)
    await conforms(
        await client.get("/v1/admin/sites/demo", headers=ADMIN), "/v1/admin/sites/{site}"
    )
    assert site["member_token_max_s"] == 3600
    for n, page in enumerate(("/a", "/b", "/b")):
        body = {"site": "demo", "page": page, "visitor": f"visitor-{n:04d}"}
        await conforms(await client.post("/v1/hit", json=body), "/v1/hit")
    pages = "/v1/admin/sites/{site}/pages"
    listed = await conforms(await client.get("/v1/admin/sites/demo/pages", headers=ADMIN), pages)
    assert sorted(p["page"] for p in listed["pages"]) == ["/a", "/b"]
    prune = "/v1/admin/sites/{site}/pages/prune"
    prunes: list[tuple[dict[str, Any], int]] = [({"below": 2}, 1), ({"pages": ["/b", "/c"]}, 1)]
    for order, removed in prunes:
        resp = await client.post("/v1/admin/sites/demo/pages/prune", json=order, headers=ADMIN)
        assert (await conforms(resp, prune))["removed"] == removed
    resp = await client.post(
        "/v1/admin/sites/demo/pages/prune", json={"below": 1, "pages": []}, headers=ADMIN
    )
    assert await refusal(resp, prune) == (400, "invalid_body")
    peak = "/v1/admin/sites/{site}/peak"
    reset = await conforms(await client.delete("/v1/admin/sites/demo/peak", headers=ADMIN), peak)
    assert reset["before"]["peak_online"] == 3
    audit = await client.get("/v1/admin/sites/demo/audit", headers=ADMIN)
    assert (await conforms(audit, "/v1/admin/sites/{site}/audit"))["entries"] == [reset]


async def test_the_console_views_answer_as_documented(client: Client) -> None:
    await make_site(client, origins=[ORIGIN])
    for n, page in enumerate(("/a", "/b", "/b")):
        body = {"site": "demo", "page": page, "visitor": f"visitor-{n:04d}"}
        await client.post("/v1/hit", json={**body, "referrer": "https://www.google.com/"})
    views = [
        ("hours", {}),
        ("top-pages", {"limit": "1"}),
        ("top-pages", {"period": "all"}),
        ("referrers", {"date": "2026-11-26"}),
        ("online", {"hours": "48"}),
    ]
    answers = []
    for view, query in views:
        resp = await client.get(f"/v1/admin/sites/demo/{view}", params=query, headers=ADMIN)
        answers.append(await conforms(resp, f"/v1/admin/sites/{{site}}/{view}"))
    hours, top_day, top_all, hosts, online = answers
    assert sum(hours["pageviews"]) == 3
    assert top_day["pages"] == [{"page": "/b", "views": 2}]
    assert [p["page"] for p in top_all["pages"]] == ["/b", "/a"]
    assert hosts["referrers"] == [{"host": "www.google.com", "hits": 3}]
    assert len(online["samples"]) == 1  # sampled once a minute
    old = await client.get(
        "/v1/admin/sites/demo/hours", params={"date": "2026-11-23"}, headers=ADMIN
    )
    assert await refusal(old, "/v1/admin/sites/{site}/hours") == (400, "invalid_date")


async def test_metrics_refusals_answer_as_documented(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    token = "metrics-token-0123456789"
    client = await app_client(aiohttp_client, settings, clock, metrics_token=token)
    assert await refusal(await client.get("/metrics"), "/metrics") == (401, "unauthorized")
    private = await app_client(aiohttp_client, settings, clock, metrics_port=0)
    assert await refusal(await private.get("/metrics"), "/metrics") == (404, "not_found")


async def test_live_results_unavailable_say_when_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "READY_TIMEOUT_S", 0.0)
    hub = PollHub("redis://127.0.0.1:1", 1.0, read=_never_read)  # never started: never ready
    with pytest.raises(ApiError) as refused:
        await hub.wait_ready()
    assert (refused.value.status, refused.value.code) == (503, "events_unavailable")
    assert int(refused.value.headers["Retry-After"]) >= 1


async def _never_read(site: str, poll_id: str) -> None:
    raise AssertionError("no poll is read in these tests")


@pytest.fixture(scope="module")
def served(
    redis_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """A real ``counter serve``: protocol refusals come from its server layer."""
    folder = tmp_path_factory.mktemp("conformance")
    with serving(redis_server.url, folder, {"COUNTER_DEMO": "off"}) as service:
        yield service


@pytest.fixture
async def http(served: ServeProcess) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(served.url) as session:
        yield session


async def test_a_request_line_too_long_is_the_json_error(http: aiohttp.ClientSession) -> None:
    """A listing of many long pages makes a URL longer than the server takes: answered before
    any route runs, with the service's error, as ``GET /v1/stats`` documents."""
    pages = [("page", f"/news/{n:03d}-" + "p" * 500) for n in range(20)]
    async with http.get("/v1/stats", params=[("site", "demo"), *pages]) as resp:
        assert await refusal(resp, "/v1/stats") == (414, "uri_too_long")


async def test_a_header_too_long_is_the_json_error(http: aiohttp.ClientSession) -> None:
    async with http.get("/widget.js", headers={"If-None-Match": '"' + "e" * 9000 + '"'}) as resp:
        assert await refusal(resp, "/widget.js") == (431, "headers_too_large")
