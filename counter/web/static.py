"""``GET /widget.js`` and the demo page ``GET /``, read once when the app is built.

The widget's source is written to be read (named functions, a comment on each); what is
served is that source minified once here, at startup, never per request.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

import rjsmin  # type: ignore[import-untyped]  # rjsmin ships no type information
from aiohttp import web

from counter.errors import ApiError

WIDGET_CACHE = "public, max-age=86400, stale-while-revalidate=604800"
DEMO_CACHE = "no-cache"


@dataclass(frozen=True, slots=True)
class Asset:
    """One file held in memory, with its gzip form and an ETag for each."""

    body: bytes
    gzipped: bytes
    etag: str
    content_type: str
    cache_control: str

    @classmethod
    def of(cls, body: bytes, content_type: str, cache_control: str) -> Asset:
        tag = hashlib.sha256(body).hexdigest()[:20]
        return cls(body, gzip.compress(body, 9, mtime=0), tag, content_type, cache_control)

    def respond(self, request: web.Request) -> web.Response:
        zipped = "gzip" in request.headers.get("Accept-Encoding", "")
        etag = f'"{self.etag}-gz"' if zipped else f'"{self.etag}"'
        headers = {
            "Cache-Control": self.cache_control,
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if _matches(request.headers.get("If-None-Match", ""), self.etag):
            return web.Response(status=304, headers=headers)
        if zipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(
            body=self.gzipped if zipped else self.body,
            headers=headers,
            content_type=self.content_type,
            charset="utf-8",
        )


def read_static(name: str) -> bytes:
    return resources.files("counter").joinpath("static", name).read_bytes()


def minify_js(source: bytes) -> bytes:
    """Comments (except the ``/*!`` banner) and indentation dropped; names are left as written.

    rjsmin is a regex-driven jsmin: fast, no JavaScript parser to install. Names stay
    readable, so what a browser's devtools show still matches the source.
    """
    minified: str = rjsmin.jsmin(source.decode(), keep_bang_comments=True)
    return minified.encode()


def _matches(if_none_match: str, etag: str) -> bool:
    """True when any tag of the header names this asset (either encoding, weak or strong)."""
    if if_none_match.strip() == "*":
        return True
    for raw in if_none_match.split(","):
        tag = raw.strip().removeprefix("W/").strip('"').removesuffix("-gz")
        if tag == etag:
            return True
    return False


class StaticFiles:
    """The handlers, bound to files read once at startup (never per request)."""

    def __init__(self, *, demo: bool) -> None:
        self.demo = demo
        widget = minify_js(read_static("widget.js"))
        self.widget = Asset.of(widget, "text/javascript", WIDGET_CACHE)
        self.page = Asset.of(read_static("index.html"), "text/html", DEMO_CACHE)

    async def widget_js(self, request: web.Request) -> web.Response:
        response = self.widget.respond(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    async def index(self, request: web.Request) -> web.Response:
        if not self.demo:
            raise ApiError(404, "not_found", "no such resource")
        return self.page.respond(request)
