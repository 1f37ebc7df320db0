"""Domain errors: what the service tells a client, and the one storage failure."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered as ``{"error": {"code": ..., "message": ...}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


class StoreUnavailable(Exception):
    """Redis could not be reached or answered with an error (answered as 503)."""
