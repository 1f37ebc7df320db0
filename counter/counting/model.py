"""The codes of the counting path: what an event is and who it is from."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a beacon does: a page view, a heartbeat, or a goodbye; or, for a beacon that
    counts nothing (a bot the site ignores, a client over its hit rate), a read of the
    site's stats and its page's count that travels with the next flush."""

    HIT = "h"
    PING = "p"
    LEAVE = "l"
    READ = "r"


class VisitorClass(StrEnum):
    """Who a beacon is from; bots are counted apart, members carry a signed token."""

    GUEST = "g"
    MEMBER = "m"
    BOT = "b"

    @property
    def label(self) -> str:
        """The metrics label value."""
        return _LABELS[self]


_LABELS = {VisitorClass.GUEST: "guest", VisitorClass.MEMBER: "member", VisitorClass.BOT: "bot"}
