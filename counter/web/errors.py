"""The one error path: every refusal leaves as ``{"error": {"code", "message"}}``.

Handlers raise; :func:`guarded` (wrapped around every route at registration) and the
catch-all route for unknown paths turn whatever they raise into the JSON answer here, and
nowhere else. A public answer carries the CORS grant of the site the request named (handlers
note it with :data:`SITE`), or ``*`` when no site is known yet: an error reveals nothing an
embedding page may not read.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from http import HTTPStatus

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from counter.errors import ApiError, StoreUnavailable
from counter.sites.model import SiteConfig

log = logging.getLogger(__name__)

SITE = web.RequestKey("site", SiteConfig)
"""The site a request named, once known: its CORS grant applies to errors too."""

CLIENT_GONE = 499
"""Not sent (nobody is listening): the status the request log counts a vanished client as."""

STORE_UNAVAILABLE = ApiError(
    503, "store_unavailable", "storage is unavailable; retry shortly", {"Retry-After": "1"}
)
INTERNAL = ApiError(500, "internal", "internal error")
FALLBACK_ROUTES = frozenset({"preflight", "no-route"})
"""Routes that answer what no other route takes (named so that :func:`no_route` skips them)."""
_HTTP_CODES = {
    400: ("bad_request", "the request is malformed"),
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "method not allowed here"),
    408: ("request_timeout", "the request was not received in time"),
    413: ("body_too_large", "the request body is too large"),
    414: ("uri_too_long", "the request line is too long"),
    431: ("headers_too_large", "the request headers are too large"),
    501: ("method_not_implemented", "this method is not implemented"),
}


def is_public(path: str) -> bool:
    """The API that browser pages of other origins call (CORS applies)."""
    return path.startswith("/v1/") and not path.startswith("/v1/admin/")


def cors_grant(request: web.BaseRequest, site: SiteConfig | None) -> dict[str, str]:
    """CORS headers for an answer to ``request`` about ``site``: the caller's origin when
    the site allows it; for an error about no known site, any origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return {"Vary": "Origin"}
    if site is None:
        return {"Vary": "Origin", "Access-Control-Allow-Origin": "*"}
    if site.allows_origin(origin):
        return {"Vary": "Origin", "Access-Control-Allow-Origin": origin}
    return {"Vary": "Origin"}


def error_answer(request: web.BaseRequest, exc: ApiError) -> web.Response:
    """The JSON answer of ``exc`` to ``request``."""
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **exc.headers}
    if is_public(request.path):
        site = request.get(SITE) if isinstance(request, web.Request) else None
        headers.update(cors_grant(request, site))
    body = orjson.dumps({"error": {"code": exc.code, "message": exc.message}})
    return web.Response(body=body, status=exc.status, headers=headers)


def status_error(status: int, headers: Mapping[str, str] | None = None) -> ApiError:
    """The service's error for an HTTP status that aiohttp or the protocol layer refuses with
    (never the words of the request itself)."""
    code, message = _HTTP_CODES.get(status, ("http_error", HTTPStatus(status).phrase.lower()))
    return ApiError(status, code, message, headers)


def http_error(exc: web.HTTPException) -> ApiError:
    """An aiohttp HTTP exception (raised by aiohttp itself) as the service's error."""
    return status_error(
        exc.status, {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    )


def guarded(handler: Handler) -> Handler:
    """``handler`` with every failure answered as the JSON error (one frame, no middleware)."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_answer(request, exc)
        except StoreUnavailable:
            return error_answer(request, STORE_UNAVAILABLE)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_answer(request, http_error(exc))
        except ConnectionError:
            # The client went away (mid-body, say): nothing to answer, nothing to log.
            return web.Response(status=CLIENT_GONE)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_answer(request, INTERNAL)

    return run


async def no_route(request: web.Request) -> web.StreamResponse:
    """The last route: an unknown path is a 404, a known path with another method a 405."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name not in FALLBACK_ROUTES:
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        allow = ", ".join(sorted(allowed))
        raise ApiError(405, "method_not_allowed", "method not allowed here", {"Allow": allow})
    raise ApiError(404, "not_found", "no such resource")


async def preflight(request: web.Request) -> web.StreamResponse:
    """CORS preflight for the public API. Granting it reveals and allows nothing: the real
    request is still checked against its site's origins."""
    origin = request.headers.get("Origin")
    if origin is None or "Access-Control-Request-Method" not in request.headers:
        return await no_route(request)
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type, X-Counter-Member",
            "Access-Control-Max-Age": "86400",
            "Vary": "Origin",
        },
    )
