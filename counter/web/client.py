"""Facts about the caller: its address (behind trusted proxies only) and its origin."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

from counter.errors import ApiError
from counter.settings import IPNetwork
from counter.sites.model import SiteConfig


def _trusted(ip: str, proxies: Sequence[IPNetwork]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in proxies)


def client_ip(request: web.Request, proxies: Sequence[IPNetwork]) -> str:
    """The peer address, or, when the peer is a trusted proxy, the last untrusted
    address of ``X-Forwarded-For``."""
    peer = request.remote or ""
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getall("X-Forwarded-For", [])
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def check_origin(request: web.Request, site: SiteConfig) -> None:
    """Writes from a browser page on an origin the site does not allow are refused."""
    origin = request.headers.get("Origin")
    if origin is not None and not site.allows_origin(origin):
        raise ApiError(403, "origin_not_allowed", f"origin {origin} may not count for this site")
