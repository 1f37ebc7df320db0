"""Who a hit is: visitor and member digests, derived ids, and the daily salt.

Visitors are stored as 8-byte BLAKE2b digests (no raw ids in Redis, and small sorted sets).
A hit without a visitor id gets one derived from the site, client IP and user agent with a
random salt that changes every UTC day, as Plausible does; the IP itself is never stored.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from counter import redis_keys as keys
from counter.storage import RedisClient, retrying

SALT_TTL_S = 2 * 86_400


def digest(kind: str, ident: str) -> bytes:
    """The stored form of a visitor (``kind`` "v") or member (``kind`` "m") id."""
    return hashlib.blake2b(f"{kind}:{ident}".encode(), digest_size=8).digest()


def derived_visitor_id(salt: bytes, site: str, ip: str, user_agent: str) -> str:
    mac = hashlib.blake2b(f"{site}\n{ip}\n{user_agent}".encode(), key=salt, digest_size=15)
    return base64.urlsafe_b64encode(mac.digest()).decode()


class DailySalt:
    """A random salt per UTC day, shared by every replica through Redis (SET NX)."""

    def __init__(self, redis: RedisClient, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._cached: tuple[str, bytes] | None = None

    async def current(self, retries: int = 3) -> bytes:
        day = datetime.fromtimestamp(self.clock(), UTC).date().isoformat()
        if self._cached is not None and self._cached[0] == day:
            return self._cached[1]
        key = keys.salt(day)

        async def attempt() -> bytes:
            await self.redis.set(key, secrets.token_bytes(32), nx=True, ex=SALT_TTL_S)
            value = await self.redis.get(key)
            if not isinstance(value, bytes):
                raise RuntimeError(f"salt {key} vanished")
            return value

        salt = await retrying("read daily salt", attempt, retries)
        self._cached = (day, salt)
        return salt
