"""Local time for calendars: opening hours and weeks are Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def at_local(day: date, at: time) -> datetime:
    """The aware UTC moment of local wall-clock `at` on `day`."""
    return datetime.combine(day, at, tzinfo=SHANGHAI).astimezone(UTC)


def week_start(day: date) -> date:
    """Monday of the ISO week holding `day`."""
    return day - timedelta(days=day.weekday())


def local_week_bounds(day: date) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) of `day`'s week, as aware UTC."""
    monday = week_start(day)
    return at_local(monday, time(0)), at_local(monday + timedelta(days=7), time(0))
