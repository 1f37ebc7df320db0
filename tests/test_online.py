"""Online now: sliding window by class, leave, ping, peak."""

from __future__ import annotations

from tests.conftest import Client, FakeClock, hit, make_site


async def _post(client: Client, path: str, **body: object) -> object:
    resp = await client.post(path, json={"site": "demo", **body})
    assert resp.status in {200, 204}, await resp.text()
    return await resp.json() if resp.status == 200 else None


async def test_online_counts_visitors_inside_the_window(client: Client, clock: FakeClock) -> None:
    await make_site(client, online_window_s=300)
    await hit(client, "visitor-aaaa")
    clock.advance(200)
    stats = await hit(client, "visitor-bbbb")
    assert stats["online"]["guests"] == 2
    clock.advance(101)
    stats = await hit(client, "visitor-cccc")
    assert stats["online"]["guests"] == 2
    assert stats["online"]["total"] == 2


async def test_leave_drops_the_visitor_from_online_but_keeps_the_visit(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client)
    await hit(client, "visitor-aaaa")
    await hit(client, "visitor-bbbb")
    resp = await client.post(
        "/v1/leave",
        data='{"site": "demo", "visitor": "visitor-aaaa"}',
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert resp.status == 204
    stats = await (await client.get("/v1/stats?site=demo")).json()
    assert stats["online"]["guests"] == 1
    clock.advance(60)
    stats = await hit(client, "visitor-aaaa", "/next")
    assert stats["visits"]["total"] == 2
    assert stats["online"]["guests"] == 2


async def test_ping_keeps_a_visitor_online_and_counts_nothing(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, online_window_s=60, visit_window_s=600)
    await hit(client, "visitor-aaaa")
    for _ in range(3):
        clock.advance(50)
        stats = await _post(client, "/v1/ping", visitor="visitor-aaaa")
    assert isinstance(stats, dict)
    assert stats["online"]["guests"] == 1
    assert stats["visits"]["total"] == 1
    assert stats["pageviews"]["total"] == 1
    clock.advance(61)
    stats = await (await client.get("/v1/stats?site=demo")).json()
    assert stats["online"]["guests"] == 0


async def test_peak_online_records_the_highest_total_and_its_time(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, online_window_s=60)
    for v in ("visitor-aaaa", "visitor-bbbb", "visitor-cccc"):
        await hit(client, v)
    peak_time = clock.now
    clock.advance(120)
    stats = await hit(client, "visitor-dddd")
    assert stats["online"]["total"] == 1
    assert stats["peak"] == {"online": 3, "at": "2026-11-26T10:00:00+07:00"}
    assert peak_time == clock.now - 120


async def test_a_ping_never_makes_up_a_visitor_and_hides_no_visit(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, online_window_s=60, visit_window_s=600)
    stats = await _post(client, "/v1/ping", visitor="visitor-never")
    assert isinstance(stats, dict)
    assert stats["online"]["guests"] == 0

    await hit(client, "visitor-aaaa")
    clock.advance(7200)  # a tab hidden for two hours, then shown: it pings first
    await _post(client, "/v1/ping", visitor="visitor-aaaa")
    stats = await hit(client, "visitor-aaaa", "/next")
    assert stats["visits"]["total"] == 2
