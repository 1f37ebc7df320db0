"""Backup and restore on a real server: what a restore gives back is what the API answered.

The helpers here (``populate``, ``snapshot``, ``site_contents``) are shared with the CLI and
cluster tests in ``tests/test_backup_*.py``.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import pytest

from counter import redis_keys as keys
from counter.backup.codec import CHUNK, BackupFormatError, Chunk, ephemeral, prefix
from counter.backup.dump import dump, sites_to_back_up
from counter.backup.load import restore, send, writes
from counter.backup.progress import Counts, Progress
from counter.counting import members
from counter.errors import ApiError
from counter.settings import Settings
from counter.storage import RedisClient
from tests.conftest import ADMIN, VN, Client, FakeClock, hit, make_site
from tests.polls_support import make_poll, patch_poll, vote

SECRET = "s" * 40
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PAGES = ("/a", "/b", "/news/1", "/never-seen")
VOTER = "visitor-0001"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No caches: every answer after a restore comes from what the restore wrote."""
    return dataclasses.replace(settings, stats_cache_ms=0, site_cache_ms=0)


# -- helpers shared with the CLI and cluster tests ------------------------------------------


async def populate(client: Client, clock: FakeClock, site: str = "demo") -> list[str]:
    """A site with something in every kind of key: two days of hits (a member, a bot, a
    leave), base counts and their audit, and polls (open, closed, hidden results) with
    votes. Returns the poll ids."""
    await make_site(client, site, name="Cổng thông tin", member_secret=SECRET, locale="vi")

    async def hit_(visitor: str, page: str, **extra: Any) -> None:
        headers = extra.pop("headers", {})
        body = {"site": site, "page": page, "visitor": visitor, **extra}
        resp = await client.post("/v1/hit", json=body, headers=headers)
        assert resp.status == 200, await resp.text()

    await hit_(VOTER, "/a")
    await hit_("visitor-0002", "/b")
    await hit_("visitor-0004", "/a", member=members.mint(SECRET, site, "user_42", 2_000_000_000))
    await hit_("crawler-0001", "/a", headers={"User-Agent": GOOGLEBOT})
    clock.advance(86_400)
    await hit_(VOTER, "/a")
    await hit_("visitor-0003", "/news/1")
    leave = {"site": site, "visitor": "visitor-0003"}
    assert (await client.post("/v1/leave", json=leave)).status == 204
    base = {"visits": 77_445_445, "pageviews": 120_000_000, "pages": {"/a": 138}}
    resp = await client.post(f"/v1/admin/sites/{site}/base", json=base, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    polls = [
        (await make_poll(client, site=site))["id"],
        (await make_poll(client, site=site, results_visibility="after_vote"))["id"],
        (await make_poll(client, site=site, max_choices=2))["id"],
    ]
    for poll_id in polls:
        assert (await vote(client, poll_id, VOTER, ["o1"])).status == 200
        assert (await vote(client, poll_id, "visitor-0002", ["o2"])).status == 200
    now = datetime.fromtimestamp(clock.now, VN).replace(microsecond=0)
    closed = await patch_poll(client, polls[2], ends_at=now.isoformat())
    assert closed.status == 200, await closed.text()  # its ballots now expire
    return polls


def _without_server_time(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_server_time(v) for k, v in value.items() if k != "server_time"}
    if isinstance(value, list):
        return [_without_server_time(v) for v in value]
    return value


async def _get(client: Client, path: str, **query: Any) -> Any:
    resp = await client.get(path, params=query, headers=ADMIN)
    assert resp.status == 200, f"{path}: {resp.status} {await resp.text()}"
    return _without_server_time(await resp.json())


async def snapshot(client: Client, polls: Iterable[str], site: str = "demo") -> dict[str, Any]:
    """What the API answers about a site: stats (less ``online`` and ``server_time``), each
    poll for a voter and for a stranger, the admin poll list, config, audit and history."""
    stats = await _get(client, "/v1/stats", site=site, page=list(PAGES))
    del stats["online"]
    out = {
        "stats": stats,
        "admin_polls": await _get(client, "/v1/admin/polls", site=site),
        "active_polls": await _get(client, "/v1/polls", site=site, visitor=VOTER),
        "config": await _get(client, f"/v1/admin/sites/{site}"),
        "audit": await _get(client, f"/v1/admin/sites/{site}/audit"),
        "history": await _get(client, f"/v1/admin/sites/{site}/history"),
    }
    for poll_id in polls:
        out[f"poll {poll_id} voter"] = await _get(client, f"/v1/polls/{poll_id}", visitor=VOTER)
        out[f"poll {poll_id}"] = await _get(client, f"/v1/polls/{poll_id}")
    return out


async def site_contents(redis: RedisClient, site: str) -> dict[bytes, tuple[str, Any]]:
    """Every key a backup holds, read whole by type (scores as numbers)."""
    out: dict[bytes, tuple[str, Any]] = {}
    async for key in redis.scan_iter(match=keys.site_pattern(site)):
        if ephemeral(site, key):
            continue
        raw_type = await redis.type(key)
        type_ = raw_type.decode() if isinstance(raw_type, bytes) else raw_type
        if type_ == "string":
            value: Any = await redis.get(key)
        elif type_ == "hash":
            value = await redis.hgetall(key)
        elif type_ == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif type_ == "set":
            value = await redis.smembers(key)
        else:
            value = await redis.lrange(key, 0, -1)
        out[key] = (type_, value)
    return out


async def backup_lines(redis: RedisClient, *sites: str, now: float = 0.0) -> list[bytes]:
    return [line async for line in dump(redis, sites, now=now, counts=Counts(), retries=1)]


def parsed(lines: Iterable[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in lines]


# -- the tests ------------------------------------------------------------------------------


async def test_a_restore_into_an_emptied_store_answers_the_same_stats_and_poll_results(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    polls = await populate(client, clock)
    before, contents = await snapshot(client, polls), await site_contents(redis, "demo")
    assert before["stats"]["visits"]["total"] > 77_445_445
    lines = await backup_lines(redis, "demo", now=clock.now)
    await redis.flushall()
    assert (await client.get("/v1/stats?site=demo")).status == 404

    summary = await restore(redis, lambda: lines, retries=1)

    assert summary["restored"] == ["demo"]
    assert summary["replaced"] == []
    assert await snapshot(client, polls) == before
    assert await site_contents(redis, "demo") == contents
    assert await redis.sismember(keys.SITES, "demo")
    assert {await redis.hget(keys.POLLS, p) for p in polls} == {b"demo"}


async def test_the_file_names_its_format_and_holds_no_ephemeral_key(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    polls = await populate(client, clock)
    await redis.set(keys.batch_marker("demo", "batch-1"), 1, px=600_000)
    await redis.set(keys.vote_rate("demo", "ip-1"), 3, px=60_000)
    await redis.set(keys.tombstone("demo"), 1, px=60_000)
    await redis.set(keys.announced("demo"), 1, px=60_000)  # a second's flag, made to last here
    lines = parsed(await backup_lines(redis, "demo", now=clock.now))

    assert lines[0] == {
        "format": "counter-backup",
        "version": 1,
        "created_at": "2026-11-27T03:00:00Z",
    }
    names = {line["key"] for line in lines if line.get("t") == "key"}
    assert {"conf", "visits", "pages", "base", "audit", "on:g", "peak", "polls"} <= names
    assert not {n for n in names if n.startswith(("b:", "vrate:")) or n in ("deleted", "announced")}
    index = [line for line in lines if line.get("t") == "index"]
    assert {line["key"] for line in index} == {keys.SITES, keys.POLLS}
    polls_index = next(line for line in index if line["key"] == keys.POLLS)
    assert sorted(polls_index["data"][::2]) == sorted(polls)
    assert lines[-2] == {"t": "end", "site": "demo", "keys": len(names), "lines": len(lines) - 4}
    assert lines[-1] == {"t": "done", "sites": 1}


async def test_restore_refuses_a_site_that_exists_writes_nothing_and_replace_overwrites_it(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    polls = await populate(client, clock)
    await make_site(client, "news")
    await hit(client, "visitor-0009", "/a")
    before = await snapshot(client, polls)
    lines = await backup_lines(redis, "demo", "news")
    await hit(client, "visitor-0010", "/b")  # after the backup: gone after --replace
    assert (await client.delete("/v1/admin/sites/news", headers=ADMIN)).status == 204

    with pytest.raises(ApiError) as refused:
        await restore(redis, lambda: lines, retries=1)
    assert refused.value.code == "site_exists"
    assert "demo" in refused.value.message
    assert "--replace" in refused.value.message
    assert "news" not in refused.value.message
    assert await site_contents(redis, "news") == {}  # nothing written, not even news
    assert not await redis.sismember(keys.SITES, "news")

    summary = await restore(redis, lambda: lines, replace=True, retries=1)
    assert summary == {"restored": ["demo", "news"], "replaced": ["demo"], **_sizes(summary)}
    assert await snapshot(client, polls) == before
    assert (await client.get("/v1/admin/sites/news", headers=ADMIN)).status == 200


def _sizes(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary[k] for k in ("keys", "bytes")}


async def test_replace_drops_keys_and_polls_the_backup_does_not_have(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    polls = await populate(client, clock)
    lines = await backup_lines(redis, "demo")
    later = (await make_poll(client))["id"]
    await hit(client, "visitor-0011", "/later")

    await restore(redis, lambda: lines, replace=True, retries=1)

    assert (await client.get(f"/v1/polls/{later}")).status == 404
    assert await redis.hget(keys.POLLS, later) is None
    stats = await _get(client, "/v1/stats", site="demo", page="/later")
    assert stats["pages"] == {"/later": 0}
    listed = (await _get(client, "/v1/admin/polls", site="demo"))["polls"]
    assert sorted(p["id"] for p in listed) == sorted(polls)


async def test_a_restore_right_after_a_delete_clears_the_tombstone_and_counting_resumes(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    polls = await populate(client, clock)
    before = await snapshot(client, polls)
    lines = await backup_lines(redis, "demo")
    assert (await client.delete("/v1/admin/sites/demo", headers=ADMIN)).status == 204
    assert await redis.exists(keys.tombstone("demo"))

    await restore(redis, lambda: lines, retries=1)

    assert not await redis.exists(keys.tombstone("demo"))
    assert await snapshot(client, polls) == before
    stats = await hit(client, "visitor-0012", "/a")
    assert stats["visits"]["total"] == before["stats"]["visits"]["total"] + 1
    assert stats["pages"]["/a"] == before["stats"]["pages"]["/a"] + 1


async def test_a_restored_site_is_found_by_its_origins_again(
    client: Client, redis: RedisClient
) -> None:
    """busuanzi's calls name a site by their Referer's origin: a restore rebuilds that index."""
    await make_site(client, "blog", origins=["https://blog.example.vn"])
    call = {"jsonpCallback": "BusuanziCallback_1"}
    referer = {"Referer": "https://blog.example.vn/2026/hello/"}
    assert (await client.get("/busuanzi", params=call, headers=referer)).status == 200
    lines = await backup_lines(redis, "blog")
    assert (await client.delete("/v1/admin/sites/blog", headers=ADMIN)).status == 204
    gone = await client.get("/busuanzi", params=call, headers=referer)
    assert gone.status == 404, await gone.text()

    await restore(redis, lambda: lines, retries=1)

    found = await client.get("/busuanzi", params=call, headers=referer)
    assert found.status == 200, await found.text()
    assert '"page_pv":2' in await found.text()


async def test_binary_values_every_key_type_and_ttls_round_trip_byte_exact(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client)
    tag = prefix("demo")  # keys no code knows yet: a backup holds them all the same
    every_byte = bytes(range(256))
    await redis.set(f"{tag}future:blob", every_byte, px=3_600_000)
    await redis.hset(f"{tag}future:hash", mapping={every_byte: b"\xff\x00", "text": "Tốt"})
    await redis.sadd(f"{tag}future:set", b"\x00\x01\x02\x03\x04\x05\x06\x07", "plain")
    await redis.rpush(f"{tag}future:list", *(bytes([i % 256, 0xFE]) for i in range(2500)))
    await redis.pexpire(f"{tag}future:list", 86_400_000)
    scores = {
        b"\x80" * 8: -1_764_126_000_000,
        b"\x01" * 8: 0.5,
        b"top": math.inf,
        b"low": -math.inf,
    }
    await redis.zadd(f"{tag}future:zset", scores)
    await redis.pfadd(keys.uniques("demo", "2026-11-26"), *(f"v{i}" for i in range(5000)))
    await redis.expire(keys.uniques("demo", "2026-11-26"), 40 * 86_400)
    contents = await site_contents(redis, "demo")
    ttls = {k: await redis.pttl(k) for k in contents}
    lines = await backup_lines(redis, "demo")
    by_key: dict[str, dict[str, Any]] = {}
    for line in parsed(lines):
        by_key.setdefault(str(line.get("key")), line)
    assert by_key["future:blob"]["enc"] == "base64"
    assert by_key["future:zset"]["enc"] == "base64"
    assert "enc" not in by_key["conf"]
    await redis.flushall()

    await restore(redis, lambda: lines, retries=1)

    assert await site_contents(redis, "demo") == contents
    hll = keys.uniques("demo", "2026-11-26")
    assert await redis.execute_command("PFCOUNT", hll) > 4900
    for key, ttl in ttls.items():
        restored = await redis.pttl(key)
        if ttl < 0:
            assert restored == -1, key
        else:
            assert ttl - 60_000 < restored <= ttl, key


async def test_a_large_site_streams_in_chunks(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    await make_site(client)
    n = 50_000
    for start in range(0, n, 5000):
        await redis.hset(
            keys.pages("demo"), mapping={f"/p{i}": i for i in range(start, start + 5000)}
        )
    counts = Counts()
    lines = [line async for line in dump(redis, ["demo"], now=0, counts=counts, retries=1)]
    pages = [line for line in parsed(lines) if line.get("key") == "pages"]

    assert len(pages) >= n // CHUNK
    assert all(0 < len(line["data"]) <= 2 * CHUNK for line in pages)  # field, value pairs
    assert [line["part"] for line in pages] == list(range(len(pages)))
    assert len({field for line in pages for field in line["data"][::2]}) == n
    assert counts.bytes == sum(len(line) for line in lines)
    assert max(len(line) for line in lines) < 100_000
    await redis.flushall()

    writes: list[int] = []
    summary = await restore(
        redis, lambda: lines, retries=1, progress=lambda c: writes.append(c.lines)
    )

    assert summary["keys"] == 2
    assert await redis.hlen(keys.pages("demo")) == n
    assert writes == list(range(2, len(lines)))  # one line at a time (not the header, done)
    stats = await _get(client, "/v1/stats", site="demo", page=["/p0", "/p49999"])
    assert stats["pages"] == {"/p0": 0, "/p49999": 49_999}


async def test_the_admin_api_streams_one_sites_backup_as_ndjson(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    polls = await populate(client, clock)
    before = await snapshot(client, polls)
    assert (await client.get("/v1/admin/sites/demo/backup")).status == 401
    missing = await client.get("/v1/admin/sites/nowhere/backup", headers=ADMIN)
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "unknown_site"

    resp = await client.get("/v1/admin/sites/demo/backup", headers=ADMIN)

    assert resp.status == 200
    assert resp.content_type == "application/x-ndjson"
    assert resp.headers["Cache-Control"] == "no-store"
    lines = (await resp.read()).splitlines(keepends=True)
    assert orjson.loads(lines[0])["format"] == "counter-backup"
    await redis.flushall()
    await restore(redis, lambda: lines, retries=1)
    assert await snapshot(client, polls) == before


async def test_an_incomplete_or_foreign_file_is_refused_before_anything_is_written(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    await populate(client, clock)
    lines = await backup_lines(redis, "demo")
    await redis.flushall()
    failed = [*lines[:-3], b'{"t": "error", "message": "storage unavailable"}\n']
    other = [b'{"format": "counter-backup", "version": 2}\n', *lines[1:]]
    cases = {
        "the file ends before the end of the backup": lines[:-1],
        "site 'demo' is incomplete": [*lines[:3], *lines[-2:]],
        "the backup stopped with an error: storage unavailable": failed,
        "version 2; this counter reads 1": other,
        "not valid JSON": [*lines[:2], b"{oops\n", *lines[2:]],
        "the file is empty": [],
    }
    for message, bad in cases.items():
        with pytest.raises(BackupFormatError) as refused:
            await restore(redis, lambda bad=bad: bad, retries=1)  # type: ignore[misc]
        assert refused.value.code == "invalid_backup"
        assert message in refused.value.message or message == "not valid JSON", refused.value
        assert await redis.dbsize() == 0


async def test_a_poll_id_another_site_uses_now_is_refused(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    polls = await populate(client, clock)
    lines = await backup_lines(redis, "demo")
    await redis.flushall()
    await redis.hset(keys.POLLS, polls[0], "elsewhere")

    with pytest.raises(ApiError) as refused:
        await restore(redis, lambda: lines, retries=1)

    assert refused.value.code == "poll_conflict"
    assert await redis.dbsize() == 1


async def test_one_site_of_a_backup_can_be_restored_alone(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    await make_site(client, "demo")
    await make_site(client, "news")
    lines = await backup_lines(redis, "demo", "news")
    await redis.flushall()

    summary = await restore(redis, lambda: lines, only=["news"], retries=1)

    assert summary["restored"] == ["news"]
    assert await redis.smembers(keys.SITES) == {b"news"}
    with pytest.raises(ApiError) as missing:
        await restore(redis, lambda: lines, only=["nowhere"], retries=1)
    assert missing.value.code == "unknown_site"


class _Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_is_shown_on_a_terminal_only_and_at_most_five_times_a_second() -> None:
    silent = _Terminal(True)
    Progress("backup", silent).done(Counts())  # nothing shown: no newline either
    assert silent.getvalue() == ""
    clock = FakeClock(0.0)
    terminal, pipe = _Terminal(True), _Terminal(False)
    shown, hidden = Progress("backup", terminal, clock), Progress("backup", pipe, clock)
    counts = Counts(sites=1, keys=1234, bytes=2_500_000, total_sites=3)
    for progress in (shown, hidden):
        progress.show(counts)
        clock.advance(0.1)
        progress.show(counts)  # too soon: not shown
        clock.advance(0.1)
        counts.keys += 1
        progress.show(counts)
        progress.done(counts)

    assert pipe.getvalue() == ""
    assert terminal.getvalue() == (
        "\rbackup: 1/3 sites, 1,234 keys, 2.5 MB"
        "\rbackup: 1/3 sites, 1,235 keys, 2.5 MB"
        "\rbackup: 1/3 sites, 1,235 keys, 2.5 MB\n"
    )


async def test_backing_up_an_unknown_site_is_refused_and_none_named_means_every_site(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client, "news")
    await make_site(client, "demo")
    with pytest.raises(ApiError) as refused:
        await sites_to_back_up(redis, ["demo", "nowhere"], retries=1)
    assert refused.value.code == "unknown_site"
    assert await sites_to_back_up(redis, [], retries=1) == ["demo", "news"]


async def test_a_polls_ballots_keep_their_expiry(
    client: Client, redis: RedisClient, clock: FakeClock
) -> None:
    await make_site(client)
    end = datetime.fromtimestamp(clock.now, VN).replace(microsecond=0, year=2036)
    poll = await make_poll(client, ends_at=end.isoformat())  # ballots expire after its end
    assert (await vote(client, poll["id"], VOTER, ["o1"])).status == 200
    ballots = keys.poll_ballots("demo", poll["id"])
    ttl = await redis.pttl(ballots)
    assert ttl > 0
    lines = await backup_lines(redis, "demo")
    await redis.flushall()

    await restore(redis, lambda: lines, retries=1)

    assert ttl - 60_000 < await redis.pttl(ballots) <= ttl
    assert (await _get(client, f"/v1/polls/{poll['id']}", visitor=VOTER))["voted"] is True


async def test_every_write_of_a_restore_may_be_sent_twice(redis: RedisClient) -> None:
    """A pipeline that failed midway is sent again whole, so its writes must be idempotent
    (a list's later parts first trim it back to what the earlier parts wrote)."""
    written: dict[str, int] = {}
    for type_, parts in {
        "list": [[b"a", b"b"], [b"c"], [b"d", b"e"]],
        "set": [[b"a", b"b"], [b"c"]],
        "hash": [[b"f", b"1"], [b"g", b"2"]],
        "zset": [[b"m", b"1.5"], [b"n", b"-inf"]],
        "string": [[b"\x00\xff"]],
    }.items():
        for part, data in enumerate(parts):
            chunk = Chunk("key", "demo", type_.encode(), type_, part, data, ttl_ms=60_000)
            commands = writes(chunk, written.get(type_, 0))
            await send(redis, commands)
            await send(redis, commands)
            written[type_] = written.get(type_, 0) + len(data)

    tag = prefix("demo")
    assert await redis.lrange(f"{tag}list", 0, -1) == [b"a", b"b", b"c", b"d", b"e"]
    assert await redis.smembers(f"{tag}set") == {b"a", b"b", b"c"}
    assert await redis.hgetall(f"{tag}hash") == {b"f": b"1", b"g": b"2"}
    assert await redis.zrange(f"{tag}zset", 0, -1, withscores=True) == [
        (b"n", -math.inf),
        (b"m", 1.5),
    ]
    assert await redis.get(f"{tag}string") == b"\x00\xff"
    assert 0 < await redis.pttl(f"{tag}list") <= 60_000


async def test_a_key_of_a_type_a_backup_cannot_hold_ends_the_stream_with_an_error_line(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client)
    await redis.xadd(f"{prefix('demo')}future:stream", {"a": "1"})

    resp = await client.get("/v1/admin/sites/demo/backup", headers=ADMIN)

    assert resp.status == 200  # the stream had begun when the key was met
    lines = (await resp.read()).splitlines(keepends=True)
    last = orjson.loads(lines[-1])
    assert last["t"] == "error"
    assert "is a stream, which a backup cannot hold" in last["message"]
    await redis.flushall()
    with pytest.raises(BackupFormatError) as refused:
        await restore(redis, lambda: lines, retries=1)
    assert "the backup stopped with an error" in refused.value.message
