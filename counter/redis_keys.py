"""Every Redis key name the service uses, in one place.

All keys of one site share the hash tag ``{site}``, so every Lua script that touches a site
runs on one Redis Cluster slot. The few global keys carry no site tag and are never touched by
a script together with site keys.
"""

from __future__ import annotations

SITES = "c:sites"
"""Set of all site ids."""


def salt(day: str) -> str:
    """Random salt for derived visitor ids, one per UTC day (``day`` is ``YYYY-MM-DD``)."""
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


def batch_marker(site: str, batch_id: str) -> str:
    """Short-lived marker that makes a retried batch apply once."""
    return _site(site, f"b:{batch_id}")
