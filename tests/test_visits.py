"""Visits, page views, per-page counts and base counts, through HTTP on a real server."""

from __future__ import annotations

from tests.conftest import ADMIN, Client, FakeClock, hit, make_site


async def test_second_hit_within_visit_window_is_not_a_new_visit(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client)
    await hit(client, "visitor-aaaa", "/a")
    clock.advance(1799)
    stats = await hit(client, "visitor-aaaa", "/b")
    assert stats["visits"]["total"] == 1
    assert stats["pageviews"] == {"total": 2, "today": 2}


async def test_hit_after_visit_window_of_inactivity_is_a_new_visit(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, visit_window_s=600, online_window_s=60)
    await hit(client, "visitor-aaaa")
    clock.advance(601)
    stats = await hit(client, "visitor-aaaa")
    assert stats["visits"]["total"] == 2


async def test_visit_window_slides_with_activity(client: Client, clock: FakeClock) -> None:
    await make_site(client, visit_window_s=600, online_window_s=60)
    for _ in range(5):
        await hit(client, "visitor-aaaa")
        clock.advance(500)
    stats = await hit(client, "visitor-aaaa")
    assert stats["visits"]["total"] == 1
    assert stats["pageviews"]["total"] == 6


async def test_distinct_visitors_are_distinct_visits(client: Client, clock: FakeClock) -> None:
    await make_site(client)
    await hit(client, "visitor-aaaa")
    stats = await hit(client, "visitor-bbbb")
    assert stats["visits"]["total"] == 2
    assert stats["uniques"]["today"] in {1, 2}  # counted at most once a second per process
    clock.advance(1.0)
    stats = await hit(client, "visitor-cccc")
    assert stats["uniques"]["today"] == 3


async def test_page_counts_are_per_normalised_page(client: Client) -> None:
    await make_site(client)
    await hit(client, "visitor-aaaa", "https://portal.example.vn/news/123/?utm_source=fb#top")
    stats = await hit(client, "visitor-bbbb", "/news/123")
    assert stats["pages"] == {"/news/123": 2}
    stats = await hit(client, "visitor-cccc", "/news/456")
    assert stats["pages"] == {"/news/456": 1}


async def test_stats_reads_several_pages_and_counts_nothing(client: Client) -> None:
    await make_site(client)
    await hit(client, "visitor-aaaa", "/a")
    await hit(client, "visitor-aaaa", "/b")
    resp = await client.get("/v1/stats?site=demo&page=/a&page=/b&page=/never")
    assert resp.status == 200
    stats = await resp.json()
    assert stats["pages"] == {"/a": 1, "/b": 1, "/never": 0}
    assert stats["pageviews"]["total"] == 2
    assert "max-age" in resp.headers["Cache-Control"]
    again = await (await client.get("/v1/stats?site=demo")).json()
    assert again["pageviews"]["total"] == 2


async def test_base_counts_are_added_to_totals_and_audited(client: Client) -> None:
    await make_site(client)
    await hit(client, "visitor-aaaa", "/news/123")
    resp = await client.post(
        "/v1/admin/sites/demo/base",
        json={"visits": 77445445, "pageviews": 120000000, "pages": {"/news/123": 138}},
        headers=ADMIN,
    )
    assert resp.status == 200
    entry = await resp.json()
    assert entry["before"] == {"visits": 0, "pageviews": 0, "pages": {"/news/123": 0}}
    assert entry["after"]["visits"] == 77445445
    stats = await hit(client, "visitor-bbbb", "/news/123")
    assert stats["visits"]["total"] == 77445447
    assert stats["visits"]["today"] == 2
    assert stats["pageviews"]["total"] == 120000002
    assert stats["pages"] == {"/news/123": 140}
    audit = await (await client.get("/v1/admin/sites/demo/audit", headers=ADMIN)).json()
    assert [e["actor"] for e in audit["entries"]] == ["admin-api"]


async def test_second_base_change_is_audited_with_its_previous_value(client: Client) -> None:
    await make_site(client)
    for visits in (100, 250):
        resp = await client.post(
            "/v1/admin/sites/demo/base", json={"visits": visits}, headers=ADMIN
        )
        assert resp.status == 200
    audit = await (await client.get("/v1/admin/sites/demo/audit", headers=ADMIN)).json()
    newest = audit["entries"][0]
    assert newest["before"] == {"visits": 100}
    assert newest["after"] == {"visits": 250}
    assert len(audit["entries"]) == 2
