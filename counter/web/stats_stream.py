"""``GET /v1/stats/events?site=&page=``: a site's stats as Server-Sent Events.

The stats (the body of ``GET /v1/stats`` for the same query) come on connect, then whenever
they change, at most about once a second, from the process's :class:`StatsHub`: however many
readers follow a site, the process reads it at most once a second. A stream is held to the
limits of every live stream (:class:`~counter.web.streams.Streams`: per client, in all, a
bounded lifetime after which the browser reconnects by itself).
"""

from __future__ import annotations

from aiohttp import web

from counter.appkeys import COUNTING, SETTINGS, SITES, STATS_HUB, STREAMS
from counter.counting.hub import Feed
from counter.counting.stats import Answer
from counter.errors import StoreUnavailable, bad_request, not_found, unavailable
from counter.validation import site_id
from counter.web.client import client_ip
from counter.web.counting import MAX_PAGES_PER_READ
from counter.web.errors import SITE
from counter.web.streams import event_stream


def _pages(request: web.Request) -> list[str]:
    raw = request.query.getall("page", [])
    if len(raw) > MAX_PAGES_PER_READ:
        raise bad_request("invalid_page", f"at most {MAX_PAGES_PER_READ} page values")
    names = request.app[COUNTING].pages
    return list(dict.fromkeys(names(page) for page in raw))


async def _first(feed: Feed) -> Answer:
    """The stream's first snapshot; refused (as JSON, before the stream starts) when it
    cannot be read."""
    first = await feed.next()
    if first is not None:
        return first
    if feed.failed:
        raise StoreUnavailable(f"stats of {feed.site} could not be read")
    if feed.gone:
        raise not_found("unknown_site", f"no site {feed.site!r}")
    raise unavailable("events_unavailable", "live stats are unavailable")  # shutting down


async def events(request: web.Request) -> web.StreamResponse:
    """The stats on connect, then on each change, until the client goes, the site is
    deleted, or the stream's lifetime is over."""
    app = request.app
    site = request[SITE] = await app[SITES].require(site_id(request.query.get("site")))
    pages = _pages(request)
    hub = app[STATS_HUB]
    ip = client_ip(request, app[SETTINGS].trusted_proxies)
    with app[STREAMS].open(ip, "stats", site.id) as slot:
        await hub.wait_ready()
        with hub.subscribe(site.id, pages) as feed:
            slot.on_expiry(feed.close)
            answer: Answer | None = await _first(feed)
            async with event_stream(request, site, feed.close) as resp:
                retry: int | None = slot.reconnect_ms  # sent once: when to come back
                while answer is not None:
                    body = feed.render(answer)
                    if body is not None:
                        await resp.send(body.decode(), event="stats", retry=retry)
                        retry = None
                    answer = await feed.next()
                if feed.gone:
                    await resp.send("{}", event="deleted")
    return resp
