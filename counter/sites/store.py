"""Sites in Redis: configuration (cached per process), base counts and their audit log."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from counter import redis_keys as keys
from counter.errors import ApiError, not_found
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.lua import Script
from counter.lua.sites import parse_audit_entry, parse_cas
from counter.sites.model import SiteConfig
from counter.storage import RedisClient, Store, idempotent, once
from counter.validation import Body

Clock = Callable[[], float]
MAX_CAS_ATTEMPTS = 10
TOMBSTONE_S = 120
"""How long a deleted site's counting stays frozen: longer than any replica caches a site's
config (COUNTER_SITE_CACHE_MS, at most 60 s) plus a flush."""


class SiteStore(Store):
    def __init__(
        self,
        redis: RedisClient,
        *,
        clock: Clock = time.time,
        cache_s: float = 5.0,
        retries: int = 3,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        super().__init__(redis, retries=retries, instruments=instruments)
        self.clock = clock
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, int, SiteConfig | None]] = {}
        """Site -> when the entry expires, its stamp (see :meth:`_load`) and the config."""
        self._stamps = itertools.count(1)
        self._origins: dict[str, tuple[float, int, list[str]]] = {}
        """Origin -> when the entry expires, its stamp and the ids of the sites listing it."""
        self._loading: dict[str, asyncio.Future[SiteConfig | None]] = {}
        self._cas = Script("cas")
        self._set_base = Script("set_base")
        self._peak_reset = Script("peak_reset")

    @idempotent("read site")
    async def _read(self, site: str) -> bytes | None:
        raw = await self.redis.get(keys.config(site))
        return raw if isinstance(raw, bytes) or raw is None else str(raw).encode()

    def cached(self, site: str) -> SiteConfig | None:
        """The site's config if this process read it recently, else None (ask :meth:`get`)."""
        cached = self._cache.get(site)
        if cached is not None and cached[0] > time.monotonic():
            return cached[2]
        return None

    async def get(self, site: str) -> SiteConfig | None:
        """The site's config, at most ``cache_s`` old (unknown sites are cached too).

        When the cached copy expires under load, every request that finds it stale waits for
        one read instead of each making its own."""
        cached = self._cache.get(site)
        if cached is not None and cached[0] > time.monotonic():
            return cached[2]
        loading = self._loading.get(site)
        if loading is None:
            loading = self._loading[site] = asyncio.ensure_future(self._load(site))
            loading.add_done_callback(lambda done: self._loaded(site, done))
        return await asyncio.shield(loading)

    async def _load(self, site: str) -> SiteConfig | None:
        """Read the config, unless this process changed the site while the read was out: a
        read sent before a change and answered after it would bring the old config back."""
        sent = next(self._stamps)
        raw = await self._read(site)
        kept = self._cache.get(site)
        if kept is not None and kept[1] > sent:
            return kept[2]
        config = None if raw is None else SiteConfig.from_storage(site, orjson.loads(raw))
        self._keep(site, sent, config)
        return config

    def _keep(self, site: str, stamp: int, config: SiteConfig | None) -> None:
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[site] = (time.monotonic() + self.cache_s, stamp, config)

    def _loaded(self, site: str, done: asyncio.Future[SiteConfig | None]) -> None:
        self._loading.pop(site, None)
        if not done.cancelled():
            done.exception()  # retrieved here too: the waiters may all have gone

    async def require(self, site: str) -> SiteConfig:
        config = await self.get(site)
        if config is None:
            raise not_found("unknown_site", f"no site {site!r}")
        return config

    async def put(self, site: str, patch: Body) -> tuple[SiteConfig, bool]:
        """Create the site or update the fields in ``patch``; True when it was created."""
        for _ in range(MAX_CAS_ATTEMPTS):
            raw = await self._read(site)
            current = (
                SiteConfig(id=site)
                if raw is None
                else SiteConfig.from_storage(site, orjson.loads(raw))
            )
            updated = current.patched(patch)
            if await self._swap(site, raw or b"", orjson.dumps(updated.to_storage())):
                if raw is None:  # a site created again under a deleted one's id counts anew
                    await self._revive(site)
                await self._register(site)
                await self._index(site, current.origins, updated.origins)
                self._keep(site, next(self._stamps), updated)
                return updated, raw is None
        raise ApiError(409, "conflict", f"site {site!r} is being changed concurrently; retry")

    @idempotent("write site")
    async def _swap(self, site: str, old: bytes, new: bytes) -> bool:
        return parse_cas(await self._cas(self.redis, [keys.config(site)], [old, new]))

    @idempotent("index origins")
    async def _index(self, site: str, old: Sequence[str], new: Sequence[str]) -> None:
        """Keep the origin index in step with the site's ``origins`` (each step may repeat)."""
        for origin in set(old) - set(new):
            await self.redis.srem(keys.origin_sites(origin), site)
        for origin in new:
            await self.redis.sadd(keys.origin_sites(origin), site)
        for origin in {*old, *new}:  # read again next time, never from a read sent before
            self._keep_origin(origin, 0.0, next(self._stamps), [])

    async def reindex(self, site: str) -> None:
        """Put the site's origins in the origin index as its stored config lists them (after a
        restore, which writes the config itself)."""
        raw = await self._read(site)
        if raw is not None:
            await self._index(site, [], SiteConfig.from_storage(site, orjson.loads(raw)).origins)

    async def by_origin(self, origin: str) -> SiteConfig | None:
        """The site whose ``origins`` list ``origin`` (the first by id when several do), at
        most ``cache_s`` old; None when none does. For requests that name only the address of
        their page (busuanzi's), not a site."""
        cached = self._origins.get(origin)
        if cached is not None and cached[0] > time.monotonic():
            ids = cached[2]
        else:
            ids = await self._sites_listing(origin)
        for site in ids:
            config = await self.get(site)
            if config is not None and origin in config.origins:  # the index may lag a change
                return config
        return None

    async def _sites_listing(self, origin: str) -> list[str]:
        """Read the sites listing ``origin`` and keep them, unless this process changed them
        while the read was out (then read once more: the first read may predate the change)."""
        for _ in range(2):
            sent = next(self._stamps)
            ids = sorted(_text(m) for m in await self._origin_sites(origin))
            kept = self._origins.get(origin)
            if kept is None or kept[1] < sent:
                self._keep_origin(origin, time.monotonic() + self.cache_s, sent, ids)
                break
        return ids

    def _keep_origin(self, origin: str, expires: float, stamp: int, ids: list[str]) -> None:
        if len(self._origins) > 10_000:
            self._origins.clear()
        self._origins[origin] = (expires, stamp, ids)

    @idempotent("read origin index")
    async def _origin_sites(self, origin: str) -> set[bytes | str]:
        return await self.redis.smembers(keys.origin_sites(origin))

    @idempotent("clear tombstone")
    async def _revive(self, site: str) -> None:
        await self.redis.delete(keys.tombstone(site))

    @idempotent("register site")
    async def _register(self, site: str) -> None:
        await self.redis.sadd(keys.SITES, site)

    async def ensure(self, site: str, defaults: Body) -> SiteConfig:
        """Create ``site`` with ``defaults`` unless it exists; return its config."""
        config = await self.get(site)
        if config is not None:
            return config
        return (await self.put(site, defaults))[0]

    async def delete(self, site: str) -> bool:
        """Delete the site and every key it has; False when there was no such site."""
        existed = await self._delete(site)
        self._cache[site] = (0.0, next(self._stamps), None)  # read again, never from before
        return existed

    @idempotent("delete site")
    async def _delete(self, site: str) -> bool:
        """Every step is safe to repeat, so a failed attempt is simply run again."""
        tombstone = keys.tombstone(site)
        listed = await self.redis.sismember(keys.SITES, site)
        if not listed and not await self.redis.exists(keys.config(site)):
            return False
        # The tombstone first: flushes still queued on any replica then write nothing.
        await self.redis.set(tombstone, b"1", ex=TOMBSTONE_S)
        await self.redis.srem(keys.SITES, site)
        raw = await self.redis.get(keys.config(site))
        if raw is not None:  # off the origin index while its config still names its origins
            config = SiteConfig.from_storage(site, orjson.loads(raw))
            for origin in config.origins:
                await self.redis.srem(keys.origin_sites(origin), site)
                self._origins.pop(origin, None)
        await self.redis.delete(keys.config(site))
        polls = [_text(p) for p in await self.redis.zrange(keys.poll_index(site), 0, -1)]
        batch: list[bytes | str] = []
        async for key in self.redis.scan_iter(match=keys.site_pattern(site), count=500):
            if key in (tombstone, tombstone.encode()):
                continue
            batch.append(key)
            if len(batch) >= 500:
                await self.redis.delete(*batch)
                batch.clear()
        if batch:
            await self.redis.delete(*batch)
        if polls:  # the global id index, and live-result streams told the polls are gone
            await self.redis.hdel(keys.POLLS, *polls)
            for poll_id in polls:
                await self.redis.publish(keys.POLL_EVENTS, f"{site}/{poll_id}")
        await self.redis.publish(keys.STATS_EVENTS, keys.SITE_DELETED + site)  # live stats too
        return True

    @idempotent("list sites")
    async def ids(self) -> list[str]:
        members = await self.redis.smembers(keys.SITES)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def set_base(
        self,
        site: str,
        *,
        visits: int | None,
        pageviews: int | None,
        pages: Mapping[str, int],
        actor: str,
    ) -> dict[str, Any]:
        """Set base counts and append the audit entry, in one script; returns the entry."""
        args: list[str | int] = [int(self.clock() * 1000), actor]
        args += ["" if visits is None else visits, "" if pageviews is None else pageviews]
        for page, count in pages.items():
            args += [page, count]
        return await self._base_script(site, args)

    @once("set base")
    async def _base_script(self, site: str, args: list[str | int]) -> dict[str, Any]:
        reply = await self._set_base(
            self.redis, [keys.base(site), keys.base_pages(site), keys.audit(site)], args
        )
        return parse_audit_entry(reply)

    @once("reset peak")
    async def reset_peak(self, site: str, *, actor: str) -> dict[str, Any]:
        """Forget the site's peak online (the next flush starts it again from the visitors
        online then); the audit log records the old peak. Returns the audit entry."""
        args: list[str | int] = [int(self.clock() * 1000), actor]
        reply = await self._peak_reset(self.redis, [keys.peak(site), keys.audit(site)], args)
        return parse_audit_entry(reply)

    @idempotent("read audit")
    async def audit(self, site: str, limit: int = 100) -> list[dict[str, Any]]:
        return [_loads(e) for e in await self.redis.lrange(keys.audit(site), 0, limit - 1)]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _loads(raw: object) -> dict[str, Any]:
    value = orjson.loads(raw if isinstance(raw, bytes | str) else b"{}")
    return value if isinstance(value, dict) else {}
