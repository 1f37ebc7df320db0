"""What the flush writes for the console, besides the counts: a day's counts by hour, page
views by page, referring hosts and online samples, and the all-time visitors; each bounded
and kept a few days."""

from __future__ import annotations

from datetime import datetime

from counter import redis_keys as keys
from counter.counting.model import Kind, VisitorClass
from counter.counting.store import CountingStore, SiteWork
from counter.counting.visitor import digest
from counter.lua.batch import DAY_KEYS_TTL_S, REFERRERS_MAX, event
from counter.sites.model import SiteConfig
from counter.storage import RedisClient
from tests.conftest import VN, Client, FakeClock, hit, make_site

DAY = "2026-11-26"


async def test_a_days_hits_are_counted_by_local_hour(
    client: Client, clock: FakeClock, redis: RedisClient
) -> None:
    await make_site(client)
    clock.set(datetime(2026, 11, 26, 9, 15, tzinfo=VN))
    await hit(client, "visitor-0001", "/a")
    await hit(client, "visitor-0001", "/b")  # the same visit, another page view
    clock.set(datetime(2026, 11, 26, 14, 5, tzinfo=VN))
    await hit(client, "visitor-0002", "/a")
    hours = await redis.hgetall(keys.hours("demo", DAY))
    assert hours == {b"v:09": b"1", b"p:09": b"2", b"v:14": b"1", b"p:14": b"1"}
    assert 0 < await redis.ttl(keys.hours("demo", DAY)) <= DAY_KEYS_TTL_S


async def test_a_days_page_views_and_referring_hosts_leave_out_the_sites_own(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client, origins=["https://portal.example.vn"])
    google = "https://www.google.com/search?q=counter"
    await hit(client, "visitor-0001", "/a", referrer=google)
    await hit(client, "visitor-0002", "/a", referrer="https://portal.example.vn/home")
    await hit(client, "visitor-0003", "/b", referrer="https://news.example.com:8443/x")
    await hit(client, "visitor-0004", "/b", referrer="not a url")
    assert await redis.hgetall(keys.day_pages("demo", DAY)) == {b"/a": b"2", b"/b": b"2"}
    assert await redis.hgetall(keys.referrers("demo", DAY)) == {
        b"www.google.com": b"1",
        b"news.example.com:8443": b"1",
    }


async def test_referring_hosts_of_a_day_are_bounded(redis: RedisClient, clock: FakeClock) -> None:
    store = CountingStore(redis)
    events = [
        event(Kind.HIT, VisitorClass.GUEST, digest("v", f"v{n}"), page="/a", referrer=f"h{n}.vn")
        for n in range(REFERRERS_MAX + 50)
    ]
    await store.apply([SiteWork(SiteConfig(id="demo"), events)], clock())
    assert await redis.hlen(keys.referrers("demo", DAY)) == REFERRERS_MAX
    later = [event(Kind.HIT, VisitorClass.GUEST, digest("v", "v0"), page="/a", referrer="h0.vn")]
    await store.apply([SiteWork(SiteConfig(id="demo"), later)], clock())
    assert await redis.hget(keys.referrers("demo", DAY), "h0.vn") == b"2"  # known hosts go on


async def test_online_is_sampled_each_minute_and_visitors_are_counted_for_all_time(
    client: Client, clock: FakeClock, redis: RedisClient
) -> None:
    await make_site(client)
    clock.set(datetime(2026, 11, 26, 10, 0, 30, tzinfo=VN))
    await hit(client, "visitor-0001")
    await hit(client, "visitor-0002")
    clock.set(datetime(2026, 11, 26, 10, 1, 30, tzinfo=VN))
    await hit(client, "visitor-0003")
    samples = await redis.hgetall(keys.online_samples("demo", DAY))
    assert samples[b"10:01"] == b"3"
    assert samples.get(b"10:00") in {b"1", b"2"}  # sampled at most once a second
    clock.set(datetime(2026, 11, 27, 10, 0, tzinfo=VN))
    await hit(client, "visitor-0001")  # another day: a known visitor
    await hit(client, "visitor-0004")
    assert await redis.pfcount(keys.visitors("demo")) == 4
