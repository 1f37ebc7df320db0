"""``batch.lua``'s contract: the events it reads, the call it takes, the reply it gives.

An event travels as a 20-byte record (kind, class, 8-byte key, 8-byte alt, 2-byte page
index) so that a batch of any size is one script argument plus its distinct pages; the
reply is a flat list of integers, parsed here and nowhere else.
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
"""An event's record without its page index: kind, class, key, alt."""
MAX_PAGES_PER_CALL = 65_535
"""Page indexes are two bytes."""
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
    """One hit, ping or leave: its record head (see :func:`event`) and its page ("" for
    pings and leaves)."""

    head: bytes
    page: str = ""

    @property
    def kind(self) -> Kind:
        return Kind(chr(self.head[0]))

    @property
    def visitor_class(self) -> VisitorClass:
        return VisitorClass(chr(self.head[1]))


def event(kind: Kind, cls: VisitorClass, key: bytes, alt: bytes = b"", page: str = "") -> Event:
    """An event from ``key`` (a visitor's or member's digest); ``alt`` is the guest digest a
    member was known by before signing in."""
    return Event(_PREFIXES[kind, cls] + key + (alt or NO_ALT), page)


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
    housekeeping: bool = False,
) -> BatchCall:
    """The call that applies ``events`` and reads back the site's stats and the counts of
    the events' pages and of ``read_pages``; with ``housekeeping`` it also forgets idle
    visitors and counts today's uniques (see ``batch.lua``'s ARGV[13])."""
    p = periods or Periods.at(now, site.tz, site.week_start_index)
    index: dict[str, int] = {}
    records: list[bytes] = []
    for head, page in events:
        if page:
            n = index.get(page)
            if n is None:
                n = index[page] = len(index) + 1
            records.append(head + n.to_bytes(2, "big"))
        else:
            records.append(head + b"\0\0")
    for page in read_pages:
        index.setdefault(page, len(index) + 1)
    if len(index) > MAX_PAGES_PER_CALL:
        raise ValueError(f"at most {MAX_PAGES_PER_CALL} pages in one call")
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
        keys.uniques(site.id, p.today.isoformat()),
        keys.uniques(site.id, (p.today - timedelta(days=1)).isoformat()),
        keys.batch_marker(site.id, batch_id or "-"),
        keys.tombstone(site.id),
    ]
    pages = list(index)
    args: list[ScriptArg] = [
        int(now * 1000),
        site.online_window_s * 1000,
        site.visit_window_s * 1000,
        p.day, p.week, p.month, p.year,
        p.yesterday, p.last_week, p.last_month,
        UNIQUES_TTL_S,
        "1" if batch_id else "0",
        "1" if housekeeping else "0",
        site.max_pages,
        b"".join(records),
        len(pages),
        *pages,
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
