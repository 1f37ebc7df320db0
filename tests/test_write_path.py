"""The write path: group commit under concurrency, idempotent retries, the stats cache."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import pytest
from pytest_aiohttp import AiohttpClient

from counter import redis_keys as keys
from counter.app import create_app
from counter.appkeys import COUNTING, METRICS, SITES
from counter.counting.batcher import GroupCommit
from counter.counting.model import Kind, VisitorClass
from counter.counting.service import CountingService
from counter.counting.stats import Answer
from counter.counting.store import (
    MARKER_MIN_S,
    TIMEOUTS_PER_ATTEMPT,
    CountingStore,
    SiteWork,
    marker_ttl_ms,
)
from counter.counting.visitor import digest
from counter.embedded import EmbeddedServer
from counter.errors import StoreUnavailable
from counter.lua.batch import BatchResult, Event, event
from counter.settings import Settings
from counter.sites.model import SiteConfig
from counter.storage import RedisClient, connect, retry_span_s
from counter.wire import Wires
from tests.conftest import Client, FakeClock, hit, make_site


def guest_hit(visitor: str, page: str = "/a") -> Event:
    return event(Kind.HIT, VisitorClass.GUEST, digest("v", visitor), page=page)


async def test_1000_concurrent_hits_count_exactly_1000_in_few_flushes(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    # One client sending 1000 hits: the per-client hit rate is not what this is about.
    client = await aiohttp_client(create_app(replace(settings, hit_rate=0), clock=clock))
    await make_site(client)
    await hit(client, "visitor-first")
    get = client.app[METRICS].registry.get_sample_value
    flushes_before = get("counter_flushes_total", {"result": "ok"}) or 0

    async def one(i: int) -> int:
        resp = await client.post(
            "/v1/hit", json={"site": "demo", "page": f"/p{i % 7}", "visitor": f"visitor-{i:05d}"}
        )
        return resp.status

    statuses = await asyncio.gather(*(one(i) for i in range(1000)))
    assert statuses == [200] * 1000
    stats = await (await client.get("/v1/stats?site=demo")).json()
    assert stats["visits"]["total"] == 1001
    assert stats["pageviews"]["total"] == 1001
    assert get("counter_flush_batch_size_sum") == 1001
    flushes = (get("counter_flushes_total", {"result": "ok"}) or 0) - flushes_before
    assert flushes < 1000  # events were grouped: fewer flushes than hits


async def test_a_retried_batch_is_applied_once(redis: RedisClient, clock: FakeClock) -> None:
    store = CountingStore(redis)
    site = SiteConfig(id="demo")
    work = SiteWork(site, [guest_hit("visitor-aaaa")], batch_id="b1")
    first = (await store.apply([work], clock()))[0]
    again = (await store.apply([work], clock()))[0]
    assert (first.applied, again.applied) == (True, False)
    assert again.snapshot.pageviews_total == first.snapshot.pageviews_total == 1
    assert again.pages == {"/a": 1}


async def test_a_batch_marker_outlives_every_retry_of_its_flush(
    redis: RedisClient, redis_server: EmbeddedServer
) -> None:
    """The marker lives twice the longest the flush's retries can take, at least a minute:
    with 6 retries and 10 s timeouts the waits alone are 68 s, so it lives longer than the
    minute of the defaults."""
    site = SiteConfig(id="demo")
    for retries, timeout_s in ((3, 2.0), (0, 1.0), (6, 10.0)):
        wires = Wires(redis_server.url, timeout_s)
        store = CountingStore(redis, wires=wires, retries=retries)
        batch_id = f"b-{retries}"
        await store.apply([SiteWork(site, [guest_hit("visitor-aaaa")], batch_id=batch_id)], 0.0)
        span_s = retry_span_s(retries, TIMEOUTS_PER_ATTEMPT * timeout_s)
        ttl_ms = await redis.pttl(keys.batch_marker(site.id, batch_id))
        assert ttl_ms > 2 * span_s * 1000 - 5_000
        assert ttl_ms >= MARKER_MIN_S * 1000 - 5_000
        assert ttl_ms <= store.marker_ms == marker_ttl_ms(retries, timeout_s)
        await wires.close()
    assert marker_ttl_ms(3, 2.0) == 66_100  # the defaults: 1.05 s of waits, 4 attempts of 8 s
    assert marker_ttl_ms(0, 0.05) == 60_000
    assert marker_ttl_ms(6, 10.0) == int(2 * (68.25 + 7 * 40) * 1000)


async def test_several_sites_flush_in_one_call(redis: RedisClient, clock: FakeClock) -> None:
    store = CountingStore(redis)
    work = [SiteWork(SiteConfig(id=f"site-{n}"), [guest_hit("v", "/x")] * n) for n in (1, 2, 3)]
    results = await store.apply(work, clock())
    assert [r.snapshot.pageviews_total for r in results] == [1, 2, 3]


async def test_close_flushes_everything_queued(redis: RedisClient, clock: FakeClock) -> None:
    batcher = GroupCommit(CountingStore(redis), clock, max_batch=10)
    batcher.start()
    site = SiteConfig(id="demo")
    pending = [batcher.submit(site, guest_hit(f"v{i}")) for i in range(95)]
    await batcher.close()
    answers = await asyncio.gather(*pending)
    assert max(a.snapshot.pageviews_total for a in answers) == 95
    assert int(await redis.hget("c:{demo}:pageviews", "all") or 0) == 95


async def test_stats_reads_are_cached_for_at_most_a_second(
    aiohttp_client: AiohttpClient, settings: Settings, clock: FakeClock, redis: RedisClient
) -> None:
    replica_a = await aiohttp_client(create_app(settings, clock=clock))
    replica_b = await aiohttp_client(create_app(settings, clock=clock))
    await make_site(replica_a)
    await (await replica_a.get("/v1/stats?site=demo")).json()
    calls_before = (await redis.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
    for _ in range(20):
        stats = await (await replica_a.get("/v1/stats?site=demo")).json()
    calls_after = (await redis.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
    assert calls_after == calls_before  # all 20 reads came from the cache

    await hit(replica_b, "visitor-bbbb")
    stats = await (await replica_a.get("/v1/stats?site=demo")).json()
    assert stats["pageviews"]["total"] == 0  # replica A's cache is still fresh
    clock.advance(1.0)
    stats = await (await replica_a.get("/v1/stats?site=demo")).json()
    assert stats["pageviews"]["total"] == 1


async def test_a_read_sent_before_a_flush_never_brings_its_older_counts_back(
    client: Client,
) -> None:
    """The live-stats hub reads past the cache and refreshes it: a read sent before a hit's
    flush and answered after it must not put back the count the flush raised, in the cache
    or on the streams."""
    await make_site(client)
    await hit(client, "visitor-aaaa", "/a")
    counting = client.app[COUNTING]
    site = await client.app[SITES].get("demo")
    assert site is not None
    sent = counting.cache.stamp()
    older = await counting.snapshot(site, ["/a"])  # sent, and answered, before the hit below
    await hit(client, "visitor-bbbb", "/a")
    pushed = counting.cache.put(older, sent)  # ... and delivered after it
    assert (pushed.pages, pushed.snapshot.pageviews_total) == ({"/a": 2}, 2)  # to the streams
    stats = await (await client.get("/v1/stats?site=demo&page=/a")).json()
    assert stats["pages"] == {"/a": 2}


@pytest.mark.parametrize("cache_ms", [1000, 0])
async def test_a_stats_read_does_not_share_a_load_sent_before_the_latest_flush(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: FakeClock,
    redis: RedisClient,
    cache_ms: int,
) -> None:
    """With the cache on or off (``COUNTER_STATS_CACHE_MS=0``), concurrent reads share one
    load, but never one sent before the site's latest flush."""
    client = await aiohttp_client(
        create_app(replace(settings, stats_cache_ms=cache_ms), clock=clock)
    )
    await make_site(client)
    await hit(client, "visitor-aaaa", "/a")
    counting: CountingService = client.app[COUNTING]
    site = await client.app[SITES].get("demo")
    assert site is not None
    sent, release = asyncio.Event(), asyncio.Event()

    async def slow_read() -> Answer:
        answer = await counting.snapshot(site, ["/a", "/b"])
        sent.set()
        await release.wait()
        return answer

    slow = asyncio.create_task(counting.cache.get_or_load("demo", ["/a", "/b"], slow_read))
    await sent.wait()
    await hit(client, "visitor-bbbb", "/a")  # its flush's answer has /a, not /b: a cache miss
    async with asyncio.timeout(30):  # sharing the held load would wait for it
        stats = await (await client.get("/v1/stats?site=demo&page=/a&page=/b")).json()
    assert stats["pages"] == {"/a": 2, "/b": 0}
    release.set()
    assert (await slow)[1] == {"/a": 1, "/b": 0}  # its own caller gets what it read
    stats = await (await client.get("/v1/stats?site=demo&page=/a&page=/b")).json()
    assert stats["pages"] == {"/a": 2, "/b": 0}


async def test_an_unexpected_flush_failure_fails_its_requests_and_the_flusher_goes_on(
    redis: RedisClient, clock: FakeClock
) -> None:
    batcher = GroupCommit(CountingStore(redis), clock)
    batcher.start()
    a_hit = guest_hit("visitor-aaaa")
    broken = SiteConfig(id="demo", timezone="Not/A_Zone")  # fails inside the flush
    try:
        with pytest.raises(StoreUnavailable):
            await batcher.submit(broken, a_hit)
        answer = await batcher.submit(SiteConfig(id="demo"), a_hit)
        assert answer.snapshot.pageviews_total == 1
    finally:
        await batcher.close()


async def test_a_batch_over_thousands_of_pages_is_counted_once_and_answered(
    redis: RedisClient, clock: FakeClock
) -> None:
    events = [guest_hit(f"v{i}", f"/p{i}") for i in range(8200)]
    work = [SiteWork(SiteConfig(id="demo"), events)]
    result = (await CountingStore(redis).apply(work, clock()))[0]
    assert result.snapshot.pageviews_total == 8200
    assert len(result.pages) == 8200


class HeldStore(CountingStore):
    """The real store, whose first write waits at a gate (a reply slow to come back)."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(redis)
        self.holding = asyncio.Event()
        self.gate = asyncio.Event()
        self.calls = 0

    async def apply(self, work: Sequence[SiteWork], now: float) -> list[BatchResult]:
        self.calls += 1
        if self.calls == 1:
            self.holding.set()
            await self.gate.wait()
        return await super().apply(work, now)


async def test_with_two_flushes_in_flight_the_next_batch_is_written_while_one_is_held(
    redis: RedisClient, clock: FakeClock
) -> None:
    store = HeldStore(redis)
    batcher = GroupCommit(store, clock, in_flight=2)
    batcher.start()
    site = SiteConfig(id="demo")
    try:
        first = batcher.submit(site, guest_hit("visitor-aaaa"))
        await store.holding.wait()
        async with asyncio.timeout(30):
            second = await batcher.submit(site, guest_hit("visitor-bbbb"))
        assert not first.done()  # answered only once its own write is back
        assert second.snapshot.pageviews_total == 1
        store.gate.set()
        assert (await first).snapshot.pageviews_total == 2
    finally:
        store.gate.set()
        await batcher.close()


class CountedStore(CountingStore):
    """The real store, counting its writes."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(redis, retries=0)
        self.calls = 0

    async def apply(self, work: Sequence[SiteWork], now: float) -> list[BatchResult]:
        self.calls += 1
        return await super().apply(work, now)


async def test_a_stop_with_redis_gone_answers_the_whole_queue_after_one_failed_flush(
    clock: FakeClock,
) -> None:
    gone = connect("redis://127.0.0.1:1", 1.0)  # nothing listens there: refused at once
    store = CountedStore(gone)
    batcher = GroupCommit(store, clock, enabled=False)  # one flush per event: 50 batches
    site = SiteConfig(id="demo")
    try:
        waiters = [batcher.submit(site, guest_hit(f"visitor-{i:04d}")) for i in range(50)]
        batcher.start()
        await batcher.close()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results)
        assert store.calls == 1  # not one failing flush per queued batch
    finally:
        await gone.aclose()
