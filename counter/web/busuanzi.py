"""``GET /busuanzi``: busuanzi's JSONP protocol, so that a page embedding busuanzi's client
script counts here once its requests are sent to this service (see docs/busuanzi.md).

The script asks ``/busuanzi?jsonpCallback=BusuanziCallback_<digits>`` from a ``<script>``
tag; the page is the request's ``Referer`` and its site the one whose origins list the
Referer's origin. Each call counts a page view as ``POST /v1/hit`` does without a visitor id
(bots apart, the per-client hit rate, the visitor derived from the client), and is answered
``try{<callback>({"site_uv", "page_pv", "version", "site_pv"});}catch(e){}``. Only a callback
of busuanzi's own form is accepted: any other is refused, never written into the answer.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from counter.appkeys import ALLTIME, COUNTING, HOSTS, SETTINGS
from counter.counting.pages import MAX_PAGE_LENGTH, normalize_page
from counter.errors import bad_request
from counter.web.client import client_ip
from counter.web.counting import MAX_USER_AGENT

CALLBACK = re.compile(r"BusuanziCallback_[0-9]{1,20}")
VERSION = 2.4
"""The protocol version busuanzi's own service answers with."""
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def visited(referer: str | None) -> tuple[str, str]:
    """The origin (``https://host[:port]``, lower case) and the page name of the page that
    asked, from its ``Referer``."""
    if not referer:
        raise bad_request(
            "missing_referer",
            "the page is named by the Referer header, and none was sent: see the referrer "
            "policy in docs/busuanzi.md",
        )
    try:
        parts = urlsplit(referer)
        parts.port  # noqa: B018  # raises on a port out of range
    except ValueError:
        raise bad_request("invalid_referer", "the Referer must be an http(s) URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise bad_request("invalid_referer", "the Referer must be an http(s) URL")
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()
    return origin, normalize_page(referer)[:MAX_PAGE_LENGTH]


async def busuanzi(request: web.Request) -> web.Response:
    if not CALLBACK.fullmatch(request.query.get("jsonpCallback", "")):
        message = "jsonpCallback must be BusuanziCallback_ followed by digits"
        raise bad_request("invalid_callback", message)
    callback = request.query["jsonpCallback"]
    origin, address = visited(request.headers.get("Referer"))
    app = request.app
    counting = app[COUNTING]
    page = counting.pages(address)
    site = await app[HOSTS].site(origin)
    user_agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT]
    ip = client_ip(request, app[SETTINGS].trusted_proxies)
    answer = await counting.hit(site, page, None, None, user_agent, ip)
    numbers = {
        "site_uv": await app[ALLTIME].count(site.id),
        "page_pv": answer.pages.get(page) or 0,
        "version": VERSION,
        "site_pv": answer.snapshot.pageviews_total,
    }
    body = b"try{%s(%s);}catch(e){}" % (callback.encode(), orjson.dumps(numbers))
    return web.Response(body=body, content_type="application/javascript", headers=HEADERS)
