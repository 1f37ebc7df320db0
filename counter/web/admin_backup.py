"""Admin API: one site's backup, streamed as JSON lines (``counter backup`` over HTTP)."""

from __future__ import annotations

import logging

from aiohttp import web

from counter.appkeys import CLOCK, REDIS, SETTINGS
from counter.backup.codec import error_line
from counter.backup.dump import dump, sites_to_back_up
from counter.backup.progress import Counts
from counter.errors import ApiError, StoreUnavailable
from counter.web.admin import require_admin

log = logging.getLogger(__name__)


async def backup_site(request: web.Request) -> web.StreamResponse:
    """The backup file of one site; ``counter restore`` reads it. A failure once the stream
    has begun ends it with an ``error`` line instead of the closing one, so a restore
    refuses the incomplete file."""
    require_admin(request)
    redis, retries = request.app[REDIS], request.app[SETTINGS].store_retries
    (site,) = await sites_to_back_up(redis, [request.match_info["site"]], retries)
    resp = web.StreamResponse(
        headers={
            "Content-Type": "application/x-ndjson",
            "Content-Disposition": f'attachment; filename="{site}.backup.jsonl"',
            "Cache-Control": "no-store",
        }
    )
    await resp.prepare(request)
    try:
        async for line in dump(
            redis, [site], now=request.app[CLOCK](), counts=Counts(), retries=retries
        ):
            await resp.write(line)
    except (StoreUnavailable, ApiError) as exc:
        log.error("backup of %s stopped: %s", site, exc)
        await resp.write(error_line(f"the backup stopped: {exc}"))
    await resp.write_eof()
    return resp
