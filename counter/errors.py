"""Domain errors: what the service tells a client, and the one storage failure."""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    """An error answered as ``{"error": {"code": ..., "message": ...}}`` with ``status`` and
    any extra ``headers`` (``Retry-After``, ``Allow``)."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


def too_many(code: str, message: str, retry_after_s: int) -> ApiError:
    """429: a client is over a rate limit; it may try again after ``retry_after_s``."""
    return ApiError(429, code, message, {"Retry-After": str(max(1, retry_after_s))})


def unavailable(code: str, message: str, retry_after_s: int = 1) -> ApiError:
    """503: the service cannot take this now (a capacity limit, storage, shutdown)."""
    return ApiError(503, code, message, {"Retry-After": str(max(1, retry_after_s))})


class StoreUnavailable(Exception):
    """Redis could not be reached or answered with an error (answered as 503)."""
