"""A poll's definition, how a JSON body creates or edits one, and how it is shown."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from counter.errors import bad_request
from counter.validation import Body, integer, reject_unknown, string

POLL_ID = re.compile(r"[A-Za-z0-9_-]{4,32}")
OPTION_ID = re.compile(r"o[0-9]{1,4}")
MAX_OPTION_ID_LEN = 5  # "o9999"
LAST_OPTION_NUMBER = 9999
VISIBILITY = ("always", "after_vote", "after_close", "never")
MIN_OPTIONS, MAX_OPTIONS = 2, 50
MAX_QUESTION, MAX_OPTION_TEXT = 300, 200
MIN_MS, MAX_MS = 946_684_800_000, 4_102_444_800_000  # 2000-01-01 .. 2100-01-01 UTC
FIELDS = frozenset(
    {
        "site",
        "question",
        "options",
        "max_choices",
        "starts_at",
        "ends_at",
        "results_visibility",
        "allow_change",
    }
)


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Tally:
    """Results: distinct voters and votes per option id."""

    voters: int
    votes: dict[str, int]


@dataclass(frozen=True)
class Poll:
    """One poll. Times are Unix milliseconds (UTC); ``ends_at`` None means open-ended."""

    id: str
    site: str
    question: str
    options: tuple[Option, ...]
    max_choices: int
    starts_at: int
    ends_at: int | None
    results_visibility: str
    allow_change: bool
    created_at: int
    last_option: int = 0
    """The highest option number ever given: a removed option's id is never given again."""

    def state(self, now_ms: int) -> str:
        if now_ms < self.starts_at:
            return "scheduled"
        if self.ends_at is not None and now_ms >= self.ends_at:
            return "closed"
        return "open"

    def results_visible(self, state: str, voted: bool) -> bool:
        """Whether the public may see results now (admins always may)."""
        policy = self.results_visibility
        return (
            policy == "always"
            or (policy == "after_vote" and (voted or state == "closed"))
            or (policy == "after_close" and state == "closed")
        )

    def to_storage(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["options"] = [[o.id, o.text] for o in self.options]
        del data["id"], data["site"]
        return data

    @classmethod
    def from_storage(cls, poll_id: str, site: str, data: dict[str, Any]) -> Poll:
        options = tuple(Option(i, t) for i, t in data["options"])
        fields = {k: v for k, v in data.items() if k != "options"}
        return cls(id=poll_id, site=site, options=options, **fields)

    def to_json(
        self, now_ms: int, tz: ZoneInfo, *, voted: bool, tally: Tally, reveal: bool = False
    ) -> dict[str, Any]:
        """The poll as clients see it; results only where the policy (or ``reveal``) allows."""
        state = self.state(now_ms)
        results = None
        if reveal or self.results_visible(state, voted):
            results = {
                "votes": {o.id: tally.votes.get(o.id, 0) for o in self.options},
                "voters": tally.voters,
            }
        return {
            "id": self.id,
            "site": self.site,
            "question": self.question,
            "options": [{"id": o.id, "text": o.text} for o in self.options],
            "max_choices": self.max_choices,
            "starts_at": show_time(self.starts_at, tz),
            "ends_at": None if self.ends_at is None else show_time(self.ends_at, tz),
            "state": state,
            "results_visibility": self.results_visibility,
            "allow_change": self.allow_change,
            "voted": voted,
            "results": results,
            "server_time": show_time(now_ms, tz),
        }


def show_time(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="seconds")


def parse_time(value: object, name: str, tz: ZoneInfo) -> int:
    """ISO 8601 to Unix ms; a time without an offset is local time in the site's zone."""
    text = string(value, name, max_len=40)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(
            f"invalid_{name}", f"{name} must be an ISO 8601 time like 2026-12-01T08:00:00+07:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    ms = int(when.timestamp() * 1000)
    if not MIN_MS <= ms < MAX_MS:
        raise bad_request(f"invalid_{name}", f"{name} must be between 2000 and 2100")
    return ms


def _question(value: object) -> str:
    return string(value, "question", max_len=MAX_QUESTION).strip() or _blank("question")


def _blank(name: str) -> str:
    raise bad_request(f"invalid_{name}", f"{name} must not be blank")


def _number(option: Option) -> int:
    return int(option.id[1:])


def _options(value: object, poll: Poll) -> tuple[Option, ...]:
    """Texts (kept ids where the text is unchanged, new ids otherwise) or {"id", "text"}
    objects naming an existing option (to fix its text and keep its votes). New ids follow
    the highest ever given, so a stale form's vote never lands on a different option."""
    current = poll.options
    if not isinstance(value, list) or not MIN_OPTIONS <= len(value) <= MAX_OPTIONS:
        raise bad_request(
            "invalid_options", f"options must be a list of {MIN_OPTIONS} to {MAX_OPTIONS}"
        )
    by_text = {o.text: o.id for o in current}
    known = {o.id for o in current}
    used: set[str] = set()
    picked: list[tuple[str | None, str]] = []
    for item in value:
        wanted: str | None = None
        if isinstance(item, dict):
            reject_unknown(item, frozenset({"id", "text"}))
            wanted = string(
                item.get("id"), "option_id", max_len=MAX_OPTION_ID_LEN, pattern=OPTION_ID
            )
            if wanted not in known:
                raise bad_request("invalid_options", f"no option {wanted!r} to rename")
            item = item.get("text")
        text = string(item, "options", max_len=MAX_OPTION_TEXT).strip() or _blank("options")
        picked.append((wanted or by_text.get(text), text))
    if len({t for _, t in picked}) != len(picked):
        raise bad_request("invalid_options", "options must be distinct")
    fresh = max([poll.last_option, *map(_number, current)])
    options = []
    for wanted, text in picked:
        if wanted is None or wanted in used:
            fresh += 1
            if fresh > LAST_OPTION_NUMBER:
                raise bad_request("invalid_options", "this poll has used up its option ids")
            wanted = f"o{fresh}"
        used.add(wanted)
        options.append(Option(wanted, text))
    return tuple(options)


def _choice(value: object) -> str:
    if value not in VISIBILITY:
        raise bad_request(
            "invalid_results_visibility",
            f"results_visibility must be one of {', '.join(VISIBILITY)}",
        )
    return str(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise bad_request("invalid_allow_change", "allow_change must be true or false")
    return value


def new_poll(poll_id: str, site: str, body: Body, tz: ZoneInfo, now_ms: int) -> Poll:
    """A poll from a creation body (``site`` already checked by the caller)."""
    reject_unknown(body, FIELDS)
    for required in ("question", "options"):
        if required not in body:
            raise bad_request(f"invalid_{required}", f"{required} is required")
    start = now_ms - now_ms % 1000  # whole seconds, as shown: closing "now" is never early
    blank = Poll(poll_id, site, "", (), 1, start, None, "after_vote", False, now_ms)
    return edited(blank, {k: v for k, v in body.items() if k != "site"}, tz)


_PARSERS: dict[str, Callable[[object, Poll, ZoneInfo], Any]] = {
    "question": lambda v, p, tz: _question(v),
    "options": lambda v, p, tz: _options(v, p),
    "max_choices": lambda v, p, tz: integer(v, "max_choices", 1, MAX_OPTIONS),
    "starts_at": lambda v, p, tz: p.starts_at if v is None else parse_time(v, "starts_at", tz),
    "ends_at": lambda v, p, tz: None if v is None else parse_time(v, "ends_at", tz),
    "results_visibility": lambda v, p, tz: _choice(v),
    "allow_change": lambda v, p, tz: _flag(v),
}


def edited(poll: Poll, body: Body, tz: ZoneInfo) -> Poll:
    """A copy of ``poll`` with every field of ``body`` validated and applied."""
    reject_unknown(body, FIELDS)
    if "site" in body and body["site"] != poll.site:
        raise bad_request("invalid_site", "a poll cannot move to another site")
    changes = {k: _PARSERS[k](v, poll, tz) for k, v in body.items() if k != "site"}
    updated = dataclasses.replace(poll, **changes)
    last = max([poll.last_option, *map(_number, updated.options)])
    updated = dataclasses.replace(updated, last_option=last)
    if updated.max_choices > len(updated.options):
        raise bad_request("invalid_max_choices", "max_choices must not exceed the option count")
    if updated.ends_at is not None and updated.ends_at < updated.starts_at:
        raise bad_request("invalid_ends_at", "ends_at must not be before starts_at")
    return updated
