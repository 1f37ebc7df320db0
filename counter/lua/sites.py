"""The contracts of the site scripts: ``cas.lua``, ``set_base.lua``, ``peak_reset.lua`` and
``pages_prune.lua``.
Each reply is parsed here, into typed values, and nowhere else."""

from __future__ import annotations

from typing import Any

import orjson

from counter.lua.polls import ScriptReplyError


def parse_cas(reply: object) -> bool:
    """``cas.lua``: 1 when the key held the value read and now holds the new one."""
    if reply not in (0, 1):
        raise ScriptReplyError(f"cas.lua replied {reply!r:.80}")
    return reply == 1


def parse_audit_entry(reply: object) -> dict[str, Any]:
    """``set_base.lua`` and ``peak_reset.lua``: the audit entry written, as JSON text
    ``{"at", "actor", "before", "after"}``."""
    if not isinstance(reply, bytes | str):
        raise ScriptReplyError(f"expected an audit entry, got {reply!r:.80}")
    entry = orjson.loads(reply)
    if not isinstance(entry, dict) or not {"at", "actor", "before", "after"} <= entry.keys():
        raise ScriptReplyError(f"not an audit entry: {reply!r:.200}")
    return entry


def parse_pruned(reply: object) -> int:
    """``pages_prune.lua``: the number of pages removed."""
    if not isinstance(reply, int) or reply < 0:
        raise ScriptReplyError(f"pages_prune.lua replied {reply!r:.80}")
    return reply
