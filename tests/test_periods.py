"""Periods in the site's timezone: today, yesterday, weeks, months, years."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from counter.counting.periods import Periods
from tests.conftest import VN, Client, FakeClock, hit, make_site


def test_periods_of_an_instant_follow_the_timezone() -> None:
    # 2026-11-30 23:30 UTC is already Tuesday 1 December 06:30 in Vietnam.
    now = datetime(2026, 11, 30, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    vn = Periods.at(now, VN)
    assert (vn.day, vn.week, vn.month, vn.year) == (
        "d:2026-12-01",
        "w:2026-11-30",
        "m:2026-12",
        "y:2026",
    )
    assert (vn.yesterday, vn.last_week, vn.last_month) == (
        "d:2026-11-30",
        "w:2026-11-23",
        "m:2026-11",
    )
    utc = Periods.at(now, ZoneInfo("UTC"))
    assert (utc.day, utc.month) == ("d:2026-11-30", "m:2026-11")


@pytest.mark.parametrize(
    ("week_start", "expected"), [(0, "w:2026-11-23"), (6, "w:2026-11-22"), (3, "w:2026-11-26")]
)
def test_week_starts_on_the_configured_day(week_start: int, expected: str) -> None:
    thursday = datetime(2026, 11, 26, 12, tzinfo=VN).timestamp()
    assert Periods.at(thursday, VN, week_start).week == expected


def test_january_last_month_is_december_of_the_year_before() -> None:
    p = Periods.at(datetime(2027, 1, 5, tzinfo=VN).timestamp(), VN)
    assert (p.last_month, p.year) == ("m:2026-12", "y:2027")


async def test_today_rolls_over_at_local_midnight_and_keeps_yesterday(
    client: Client, clock: FakeClock
) -> None:
    await make_site(client, online_window_s=60, visit_window_s=60)
    clock.set(datetime(2026, 11, 26, 23, 58, tzinfo=VN))
    await hit(client, "visitor-aaaa")
    await hit(client, "visitor-bbbb")
    clock.set(datetime(2026, 11, 27, 0, 1, tzinfo=VN))  # 17:01 UTC: still the 26th in UTC
    stats = await hit(client, "visitor-cccc")
    assert stats["visits"]["today"] == 1
    assert stats["visits"]["yesterday"] == 2
    assert stats["visits"]["this_week"] == 3
    assert stats["pageviews"]["today"] == 1
    assert stats["uniques"] == {"today": 1, "yesterday": 2}


async def test_week_month_and_year_boundaries(client: Client, clock: FakeClock) -> None:
    await make_site(client, online_window_s=60, visit_window_s=60)
    clock.set(datetime(2026, 12, 31, 12, tzinfo=VN))  # Thursday
    await hit(client, "visitor-aaaa")
    clock.set(datetime(2027, 1, 4, 9, tzinfo=VN))  # the next Monday, a new month and year
    stats = await hit(client, "visitor-aaaa")
    visits = stats["visits"]
    assert visits["this_week"] == 1
    assert visits["last_week"] == 1
    assert visits["this_month"] == 1
    assert visits["last_month"] == 1
    assert visits["this_year"] == 1
    assert visits["total"] == 2


async def test_sunday_week_start_site(client: Client, clock: FakeClock) -> None:
    await make_site(client, week_start="sunday", online_window_s=60, visit_window_s=60)
    clock.set(datetime(2026, 11, 28, 12, tzinfo=VN))  # Saturday
    await hit(client, "visitor-aaaa")
    clock.set(datetime(2026, 11, 29, 12, tzinfo=VN))  # Sunday: a new week
    stats = await hit(client, "visitor-aaaa")
    assert (stats["visits"]["this_week"], stats["visits"]["last_week"]) == (1, 1)


async def test_history_lists_days_in_json_and_csv(client: Client, clock: FakeClock) -> None:
    await make_site(client, online_window_s=60, visit_window_s=60)
    clock.set(datetime(2026, 11, 25, 12, tzinfo=VN))
    await hit(client, "visitor-aaaa")
    clock.set(datetime(2026, 11, 26, 12, tzinfo=VN))
    await hit(client, "visitor-aaaa")
    await hit(client, "visitor-bbbb")
    from tests.conftest import ADMIN

    resp = await client.get(
        "/v1/admin/sites/demo/history?from=2026-11-24&to=2026-11-26", headers=ADMIN
    )
    days = (await resp.json())["days"]
    assert [(d["date"], d["visits"], d["uniques"]) for d in days] == [
        ("2026-11-24", 0, None),
        ("2026-11-25", 1, 1),
        ("2026-11-26", 2, 2),
    ]
    resp = await client.get(
        "/v1/admin/sites/demo/history?from=2026-11-25&to=2026-11-26&format=csv", headers=ADMIN
    )
    assert resp.content_type == "text/csv"
    assert (await resp.text()).splitlines() == [
        "date,visits,pageviews,uniques,bot_hits",
        "2026-11-25,1,1,1,0",
        "2026-11-26,2,2,2,0",
    ]
