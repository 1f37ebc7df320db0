"""How many hits one client may make count per site and minute.

Beyond ``limit`` hits in a minute from one client address (an IPv6 address counts by its /64,
since one home or host usually holds a whole /64), a hit is still answered, with the site's
current stats, but counts nothing: one client rotating visitor ids can no longer inflate a
site's visits, online count and peak.

The count is kept in this process, in fixed one-minute windows: with N processes or replicas
behind a load balancer, a client reaching all of them may make N times ``limit`` count. The
table of clients is bounded (``max_clients`` per window); beyond it, new clients are counted
together, so a flood of distinct addresses cannot grow memory either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from counter.clients import listed, rate_subject
from counter.settings import IPNetwork

WINDOW_S = 60
OVERFLOW = "*"
"""The one bucket of every client beyond ``max_clients`` in a window."""


class HitRate:
    def __init__(
        self,
        limit: int,
        clock: Callable[[], float],
        *,
        allowlist: Sequence[IPNetwork] = (),
        max_clients: int = 100_000,
    ) -> None:
        self.limit = limit
        """Hits per client, site and minute; 0 turns the limit off."""
        self.clock = clock
        self.allowlist = tuple(allowlist)
        self.max_clients = max_clients
        self._window = -1
        self._counts: dict[tuple[str, str], int] = {}
        self._subjects: dict[str, str | None] = {}
        """Address -> the bucket it counts in (None: on the allowlist), remembered."""

    def allows(self, site: str, ip: str) -> bool:
        """Count one hit of ``ip`` on ``site``; False once the client is over the limit."""
        if self.limit <= 0:
            return True
        subject = self._subjects.get(ip, "")
        if subject == "":
            subject = self._subject(ip)
        if subject is None:
            return True
        window = int(self.clock() // WINDOW_S)
        if window != self._window:
            self._window = window
            self._counts.clear()
        key = (site, subject)
        n = self._counts.get(key)
        if n is None:
            if len(self._counts) >= self.max_clients:
                key = (site, OVERFLOW)
            n = self._counts.get(key, 0)
        self._counts[key] = n + 1
        return n < self.limit

    def _subject(self, ip: str) -> str | None:
        """The bucket ``ip`` counts in: IPv4 itself, IPv6 its /64; None when allowlisted."""
        subject = None if listed(ip, self.allowlist) else rate_subject(ip)
        if len(self._subjects) >= self.max_clients:
            self._subjects.clear()
        self._subjects[ip] = subject
        return subject
