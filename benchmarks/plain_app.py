"""The ceiling: a plain aiohttp app that answers counter's requests with a fixed JSON body.

It runs exactly as ``counter serve`` runs counter (``web.run_app`` on the event loop
``COUNTER_LOOP`` names, the same request log with ``COUNTER_ACCESS_LOG`` on or off, the same
logging setup), reads each POST body like any service must, and answers with a stats body of
the same shape and size, with no Redis.

    python -m benchmarks.plain_app --port 8081
"""

from __future__ import annotations

import argparse
import logging

import orjson
from aiohttp import web

from counter.instruments import NO_INSTRUMENTS
from counter.serve import new_loop
from counter.settings import Settings
from counter.web.metrics import ACCESS_LOG, RequestLog

STATS = orjson.dumps(
    {
        "site": "bench",
        "online": {"guests": 481, "members": 0, "bots": 3, "total": 481, "window_s": 300},
        "visits": {
            "total": 77445445, "today": 12804, "yesterday": 25117, "this_week": 88310,
            "last_week": 0, "this_month": 402555, "last_month": 0, "this_year": 0,
        },
        "pageviews": {"total": 120000000, "today": 30211},
        "uniques": {"today": 9120, "yesterday": 18044},
        "pages": {"/news/123": 138},
        "peak": {"online": 1520, "at": "2026-11-20T09:14:00+07:00"},
        "timezone": "Asia/Ho_Chi_Minh",
        "server_time": "2026-11-26T13:05:00+07:00",
    }
)  # fmt: skip


async def hit(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=STATS, content_type="application/json")


async def stats(request: web.Request) -> web.Response:
    return web.Response(body=STATS, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_routes(
        [web.post("/v1/hit", hit), web.get("/v1/stats", stats), web.get("/healthz", healthz)]
    )
    return app


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--port", type=int, required=True)
    port = args.parse_args().port
    settings = Settings.from_env()
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(
        create_app(),
        host="127.0.0.1",
        port=port,
        access_log=ACCESS_LOG,
        access_log_class=RequestLog.bound(NO_INSTRUMENTS, lines=settings.access_log),
        print=None,
        shutdown_timeout=10.0,
        loop=new_loop(settings.loop),
    )


if __name__ == "__main__":
    main()
