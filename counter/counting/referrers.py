"""Referring hosts: where a page view came from, as the console's "top referrers" counts it."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_HOST = 253


class ReferrerHosts:
    """A referrer URL as its host, remembered (referrers repeat): ``https://www.google.com/
    search?q=..`` -> ``www.google.com``. Anything that is not an http(s) URL has no host. At
    most ``size`` are kept (then it starts over)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._hosts: dict[str, str] = {}

    def __call__(self, referrer: str | None, own: tuple[str, ...] = ()) -> str:
        """The host of ``referrer``; "" for none, or for the site's own origins ``own``."""
        if not referrer:
            return ""
        host = self._hosts.get(referrer)
        if host is None:
            host = _host(referrer)
            if len(self._hosts) >= self.size:
                self._hosts.clear()
            self._hosts[referrer] = host
        if host and own and any(origin.endswith("//" + host) for origin in own):
            return ""
        return host


def _host(referrer: str) -> str:
    try:
        parts = urlsplit(referrer)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:
        return ""
    if parts.scheme not in {"http", "https"} or len(host) > MAX_HOST:
        return ""
    return host
