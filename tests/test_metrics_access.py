"""``/metrics`` can require a bearer token and can move to a listener of its own."""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from counter.app import create_app
from counter.settings import Settings, SettingsError
from counter.web.metrics import METRICS_LISTENER
from tests.conftest import Client, FakeClock
from tests.metrics_helpers import scrape

TOKEN = "metrics-token-0123456789"


async def test_metrics_are_open_when_no_token_is_set(client: Client) -> None:
    assert "counter_build_info" in await scrape(client)


async def test_a_metrics_token_is_required_when_set(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock
) -> None:
    guarded = dataclasses.replace(settings, metrics_token=TOKEN)
    client = await aiohttp_client(create_app(guarded, clock=clock))
    wrong: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": TOKEN},
    ]
    for headers in wrong:
        resp = await client.get("/metrics", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json())["error"]["code"] == "unauthorized"
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    assert "counter_build_info" in await resp.text()


async def test_a_metrics_port_serves_only_metrics_and_the_public_port_none(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock
) -> None:
    private = dataclasses.replace(settings, metrics_port=0, metrics_token=TOKEN)
    client = await aiohttp_client(create_app(private, clock=clock))
    public = await client.get("/metrics")
    assert public.status == 404
    assert (await public.json())["error"]["code"] == "not_found"

    host, port = client.app[METRICS_LISTENER].addresses[0][:2]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
        async with http.get("/metrics", headers=auth) as resp:
            assert resp.status == 200
            assert "counter_http_requests_total" in await resp.text()
        async with http.get("/metrics") as resp:
            assert resp.status == 401
        for path in ("/healthz", "/v1/stats?site=demo", "/"):
            async with http.get(path, headers=auth) as resp:
                assert resp.status == 404, path
                assert (await resp.json())["error"]["code"] == "not_found"
        async with http.post("/metrics", headers=auth) as resp:
            assert resp.status == 405


def test_metrics_settings_are_read_and_checked() -> None:
    env = {"COUNTER_METRICS_TOKEN": TOKEN, "COUNTER_METRICS_PORT": "9464"}
    settings = Settings.from_env(env)
    assert (settings.metrics_token, settings.metrics_port) == (TOKEN, 9464)
    assert Settings.from_env({}).metrics_port is None
    for name, bad in (("COUNTER_METRICS_TOKEN", "short"), ("COUNTER_METRICS_PORT", "0")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: bad})
