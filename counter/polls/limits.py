"""Who a per-client limit counts, and the rate limits of votes and stream tickets.

A limit per IPv6 address would be no limit: one host or home network usually holds a whole
/64, and a home or office is usually given a /56 or a /48, so one client can rotate through
256 or 65,536 /64s. A client is therefore its IPv4 address or its IPv6 /64, and its votes
are also counted together with the rest of its /48 against a higher limit.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from counter.polls.store import Rate
from counter.settings import IPNetwork

WIDE_PREFIX = 48


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def listed(ip: str, networks: Sequence[IPNetwork]) -> bool:
    """Whether ``ip`` (an IPv4-mapped address as its IPv4 address) is in one of ``networks``."""
    addr = _address(ip)
    return addr is not None and any(addr in net for net in networks)


def rate_subject(ip: str) -> str:
    """Who a per-client limit counts: an IPv4 address (an IPv4-mapped IPv6 address counts as
    its IPv4 address), or an IPv6 address's /64."""
    addr = _address(ip)
    if addr is None:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def wide_subject(ip: str) -> str | None:
    """The wider prefix an IPv6 client shares a second limit with (its /48); None for IPv4."""
    addr = _address(ip)
    if not isinstance(addr, ipaddress.IPv6Address):
        return None
    return str(ipaddress.IPv6Network((addr, WIDE_PREFIX), strict=False))


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
