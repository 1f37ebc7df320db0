"""Facts about the caller: its address (behind trusted proxies only) and its origin."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

from counter.errors import ApiError, bad_request
from counter.settings import IPNetwork
from counter.sites.model import SiteConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> IPAddress | None:
    """An address as proxies write it in ``X-Forwarded-For``: ``203.0.113.7``,
    ``203.0.113.7:443``, ``2001:db8::1``, ``[2001:db8::1]`` or ``[2001:db8::1]:443``; None
    when it is none of these."""
    text = text.strip()
    if text.startswith("["):
        text, bracket, port = text[1:].partition("]")
        if not bracket or (port and not (port[0] == ":" and port[1:].isdigit())):
            return None
    elif text.count(":") == 1:  # IPv4 with a port (IPv6 has two colons at least)
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPAddress | None, proxies: Sequence[IPNetwork]) -> bool:
    return address is not None and any(address in net for net in proxies)


def client_ip(request: web.Request, proxies: Sequence[IPNetwork]) -> str:
    """The peer address, or, when the peer is a trusted proxy, the last untrusted address of
    ``X-Forwarded-For`` (written with or without a port). A trusted proxy's header in which
    that address cannot be read is refused: the client cannot be told apart from the proxy."""
    peer = request.remote or ""
    if not proxies or not _trusted(_address(peer), proxies):
        return peer
    hops = [
        hop
        for value in request.headers.getall("X-Forwarded-For", [])
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            raise bad_request(
                "invalid_forwarded_for", "X-Forwarded-For from a trusted proxy holds no address"
            )
        if not _trusted(address, proxies):
            return str(address)
    return peer


def check_origin(request: web.Request, site: SiteConfig) -> None:
    """Writes from a browser page on an origin the site does not allow are refused."""
    origin = request.headers.get("Origin")
    if origin is not None and not site.allows_origin(origin):
        raise ApiError(403, "origin_not_allowed", f"origin {origin} may not count for this site")
