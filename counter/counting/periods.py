"""Calendar periods in a site's timezone, as the hash fields the counting script uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _month_before(d: date) -> date:
    return (d.replace(day=1) - timedelta(days=1)).replace(day=1)


@dataclass(frozen=True, slots=True)
class Periods:
    """The hash fields of one instant.

    ``d:<date>``, ``w:<week start date>``, ``m:<YYYY-MM>``, ``y:<YYYY>``.
    """

    today: date
    day: str
    week: str
    month: str
    year: str
    yesterday: str
    last_week: str
    last_month: str
    hour: str
    """The local hour, ``00`` to ``23``."""
    minute: str
    """The local time to the minute, ``HH:MM``."""

    @classmethod
    def at(cls, now: float, tz: ZoneInfo, week_start: int = 0) -> Periods:
        """Periods at Unix time ``now`` in ``tz``; ``week_start`` 0 is Monday, 6 Sunday."""
        local = datetime.fromtimestamp(now, tz)
        today = local.date()
        week = today - timedelta(days=(today.weekday() - week_start) % 7)
        return cls(
            today=today,
            day=day_field(today),
            week=f"w:{week.isoformat()}",
            month=f"m:{today:%Y-%m}",
            year=f"y:{today:%Y}",
            yesterday=day_field(today - timedelta(days=1)),
            last_week=f"w:{(week - timedelta(days=7)).isoformat()}",
            last_month=f"m:{_month_before(today):%Y-%m}",
            hour=f"{local.hour:02d}",
            minute=f"{local.hour:02d}:{local.minute:02d}",
        )


def day_field(d: date) -> str:
    return f"d:{d.isoformat()}"
