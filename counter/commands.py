"""``counter site``, ``base``, ``backup`` and ``restore``: admin operations on the command line.

They talk to Redis directly: ``REDIS_URL``, else the embedded server of the data directory.
A command attaches to the server of a running service (waiting while it loads its data) and
never stops it; with no service running it owns a server for its own duration, after any
other command that owns one has finished (see :mod:`counter.embedded`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from counter.backup.dump import dump, sites_to_back_up
from counter.backup.files import read_lines, writing
from counter.backup.load import restore
from counter.backup.progress import Counts, Progress
from counter.embedded import EmbeddedServer, EmbeddedServerError
from counter.errors import ApiError, StoreUnavailable
from counter.settings import Settings
from counter.sites.store import SiteStore
from counter.storage import RedisClient, connect
from counter.validation import site_id
from counter.web.admin import parse_base


@contextlib.asynccontextmanager
async def redis_for(settings: Settings) -> AsyncIterator[RedisClient]:
    server = None
    url = settings.redis_url
    if url is None:
        server = EmbeddedServer.from_settings(settings)
        try:
            await server.start(role="command")
        except EmbeddedServerError as exc:
            raise StoreUnavailable(f"embedded server: {exc}") from exc
        url = server.url
    redis = connect(url, settings.redis_timeout_s)
    try:
        yield redis
    finally:
        await redis.aclose()
        if server is not None and server.owned:
            await server.stop()


def print_json(data: Any) -> None:
    """The JSON output of every ``counter`` command."""
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def site_patch(args: argparse.Namespace) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for name in ("name", "timezone", "week_start", "locale", "member_secret", "bot_policy"):
        value = getattr(args, name, None)
        if value is not None:
            patch[name] = value
    if args.origin is not None:
        patch["origins"] = args.origin
    if args.online_window is not None:
        patch["online_window_s"] = args.online_window
    if args.visit_window is not None:
        patch["visit_window_s"] = args.visit_window
    return patch


async def run_site(settings: Settings, args: argparse.Namespace) -> int:
    async with redis_for(settings) as redis:
        sites = SiteStore(redis)
        if args.site_command == "list":
            print_json({"sites": await sites.ids()})
            return 0
        site = site_id(args.site)
        if args.site_command == "add":
            config, created = await sites.put(site, site_patch(args))
            print_json({**config.to_public(), "created": created})
        elif args.site_command == "show":
            print_json((await sites.require(site)).to_public())
        elif args.site_command == "delete":
            if not await sites.delete(site):
                raise ApiError(404, "unknown_site", f"no site {site!r}")
            print_json({"deleted": site})
        elif args.site_command == "audit":
            print_json({"entries": await sites.audit(site)})
    return 0


async def run_base(settings: Settings, args: argparse.Namespace) -> int:
    pages: dict[str, int] = {}
    for item in args.page or []:
        page, sep, count = item.rpartition("=")
        if not sep or not count.isdigit():
            raise ApiError(400, "invalid_pages", f"--page takes PATH=COUNT, got {item!r}")
        pages[page] = int(count)
    body: dict[str, Any] = {"pages": pages}
    if args.visits is not None:
        body["visits"] = args.visits
    if args.pageviews is not None:
        body["pageviews"] = args.pageviews
    visits, pageviews, parsed = parse_base(body)
    async with redis_for(settings) as redis:
        sites = SiteStore(redis)
        site = site_id(args.site)
        await sites.require(site)
        entry = await sites.set_base(
            site, visits=visits, pageviews=pageviews, pages=parsed, actor="cli"
        )
    print_json(entry)
    return 0


async def run_backup(settings: Settings, args: argparse.Namespace) -> int:
    """``counter backup [SITE ...] --out FILE``: prints a summary once the file is complete."""
    out, counts = Path(args.out), Counts()
    progress = Progress("backup", sys.stderr)
    async with redis_for(settings) as redis:
        sites = await sites_to_back_up(redis, args.sites, settings.store_retries)
        lines = dump(redis, sites, now=time.time(), counts=counts, retries=settings.store_retries)
        try:
            with writing(out) as file:
                async for line in lines:
                    file.write(line)
                    progress.show(counts)
        except OSError as exc:
            raise ApiError(400, "cannot_write", f"cannot write {out}: {exc}") from None
        finally:
            progress.done(counts)
    print_json({"file": str(out), "sites": sites, "keys": counts.keys, "bytes": counts.bytes})
    return 0


async def run_restore(settings: Settings, args: argparse.Namespace) -> int:
    """``counter restore FILE [--replace] [--site SITE ...]``: prints what was restored."""
    path = Path(args.file)
    counts, progress = Counts(), Progress("restore", sys.stderr)
    async with redis_for(settings) as redis:
        try:
            summary = await restore(
                redis,
                functools.partial(read_lines, path),
                replace=args.replace,
                only=args.site,
                retries=settings.store_retries,
                counts=counts,
                progress=progress.show,
            )
        except OSError as exc:
            raise ApiError(400, "cannot_read", f"cannot read {path}: {exc}") from None
        finally:
            progress.done(counts)
    print_json(summary)
    return 0
