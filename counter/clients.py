"""Who a per-client limit counts: a client is its IPv4 address or its IPv6 /64.

A limit per IPv6 address would be no limit: one host or home network usually holds a whole
/64, and a home or office is usually given a /56 or a /48, so one client can rotate through
256 or 65,536 /64s. Limits that must hold against that count a /48 as well (votes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

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
