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
from counter.storage import RedisClient, retrying

SALT_TTL_S = 3 * 86_400
"""A local day starts up to 14 h before and ends up to 12 h after the UTC day."""


def digest(kind: str, ident: str) -> bytes:
    """The stored form of a visitor (``kind`` "v") or member (``kind`` "m") id."""
    return hashlib.blake2b(f"{kind}:{ident}".encode(), digest_size=8).digest()


def derived_visitor_id(salt: bytes, site: str, ip: str, user_agent: str) -> str:
    mac = hashlib.blake2b(f"{site}\n{ip}\n{user_agent}".encode(), key=salt, digest_size=15)
    return base64.urlsafe_b64encode(mac.digest()).decode()


class DailySalt:
    """A random salt per day, shared by every replica through Redis (``SET NX GET``).

    The day is the site's local day, so a derived visitor id holds for a whole local day
    (periods and uniques are counted in local days too).
    """

    def __init__(self, redis: RedisClient, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._cached: dict[str, bytes] = {}

    async def current(self, tz: tzinfo = UTC, retries: int = 3) -> bytes:
        day = datetime.fromtimestamp(self.clock(), tz).date().isoformat()
        cached = self._cached.get(day)
        if cached is not None:
            return cached
        key, fresh = keys.salt(day), secrets.token_bytes(32)

        async def attempt() -> bytes:
            old = await self.redis.set(key, fresh, nx=True, get=True, ex=SALT_TTL_S)
            return old if isinstance(old, bytes) else fresh

        salt = await retrying("read daily salt", attempt, retries)
        if len(self._cached) >= 4:  # days of the sites' timezones around now
            self._cached.clear()
        self._cached[day] = salt
        return salt
