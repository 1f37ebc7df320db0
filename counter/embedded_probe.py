"""Asking a Redis-protocol server how it is, without a client library or its handshake.

One inline command on a fresh connection each time: a server that is loading its data
answers ``-LOADING`` at once on a new connection, so a probe can tell "alive, loading" from
"not there", which is what decides whether a server may be stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Literal

Probe = Literal["ready", "loading", "busy", "down"]

PROBE_TIMEOUT_S = 5.0


async def _ask(socket_path: Path, command: bytes, timeout_s: float) -> bytes | None:
    """One inline command on a fresh connection: the reply's first line, or a bulk reply's
    payload; None when nothing listens. Raises TimeoutError when no reply comes in time."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
    except OSError:
        return None
    try:
        writer.write(command + b"\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout_s)
        if line.startswith(b"$") and line[1:].strip().isdigit():
            return (await asyncio.wait_for(reader.readexactly(int(line[1:]) + 2), timeout_s))[:-2]
        return line
    except (OSError, asyncio.IncompleteReadError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def probe(socket_path: Path, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """What a PING says: ``ready``; ``loading`` (alive, reading its data); ``busy`` (the
    connection is accepted but no answer comes); ``down`` (nothing listens)."""
    try:
        reply = await _ask(socket_path, b"PING", timeout_s)
    except TimeoutError:
        return "busy"
    if reply is None:
        return "down"
    if reply.startswith(b"+PONG"):
        return "ready"
    return "loading" if reply.startswith(b"-LOADING") else "busy"


async def memory_use(socket_path: Path) -> tuple[int, int] | None:
    """``used_memory`` and ``maxmemory`` from ``INFO memory`` (None when unavailable)."""
    try:
        reply = await _ask(socket_path, b"INFO memory", PROBE_TIMEOUT_S)
    except TimeoutError:
        return None
    fields = {}
    for line in (reply or b"").decode(errors="replace").splitlines():
        name, _, value = line.partition(":")
        fields[name] = value
    try:
        return int(fields["used_memory"]), int(fields["maxmemory"])
    except (KeyError, ValueError):
        return None
