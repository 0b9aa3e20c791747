"""A bookable world: one provider instrument open every day 08:00–20:00
(Asia/Shanghai) in 60-minute slots, and verified enterprises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from booking.accounts.models import Organization, OrgKind, User
from booking.extensions import db
from booking.orders.clock import at_local
from booking.orders.services import BookingRequest
from instruments.models import Instrument

# Tuesday 2026-12-01 08:00 in Shanghai.
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def slot(days_ahead: int, hour: int, hours: int = 1) -> tuple[datetime, datetime]:
    """[start, end) on local `hour` o'clock, `days_ahead` days after NOW's date."""
    local_date = (NOW + timedelta(hours=8, days=days_ahead)).date()
    start = at_local(local_date, time(hour))
    return start, start + timedelta(hours=hours)


@pytest.fixture
def instrument(make_instrument: Callable[..., Instrument]) -> Instrument:
    made = make_instrument(
        prices={"entrusted": 30_000, "occupy": 20_000},
        open_weekdays="1234567",
        open_from=time(8, 0),
        open_until=time(20, 0),
        slot_minutes=60,
        min_minutes=60,
        max_minutes=240,
        max_days_ahead=30,
        approval_required=True,
        cancel_cutoff_hours=24,
        cancel_fee_percent=50,
    )
    db.session.commit()  # a refused request rolls back; the world it saw stays
    return made


@pytest.fixture
def firm_user(make_user: Callable[..., User]) -> User:
    user = make_user(kind=OrgKind.ENTERPRISE)
    db.session.commit()
    return user


@pytest.fixture
def make_firm_user(
    make_user: Callable[..., User], make_org: Callable[..., Organization]
) -> Callable[..., User]:
    def make(**org_overrides: Any) -> User:
        user = make_user(org=make_org(kind=OrgKind.ENTERPRISE, **org_overrides))
        db.session.commit()
        return user

    return make


def request_for(
    instrument: Instrument,
    days_ahead: int = 10,
    hour: int = 9,
    hours: int = 1,
    mode: str = "entrusted",
    **kw: Any,
) -> BookingRequest:
    start, end = slot(days_ahead, hour, hours)
    return BookingRequest(
        instrument_id=instrument.id, service_mode=mode, starts_at=start, ends_at=end, **kw
    )
