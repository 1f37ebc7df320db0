"""The backup file: JSON lines, one record a line, checked as it is read.

::

    {"format": "counter-backup", "version": 1, "created_at": "2026-11-26T03:00:00Z"}
    {"t": "site", "site": "demo"}
    {"t": "key", "site": "demo", "key": "pages", "type": "hash", "part": 0, "data": [...]}
    {"t": "key", "site": "demo", "key": "on:g", "type": "zset", "part": 0, "enc": "base64", ...}
    {"t": "index", "site": "demo", "key": "c:sites", "type": "set", "part": 0, "data": ["demo"]}
    {"t": "end", "site": "demo", "keys": 12, "lines": 14}
    {"t": "done", "sites": 1}

A ``key`` line holds part of one key under the site's hash tag (``key`` is its name after
the ``c:{site}:`` prefix), so new per-site keys are backed up without code changes. Its
``data`` is the value by type: ``string`` [value], ``hash`` [field, value, ...], ``zset``
[member, score, ...] (scores as the server writes them), ``set`` [member, ...], ``list``
[element, ...] in order. A large key spans several lines (``part`` 0, 1, ...), each of at
most :data:`CHUNK` entries. Data items are UTF-8 text unless the line says
``"enc": "base64"`` (then every item is base64): visitor digests and HyperLogLogs are raw
bytes. A key name that is not UTF-8 comes as ``key_b64`` instead of ``key``. ``ttl_ms``
(absent: no expiry) is the key's remaining time when it was read. ``index`` lines carry a
site's entries in the global keys (``c:sites``, ``c:polls``). ``end`` counts a site's keys
and lines and ``done`` the sites, so a truncated file is refused before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from counter import redis_keys as keys
from counter.errors import ApiError
from counter.validation import SITE_ID

FORMAT = "counter-backup"
VERSION = 1
CHUNK = 1000
"""Most entries (hash fields, members, elements) on one line, and the SCAN count hint."""

TYPES = frozenset({"string", "hash", "zset", "set", "list"})
PAIRED = frozenset({"hash", "zset"})
GLOBAL_TYPES = {keys.SITES: "set", keys.POLLS: "hash"}
"""The global keys a site has entries in, and their types."""

Scope = Literal["key", "index"]


class BackupFormatError(ApiError):
    """The file is not a complete backup this version can read (nothing was written)."""

    def __init__(self, lineno: int, message: str) -> None:
        super().__init__(400, "invalid_backup", f"line {lineno}: {message}")


def prefix(site: str) -> str:
    """What every key of ``site`` starts with: ``c:{site}:``."""
    return keys.site_pattern(site).removesuffix("*")


def ephemeral(site: str, key: bytes) -> bool:
    """Keys that are never backed up: batch markers, rate counters, stream tickets, the
    tombstone, the flag of a change announced in the last second."""
    if key in (keys.tombstone(site).encode(), keys.announced(site).encode()):
        return True
    short_lived = (
        keys.batch_marker(site, ""),
        keys.vote_rate(site, ""),
        keys.ticket_rate(site, ""),
        keys.stream_ticket(site, ""),
    )
    return key.startswith(tuple(k.encode() for k in short_lived))


def entries(type_: str, data: list[bytes]) -> int:
    return len(data) // 2 if type_ in PAIRED else len(data)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Part of one key: a site key (``name`` after the site prefix) or a global index key."""

    scope: Scope
    site: str
    name: bytes
    type: str
    part: int
    data: list[bytes]
    ttl_ms: int | None = None

    @property
    def key(self) -> bytes:
        """The full key name in Redis."""
        return prefix(self.site).encode() + self.name if self.scope == "key" else self.name

    def to_json(self) -> dict[str, Any]:
        name_enc, (name,) = _pack([self.name])
        enc, data = _pack(self.data)
        line: dict[str, Any] = {"t": self.scope, "site": self.site}
        line["key_b64" if name_enc else "key"] = name
        line |= {"type": self.type, "part": self.part}
        if self.ttl_ms is not None:
            line["ttl_ms"] = self.ttl_ms
        if enc is not None:
            line["enc"] = enc
        line["data"] = data
        return line


@dataclass(frozen=True, slots=True)
class SiteStart:
    site: str


@dataclass(frozen=True, slots=True)
class SiteEnd:
    site: str
    keys: int
    lines: int


Record = SiteStart | Chunk | SiteEnd


def header(now: float) -> dict[str, Any]:
    created = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"format": FORMAT, "version": VERSION, "created_at": created}


def encode(line: dict[str, Any]) -> bytes:
    return orjson.dumps(line) + b"\n"


def error_line(message: str) -> bytes:
    """The last line of a backup stream that failed midway (a restore refuses the file)."""
    return encode({"t": "error", "message": message})


def split(type_: str, data: list[bytes]) -> Iterator[list[bytes]]:
    """``data`` in slices of at most :data:`CHUNK` entries (pairs kept together)."""
    step = CHUNK * 2 if type_ in PAIRED else CHUNK
    for i in range(0, len(data), step):
        yield data[i : i + step]


def _pack(items: list[bytes]) -> tuple[str | None, list[str]]:
    try:
        return None, [item.decode() for item in items]
    except UnicodeDecodeError:
        return "base64", [base64.b64encode(item).decode("ascii") for item in items]


def _unpack(enc: object, items: list[str]) -> list[bytes]:
    if enc is None:
        return [item.encode() for item in items]
    if enc != "base64":
        raise ValueError(f"unknown encoding {enc!r}")
    try:
        return [base64.b64decode(item, validate=True) for item in items]
    except binascii.Error:
        raise ValueError("data is not valid base64") from None


def _score(raw: bytes) -> None:
    try:
        value = float(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"zset score {raw!r} is not a number") from None
    if math.isnan(value):
        raise ValueError("a zset score cannot be NaN")


def _check_data(type_: str, data: list[bytes]) -> None:
    if type_ not in TYPES:
        raise ValueError(f"unknown type {type_!r}")
    if not data or (type_ in PAIRED and len(data) % 2) or (type_ == "string" and len(data) != 1):
        raise ValueError(f"{len(data)} data items do not fit a {type_}")
    if type_ == "zset":
        for score in data[1::2]:
            _score(score)


def _check_index(chunk: Chunk) -> None:
    name = chunk.name.decode(errors="replace")
    if GLOBAL_TYPES.get(name) != chunk.type:
        raise ValueError(f"no global key {name!r} of type {chunk.type!r}")
    owners = chunk.data if chunk.type == "set" else chunk.data[1::2]
    if any(owner != chunk.site.encode() for owner in owners):
        raise ValueError(f"an entry of {name} belongs to another site")


def _chunk(line: dict[str, Any], site: str) -> Chunk:
    scope, type_, part = line.get("t"), line.get("type"), line.get("part")
    data, ttl = line.get("data"), line.get("ttl_ms")
    name = line.get("key", line.get("key_b64"))
    if line.get("site") != site:
        raise ValueError(f"a line of site {line.get('site')!r} inside site {site!r}")
    if not isinstance(name, str) or not isinstance(type_, str) or not isinstance(data, list):
        raise ValueError("key, type and data are required")
    if not all(isinstance(item, str) for item in data):
        raise ValueError("data items must be strings")
    if not isinstance(part, int) or isinstance(part, bool) or part < 0:
        raise ValueError("part must be a non-negative integer")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0):
        raise ValueError("ttl_ms must be a positive integer")
    (raw_name,) = _unpack("base64" if "key_b64" in line else None, [name])
    raw = _unpack(line.get("enc"), data)
    _check_data(type_, raw)
    chunk = Chunk("key" if scope == "key" else "index", site, raw_name, type_, part, raw, ttl)
    if chunk.scope == "index":
        _check_index(chunk)
    elif not raw_name or ephemeral(site, chunk.key):
        raise ValueError(f"key {name!r} is not one a backup holds")
    return chunk


class _Reader:
    """Checks the order of records: header, then sites (keys in parts, an end), then done."""

    def __init__(self) -> None:
        self.site: str | None = None
        self.sites: list[str] = []
        self.current: tuple[Scope, bytes, str, int] | None = None
        self.keys = self.lines = 0
        self.done = False

    def header(self, line: dict[str, Any]) -> None:
        if line.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        if line.get("version") != VERSION:
            raise ValueError(f"version {line.get('version')!r}; this counter reads {VERSION}")

    def record(self, line: dict[str, Any]) -> Record | None:
        """The line's record; None for the closing ``done`` line."""
        kind = line.get("t")
        if self.done:
            raise ValueError("a line after the end of the backup")
        if kind == "error":
            raise ValueError(f"the backup stopped with an error: {line.get('message')}")
        if kind in {"key", "index"}:
            return self.chunk(line)
        if self.site is not None and kind != "end":
            raise ValueError(f"site {self.site!r} has no end line")
        if kind == "site":
            return self.start(line)
        if kind == "end":
            return self.end(line)
        if kind != "done":
            raise ValueError(f"unknown record {kind!r}")
        if line.get("sites") != len(self.sites):
            raise ValueError(f"{line.get('sites')!r} sites announced, {len(self.sites)} read")
        self.done = True
        return None

    def start(self, line: dict[str, Any]) -> SiteStart:
        site = line.get("site")
        if not isinstance(site, str) or not SITE_ID.fullmatch(site):
            raise ValueError(f"invalid site id {site!r}")
        if site in self.sites:
            raise ValueError(f"site {site!r} appears twice")
        self.site, self.current, self.keys, self.lines = site, None, 0, 0
        self.sites.append(site)
        return SiteStart(site)

    def chunk(self, line: dict[str, Any]) -> Chunk:
        if self.site is None:
            raise ValueError("a key line outside a site")
        chunk = _chunk(line, self.site)
        follows = self.current == (chunk.scope, chunk.name, chunk.type, chunk.part - 1)
        if chunk.part != 0 and not follows:
            raise ValueError(f"part {chunk.part} of {line.get('key')!r} is out of order")
        self.current = (chunk.scope, chunk.name, chunk.type, chunk.part)
        if chunk.part == 0 and chunk.scope == "key":
            self.keys += 1
        self.lines += 1
        return chunk

    def end(self, line: dict[str, Any]) -> SiteEnd:
        if self.site is None or line.get("site") != self.site:
            raise ValueError("an end line outside its site")
        if (line.get("keys"), line.get("lines")) != (self.keys, self.lines):
            raise ValueError(f"site {self.site!r} is incomplete")
        end = SiteEnd(self.site, self.keys, self.lines)
        self.site = None
        return end


def records(lines: Iterable[bytes]) -> Iterator[Record]:
    """The records of a backup file, checked; :class:`BackupFormatError` at the first fault
    (a file that ends before its ``done`` line included)."""
    reader = _Reader()
    lineno = 0
    for lineno, raw in enumerate(lines, 1):
        try:
            line = orjson.loads(raw)
            if not isinstance(line, dict):
                raise ValueError("a line must be a JSON object")
            if lineno == 1:
                reader.header(line)
                continue
            record = reader.record(line)
        except ValueError as exc:  # orjson.JSONDecodeError included
            raise BackupFormatError(lineno, str(exc)) from None
        if record is not None:
            yield record
    if lineno == 0:
        raise BackupFormatError(1, "the file is empty")
    if not reader.done:
        raise BackupFormatError(lineno, "the file ends before the end of the backup")
