"""Small, strict validators for JSON bodies and query strings; each failure is a 400."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from counter.errors import bad_request

SITE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Body = Mapping[str, Any]


def expect_object(value: object) -> Body:
    if not isinstance(value, dict):
        raise bad_request("invalid_body", "the body must be a JSON object")
    return value


def reject_unknown(body: Body, allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request("unknown_field", f"unknown field(s): {', '.join(unknown)}")


def string(
    value: object,
    name: str,
    *,
    max_len: int,
    min_len: int = 1,
    pattern: re.Pattern[str] | None = None,
) -> str:
    if not isinstance(value, str):
        raise bad_request(f"invalid_{name}", f"{name} must be a string")
    if not min_len <= len(value) <= max_len:
        raise bad_request(
            f"invalid_{name}", f"{name} must be {min_len} to {max_len} characters long"
        )
    if pattern is not None and not pattern.fullmatch(value):
        raise bad_request(f"invalid_{name}", f"{name} must match {pattern.pattern}")
    if CONTROL.search(value):
        raise bad_request(f"invalid_{name}", f"{name} must not contain control characters")
    return value


def optional_string(
    body: Body, name: str, *, max_len: int, pattern: re.Pattern[str] | None = None
) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    return string(value, name, max_len=max_len, pattern=pattern)


def integer(value: object, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"invalid_{name}", f"{name} must be an integer")
    if not lo <= value <= hi:
        raise bad_request(f"invalid_{name}", f"{name} must be between {lo} and {hi}")
    return value


def site_id(value: object) -> str:
    if not isinstance(value, str) or not SITE_ID.fullmatch(value):
        raise bad_request("invalid_site", f"site must match {SITE_ID.pattern}")
    return value
