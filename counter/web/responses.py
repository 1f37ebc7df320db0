"""Reading bodies and writing JSON answers, the same way for every handler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from counter.errors import ApiError, bad_request
from counter.validation import Body, expect_object

JSON_TYPES = ("application/json", "text/plain")
"""``text/plain``: what ``navigator.sendBeacon`` sends a string as."""


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the body must be at most {max_bytes} bytes")


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The raw body of a JSON request (``application/json``, ``text/plain`` or untyped), at
    most ``max_bytes`` long."""
    content_type = request.headers.get("Content-Type")
    if content_type is not None and not content_type.lstrip().lower().startswith(JSON_TYPES):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    length = request.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    raw = await request.read()
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    return raw


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("invalid_json", "the body is not valid JSON") from None


async def read_json(request: web.Request, max_bytes: int) -> Body:
    """The JSON object in the body (see :func:`read_body`)."""
    return expect_object(parse_json(await read_body(request, max_bytes)))
