"""The contracts of the poll scripts: ``vote.lua``, ``poll_read.lua``, ``poll_open.lua``,
``poll_seen.lua``, ``poll_save.lua``, ``poll_delete.lua`` and ``stream_ticket.lua``. Each
reply is parsed here, into typed values, and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

import orjson

from counter.polls.model import Poll, Tally

VoteCode = Literal[
    "ok",
    "rate_limited",
    "rate_limited_wide",
    "not_found",
    "scheduled",
    "closed",
    "no_options",
    "too_many_options",
    "duplicate_option",
    "unknown_option",
    "already_voted",
]
SaveCode = Literal["ok", "exists", "conflict", "has_votes"]
TicketCode = Literal["ok", "rate_limited"]


class ScriptReplyError(ValueError):
    """A script answered something its contract does not allow (a bug, never user input)."""


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str | int):
        return str(value)
    raise ScriptReplyError(f"expected text, got {value!r:.80}")


def _list(value: object, script: str) -> list[object]:
    if not isinstance(value, list):
        raise ScriptReplyError(f"{script} replied {value!r:.200}")
    return value


def _code(value: object, allowed: tuple[str, ...], script: str) -> str:
    code = _text(value)
    if code not in allowed:
        raise ScriptReplyError(f"{script} replied code {code!r}")
    return code


def tally(voters: object, flat: Sequence[object]) -> Tally:
    """``voters`` and ``option id, n`` pairs as a tally."""
    if len(flat) % 2:
        raise ScriptReplyError("option tallies come in pairs")
    votes = {_text(flat[i]): int(_text(flat[i + 1])) for i in range(0, len(flat), 2)}
    return Tally(int(_text(voters)), votes)


@dataclass(frozen=True, slots=True)
class VoteReply:
    """``code`` is "ok" (then ``poll`` and ``tally`` are set) or the script's refusal, with
    its detail (ms until the rate window ends, the maximum, an option id)."""

    code: VoteCode
    detail: str = ""
    poll: Poll | None = None
    tally: Tally | None = None


def parse_vote(reply: object, poll_id: str, site: str) -> VoteReply:
    """``vote.lua``: {"ok", def, voters, option id, n, ...} or {code, detail}."""
    out = _list(reply, "vote.lua")
    code = cast(VoteCode, _code(out[0], get_args(VoteCode), "vote.lua"))
    if code != "ok":
        return VoteReply(code, _text(out[1]))
    poll = Poll.from_storage(poll_id, site, orjson.loads(_text(out[1])))
    return VoteReply(code, poll=poll, tally=tally(out[2], out[3:]))


@dataclass(frozen=True, slots=True)
class Stored:
    """A poll as read: definition, revision, results, and whether the asking voter voted."""

    poll: Poll
    rev: str
    tally: Tally
    voted: bool


def parse_read(reply: object, poll_ids: Sequence[str], site: str) -> list[Stored]:
    """``poll_read.lua``: per poll, {} when gone, else {def, rev, voters, voted, id, n...}."""
    out = _list(reply, "poll_read.lua")
    if len(out) != len(poll_ids):
        raise ScriptReplyError("poll_read.lua answered for another number of polls")
    found = []
    for poll_id, raw in zip(poll_ids, out, strict=True):
        entry = _list(raw, "poll_read.lua")
        if entry:
            poll = Poll.from_storage(poll_id, site, orjson.loads(_text(entry[0])))
            found.append(Stored(poll, _text(entry[1]), tally(entry[2], entry[4:]), entry[3] == 1))
    return found


@dataclass(frozen=True, slots=True)
class OpenPolls:
    """``polls``: the newest open polls (``voted`` False: nobody asked); ``open``: how many
    were open in all (more than listed when the list was cut)."""

    polls: tuple[Stored, ...]
    open: int


def parse_open(reply: object, site: str) -> OpenPolls:
    """``poll_open.lua``: {open, {poll id, def, rev, voters, option id, n, ...}...}."""
    out = _list(reply, "poll_open.lua")
    if not out:
        raise ScriptReplyError("poll_open.lua replied nothing")
    polls = []
    for raw in out[1:]:
        entry = _list(raw, "poll_open.lua")
        poll = Poll.from_storage(_text(entry[0]), site, orjson.loads(_text(entry[1])))
        polls.append(Stored(poll, _text(entry[2]), tally(entry[3], entry[4:]), False))
    return OpenPolls(tuple(polls), int(_text(out[0])))


def parse_seen(reply: object, polls: int) -> tuple[str, list[bool]]:
    """``poll_seen.lua``: {generation, voted (1/0) per poll}."""
    out = _list(reply, "poll_seen.lua")
    if len(out) != polls + 1:
        raise ScriptReplyError("poll_seen.lua answered for another number of polls")
    return _text(out[0]), [flag == 1 for flag in out[1:]]


def parse_ticket(reply: object) -> tuple[TicketCode, str]:
    """``stream_ticket.lua``: {"ok", ""} or {"rate_limited", ms until the window ends}."""
    out = _list(reply, "stream_ticket.lua")
    code = cast(TicketCode, _code(out[0], get_args(TicketCode), "stream_ticket.lua"))
    return code, _text(out[1])


def parse_save(reply: object) -> tuple[SaveCode, str]:
    """``poll_save.lua``: {"ok", new revision} or {code, detail}."""
    out = _list(reply, "poll_save.lua")
    code = cast(SaveCode, _code(out[0], get_args(SaveCode), "poll_save.lua"))
    return code, _text(out[1])


def parse_delete(reply: object) -> bool:
    """``poll_delete.lua``: 1 when the poll existed."""
    if reply not in (0, 1):
        raise ScriptReplyError(f"poll_delete.lua replied {reply!r:.80}")
    return reply == 1
