"""Reading bodies and writing JSON answers, the same way for every handler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from counter.errors import ApiError, bad_request
from counter.validation import Body, expect_object

JSON_TYPES = frozenset({"application/json", "text/plain", ""})


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


async def read_json(request: web.Request, max_bytes: int) -> Body:
    """The JSON object in the body: ``application/json`` or ``text/plain`` (sendBeacon)."""
    if request.content_type not in JSON_TYPES:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "body_too_large", f"the body must be at most {max_bytes} bytes")
    raw = await request.read()
    if len(raw) > max_bytes:
        raise ApiError(413, "body_too_large", f"the body must be at most {max_bytes} bytes")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("invalid_json", "the body is not valid JSON") from None
    return expect_object(value)
