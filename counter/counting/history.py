"""Daily history of a site: visits, page views, bot hits and unique visitors per local day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from counter import redis_keys as keys
from counter.counting.periods import day_field
from counter.storage import RedisClient, pipeline

MAX_DAYS = 366


def _ints(values: Sequence[Any]) -> list[int]:
    return [int(v) if v is not None else 0 for v in values]


async def daily_history(
    redis: RedisClient, site: str, start: date, end: date
) -> list[dict[str, Any]]:
    """One row per day from ``start`` to ``end`` (inclusive), oldest first; one attempt (the
    caller's store retries it, see :meth:`counter.counting.views.SiteViews.history`).

    ``uniques`` is null for days whose HyperLogLog has expired.
    """
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    fields = [day_field(d) for d in days]
    async with pipeline(redis) as pipe:
        pipe.hmget(keys.visits(site), fields)
        pipe.hmget(keys.pageviews(site), fields)
        pipe.hmget(keys.bot_hits(site), fields)
        for d in days:
            pipe.exists(keys.uniques(site, d.isoformat()))
            # execute_command: redis-py's cluster pipeline refuses pipe.pfcount() (it could
            # span slots); one key of the site's slot is safe.
            pipe.execute_command("PFCOUNT", keys.uniques(site, d.isoformat()))
        replies = await pipe.execute()
    visits, views, bots = (_ints(r) for r in replies[:3])
    uniq = replies[3:]
    return [
        {
            "date": d.isoformat(),
            "visits": visits[i],
            "pageviews": views[i],
            "bot_hits": bots[i],
            "uniques": int(uniq[2 * i + 1]) if uniq[2 * i] else None,
        }
        for i, d in enumerate(days)
    ]
