"""The HTTP layer of a real ``counter serve``, spoken to over raw sockets.

Whatever the parser refuses is the service's JSON error, echoing nothing of the request;
slow clients are cut off after their timeouts; ``X-Forwarded-For`` entries may carry ports;
and the process log names no client address and holds no traceback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from counter.embedded import EmbeddedServer
from counter.web.server import refusal
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.metrics_helpers import value
from tests.server_support import (
    CLIENT_ADDRESS,
    DEADLINE_S,
    ServeProcess,
    closed,
    connect,
    exchange,
    hang_up,
    read_answer,
)

HEADER_TIMEOUT_S = 1
BODY_TIMEOUT_S = 1
KEEPALIVE_TIMEOUT_S = 2
EARLY_S = 0.1
"""Leeway for the service's clock against ours when checking that a timeout was waited."""
MARK = b"zq9x"
"""In every refused request: an answer must never contain it."""
FORWARDED = ("203.0.113.9", "2001:db8::1")
HEAD = b"Host: t\r\n"


def _request(line: bytes, headers: bytes = b"") -> bytes:
    return line + b"\r\n" + HEAD + headers + b"\r\n"


def _get(headers: bytes) -> bytes:
    return _request(b"GET /healthz HTTP/1.1", headers)


LONG = MARK * 2500
MANY = b"".join(b"X-" + MARK + b"-%d: 1\r\n" % n for n in range(70))
TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + MARK
BAD_LENGTH = b"Content-Length: " + MARK + b"\r\n"
PUT_HIT = _request(b"PUT /v1/hit?" + MARK + b" HTTP/1.1", b"Connection: close\r\n")
REFUSALS: list[tuple[str, bytes, int, str]] = [
    ("URL too long", _request(b"GET /" + LONG + b" HTTP/1.1"), 414, "uri_too_long"),
    ("header too long", _get(b"X-Long: " + LONG + b"\r\n"), 431, "headers_too_large"),
    ("header name too long", _get(b"X-" + LONG + b": 1\r\n"), 431, "headers_too_large"),
    ("too many headers", _get(MANY), 431, "headers_too_large"),
    ("garbage", MARK + b" garbage\r\n\r\n", 400, "bad_request"),
    ("TLS on the HTTP port", TLS_HELLO, 400, "bad_request"),
    ("unknown method", _request(b"BREW /" + MARK + b" HTTP/1.1"), 501, "method_not_implemented"),
    ("control character", _request(b"GET /" + MARK + b"\x01 HTTP/1.1"), 400, "bad_request"),
    ("bad length", _request(b"POST /v1/hit HTTP/1.1", BAD_LENGTH), 400, "bad_request"),
    ("wrong method", PUT_HIT, 405, "method_not_allowed"),
]  # fmt: skip


@pytest.fixture(scope="module")
def service(
    redis_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """One service for the module, with short timeouts and 127.0.0.0/8 as trusted proxies;
    at the end it must stop cleanly, its log free of client addresses and tracebacks."""
    folder = tmp_path_factory.mktemp("protocol")
    env = {
        "REDIS_URL": redis_server.url,
        "COUNTER_ADMIN_TOKEN": ADMIN_TOKEN,
        "COUNTER_DATA_DIR": str(folder / "data"),
        "COUNTER_DEMO": "off",
        "COUNTER_LOG_LEVEL": "DEBUG",
        "COUNTER_ACCESS_LOG": "on",
        "COUNTER_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "COUNTER_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "COUNTER_KEEPALIVE_TIMEOUT_S": str(KEEPALIVE_TIMEOUT_S),
        "COUNTER_TRUSTED_PROXIES": "127.0.0.0/8",
    }
    served = ServeProcess(env, folder / "serve.log")
    try:
        yield served
    finally:
        code = served.stop()
    assert code == 0, served.log()
    assert_clean_log(served.log())


def assert_clean_log(log: str) -> None:
    assert "Traceback" not in log, log
    for address in (CLIENT_ADDRESS, *FORWARDED):
        assert address not in log, log


@pytest.fixture
async def http(service: ServeProcess) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session from ``CLIENT_ADDRESS``."""
    connector = aiohttp.TCPConnector(local_addr=(CLIENT_ADDRESS, 0))
    async with aiohttp.ClientSession(service.url, connector=connector) as session:
        yield session


async def _metric(http: aiohttp.ClientSession, name: str, **labels: str) -> float:
    async with http.get("/metrics") as resp:
        return value(await resp.text(), name, **labels) or 0.0


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
async def test_a_refused_request_is_the_json_error_and_echoes_nothing(
    service: ServeProcess, request_bytes: bytes, status: int, code: str
) -> None:  # fmt: skip
    answer, rest = await exchange(service.port, request_bytes)
    assert answer.status == status, answer.raw
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert MARK not in answer.raw
    assert rest == b""  # and the connection is closed
    assert_clean_log(service.log())


async def test_refusals_are_counted_as_limits_and_as_unmatched_requests(
    service: ServeProcess, http: aiohttp.ClientSession
) -> None:
    labels = {"method": "other", "route": "unmatched", "status": "414"}
    refused = await _metric(http, "counter_limited_total", limit="protocol")
    requests = await _metric(http, "counter_http_requests_total", **labels)
    await exchange(service.port, REFUSALS[0][1])
    assert await _metric(http, "counter_limited_total", limit="protocol") == refused + 1
    assert await _metric(http, "counter_http_requests_total", **labels) == requests + 1


def test_a_long_line_is_told_apart_from_long_headers_and_a_method_from_garbage() -> None:
    """What the parser refused, named from the start of the refused head (as it came in:
    the request line may not have ended)."""
    from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, LineTooLong

    too_long = LineTooLong(b"...", 100)
    assert refusal(too_long, b"GET /" + b"a" * 150, 100).status == 414
    assert refusal(too_long, b"GET /" + b"a" * 101 + b" HTTP/1.1\r\nHost: t\r\n", 100).status == 414
    assert refusal(too_long, b"GET /a HTTP/1.1\r\nX: " + b"b" * 150, 100).status == 431
    assert (
        refusal(too_long, b"GET /" + b"a" * 90 + b" HTTP/1.1\r\nX: " + b"b" * 150, 100).status
        == 431
    )
    assert (
        refusal(BadHttpMessage("Too many headers received"), b"GET / HTTP/1.1\r\n", 100).status
        == 431
    )
    assert refusal(BadHttpMethod(), b"BREW / HTTP/1.1\r\n", 100).status == 501
    assert refusal(BadHttpMethod(), b"garbage\r\n", 100).status == 400
    assert refusal(BadHttpMethod(), b"\x16\x03\x01", 100).status == 400
    assert refusal(BadHttpMessage("Invalid header"), b"GET / HTTP/1.1\r\n", 100).status == 400


async def test_a_head_sent_too_slowly_is_cut_off_after_the_header_timeout(
    service: ServeProcess, http: aiohttp.ClientSession
) -> None:
    """A slowloris client: a header line every 100 ms never completes its head."""
    refused = await _metric(http, "counter_limited_total", limit="header_timeout")
    started = time.monotonic()
    reader, writer = await connect(service.port)
    writer.write(b"GET /healthz HTTP/1.1\r\n" + HEAD)

    async def trickle() -> None:
        for n in range(int(DEADLINE_S * 10)):
            writer.write(b"X-Slow-%d: 1\r\n" % n)
            await asyncio.sleep(0.1)  # the slow client itself, not a synchronisation

    dripping = asyncio.create_task(trickle())
    try:
        assert await closed(reader) == b""  # closed, without an answer
    finally:
        dripping.cancel()
        await hang_up(writer)
    assert time.monotonic() - started >= HEADER_TIMEOUT_S - EARLY_S
    assert await _metric(http, "counter_limited_total", limit="header_timeout") == refused + 1


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    service: ServeProcess,
) -> None:
    started = time.monotonic()
    reader, writer = await connect(service.port)
    try:
        assert await closed(reader) == b""
    finally:
        await hang_up(writer)
    assert time.monotonic() - started >= HEADER_TIMEOUT_S - EARLY_S


async def test_a_body_sent_too_slowly_is_answered_408_and_closed(
    service: ServeProcess, http: aiohttp.ClientSession
) -> None:
    refused = await _metric(http, "counter_limited_total", limit="body_timeout")
    reader, writer = await connect(service.port)
    try:
        writer.write(
            b"POST /v1/hit HTTP/1.1\r\n" + HEAD + b"Content-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"site": "'
        )
        started = time.monotonic()
        answer = await read_answer(reader)
        waited = time.monotonic() - started
        assert await closed(reader) == b""
    finally:
        await hang_up(writer)
    assert (answer.status, answer.json()["error"]["code"]) == (408, "request_timeout")
    assert waited >= BODY_TIMEOUT_S - EARLY_S
    assert await _metric(http, "counter_limited_total", limit="body_timeout") == refused + 1


async def test_a_body_left_unsent_after_the_answer_is_cut_off_too(service: ServeProcess) -> None:
    """``/healthz`` answers without reading the body it was sent; the rest never comes."""
    reader, writer = await connect(service.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\n" + HEAD + b"Content-Length: 100\r\n\r\n{")
        assert (await read_answer(reader)).status == 200
        assert await closed(reader) == b""
    finally:
        await hang_up(writer)


async def test_an_idle_keepalive_connection_is_closed_after_the_keepalive_timeout(
    service: ServeProcess,
) -> None:
    reader, writer = await connect(service.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\n" + HEAD + b"\r\n")
        assert (await read_answer(reader)).status == 200
        started = time.monotonic()
        assert await closed(reader) == b""
    finally:
        await hang_up(writer)
    assert time.monotonic() - started >= KEEPALIVE_TIMEOUT_S - EARLY_S


async def test_one_connection_carries_requests_with_bodies_in_pieces_and_pipelined(
    service: ServeProcess,
) -> None:
    """The deadlines follow each request on a keep-alive connection without cutting any."""

    def hit(body: bytes) -> tuple[bytes, bytes]:
        head = b"POST /v1/hit HTTP/1.1\r\n" + HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
        return head, body

    body = b'{"site": "nosuchsite", "page": "/a", "visitor": "visitor-0001"}'
    reader, writer = await connect(service.port)
    try:
        for piece in (*hit(body), b"GET /healthz HTTP/1", b".1\r\nHost: t\r\n\r\n"):
            writer.write(piece)
            await writer.drain()
        assert (await read_answer(reader)).status == 404  # the hit's body was read: no site
        assert (await read_answer(reader)).status == 200
        writer.write(b"".join((*hit(body), b"GET /healthz HTTP/1.1\r\n" + HEAD + b"\r\n")))
        assert [(await read_answer(reader)).status for _ in range(2)] == [404, 200]
    finally:
        await hang_up(writer)


async def _guests(http: aiohttp.ClientSession, forwarded_for: str) -> Any:
    hit = {"site": "xff", "page": "/a"}  # no visitor id: derived from the client's address
    async with http.post("/v1/hit", json=hit, headers={"X-Forwarded-For": forwarded_for}) as resp:
        body = await resp.json()
        return body["online"]["guests"] if resp.status == 200 else body


async def test_forwarded_for_entries_may_carry_ports(
    service: ServeProcess, http: aiohttp.ClientSession
) -> None:
    async with http.put("/v1/admin/sites/xff", json={}, headers=ADMIN) as resp:
        assert resp.status in {200, 201}
    assert await _guests(http, "203.0.113.9:443") == 1
    assert await _guests(http, "203.0.113.9") == 1  # the same client
    assert await _guests(http, "198.51.100.1, 203.0.113.9:8080, 127.0.0.5") == 1
    assert await _guests(http, "[2001:db8::1]:443") == 2
    assert await _guests(http, "2001:db8::1") == 2
    assert await _guests(http, "[2001:db8::1]") == 2


@pytest.mark.parametrize(
    "forwarded_for", ["not-an-address", "203.0.113.9:port", "[2001:db8::1", "unknown, 127.0.0.5"]
)
async def test_a_forwarded_for_naming_no_address_from_a_trusted_proxy_is_refused(
    service: ServeProcess, http: aiohttp.ClientSession, forwarded_for: str
) -> None:  # fmt: skip
    async with http.put("/v1/admin/sites/xff", json={}, headers=ADMIN) as resp:
        assert resp.status in {200, 201}
    assert await _guests(http, forwarded_for) == {
        "error": {
            "code": "invalid_forwarded_for",
            "message": "X-Forwarded-For from a trusted proxy holds no address",
        }
    }
