"""``batch.lua``'s contract: the events it reads, the call it takes, the reply it gives.

An event travels as a 22-byte record (kind, class, 8-byte key, 8-byte alt, 2-byte page and
referring-host indexes) so that a batch of any size is one script argument plus its distinct
pages and hosts; the reply is a flat list of integers, parsed here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from counter import redis_keys as keys
from counter.counting.model import Kind, VisitorClass
from counter.counting.periods import Periods
from counter.counting.stats import Snapshot
from counter.lua import ScriptArg
from counter.sites.model import SiteConfig

KEY_BYTES = 8
NO_ALT = bytes(KEY_BYTES)
HEAD_BYTES = 2 + 2 * KEY_BYTES
"""An event's record without its page and host indexes: kind, class, key, alt."""
MAX_PAGES_PER_CALL = 65_535
"""Page and host indexes are two bytes."""
DAY_KEYS_TTL_S = 3 * 86_400
"""A day's hourly counts, page views, referrers and online samples are kept this long (the
console shows today against yesterday)."""
DAY_PAGES_MAX = 10_000
"""Most pages in one day's page views (the busiest are what the console shows)."""
REFERRERS_MAX = 1_000
"""Most referring hosts counted in one day."""
UNIQUES_TTL_S = 40 * 86_400
"""Daily unique-visitor HyperLogLogs are kept this long (history shows uniques this far)."""
REPLY_HEAD = 18
"""Integers before the page counts in the reply."""
UNTRACKED = -1
"""A page count meaning: not counted per page, the site being at its page limit."""
NOT_COUNTED = -1
"""Today's uniques when the call did not count them (see ``batch.lua``'s ARGV[13])."""

_PREFIXES = {(k, c): (k.value + c.value).encode() for k in Kind for c in VisitorClass}


class Event(NamedTuple):
    """One hit, ping, leave or read: its record head (see :func:`event`), its page ("" for
    pings and leaves) and the host that referred it ("" for none)."""

    head: bytes
    page: str = ""
    referrer: str = ""

    @property
    def kind(self) -> Kind:
        return Kind(chr(self.head[0]))

    @property
    def visitor_class(self) -> VisitorClass:
        return VisitorClass(chr(self.head[1]))


def event(
    kind: Kind,
    cls: VisitorClass,
    key: bytes,
    alt: bytes = b"",
    page: str = "",
    referrer: str = "",
) -> Event:
    """An event from ``key`` (a visitor's or member's digest); ``alt`` is the guest digest a
    member was known by before signing in; ``referrer`` the host that sent the visitor."""
    return Event(_PREFIXES[kind, cls] + key + (alt or NO_ALT), page, referrer)


_READ_HEAD = _PREFIXES[Kind.READ, VisitorClass.GUEST] + NO_ALT + NO_ALT


def read_event(page: str = "") -> Event:
    """An event that counts nothing: the flush that carries it reads the site's stats and
    ``page``'s count, so a beacon that is not counted costs no Redis call of its own."""
    return Event(_READ_HEAD, page)


@dataclass(frozen=True, slots=True)
class BatchCall:
    """KEYS and ARGV of one call, and the page names in the order the reply counts them."""

    keys: list[str]
    args: list[ScriptArg]
    pages: list[str]
    day: str
    """The site's local day of the call (``d:<date>``)."""


def batch_call(
    site: SiteConfig,
    events: Sequence[Event],
    now: float,
    periods: Periods | None = None,
    *,
    read_pages: Sequence[str] = (),
    batch_id: str | None = None,
    marker_ms: int = 60_000,
    housekeeping: bool = False,
) -> BatchCall:
    """The call that applies ``events`` and reads back the site's stats and the counts of
    the events' pages and of ``read_pages``; with ``housekeeping`` it also forgets idle
    visitors and counts today's uniques (see ``batch.lua``'s ARGV[13])."""
    p = periods or Periods.at(now, site.tz, site.week_start_index)
    day = p.today.isoformat()
    index: dict[str, int] = {}
    hosts: dict[str, int] = {}
    records: list[bytes] = []
    for head, page, referrer in events:
        n = index.get(page) or (index.setdefault(page, len(index) + 1) if page else 0)
        h = hosts.get(referrer) or (hosts.setdefault(referrer, len(hosts) + 1) if referrer else 0)
        records.append(head + n.to_bytes(2, "big") + h.to_bytes(2, "big"))
    for page in read_pages:
        index.setdefault(page, len(index) + 1)
    if len(index) > MAX_PAGES_PER_CALL or len(hosts) > MAX_PAGES_PER_CALL:
        raise ValueError(f"at most {MAX_PAGES_PER_CALL} pages and hosts in one call")
    call_keys = [
        keys.visits(site.id),
        keys.pageviews(site.id),
        keys.bot_hits(site.id),
        keys.pages(site.id),
        keys.base(site.id),
        keys.base_pages(site.id),
        keys.presence(site.id, VisitorClass.GUEST),
        keys.presence(site.id, VisitorClass.MEMBER),
        keys.presence(site.id, VisitorClass.BOT),
        keys.peak(site.id),
        keys.uniques(site.id, day),
        keys.uniques(site.id, (p.today - timedelta(days=1)).isoformat()),
        keys.batch_marker(site.id, batch_id or "-"),
        keys.tombstone(site.id),
        keys.hours(site.id, day),
        keys.day_pages(site.id, day),
        keys.referrers(site.id, day),
        keys.online_samples(site.id, day),
        keys.visitors(site.id),
        keys.announced(site.id),
    ]
    pages = list(index)
    args: list[ScriptArg] = [
        int(now * 1000),
        site.online_window_s * 1000,
        site.visit_window_s * 1000,
        p.day, p.week, p.month, p.year,
        p.yesterday, p.last_week, p.last_month,
        UNIQUES_TTL_S,
        marker_ms if batch_id else 0,
        "1" if housekeeping else "0",
        site.max_pages,
        b"".join(records),
        p.hour, p.minute, DAY_KEYS_TTL_S, DAY_PAGES_MAX, REFERRERS_MAX,
        len(pages),
        *pages,
        len(hosts),
        *hosts,
        keys.STATS_EVENTS,
        site.id,
    ]  # fmt: skip
    return BatchCall(call_keys, args, pages, p.day)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one call did and read: whether its events were applied (not a repeat, not a
    deleted site), the site's numbers, and each named page's count (None: untracked)."""

    applied: bool
    snapshot: Snapshot
    pages: dict[str, int | None]
    uniques_counted: bool = True
    """False when the call did not count today's uniques (the snapshot then carries the
    count the caller gave as the last one it knew)."""


def parse_reply(reply: object, pages: Sequence[str], uniques_known: int = 0) -> BatchResult:
    """The reply of a call whose pages were ``pages`` (see ``batch.lua``'s header);
    ``uniques_known`` stands in for today's uniques when the call did not count them."""
    if not isinstance(reply, list) or len(reply) != REPLY_HEAD + len(pages):
        raise ValueError(f"batch.lua replied {reply!r:.200}")
    head = reply[:REPLY_HEAD]
    (applied, v_all, v_day, v_yday, v_week, v_lweek, v_month, v_lmonth, v_year,
     pv_all, pv_day, u_day, u_yday, guests, members, bots, peak, peak_at) = head  # fmt: skip
    snapshot = Snapshot(
        visits_total=v_all,
        visits_today=v_day,
        visits_yesterday=v_yday,
        visits_this_week=v_week,
        visits_last_week=v_lweek,
        visits_this_month=v_month,
        visits_last_month=v_lmonth,
        visits_this_year=v_year,
        pageviews_total=pv_all,
        pageviews_today=pv_day,
        uniques_today=uniques_known if u_day == NOT_COUNTED else u_day,
        uniques_yesterday=u_yday,
        online_guests=guests,
        online_members=members,
        online_bots=bots,
        peak_online=peak,
        peak_at_ms=peak_at,
    )
    counts: dict[str, int | None] = {
        page: (None if n == UNTRACKED else n)
        for page, n in zip(pages, reply[REPLY_HEAD:], strict=True)
    }
    return BatchResult(applied == 1, snapshot, counts, u_day != NOT_COUNTED)
