"""The ``counter`` command line: serve, site, base, poll, backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from typing import Any

from counter.commands import run_backup, run_base, run_restore, run_site
from counter.commands_polls import add_poll_parser, run_poll
from counter.counting.periods import WEEKDAYS
from counter.embedded import EmbeddedServerError
from counter.errors import ApiError, StoreUnavailable
from counter.serve import serve_one, serve_workers
from counter.settings import Settings, SettingsError


def _site_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("site", help="site id, e.g. demo")
    p.add_argument("--name")
    p.add_argument("--origin", action="append", help="allowed origin (repeatable)")
    p.add_argument("--timezone", help="IANA timezone, default Asia/Ho_Chi_Minh")
    p.add_argument("--week-start", choices=WEEKDAYS)
    p.add_argument("--locale")
    p.add_argument("--online-window", type=int, help="seconds, default 300")
    p.add_argument("--visit-window", type=int, help="seconds, default 1800")
    p.add_argument("--member-secret", help="at least 32 characters")
    p.add_argument("--bot-policy", choices=("separate", "ignore"))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="counter", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="default COUNTER_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default COUNTER_PORT or 8080")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument("--worker-process", action="store_true", help=argparse.SUPPRESS)

    site = sub.add_parser("site", help="create, show, list or delete sites")
    site_sub = site.add_subparsers(dest="site_command", required=True)
    _site_options(site_sub.add_parser("add", help="create a site or update its config"))
    for name, text in (
        ("show", "show a site"),
        ("delete", "delete a site and its counts"),
        ("audit", "show a site's base-count audit log"),
    ):
        site_sub.add_parser(name, help=text).add_argument("site")
    site_sub.add_parser("list", help="list site ids")

    base = sub.add_parser("base", help="imported base counts")
    base_sub = base.add_subparsers(dest="base_command", required=True)
    base_set = base_sub.add_parser("set", help="set base counts (audited)")
    base_set.add_argument("site")
    base_set.add_argument("--visits", type=int)
    base_set.add_argument("--pageviews", type=int)
    base_set.add_argument("--page", action="append", metavar="PATH=COUNT")
    add_poll_parser(sub)
    _backup_parsers(sub)
    return root


def _backup_parsers(sub: Any) -> None:
    backup = sub.add_parser("backup", help="write sites to a portable backup file (JSON lines)")
    backup.add_argument("sites", nargs="*", metavar="SITE", help="sites to back up (default: all)")
    backup.add_argument("--out", required=True, metavar="FILE", help="file to write (.gz: gzip)")
    restore = sub.add_parser("restore", help="load the sites of a backup file")
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--replace", action="store_true", help="overwrite sites that exist")
    restore.add_argument(
        "--site", action="append", default=[], help="restore only this site (repeatable)"
    )


def serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.host or args.port is not None:
        settings = dataclasses.replace(
            settings,
            host=args.host or settings.host,
            port=settings.port if args.port is None else args.port,
        )
    if args.workers < 1:
        print("counter: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        if args.worker_process:
            serve_one(settings, reuse_port=True, announce=False)
        elif args.workers == 1:
            serve_one(settings)
        elif not serve_workers(settings, args.workers):
            return 1
    except (OSError, EmbeddedServerError) as exc:
        print(f"counter: cannot serve on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"counter: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return serve(settings, args)
    try:
        command = {
            "site": run_site,
            "base": run_base,
            "poll": run_poll,
            "backup": run_backup,
            "restore": run_restore,
        }[args.command]
        return asyncio.run(command(settings, args))
    except ApiError as exc:
        print(f"counter: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"counter: storage unavailable: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
