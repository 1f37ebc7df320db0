"""``GET /v1/openapi.json``: the OpenAPI 3.1 document of the whole API.

The document is a maintained file, ``counter/static/openapi.json`` (tests check it against
the route table and fuzz the running service with it). It is read and checked once, when
this module is imported to build the route table, and served compacted, with gzip and an
ETag, to any origin: a client generator or an API explorer on another host may read it.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from counter.web.static import Asset, read_static

DOCUMENT_FILE = "openapi.json"
CACHE = "public, max-age=300"


def load_document() -> dict[str, Any]:
    """The document as data (the maintained file, parsed)."""
    document = orjson.loads(read_static(DOCUMENT_FILE))
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3.1"):
        raise ValueError(f"counter/static/{DOCUMENT_FILE} is not an OpenAPI 3.1 document")
    return document


def _asset() -> Asset:
    return Asset.of(orjson.dumps(load_document()), "application/json", CACHE)


DOCUMENT = _asset()
"""Read when the route table is imported, once per process, never per request; immutable."""


async def openapi_json(request: web.Request) -> web.Response:
    response = DOCUMENT.respond(request)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
