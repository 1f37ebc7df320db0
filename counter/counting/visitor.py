"""Who a hit is: visitor and member digests, derived ids, and the daily salt.

Visitors are stored as 8-byte BLAKE2b digests (no raw ids in Redis, and small sorted sets).
A hit without a visitor id gets one derived from the site, client IP and user agent with a
random salt that changes every day (the site's local day), as Plausible does; the IP itself
is never stored.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from counter import redis_keys as keys
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.storage import RedisClient, Store, idempotent

SALT_TTL_S = 3 * 86_400
"""A local day starts up to 14 h before and ends up to 12 h after the UTC day."""


def digest(kind: str, ident: str) -> bytes:
    """The stored form of a visitor (``kind`` "v") or member (``kind`` "m") id."""
    return hashlib.blake2b(f"{kind}:{ident}".encode(), digest_size=8).digest()


def derived_visitor_id(salt: bytes, site: str, ip: str, user_agent: str) -> str:
    mac = hashlib.blake2b(f"{site}\n{ip}\n{user_agent}".encode(), key=salt, digest_size=15)
    return base64.urlsafe_b64encode(mac.digest()).decode()


class DailySalt(Store):
    """A random salt per day, shared by every replica through Redis (``SET NX GET``).

    The day is the site's local day, so a derived visitor id holds for a whole local day
    (periods and uniques are counted in local days too).
    """

    def __init__(
        self,
        redis: RedisClient,
        clock: Callable[[], float] = time.time,
        *,
        retries: int = 3,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        super().__init__(redis, retries=retries, instruments=instruments)
        self.clock = clock
        self._cached: dict[str, bytes] = {}

    async def current(self, tz: tzinfo = UTC) -> bytes:
        day = datetime.fromtimestamp(self.clock(), tz).date().isoformat()
        salt = self._cached.get(day)
        if salt is None:
            salt = await self._fetch(day)
            if len(self._cached) >= 4:  # days of the sites' timezones around now
                self._cached.clear()
            self._cached[day] = salt
        return salt

    @idempotent("read daily salt")
    async def _fetch(self, day: str) -> bytes:
        fresh = secrets.token_bytes(32)
        old = await self.redis.set(keys.salt(day), fresh, nx=True, get=True, ex=SALT_TTL_S)
        return old if isinstance(old, bytes) else fresh
