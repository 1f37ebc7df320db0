"""Member tokens: ``v1.<member_id>.<exp>.<sig>``, signed by the portal with the site's secret.

``sig`` is the unpadded base64url HMAC-SHA256, keyed by the member secret, of
``v1.<site>.<member_id>.<exp>``. Anything unsigned, wrongly signed or expired is no member,
and neither is a token whose ``exp`` lies further ahead than the site's maximum lifetime
(``member_token_max_s``): a token that leaks (a log, a shared link) is worth little for long.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

MEMBER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN = re.compile(r"v1\.([A-Za-z0-9_-]{1,64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")
"""The whole token, ASCII only: anything else is no member (and never an error)."""
MAX_LIFETIME_S = 7 * 86_400
"""The default longest a token may still have to live when it is presented."""


def _sign(secret: str, site: str, member_id: str, exp: int) -> str:
    msg = f"v1.{site}.{member_id}.{exp}".encode()
    mac = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def mint(secret: str, site: str, member_id: str, exp: int) -> str:
    """A token for ``member_id`` valid until Unix time ``exp`` (what a portal backend does)."""
    if not MEMBER_ID.fullmatch(member_id):
        raise ValueError("member id must match [A-Za-z0-9_-]{1,64}")
    return f"v1.{member_id}.{exp}.{_sign(secret, site, member_id, exp)}"


def verify(
    token: str,
    secret: str | None,
    site: str,
    now: float,
    max_lifetime_s: int = MAX_LIFETIME_S,
) -> str | None:
    """The member id of a valid token expiring within ``max_lifetime_s`` from now, else None."""
    match = TOKEN.fullmatch(token) if secret is not None else None
    if match is None or secret is None:
        return None
    member_id, exp_text, sig = match.groups()
    if not now < int(exp_text) <= now + max_lifetime_s:
        return None
    expected = _sign(secret, site, member_id, int(exp_text))
    return member_id if hmac.compare_digest(expected.encode(), sig.encode()) else None
