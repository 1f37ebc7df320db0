"""The pieces the browser tests share: Chromium's location and flags, the service on a real
port, and the portal (host site) that embeds the widget.

The counter service and the portal each listen on their own port of 127.0.0.1, so every call
the widget makes is cross-origin, as on a real portal.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import Page, Route

from counter.app import create_app
from counter.embedded import EmbeddedServer
from counter.settings import Settings
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.embedded_support import until

CHROMIUM = Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


class Service:
    """The counter service on a real port; ``stop()`` takes it away mid-test."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self.runner = runner
        self.url = url
        self.stopped = False

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()

    async def get(self, path: str, **params: Any) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + path, params=params) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def stats(self, *pages: str) -> Any:
        query = "&".join(["site=demo", *(f"page={p}" for p in pages)])
        return await self.get(f"/v1/stats?{query}")

    async def hold_until_left(self, page: Page, pattern: str) -> None:
        """Hold the page's requests to ``pattern`` until the service counts nobody online.

        A page going away sends a leave beacon; the reader's next contact (a reloaded page's
        hit, another tab's re-announcement) usually lands after it, but a loaded browser can
        send the beacon later. Tests about what follows the leave wait for it this way."""

        async def nobody_online() -> bool:
            return bool((await self.stats())["online"]["total"] == 0)

        async def after_the_leave(route: Route) -> None:
            await until(nobody_online, "the leave beacon to reach the service")
            await route.continue_()

        await page.route(pattern, after_the_leave)

    async def admin_get(self, path: str) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + path, headers=ADMIN) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def admin(self, method: str, path: str, body: Any) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, json=body, headers=ADMIN) as resp,
        ):
            assert resp.status < 300, await resp.text()
            return await resp.json()


@contextlib.asynccontextmanager
async def running_service(redis_server: EmbeddedServer, **changes: Any) -> AsyncIterator[Service]:
    """The service in demo mode on a real port, with ``changes`` to the test settings."""
    settings = Settings(redis_url=redis_server.url, admin_token=ADMIN_TOKEN, demo=True, **changes)
    runner, url = await serve(create_app(settings))
    service = Service(runner, url)
    try:
        yield service
    finally:
        await service.stop()


class Portal:
    """The host site: serves whatever pages a test gives it, with the widget's script tag."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.pages: dict[str, str] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        html = self.pages.get(request.path) or self.pages.get("*")
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html")

    def page(self, body: str, *, path: str = "/", head: str = "", **data: str) -> str:
        """Publish ``body`` at ``path`` with the widget loaded (``data-*`` from keywords)."""
        attrs = {"site": "demo", "lang": "vi", "api": self.service.url, **data}
        tag_attrs = " ".join(f'data-{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.pages[path] = (
            f'<!doctype html><html><head><meta charset="utf-8"><title>Bài viết</title>{head}'
            f"</head><body>{body}"
            f'<script async src="{self.service.url}/widget.js" {tag_attrs}></script>'
            "</body></html>"
        )
        return self.url + path
