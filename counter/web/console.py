"""The site owner's console: ``GET /admin`` and its four assets under ``/admin/``.

The page is a client of the admin API and nothing more: it signs in with the admin token
(held in the tab's ``sessionStorage`` and sent as a bearer header, so there is no cookie to
forge a request with), and draws what the API answers. Its files are read (and its script
minified) once, when the app is built. Every answer carries a Content-Security-Policy that
allows this origin alone (no inline script or style, no frames): the console can reach no
other host, and a script injected through a site or poll name could not run.
"""

from __future__ import annotations

from aiohttp import web

from counter.errors import not_found
from counter.web.static import Asset, minify_js, read_static

CONSOLE_CACHE = "no-cache"
"""Revalidated at every load (an ETag makes that a 304): a new release shows at once."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

UPLOT = "vendor/uplot/uPlot.iife.min.js"
"""uPlot 1.6.32 as published (``npm pack uplot@1.6.32``), with its CSS and licence beside it;
tests/test_console.py pins each file's sha256."""

ASSETS = {
    # served name: (file under counter/static, content type)
    "console.js": ("admin.js", "text/javascript"),
    "console.css": ("admin.css", "text/css"),
    "uplot.js": (UPLOT, "text/javascript"),
    "uplot.css": ("vendor/uplot/uPlot.min.css", "text/css"),
}


def _load(name: str, content_type: str) -> Asset:
    body = read_static(name)
    if name == "admin.js":
        body = minify_js(body)
    return Asset.of(body, content_type, CONSOLE_CACHE)


class Console:
    """The console's handlers, bound to its files as read at startup."""

    def __init__(self) -> None:
        self.page_asset = Asset.of(read_static("admin.html"), "text/html", CONSOLE_CACHE)
        self.assets = {served: _load(*source) for served, source in ASSETS.items()}

    async def page(self, request: web.Request) -> web.Response:
        """The console page (the same for every admin: the token is entered in it)."""
        return _secured(self.page_asset.respond(request))

    async def asset(self, request: web.Request) -> web.Response:
        """One of the console's scripts or style sheets, by its served name."""
        found = self.assets.get(request.match_info["asset"])
        if found is None:
            raise not_found("not_found", "no such resource")
        return _secured(found.respond(request))


def _secured(response: web.Response) -> web.Response:
    response.headers.update(SECURITY_HEADERS)
    return response
