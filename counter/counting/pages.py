"""Page identifiers: a URL or path is normalised so one article is counted under one name."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

MAX_PAGE_LENGTH = 512
_TRACKING = re.compile(r"utm_[a-z_]+|fbclid|gclid|dclid|msclkid|yclid|mc_cid|mc_eid|_ga|zarsrc")
_SLASHES = re.compile(r"/{2,}")
_PLAIN_PATH = re.compile(r"/(?:[^/?#\s]+/)*[^/?#\s]+|/")


def normalize_page(raw: str) -> str:
    """``https://x.vn/news//a/?utm_source=z&id=1#top`` -> ``/news/a?id=1``.

    Scheme, host, fragment and tracking parameters are dropped, repeated and trailing
    slashes removed, the remaining query parameters sorted. Anything that is neither a URL
    nor a path (an explicit id such as ``article:123``) is kept as it is.
    """
    text = raw.strip()
    if _PLAIN_PATH.fullmatch(text):
        return text  # the common case: already a clean path
    if "://" in text:
        parts = urlsplit(text)
        path, query = parts.path, parts.query
    elif text.startswith("/"):
        path, _, rest = text.partition("?")
        path = path.partition("#")[0]
        query = rest.partition("#")[0]
    else:
        return text
    path = _SLASHES.sub("/", path or "/")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    params = sorted(
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _TRACKING.fullmatch(k)
    )
    return f"{path}?{urlencode(params)}" if params else path
