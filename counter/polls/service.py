"""The poll use cases shared by the public API, the admin API and the command line."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from counter.counting import members
from counter.counting.visitor import DailySalt, digest
from counter.errors import ApiError, bad_request, not_found, too_many
from counter.instruments import NO_INSTRUMENTS, Instruments
from counter.polls.cache import OpenPolls
from counter.polls.limits import RateLimit
from counter.polls.model import (
    MAX_OPTION_ID_LEN,
    MAX_OPTIONS,
    POLL_ID,
    edited,
    new_poll,
    show_time,
)
from counter.polls.store import MAX_POLLS_PER_SITE, PollStore, Stored, Voter
from counter.sites.model import SiteConfig
from counter.sites.store import SiteStore
from counter.spreadsheets import csv_text
from counter.validation import Body, site_id

__all__ = ["PollService", "RateLimit", "export_csv", "vote_options"]

MAX_SAVE_ATTEMPTS = 10
MAX_CREATE_ATTEMPTS = 5
CSV_FIELDS = ["poll_id", "question", "state", "option_id", "option", "votes", "voters"]
POLLS_LISTED = 20
TICKET_TTL_S = 60
TICKET = re.compile(r"[A-Za-z0-9_-]{32}")
NO_LIMIT = RateLimit()
ANY_LIFETIME_S = 2**40
"""Long enough for any token: to tell a token refused only for its lifetime."""

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
_RATE_LIMITS = {"rate_limited": "votes", "rate_limited_wide": "votes_prefix48"}
"""Vote refusals by rate, as the ``limit`` each is counted under."""


class PollService:
    def __init__(
        self,
        store: PollStore,
        sites: SiteStore,
        clock: Callable[[], float],
        salt: DailySalt,
        rate: RateLimit,
        *,
        tickets: RateLimit = NO_LIMIT,
        polls_listed: int = POLLS_LISTED,
        new_id: Callable[[], str] = lambda: secrets.token_urlsafe(9),
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self.store = store
        self.sites = sites
        self.clock = clock
        self.salt = salt
        self.rate = rate
        self.tickets = tickets
        self.listed = OpenPolls(store, clock, most=polls_listed)
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
            member_id = self._member(site, member_token)
            if member_id is not None:
                found.append(digest("m", member_id).hex())
        if visitor is not None:
            found.append(digest("v", visitor).hex())
        return tuple(found)

    def _member(self, site: SiteConfig, token: str) -> str | None:
        """The member a token signs in, if valid; one refused only because it outlives the
        site's ``member_token_max_s`` is counted (a portal minting over-long tokens)."""
        now, secret = self.clock(), site.member_secret
        member_id = members.verify(token, secret, site.id, now, site.member_token_max_s)
        if member_id is None and members.verify(token, secret, site.id, now, ANY_LIFETIME_S):
            self.instruments.refused("member_token_lifetime", site.id)
        return member_id

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
        """The site's open polls, newest first, at most ``polls_listed``, as ``voter`` sees
        them: the polls from the per-process cache, ``voted`` read for this request."""
        listing = await self.listed.listing(site.id)
        generation, voted = await self.store.seen(site.id, _ids(listing.polls), voter)
        if generation != listing.generation:  # a poll was created, edited or deleted since
            self.listed.forget(site.id, listing)
            listing = await self.listed.listing(site.id)
            generation, voted = await self.store.seen(site.id, _ids(listing.polls), voter)
        if listing.open > len(listing.polls):
            self.instruments.refused("polls_listed", site.id)
        now = self.now_ms()
        return [
            s.poll.to_json(now, site.tz, voted=mine, tally=s.tally)
            for s, mine in zip(listing.polls, voted, strict=True)
            if s.poll.state(now) == "open"
        ]

    async def has_voted(self, site: str, poll_id: str, voter: Voter) -> bool:
        """Whether ``voter`` holds a ballot in the poll (one small read)."""
        _, voted = await self.store.seen(site, [poll_id], voter)
        return voted[0]

    def render(self, site: SiteConfig, stored: Stored, *, reveal: bool = False) -> dict[str, Any]:
        return stored.poll.to_json(
            self.now_ms(), site.tz, voted=stored.voted, tally=stored.tally, reveal=reveal
        )

    async def vote(
        self, site: SiteConfig, poll_id: str, voter: Voter, options: Sequence[str], ip: str
    ) -> dict[str, Any]:
        rate = self.rate.counters(ip, await self.salt.current())
        now = self.now_ms()
        out = await self.store.vote(
            site.id, poll_id, now_ms=now, voter=voter, options=options, rate=rate
        )
        if out.code in _RATE_LIMITS:
            self.instruments.refused(_RATE_LIMITS[out.code], site.id)
            raise _rate_limited("too many votes", out.detail)
        if out.poll is None or out.tally is None:
            status, code, message = _REFUSALS[out.code]
            raise ApiError(status, code, message.format(out.detail))
        self.instruments.vote(site.id)
        self.listed.voted(site.id, out.poll, out.tally)
        return out.poll.to_json(now, site.tz, voted=True, tally=out.tally)

    async def ticket(self, site: SiteConfig, poll_id: str, voter: Voter, ip: str) -> dict[str, Any]:
        """A short-lived ticket that opens one live-results stream of the poll as ``voter``:
        what a browser puts in the stream's URL instead of a long-lived member token
        (``EventSource`` cannot send headers)."""
        ticket = secrets.token_urlsafe(24)
        rate = self.tickets.counters(ip, await self.salt.current())
        value = " ".join((poll_id, *voter))
        code, detail = await self.store.file_ticket(
            site.id, ticket=ticket, value=value, ttl_ms=TICKET_TTL_S * 1000, rate=rate
        )
        if code == "rate_limited":
            self.instruments.refused("stream_tickets", site.id)
            raise _rate_limited("too many stream tickets", detail)
        return {"ticket": ticket, "expires_in": TICKET_TTL_S}

    async def redeem(self, site: SiteConfig, poll_id: str, ticket: str) -> Voter:
        """The voter a stream ticket of this poll stands for; the ticket is used up."""
        valid = TICKET.fullmatch(ticket)
        found = await self.store.take_ticket(site.id, ticket=ticket) if valid else None
        poll, *voter = (found or "").split(" ")
        if poll != poll_id:
            message = "the stream ticket is unknown, used or expired; get a new one"
            raise ApiError(403, "invalid_ticket", message)
        return tuple(voter)

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


def _ids(polls: Sequence[Stored]) -> list[str]:
    return [s.poll.id for s in polls]


def _rate_limited(what: str, retry_ms: str) -> ApiError:
    retry_s = -(-int(retry_ms) // 1000)
    return too_many("rate_limited", f"{what}; retry in {max(1, retry_s)} s", retry_s)


def export_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The export rows as CSV, safe to open in a spreadsheet."""
    return csv_text(CSV_FIELDS, rows)


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
