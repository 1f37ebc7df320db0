"""The poll use cases shared by the public API, the admin API and the command line."""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from counter.counting import members
from counter.counting.visitor import DailySalt, digest
from counter.errors import ApiError, bad_request, not_found, too_many
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.polls.model import (
    MAX_OPTION_ID_LEN,
    MAX_OPTIONS,
    POLL_ID,
    edited,
    new_poll,
    show_time,
)
from counter.polls.store import MAX_POLLS_PER_SITE, PollStore, Stored, Voter
from counter.settings import IPNetwork
from counter.sites.model import SiteConfig
from counter.sites.store import SiteStore
from counter.validation import Body, site_id

MAX_SAVE_ATTEMPTS = 10
MAX_CREATE_ATTEMPTS = 5
CSV_FIELDS = ["poll_id", "question", "state", "option_id", "option", "votes", "voters"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Vote attempts allowed per client IP per window (0: unlimited), and who is exempt."""

    limit: int = 0
    window_s: int = 60
    allowlist: tuple[IPNetwork, ...] = ()

    def limit_for(self, ip: str) -> int:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return self.limit
        return 0 if any(addr in net for net in self.allowlist) else self.limit


def rate_subject(ip: str) -> str:
    """Who a rate limit counts: an IPv4 address, or an IPv6 address's /64 (one host or
    home network usually holds a whole /64, so single addresses would be no limit)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


_REFUSALS = {
    "not_found": (404, "unknown_poll", "no such poll"),
    "scheduled": (403, "poll_not_open", "this poll has not opened yet"),
    "closed": (403, "poll_not_open", "this poll is closed"),
    "no_options": (400, "invalid_options", "choose at least one option"),
    "too_many_options": (400, "invalid_options", "too many options; at most {}"),
    "duplicate_option": (400, "invalid_options", "option {} chosen twice"),
    "unknown_option": (400, "invalid_options", "{} is not an option of this poll"),
    "already_voted": (409, "already_voted", "you have already voted in this poll"),
}


class PollService:
    def __init__(
        self,
        store: PollStore,
        sites: SiteStore,
        clock: Callable[[], float],
        salt: DailySalt,
        rate: RateLimit,
        *,
        new_id: Callable[[], str] = lambda: secrets.token_urlsafe(9),
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self.store = store
        self.sites = sites
        self.clock = clock
        self.salt = salt
        self.rate = rate
        self.new_id = new_id
        self.instruments = instruments

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def voter(self, site: SiteConfig, visitor: str | None, member_token: str | None) -> Voter:
        """The voter's ballot keys: the member's digest first when the token is valid, then
        the visitor's. A member's ballot is filed under both, so the same browser cannot vote
        again without the token (or once it has expired)."""
        found: list[str] = []
        if member_token is not None:
            member_id = members.verify(member_token, site.member_secret, site.id, self.clock())
            if member_id is not None:
                found.append(digest("m", member_id).hex())
        if visitor is not None:
            found.append(digest("v", visitor).hex())
        return tuple(found)

    async def locate(self, poll_id: str) -> SiteConfig:
        if not POLL_ID.fullmatch(poll_id):
            raise not_found("unknown_poll", "no such poll")
        site = await self.store.site_of(poll_id)
        config = None if site is None else await self.sites.get(site)
        if config is None:
            raise not_found("unknown_poll", "no such poll")
        return config

    async def get(self, site: SiteConfig, poll_id: str, voter: Voter = ()) -> Stored:
        found = await self.store.read(site.id, [poll_id], voter)
        if not found:
            raise not_found("unknown_poll", "no such poll")
        return found[0]

    async def latest(self, site: str, poll_id: str, voter: Voter = ()) -> Stored | None:
        """The poll (as ``voter`` sees it), or None once deleted: what live streams are fed."""
        found = await self.store.read(site, [poll_id], voter)
        return found[0] if found else None

    async def all(self, site: SiteConfig, voter: Voter = ()) -> list[Stored]:
        return await self.store.read(site.id, await self.store.ids(site.id), voter)

    async def active(self, site: SiteConfig, voter: Voter) -> list[dict[str, Any]]:
        now = self.now_ms()
        return [
            s.poll.to_json(now, site.tz, voted=s.voted, tally=s.tally)
            for s in await self.all(site, voter)
            if s.poll.state(now) == "open"
        ]

    def render(self, site: SiteConfig, stored: Stored, *, reveal: bool = False) -> dict[str, Any]:
        return stored.poll.to_json(
            self.now_ms(), site.tz, voted=stored.voted, tally=stored.tally, reveal=reveal
        )

    async def vote(
        self, site: SiteConfig, poll_id: str, voter: Voter, options: Sequence[str], ip: str
    ) -> dict[str, Any]:
        salt = await self.salt.current()
        subject = rate_subject(ip).encode()
        ip_key = hashlib.blake2b(subject, key=salt, digest_size=8).hexdigest()
        rate = (ip_key, self.rate.limit_for(ip), self.rate.window_s * 1000)
        now = self.now_ms()
        out = await self.store.vote(
            site.id, poll_id, now_ms=now, voter=voter, options=options, rate=rate
        )
        if out.code == "rate_limited":
            self.instruments.refused("votes", site.id)
            retry_s = -(-int(out.detail) // 1000)
            raise too_many("rate_limited", f"too many votes; retry in {retry_s} s", retry_s)
        if out.poll is None or out.tally is None:
            status, code, message = _REFUSALS[out.code]
            raise ApiError(status, code, message.format(out.detail))
        self.instruments.vote(site.id)
        return out.poll.to_json(now, site.tz, voted=True, tally=out.tally)

    async def create(self, body: Body) -> dict[str, Any]:
        site = await self.sites.require(site_id(body.get("site")))
        if await self.store.count(site.id) >= MAX_POLLS_PER_SITE:
            raise ApiError(409, "too_many_polls", f"a site has at most {MAX_POLLS_PER_SITE} polls")
        now = self.now_ms()
        for _ in range(MAX_CREATE_ATTEMPTS):
            poll = new_poll(self.new_id(), site.id, body, site.tz, now)
            code, _ = await self.store.save(poll, "")
            if code != "ok":
                continue  # the id is taken on this site
            if await self.store.register(poll.id, site.id):
                return self.render(site, await self.get(site, poll.id), reveal=True)
            await self.store.discard(site.id, poll.id)  # the id is taken on another site
        raise ApiError(409, "conflict", "no free poll id found; retry")

    async def edit(self, poll_id: str, body: Body) -> dict[str, Any]:
        site = await self.locate(poll_id)
        for _ in range(MAX_SAVE_ATTEMPTS):
            stored = await self.get(site, poll_id)
            updated = edited(stored.poll, body, site.tz)
            code, detail = await self.store.save(updated, stored.rev)
            if code == "ok":
                return self.render(site, await self.get(site, poll_id), reveal=True)
            if code == "has_votes":
                raise ApiError(
                    409, "poll_has_votes", f"option {detail} has votes and cannot be removed"
                )
        raise ApiError(409, "conflict", "the poll is being changed concurrently; retry")

    async def close(self, poll_id: str) -> dict[str, Any]:
        """End the poll now (a scheduled one is opened and closed at once); a closed poll
        stays as it is, so its end and its voter set's expiry never move."""
        site = await self.locate(poll_id)
        now_iso = show_time(self.now_ms(), site.tz)
        stored = await self.get(site, poll_id)
        if stored.poll.state(self.now_ms()) == "closed":
            return self.render(site, stored, reveal=True)
        patch: dict[str, Any] = {"ends_at": now_iso}
        if stored.poll.starts_at > self.now_ms():
            patch["starts_at"] = now_iso
        return await self.edit(poll_id, patch)

    async def delete(self, poll_id: str) -> None:
        site = await self.locate(poll_id)
        if not await self.store.delete(site.id, poll_id):
            raise not_found("unknown_poll", "no such poll")

    async def overview(self, site_name: object) -> dict[str, Any]:
        """Every poll of a site, any state, newest first, with results whatever the policy."""
        site = await self.sites.require(site_id(site_name))
        polls = [self.render(site, s, reveal=True) for s in await self.all(site)]
        return {"site": site.id, "polls": polls}

    async def show(self, poll_id: str) -> dict[str, Any]:
        """One poll with its results whatever the policy (for admins)."""
        site = await self.locate(poll_id)
        return self.render(site, await self.get(site, poll_id), reveal=True)

    async def export(self, poll_id: str) -> list[dict[str, Any]]:
        """The export rows of a poll: counts empty where the policy hides them."""
        site = await self.locate(poll_id)
        return self.export_rows(site, await self.get(site, poll_id))

    def export_rows(self, site: SiteConfig, stored: Stored) -> list[dict[str, Any]]:
        """One row per option; counts empty where the results policy hides them."""
        view = self.render(site, stored)
        results = view["results"]
        return [
            {
                "poll_id": stored.poll.id,
                "question": stored.poll.question,
                "state": view["state"],
                "option_id": option.id,
                "option": option.text,
                "votes": "" if results is None else results["votes"][option.id],
                "voters": "" if results is None else results["voters"],
            }
            for option in stored.poll.options
        ]


def export_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def vote_options(value: object) -> list[str]:
    """The shape of a vote's ``options``: 1 to MAX_OPTIONS short strings (the script checks
    that each is an option of the poll)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_OPTIONS:
        raise bad_request(
            "invalid_options", f"options must be a list of 1 to {MAX_OPTIONS} option ids"
        )
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_OPTION_ID_LEN for v in value):
        raise bad_request("invalid_options", "options must be option id strings")
    return value
