"""Which slots of an instrument's week can be booked.

A week calendar is computed from the opening hours, slot size, lead time of
the service mode, max days ahead, downtime, instrument status and the active
bookings. Two queries (bookings, downtime) per instrument-week; the rest is
arithmetic on at most a few hundred slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import select

from booking.extensions import db
from booking.orders.clock import at_local, week_start
from booking.orders.models import ACTIVE_STATUSES, Booking
from instruments.models import Downtime, Instrument


class SlotState(StrEnum):
    FREE = "free"
    TAKEN = "taken"  # an active booking holds it
    DOWNTIME = "downtime"
    TOO_SOON = "too_soon"  # in the past or inside the lead time
    TOO_FAR = "too_far"  # beyond max days ahead
    UNAVAILABLE = "unavailable"  # the instrument cannot be booked at all


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    state: SlotState

    @property
    def free(self) -> bool:
        return self.state is SlotState.FREE


@dataclass
class Day:
    day: date
    open: bool
    slots: dict[time, Slot] = field(default_factory=dict)  # keyed by local start time


@dataclass
class WeekCalendar:
    instrument: Instrument
    week_start: date
    mode: str | None
    days: list[Day]
    times: list[time]  # row labels: local start times

    @property
    def free_count(self) -> int:
        return sum(1 for d in self.days for s in d.slots.values() if s.free)

    @property
    def prev_week(self) -> date:
        return self.week_start - timedelta(days=7)

    @property
    def next_week(self) -> date:
        return self.week_start + timedelta(days=7)


def slot_times(instrument: Instrument) -> list[time]:
    """Local start times of the slots of an open day."""
    step = instrument.slot_minutes
    start = instrument.open_from.hour * 60 + instrument.open_from.minute
    end = instrument.open_until.hour * 60 + instrument.open_until.minute
    return [time(m // 60, m % 60) for m in range(start, end - step + 1, step)]


def busy_intervals(
    instrument_id: int,
    start: datetime,
    end: datetime,
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]]:
    """(active bookings, downtime) intervals overlapping [start, end)."""
    bookings = db.session.execute(
        select(Booking.starts_at, Booking.ends_at).where(
            Booking.instrument_id == instrument_id,
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.starts_at < end,
            Booking.ends_at > start,
        )
    ).all()
    downtime = db.session.execute(
        select(Downtime.starts_at, Downtime.ends_at).where(
            Downtime.instrument_id == instrument_id,
            Downtime.starts_at < end,
            Downtime.ends_at > start,
        )
    ).all()
    return [(b[0], b[1]) for b in bookings], [(d[0], d[1]) for d in downtime]


def _overlaps(
    a_start: datetime, a_end: datetime, intervals: list[tuple[datetime, datetime]]
) -> bool:
    return any(s < a_end and a_start < e for s, e in intervals)


def week_availability(
    instrument: Instrument, any_day: date, mode: str | None, now: datetime
) -> WeekCalendar:
    """The bookable slots of the week holding `any_day`, for `mode` (its lead
    time applies; without a mode the shortest lead time of the instrument)."""
    monday = week_start(any_day)
    times = slot_times(instrument)
    start = at_local(monday, time(0))
    end = at_local(monday + timedelta(days=7), time(0))
    bookings, downtime = busy_intervals(instrument.id, start, end)

    leads = [p.lead_days for p in instrument.prices if mode is None or p.mode == mode]
    lead_days = min(leads) if leads else 0
    earliest = now + timedelta(days=lead_days)
    latest = now + timedelta(days=instrument.max_days_ahead)
    bookable = instrument.is_bookable and bool(leads)
    step = timedelta(minutes=instrument.slot_minutes)

    days: list[Day] = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        is_open = str(day.isoweekday()) in instrument.open_weekdays
        entry = Day(day=day, open=is_open)
        if is_open:
            for t in times:
                s = at_local(day, t)
                e = s + step
                if not bookable:
                    state = SlotState.UNAVAILABLE
                elif _overlaps(s, e, bookings):
                    state = SlotState.TAKEN
                elif _overlaps(s, e, downtime):
                    state = SlotState.DOWNTIME
                elif s < earliest:
                    state = SlotState.TOO_SOON
                elif s > latest:
                    state = SlotState.TOO_FAR
                else:
                    state = SlotState.FREE
                entry.slots[t] = Slot(s, e, state)
        days.append(entry)
    return WeekCalendar(instrument, monday, mode, days, times)
