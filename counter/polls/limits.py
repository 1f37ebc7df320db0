"""The rate limits of votes and stream tickets: per client (see :mod:`counter.clients`), and
for votes also per IPv6 /48 against a higher limit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from counter.clients import listed, rate_subject, wide_subject
from counter.polls.store import Rate
from counter.settings import IPNetwork


def _hashed(subject: str, salt: bytes) -> str:
    """A subject as stored: a salted hash, so no address is ever written to Redis."""
    return hashlib.blake2b(subject.encode(), key=salt, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Attempts allowed per client per window (0: unlimited), and per IPv6 /48
    (``wide_limit``, 0: unlimited); clients in ``allowlist`` are exempt from both."""

    limit: int = 0
    window_s: int = 60
    allowlist: tuple[IPNetwork, ...] = ()
    wide_limit: int = 0

    def counters(self, ip: str, salt: bytes) -> Rate:
        """The rate counters of the client at ``ip`` (keys hashed with ``salt``)."""
        exempt = listed(ip, self.allowlist)
        own = _hashed(rate_subject(ip), salt)
        wide = wide_subject(ip)
        return Rate(
            key=own,
            limit=0 if exempt else self.limit,
            wide_key=own if wide is None else _hashed(wide, salt),
            wide_limit=0 if exempt or wide is None else self.wide_limit,
            window_ms=self.window_s * 1000,
        )
