"""Every Redis key name the service uses, in one place.

All keys of one site share the hash tag ``{site}``, so every Lua script that touches a site
runs on one Redis Cluster slot. The few global keys carry no site tag and are never touched by
a script together with site keys.
"""

from __future__ import annotations

SITES = "c:sites"
"""Set of all site ids."""


def origin_sites(origin: str) -> str:
    """Set of the ids of the sites whose ``origins`` list ``origin`` (``https://host[:port]``):
    how a request that names only its page's address (busuanzi's) finds its site. Kept by
    :class:`~counter.sites.store.SiteStore` as sites are put and deleted."""
    return f"c:origin:{origin}"


def hosts_made(day: str) -> str:
    """Counter of the sites made on first sight of a host on one UTC day (``YYYY-MM-DD``), for
    the daily cap of ``COUNTER_BUSUANZI_OPEN``; expires after two days."""
    return f"c:hosts:{day}"


def salt(day: str) -> str:
    """Random salt for derived visitor ids, one per day (``day``: a site-local ``YYYY-MM-DD``)."""
    return f"c:salt:{day}"


def _site(site: str, name: str) -> str:
    return f"c:{{{site}}}:{name}"


def site_pattern(site: str) -> str:
    """SCAN pattern matching every key of a site."""
    return _site(site, "*")


def config(site: str) -> str:
    """String: the site's configuration as JSON."""
    return _site(site, "conf")


def visits(site: str) -> str:
    """Hash of visit counts.

    Fields: ``all``, ``d:<date>``, ``w:<week start>``, ``m:<YYYY-MM>``, ``y:<YYYY>``.
    """
    return _site(site, "visits")


def pageviews(site: str) -> str:
    """Hash of page-view counts, fields as in :func:`visits`."""
    return _site(site, "pageviews")


def bot_hits(site: str) -> str:
    """Hash of bot hit counts, fields as in :func:`visits`."""
    return _site(site, "bothits")


def pages(site: str) -> str:
    """Hash: page -> page views."""
    return _site(site, "pages")


def base(site: str) -> str:
    """Hash of imported base counts: ``visits``, ``pageviews``."""
    return _site(site, "base")


def base_pages(site: str) -> str:
    """Hash: page -> imported base page views."""
    return _site(site, "basepages")


def audit(site: str) -> str:
    """List of JSON audit entries, newest first."""
    return _site(site, "audit")


def presence(site: str, cls: str) -> str:
    """Sorted set of visitor digests by last activity in ms (``cls``: g, m or b).

    A positive score is a visitor seen at that time; a negative one a visitor who left at
    minus that time (no longer online, still inside the visit window).
    """
    return _site(site, f"on:{cls}")


def peak(site: str) -> str:
    """Hash: ``online`` (highest guests+members online) and ``at`` (ms)."""
    return _site(site, "peak")


def uniques(site: str, day: str) -> str:
    """HyperLogLog of the visitors of one local day."""
    return _site(site, f"u:{day}")


def hours(site: str, day: str) -> str:
    """Hash of one local day's counts by local hour: ``v:<HH>`` visits, ``p:<HH>`` page views
    (kept a few days: see ``counter.lua.batch.DAY_KEYS_TTL_S``)."""
    return _site(site, f"hours:{day}")


def day_pages(site: str, day: str) -> str:
    """Hash: page -> views on one local day (at most ``DAY_PAGES_MAX`` pages; kept a few days)."""
    return _site(site, f"dpages:{day}")


def referrers(site: str, day: str) -> str:
    """Hash: referring host -> hits on one local day (at most ``REFERRERS_MAX`` hosts; kept a
    few days). Hits from the site's own origins and with no referrer are not counted here."""
    return _site(site, f"refs:{day}")


def online_samples(site: str, day: str) -> str:
    """Hash: local ``HH:MM`` -> visitors online (guests and members) at that minute."""
    return _site(site, f"online:{day}")


def visitors(site: str) -> str:
    """HyperLogLog of every visitor the site has ever had (all-time uniques)."""
    return _site(site, "visitors")


def announced(site: str) -> str:
    """Set for a second after a flush announced a change of the site's stats."""
    return _site(site, "announced")


STATS_EVENTS = "c:stats:events"
"""Pub/sub channel: a site id, at most once a second per site, when a flush changed its stats;
``SITE_DELETED`` and the site id when the site was deleted."""

SITE_DELETED = "deleted:"
"""Prefix of a message on ``STATS_EVENTS`` telling that a site is gone (no site id has a
colon)."""


def tombstone(site: str) -> str:
    """Set for a while when a site is deleted: the counting script writes nothing meanwhile."""
    return _site(site, "deleted")


def batch_marker(site: str, batch_id: str) -> str:
    """Short-lived marker that makes a retried batch apply once."""
    return _site(site, f"b:{batch_id}")


POLLS = "c:polls"
"""Hash: poll id -> site id (find a poll's site from its id alone)."""

POLL_EVENTS = "c:polls:events"
"""Pub/sub channel: ``<site>/<poll id>`` each time a poll's tallies or definition change."""


def poll(site: str, poll_id: str) -> str:
    """Hash: ``rev``, ``def`` (JSON), ``starts``/``ends`` (ms, ends "" when open-ended),
    ``max`` (max choices), ``change`` (1 when a vote may be changed), ``voters``."""
    return _site(site, f"poll:{poll_id}")


def poll_votes(site: str, poll_id: str) -> str:
    """Hash: option id -> votes (every option of the poll has a field)."""
    return _site(site, f"poll:{poll_id}:votes")


def poll_ballots(site: str, poll_id: str) -> str:
    """Hash: voter digest (hex) -> the voter's option ids, space-separated; expires a
    retention period after the poll closes."""
    return _site(site, f"poll:{poll_id}:ballots")


def poll_index(site: str) -> str:
    """Sorted set: poll id -> creation time in ms."""
    return _site(site, "polls")


def vote_rate(site: str, ip_key: str) -> str:
    """Counter of one (salted, hashed) client IP's vote attempts in the current window."""
    return _site(site, f"vrate:{ip_key}")


def poll_generation(site: str) -> str:
    """Counter bumped by every poll creation, edit and deletion: a process's cached list of
    the site's open polls is stale once it differs."""
    return _site(site, "polls:gen")


def stream_ticket(site: str, ticket: str) -> str:
    """String, for about a minute: what one live-results stream may open as (``<poll id>
    <voter digests...>``); read and deleted by the stream that uses it."""
    return _site(site, f"ticket:{ticket}")


def ticket_rate(site: str, ip_key: str) -> str:
    """Counter of one (salted, hashed) client IP's stream tickets in the current minute."""
    return _site(site, f"trate:{ip_key}")
