"""Redis memory per online visitor and per site, measured on a real server.

Hits go straight through ``CountingStore.apply`` (the same script call a flush makes) in
batches of 1,000, each from a distinct visitor, so every visitor is online afterwards.
``INFO memory`` ``used_memory`` deltas give the total; ``MEMORY USAGE`` each key's share.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import progress
from counter import redis_keys as keys
from counter.counting.model import Kind, VisitorClass
from counter.counting.store import CountingStore, SiteWork
from counter.counting.visitor import digest
from counter.lua.batch import event
from counter.sites.model import SiteConfig
from counter.storage import RedisClient, connect

ONLINE = 100_000
PAGES = 1_000
CHUNK = 1_000


async def used_memory(redis: RedisClient) -> int:
    info: dict[str, Any] = await redis.info("memory")
    return int(info["used_memory"])


async def fill(store: CountingStore, sites: list[SiteConfig], per_site: int) -> None:
    """Hits from ``per_site`` distinct visitors on each site, over ``PAGES`` pages, in script
    calls of ``CHUNK``: every one of them is online afterwards."""
    now = time.time()
    for site in sites:
        for start in range(0, per_site, CHUNK):
            events = [
                event(
                    Kind.HIT,
                    VisitorClass.GUEST,
                    digest("v", f"{site.id}-{n}"),
                    page=f"/news/{n % PAGES}",
                )
                for n in range(start, min(start + CHUNK, per_site))
            ]
            await store.apply([SiteWork(site, events)], now)


async def key_usage(redis: RedisClient, site: str) -> dict[str, int]:
    """``MEMORY USAGE`` of each of the site's keys, by name without the ``c:{site}:`` prefix."""
    usage: dict[str, int] = {}
    async for key in redis.scan_iter(match=keys.site_pattern(site), count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        usage[name.split("}:", 1)[1]] = int(await redis.memory_usage(name, samples=0) or 0)
    return usage


async def _scenario(
    redis: RedisClient, store: CountingStore, sites: int, per_site: int
) -> dict[str, Any]:
    await redis.execute_command("FLUSHALL", "SYNC")  # not lazily: used_memory must drop now
    await store.load()
    base = await used_memory(redis)
    configs = [SiteConfig(id=f"mem-{i}") for i in range(sites)]
    await fill(store, configs, per_site)
    delta = await used_memory(redis) - base
    usage = await key_usage(redis, configs[0].id)
    presence = usage.get("on:g", 0)
    return {
        "sites": sites,
        "online_per_site": per_site,
        "online_total": sites * per_site,
        "used_memory_delta": delta,
        "bytes_per_online_visitor": round(delta / (sites * per_site), 1),
        "bytes_per_site": round(delta / sites, 1),
        "presence_bytes_per_visitor": round(presence / per_site, 1),
        "first_site_keys": usage,
    }


async def run(url: str) -> dict[str, Any]:
    redis = connect(url, 30.0)
    store = CountingStore(redis)
    scenarios = []
    for sites, per_site in ((1, ONLINE), (100, ONLINE // 100), (100, 1)):
        result = await _scenario(redis, store, sites, per_site)
        progress(
            f"memory {sites} sites x {per_site:,} online: "
            f"{result['bytes_per_online_visitor']} B/visitor, "
            f"{result['bytes_per_site']:,.0f} B/site"
        )
        scenarios.append(result)
    await redis.flushall()
    await redis.aclose()
    one, _spread, empty = scenarios
    return {
        "scenarios": scenarios,
        "bytes_per_online_visitor": one["bytes_per_online_visitor"],
        "bytes_per_site_fixed": empty["bytes_per_site"],
    }
