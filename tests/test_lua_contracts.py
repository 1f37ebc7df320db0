"""Each Lua script's reply, as the real server gives it, against the parser beside the script:
a change to one without the other fails here, not in production."""

from __future__ import annotations

import time

import orjson
import pytest

from counter import redis_keys as keys
from counter.counting.model import Kind, VisitorClass
from counter.counting.visitor import digest
from counter.lua import Script
from counter.lua.batch import REPLY_HEAD, batch_call, event, parse_reply, read_event
from counter.lua.polls import ScriptReplyError, parse_delete, parse_read, parse_save, parse_vote
from counter.lua.sites import parse_audit_entry, parse_cas, parse_pruned
from counter.sites.model import SiteConfig
from counter.storage import RedisClient

SITE = SiteConfig(id="demo")


async def _run(redis: RedisClient, name: str, call_keys: list[str], args: list[object]) -> object:
    return await Script(name)(redis, call_keys, args)  # type: ignore[arg-type]


async def test_batch_lua_replies_integers_in_the_order_its_parser_reads(
    redis: RedisClient,
) -> None:
    guest = event(Kind.HIT, VisitorClass.GUEST, digest("v", "visitor-aaaa"), page="/a")
    bot = event(Kind.HIT, VisitorClass.BOT, digest("v", "crawler-01"), page="/b")
    call = batch_call(SITE, [guest, guest, bot], time.time(), read_pages=["/c"], batch_id="x")
    reply = await _run(redis, "batch", call.keys, list(call.args))
    assert isinstance(reply, list)
    assert len(reply) == REPLY_HEAD + len(call.pages) == REPLY_HEAD + 3
    assert all(isinstance(n, int) for n in reply)
    result = parse_reply(reply, call.pages)
    snap = result.snapshot
    assert result.applied
    assert (snap.visits_total, snap.visits_today, snap.pageviews_total) == (1, 1, 2)
    assert (snap.online_guests, snap.online_members, snap.online_bots) == (1, 0, 1)
    assert snap.peak_online == 1
    assert result.pages == {"/a": 2, "/b": 0, "/c": 0}
    with pytest.raises(ValueError, match=r"batch\.lua replied"):
        parse_reply(reply[:-1], call.pages)


async def test_batch_lua_reads_count_nothing_and_a_batch_of_reads_writes_nothing(
    redis: RedisClient,
) -> None:
    guest = event(Kind.HIT, VisitorClass.GUEST, digest("v", "visitor-aaaa"), page="/a")
    mixed = batch_call(SITE, [guest, read_event("/a"), read_event("/r")], time.time(),
                       batch_id="x")  # fmt: skip
    result = parse_reply(await _run(redis, "batch", mixed.keys, list(mixed.args)), mixed.pages)
    assert result.applied
    assert (result.snapshot.visits_total, result.snapshot.pageviews_total) == (1, 1)
    assert result.snapshot.online_guests == 1
    assert result.pages == {"/a": 1, "/r": 0}

    written = await redis.dbsize()
    reads = batch_call(SITE, [read_event("/a"), read_event()], time.time(), batch_id="y")
    result = parse_reply(await _run(redis, "batch", reads.keys, list(reads.args)), reads.pages)
    assert not result.applied  # nothing to apply: no marker, no announcement
    assert (result.snapshot.visits_total, result.snapshot.pageviews_total) == (1, 1)
    assert result.pages == {"/a": 1}
    assert await redis.dbsize() == written
    assert not await redis.exists(keys.batch_marker(SITE.id, "y"))


async def test_poll_scripts_reply_as_their_parsers_read(redis: RedisClient) -> None:
    poll_keys = [keys.poll("demo", "p1"), keys.poll_votes("demo", "p1")]
    poll_keys.append(keys.poll_ballots("demo", "p1"))
    options = [{"id": "o1", "text": "A"}, {"id": "o2", "text": "B"}]
    definition = {"question": "Q?", "options": options,
                  "starts_at": 0, "ends_at": None, "max_choices": 1, "results_visibility": "always",
                  "allow_change": False, "created_at": 0}  # fmt: skip
    save = await _run(
        redis,
        "poll_save",
        [*poll_keys, keys.poll_index("demo"), keys.poll_generation("demo")],
        ["", "p1", orjson.dumps(definition), 0, "", 1, "0", 0, 1000, keys.POLL_EVENTS,
         "demo/p1", "o1", "o2"],
    )  # fmt: skip
    code, rev = parse_save(save)
    assert code == "ok"
    assert rev

    voted = await _run(
        redis,
        "vote",
        [*poll_keys, keys.vote_rate("demo", "k"), keys.vote_rate("demo", "k48")],
        [int(time.time() * 1000), "voter-1", 0, 60000, 1000, keys.POLL_EVENTS, "demo/p1", 0,
         "o2"],
    )  # fmt: skip
    reply = parse_vote(voted, "p1", "demo")
    assert reply.code == "ok"
    assert reply.tally is not None
    assert reply.tally.votes == {"o1": 0, "o2": 1}

    read = await _run(redis, "poll_read", poll_keys, ["voter-1"])
    (stored,) = parse_read(read, ["p1"], "demo")
    assert (stored.voted, stored.tally.voters) == (True, 1)
    deleted = await _run(
        redis, "poll_delete", [*poll_keys, keys.poll_index("demo"), keys.poll_generation("demo")],
        ["p1", keys.POLL_EVENTS, "demo/p1"],
    )  # fmt: skip
    assert parse_delete(deleted) is True
    with pytest.raises(ScriptReplyError):
        parse_vote([b"not-a-code", b""], "p1", "demo")


async def test_site_scripts_reply_as_their_parsers_read(redis: RedisClient) -> None:
    assert parse_cas(await _run(redis, "cas", [keys.config("demo")], ["", "{}"])) is True
    assert parse_cas(await _run(redis, "cas", [keys.config("demo")], ["", "{}"])) is False
    base_keys = [keys.base("demo"), keys.base_pages("demo"), keys.audit("demo")]
    entry = parse_audit_entry(await _run(redis, "set_base", base_keys, [1, "test", 5, "", "/a", 3]))
    assert entry["after"] == {"visits": 5, "pages": {"/a": 3}}
    reset = await _run(redis, "peak_reset", [keys.peak("demo"), keys.audit("demo")], [2, "test"])
    assert parse_audit_entry(reset)["after"] == {"peak_online": 0}
    await redis.hset(keys.pages("demo"), mapping={"/a": 1, "/b": 5})
    assert (
        parse_pruned(await _run(redis, "pages_prune", [keys.pages("demo")], [2, "/a", "/b"])) == 1
    )
