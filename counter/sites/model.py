"""A site's configuration and how a JSON patch updates it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from counter.counting.members import MAX_LIFETIME_S
from counter.counting.periods import WEEKDAYS
from counter.errors import bad_request
from counter.validation import Body, integer, reject_unknown, string

LOCALE = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")
BOT_POLICIES = ("separate", "ignore")
MAX_ORIGINS = 50
EDITABLE = frozenset(
    {
        "name",
        "origins",
        "timezone",
        "week_start",
        "locale",
        "online_window_s",
        "visit_window_s",
        "member_secret",
        "bot_policy",
        "max_pages",
        "member_token_max_s",
    }
)
DEFAULT_MAX_PAGES = 100_000
MAX_MAX_PAGES = 10_000_000
MAX_MEMBER_TOKEN_MAX_S = 365 * 86_400


def _is_origin(text: str) -> bool:
    """``scheme://host[:port]`` and nothing more. ``urlsplit`` raises on a bracketed host
    that is no IPv6 address (``https://[x``), ``port`` on a port out of range."""
    try:
        parts = urlsplit(text)
        if parts.port == 0:
            return False
    except ValueError:
        return False
    return (
        parts.scheme in {"http", "https"}
        and bool(parts.hostname)
        and text == f"{parts.scheme}://{parts.netloc}"
    )


def _origin(value: object) -> str:
    text = string(value, "origins", max_len=255)
    if not _is_origin(text):
        raise bad_request("invalid_origins", f"{text!r} is not an origin like https://host[:port]")
    return text.lower()


def _timezone(value: object) -> str:
    name = string(value, "timezone", max_len=64)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name of a directory of the zone database (``America``) or an unreadable file
        raise bad_request("invalid_timezone", f"unknown timezone {name!r}") from None
    return name


@dataclass(frozen=True)
class SiteConfig:
    """One portal. ``origins`` empty means any origin may embed the widget."""

    id: str
    name: str = ""
    origins: tuple[str, ...] = ()
    timezone: str = "Asia/Ho_Chi_Minh"
    week_start: str = "monday"
    locale: str = "vi"
    online_window_s: int = 300
    visit_window_s: int = 1800
    member_secret: str | None = field(default=None, repr=False)
    bot_policy: str = "separate"
    max_pages: int = DEFAULT_MAX_PAGES
    """Most pages counted one by one; a hit on a new page beyond counts in the totals only."""
    member_token_max_s: int = MAX_LIFETIME_S
    """A member token whose ``exp`` is further ahead than this is no member (a guest)."""

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def week_start_index(self) -> int:
        return WEEKDAYS.index(self.week_start)

    def allows_origin(self, origin: str) -> bool:
        return not self.origins or origin.lower() in self.origins

    def to_storage(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "id"}

    def to_public(self) -> dict[str, Any]:
        """What the admin API shows: everything but the member secret itself."""
        data = self.to_storage()
        del data["member_secret"]
        data["id"] = self.id
        data["member_secret_set"] = self.member_secret is not None
        return data

    @classmethod
    def from_storage(cls, site: str, data: dict[str, Any]) -> SiteConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["origins"] = tuple(values.get("origins", ()))
        return cls(id=site, **values)

    def patched(self, body: Body) -> SiteConfig:
        """A copy with every field of ``body`` validated and applied (400 on any error)."""
        reject_unknown(body, EDITABLE)
        changes: dict[str, Any] = {}
        for key, value in body.items():
            changes[key] = _PARSERS[key](value)
        updated = dataclasses.replace(self, **changes)
        if updated.visit_window_s < updated.online_window_s:
            raise bad_request(
                "invalid_visit_window_s", "visit_window_s must be at least online_window_s"
            )
        return updated


def _origins(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_ORIGINS:
        raise bad_request("invalid_origins", f"origins must be a list of at most {MAX_ORIGINS}")
    return tuple(dict.fromkeys(_origin(v) for v in value))


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if value not in choices:
            raise bad_request(f"invalid_{name}", f"{name} must be one of {', '.join(choices)}")
        return str(value)

    return parse


def _secret(value: object) -> str | None:
    if value is None:
        return None
    return string(value, "member_secret", min_len=32, max_len=256)


_PARSERS: dict[str, Callable[[object], object]] = {
    "name": lambda v: string(v, "name", min_len=0, max_len=200),
    "origins": _origins,
    "timezone": _timezone,
    "week_start": _choice("week_start", WEEKDAYS),
    "locale": lambda v: string(v, "locale", max_len=6, pattern=LOCALE),
    "online_window_s": lambda v: integer(v, "online_window_s", 10, 86_400),
    "visit_window_s": lambda v: integer(v, "visit_window_s", 60, 7 * 86_400),
    "member_secret": _secret,
    "bot_policy": _choice("bot_policy", BOT_POLICIES),
    "max_pages": lambda v: integer(v, "max_pages", 1, MAX_MAX_PAGES),
    "member_token_max_s": lambda v: integer(v, "member_token_max_s", 60, MAX_MEMBER_TOKEN_MAX_S),
}
