"""Page identifiers: a URL or path is normalised so one article is counted under one name.

The widget names pages the same way before it sends them (``pageName`` in static/widget.js);
tests/data/page_cases.json is the table both are tested against.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from counter.errors import bad_request
from counter.validation import string

MAX_PAGE_LENGTH = 512
_TRACKING = re.compile(r"utm_[a-z_]+|fbclid|gclid|dclid|msclkid|yclid|mc_cid|mc_eid|_ga|zarsrc")
_SLASHES = re.compile(r"/{2,}")
_PLAIN_PATH = re.compile(r"/(?:[^/?#\s]+/)*[^/?#\s]+|/")
_URL_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def normalize_page(raw: str) -> str:
    """``https://x.vn/news//a/?utm_source=z&id=1#top`` -> ``/news/a?id=1``.

    Scheme, host, fragment and tracking parameters are dropped, repeated and trailing
    slashes removed, the remaining query parameters sorted. Anything that is neither a URL
    (``scheme://`` at the start) nor a path (an explicit id such as ``article:123``) is kept
    as it is. Split by hand rather than with ``urlsplit``, which raises on a bad host
    (``https://[x/a``) and would answer a page name with a 500.
    """
    text = raw.strip()
    if _PLAIN_PATH.fullmatch(text):
        return text  # the common case: already a clean path
    origin = _URL_ORIGIN.match(text)
    if origin is None and not text.startswith("/"):
        return text
    address = text[origin.end() if origin else 0 :].partition("#")[0]
    path, _, query = address.partition("?")
    path = _SLASHES.sub("/", path or "/")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    params = sorted(
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _TRACKING.fullmatch(k)
    )
    return f"{path}?{urlencode(params)}" if params else path


def page_name(raw: object) -> str:
    """A page as sent (a string, at most MAX_PAGE_LENGTH long) as counted; 400 when blank."""
    page = normalize_page(string(raw, "page", max_len=MAX_PAGE_LENGTH))
    if not page:
        raise bad_request("invalid_page", "page must not be blank")
    return page


class PageNames:
    """Page names as sent -> as counted, remembered: pages repeat, and the check and the
    normalisation of a new one cost far more than a lookup. At most ``size`` are kept."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._known: dict[str, str] = {}

    def __call__(self, raw: object) -> str:
        if type(raw) is str:
            known = self._known.get(raw)
            if known is not None:
                return known
        page = page_name(raw)
        if len(self._known) >= self.size:
            self._known.clear()
        self._known[raw] = page  # type: ignore[index]  # raw is a str: string() checked it
        return page
