"""Finding the site of a page from its origin alone, and (when the operator accepts any
host) making one on first sight.

busuanzi's client names no site: its requests carry only the page's address (the
``Referer``). The site is the one whose ``origins`` list that address's origin. With
``COUNTER_BUSUANZI_OPEN`` on, an origin no site lists gets a site of its own, named by its
host (``blog.example.com`` -> ``blog-example-com``) and listing the host's http and https
origins; at most ``COUNTER_BUSUANZI_SITES_PER_DAY`` are made per UTC day (across replicas),
beyond which the request is refused until the next day.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from counter import redis_keys as keys
from counter.errors import ApiError, not_found, too_many
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.sites.model import SiteConfig
from counter.sites.store import SiteStore
from counter.storage import Store, once

MAX_SITE_ID = 63
_NOT_ID = re.compile(r"[^a-z0-9]+")
DAY_KEY_TTL_S = 2 * 86_400


def site_id_for_host(host: str) -> str:
    """``Blog.Example.com:8080`` -> ``blog-example-com-8080``: a valid site id. A name longer
    than a site id may be keeps its start and ends with a hash of the whole host."""
    name = _NOT_ID.sub("-", host.lower()).strip("-") or "host"
    if len(name) <= MAX_SITE_ID:
        return name
    tag = hashlib.blake2b(host.lower().encode(), digest_size=4).hexdigest()
    return f"{name[: MAX_SITE_ID - len(tag) - 1].rstrip('-')}-{tag}"


def sibling_origins(origin: str) -> list[str]:
    """The origin, and the same host under the other scheme when no port is named (a blog
    moving to https keeps its counts)."""
    scheme, _, host = origin.partition("://")
    if ":" in host.rpartition("]")[2]:
        return [origin]
    return [origin, f"{'https' if scheme == 'http' else 'http'}://{host}"]


class HostSites(Store):
    def __init__(
        self,
        sites: SiteStore,
        clock: Callable[[], float],
        *,
        open_mode: bool = False,
        per_day: int = 100,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        super().__init__(sites.redis, retries=sites.retries, instruments=instruments)
        self.sites = sites
        self.clock = clock
        self.open_mode = open_mode
        self.per_day = per_day

    async def site(self, origin: str) -> SiteConfig:
        """The site whose origins list ``origin``; in the open mode, made on first sight."""
        found = await self.sites.by_origin(origin)
        if found is not None:
            return found
        if not self.open_mode:
            raise not_found(
                "unknown_origin", "no site lists the origin of this page in its origins"
            )
        host = origin.partition("://")[2]
        site = site_id_for_host(host)
        existing = await self.sites.get(site)
        if existing is None:
            await self._count_made()
            existing = await self.sites.ensure(
                site, {"name": host[:200], "origins": sibling_origins(origin)}
            )
        if origin not in existing.origins:  # a site of that name that is not this host's
            message = "the site named by this host lists other origins"
            raise ApiError(403, "origin_not_allowed", message)
        return existing

    async def _count_made(self) -> None:
        """One more site made today; 429 once today's are all made."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        if await self._made_today(now.date().isoformat()) <= self.per_day:
            return
        self.instruments.refused("busuanzi_sites", None)
        tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        raise too_many(
            "too_many_sites",
            f"at most {self.per_day} sites are made a day for new hosts; retry tomorrow",
            int((tomorrow - now).total_seconds()) + 1,
        )

    @once("count sites made")
    async def _made_today(self, day: str) -> int:
        key = keys.hosts_made(day)
        made = int(await self.redis.incr(key))
        if made == 1:
            await self.redis.expire(key, DAY_KEY_TTL_S)
        return made
