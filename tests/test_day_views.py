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
from tests.conftest import ADMIN, VN, Client, FakeClock, hit, make_site

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


async def test_the_admin_api_serves_the_console_its_views(client: Client, clock: FakeClock) -> None:
    await make_site(client, origins=["https://portal.example.vn"])
    clock.set(datetime(2026, 11, 26, 9, 15, tzinfo=VN))
    for n, page in enumerate(["/a", "/a", "/b"]):
        await hit(client, f"visitor-{n:04d}", page, referrer="https://www.google.com/")
    clock.set(datetime(2026, 11, 26, 11, 0, tzinfo=VN))
    await hit(client, "visitor-0100", "/c")

    hours = await (await client.get("/v1/admin/sites/demo/hours", headers=ADMIN)).json()
    assert hours["date"] == DAY
    assert (hours["visits"][9], hours["pageviews"][9], hours["visits"][11]) == (3, 3, 1)
    assert len(hours["visits"]) == len(hours["pageviews"]) == 24

    top = await (await client.get("/v1/admin/sites/demo/top-pages?limit=2", headers=ADMIN)).json()
    assert top["pages"] == [{"page": "/a", "views": 2}, {"page": "/b", "views": 1}]
    path = "/v1/admin/sites/demo/top-pages?period=all"
    all_time = await (await client.get(path, headers=ADMIN)).json()
    assert all_time["pages"][0] == {"page": "/a", "views": 2}
    assert all_time["complete"] is True

    refs = await (await client.get("/v1/admin/sites/demo/referrers", headers=ADMIN)).json()
    assert refs["referrers"] == [{"host": "www.google.com", "hits": 3}]

    online = await (await client.get("/v1/admin/sites/demo/online", headers=ADMIN)).json()
    assert online["samples"][-1] == {"at": "2026-11-26T11:00+07:00", "online": 1}
    assert online["samples"][0]["at"] == "2026-11-26T09:15+07:00"

    old = await client.get("/v1/admin/sites/demo/hours?date=2026-11-01", headers=ADMIN)
    assert old.status == 400


async def test_a_flush_announces_a_change_of_a_sites_stats_at_most_once_a_second(
    client: Client, redis: RedisClient
) -> None:
    await make_site(client)
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.STATS_EVENTS)
    assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
    await hit(client, "visitor-0001")
    assert await redis.pttl(keys.announced("demo")) <= 1000  # flagged for a second (or gone)
    await redis.set(keys.announced("demo"), 1, px=60_000)  # that second, made to last here
    await hit(client, "visitor-0002")  # within the second: no second announcement
    await redis.delete(keys.announced("demo"))  # as when the second has passed
    await hit(client, "visitor-0003")
    got = [await pubsub.get_message(timeout=5) for _ in range(2)]
    assert [m["data"] for m in got if m] == [b"demo", b"demo"]
    assert await pubsub.get_message(timeout=0.2) is None
    await pubsub.aclose()  # type: ignore[no-untyped-call]
