"""``counter poll ...``: create, edit, list, show, close, reopen, delete and export polls.

Like ``counter site``, it talks to Redis directly (``REDIS_URL``, else the data directory's
embedded server); live-result streams of a running service still see every change, because
each change is published from inside its Lua script.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from counter.commands import print_json, redis_for
from counter.counting.visitor import DailySalt
from counter.polls.model import VISIBILITY
from counter.polls.service import PollService, RateLimit, export_csv
from counter.polls.store import PollStore
from counter.settings import Settings
from counter.sites.store import SiteStore

Command = Callable[[PollService, argparse.Namespace], Awaitable[None]]


def _fields(p: argparse.ArgumentParser, *, creating: bool) -> None:
    p.add_argument("--question", required=creating)
    p.add_argument("--option", action="append", help="option text (repeat, 2 to 50)")
    p.add_argument("--max-choices", type=int, help="1 for a single choice (default)")
    p.add_argument("--starts-at", help="ISO time; without an offset, the site's local time")
    p.add_argument("--ends-at", help="ISO time, or 'none' for open-ended")
    p.add_argument("--visibility", choices=VISIBILITY, help="when results are shown")
    change = p.add_mutually_exclusive_group()
    change.add_argument("--allow-change", action="store_true", default=None)
    change.add_argument("--no-allow-change", dest="allow_change", action="store_false")


def add_poll_parser(sub: Any) -> None:
    """The ``poll`` subcommand and its own subcommands."""
    poll = sub.add_parser("poll", help="create, edit, list, close, reopen, delete, export polls")
    poll_sub = poll.add_subparsers(dest="poll_command", required=True)
    create = poll_sub.add_parser("create", help="create a poll for a site")
    create.add_argument("site")
    _fields(create, creating=True)
    edit = poll_sub.add_parser("edit", help="change any field of a poll")
    edit.add_argument("id")
    _fields(edit, creating=False)
    poll_sub.add_parser("list", help="a site's polls, any state, with results").add_argument("site")
    for name, text in (
        ("show", "show a poll with its results"),
        ("close", "close a poll now"),
        ("delete", "delete a poll and its votes"),
    ):
        poll_sub.add_parser(name, help=text).add_argument("id")
    reopen = poll_sub.add_parser("reopen", help="open a closed poll again")
    reopen.add_argument("id")
    reopen.add_argument("--until", help="new end (ISO time); open-ended when omitted")
    export = poll_sub.add_parser("export", help="results as CSV (hidden per results policy)")
    export.add_argument("id")
    export.add_argument("--format", choices=("csv", "json"), default="csv")


def poll_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for arg, field in (
        ("question", "question"),
        ("option", "options"),
        ("max_choices", "max_choices"),
        ("starts_at", "starts_at"),
        ("visibility", "results_visibility"),
        ("allow_change", "allow_change"),
    ):
        if getattr(args, arg) is not None:
            body[field] = getattr(args, arg)
    if args.ends_at is not None:
        body["ends_at"] = None if args.ends_at.lower() == "none" else args.ends_at
    return body


async def _create(service: PollService, args: argparse.Namespace) -> None:
    print_json(await service.create({"site": args.site, **poll_body(args)}))


async def _edit(service: PollService, args: argparse.Namespace) -> None:
    print_json(await service.edit(args.id, poll_body(args)))


async def _list(service: PollService, args: argparse.Namespace) -> None:
    print_json(await service.overview(args.site))


async def _show(service: PollService, args: argparse.Namespace) -> None:
    print_json(await service.show(args.id))


async def _close(service: PollService, args: argparse.Namespace) -> None:
    print_json(await service.close(args.id))


async def _reopen(service: PollService, args: argparse.Namespace) -> None:
    print_json(await service.edit(args.id, {"ends_at": args.until}))


async def _delete(service: PollService, args: argparse.Namespace) -> None:
    await service.delete(args.id)
    print_json({"deleted": args.id})


async def _export(service: PollService, args: argparse.Namespace) -> None:
    rows = await service.export(args.id)
    if args.format == "json":
        print_json({"rows": rows})
    else:
        sys.stdout.write(export_csv(rows))


COMMANDS: dict[str, Command] = {
    "create": _create,
    "edit": _edit,
    "list": _list,
    "show": _show,
    "close": _close,
    "reopen": _reopen,
    "delete": _delete,
    "export": _export,
}


async def run_poll(settings: Settings, args: argparse.Namespace) -> int:
    async with redis_for(settings) as redis:
        retention_ms = settings.poll_retention_days * 86_400_000
        store = PollStore(redis, retries=settings.store_retries, retention_ms=retention_ms)
        sites = SiteStore(redis, retries=settings.store_retries)
        service = PollService(store, sites, time.time, DailySalt(redis), RateLimit())
        await COMMANDS[args.poll_command](service, args)
    return 0
