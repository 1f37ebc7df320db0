"""Helpers for the poll tests: create polls, vote, read Server-Sent Events."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import orjson
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.counting.visitor import DailySalt
from counter.polls.service import PollService, RateLimit
from counter.polls.store import PollStore
from counter.settings import Settings
from counter.sites.store import SiteStore
from counter.storage import RedisClient
from tests.conftest import ADMIN, Client, FakeClock

LOCALHOST = (ipaddress.ip_network("127.0.0.1/32"),)


async def app_client(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, **changes: Any
) -> Client:
    """A client over an app with ``changes`` to the test settings."""
    return await aiohttp_client(create_app(dataclasses.replace(settings, **changes), clock=clock))


async def make_poll(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"site": "demo", "question": "Bạn thấy cổng thông tin thế nào?", **fields}
    body.setdefault("options", ["Tốt", "Bình thường", "Chưa tốt"])
    resp = await client.post("/v1/admin/polls", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    poll: dict[str, Any] = await resp.json()
    return poll


async def vote(
    client: Client, poll_id: str, visitor: str, options: list[str], **extra: Any
) -> ClientResponse:
    return await client.post(
        f"/v1/polls/{poll_id}/vote", json={"visitor": visitor, "options": options, **extra}
    )


async def get_poll(
    client: Client, poll_id: str, *, member: str | None = None, **query: str
) -> dict[str, Any]:
    """``GET /v1/polls/{id}`` with ``query``; a member token goes in its header."""
    headers = {} if member is None else {"X-Counter-Member": member}
    resp = await client.get(f"/v1/polls/{poll_id}", params=query, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def admin_poll(client: Client, poll_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/admin/polls/{poll_id}", headers=ADMIN)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def patch_poll(client: Client, poll_id: str, **fields: Any) -> ClientResponse:
    return await client.patch(f"/v1/admin/polls/{poll_id}", json=fields, headers=ADMIN)


async def next_event(resp: ClientResponse) -> tuple[str, Any]:
    """The next Server-Sent Event on ``resp``: (event name, decoded JSON data)."""
    name, data = "message", list[str]()
    while True:
        raw = await resp.content.readline()
        assert raw, "the event stream ended"
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                return name, orjson.loads("\n".join(data))
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)


def poll_service(redis: RedisClient, clock: FakeClock, **changes: Any) -> PollService:
    """The poll service over the test Redis, built as ``counter poll`` builds it."""
    store = PollStore(redis, retention_ms=30 * 86_400_000)
    sites = SiteStore(redis, clock=clock)
    return PollService(store, sites, clock, DailySalt(redis, clock), RateLimit(), **changes)
