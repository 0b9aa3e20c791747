"""Placing a booking: every refusal has its own message and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from booking.accounts.models import OrgKind, User
from booking.errors import DomainError, InvalidTransition
from booking.extensions import db
from booking.orders import services
from booking.orders.availability import SlotState, week_availability
from booking.orders.models import Booking, OrderStatus, Suspension, TrainingAuthorisation
from booking.orders.services import BookingRequest, SlotTaken, place_booking
from instruments import services as catalogue
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for, slot


def booking_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Booking)) or 0


def refused(user: User, request: BookingRequest, match: str) -> None:
    before = booking_count()
    with pytest.raises(DomainError, match=match):
        place_booking(user, request, NOW)
    db.session.rollback()
    assert booking_count() == before


def test_a_verified_firm_books_a_free_slot(instrument: Instrument, firm_user: User) -> None:
    booking = place_booking(firm_user, request_for(instrument, purpose="成分分析"), NOW)
    db.session.commit()
    assert booking.status == OrderStatus.REQUESTED
    assert booking.quote_fen == 30_000
    assert booking.policy["cancel_fee_percent"] == 50
    assert booking.respond_by == NOW + timedelta(hours=48)


def test_without_approval_the_booking_confirms_at_once(
    instrument: Instrument, firm_user: User
) -> None:
    instrument.approval_required = False
    booking = place_booking(firm_user, request_for(instrument), NOW)
    assert booking.status == OrderStatus.CONFIRMED
    assert booking.respond_by is None


def test_snapshot_does_not_follow_later_price_changes(
    instrument: Instrument, firm_user: User
) -> None:
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    catalogue.set_prices(instrument, {"entrusted": 99_900})
    db.session.commit()
    assert booking.price_fen_per_hour == 30_000
    assert booking.quote_fen == 30_000


@pytest.mark.parametrize(
    ("days", "hour", "hours", "match"),
    [
        (-1, 9, 1, "已经过去"),
        (10, 6, 1, "开放时间"),
        (10, 19, 2, "开放时间"),
        (10, 9, 5, "60 至 240 分钟"),
        (3, 9, 1, "提前 7 天"),
        (40, 9, 1, "30 天以内"),
    ],
)
def test_interval_rules(
    instrument: Instrument, firm_user: User, days: int, hour: int, hours: int, match: str
) -> None:
    refused(firm_user, request_for(instrument, days, hour, hours), match)


def test_misaligned_start_is_refused(instrument: Instrument, firm_user: User) -> None:
    start, end = slot(10, 9)
    request = BookingRequest(
        instrument.id, "entrusted", start + timedelta(minutes=15), end + timedelta(minutes=15)
    )
    refused(firm_user, request, "对齐")


def test_downtime_blocks(instrument: Instrument, firm_user: User) -> None:
    start, end = slot(10, 8, 4)
    catalogue.add_downtime(instrument, start, end, "maintenance", "年度保养", None, now=NOW)
    refused(firm_user, request_for(instrument, 10, 9), "停机")


def test_unbookable_status_and_missing_mode(instrument: Instrument, firm_user: User) -> None:
    refused(firm_user, request_for(instrument, mode="remote"), "服务方式")
    instrument.status = "awaiting_repair"
    db.session.commit()
    refused(firm_user, request_for(instrument), "不可预约")


def test_unverified_and_suspended_firms(
    instrument: Instrument, make_firm_user: Callable[..., User]
) -> None:
    pending = make_firm_user(status="pending")
    refused(pending, request_for(instrument), "尚未通过认证")
    suspended = make_firm_user()
    db.session.add(
        Suspension(
            enterprise_id=suspended.organization_id,
            reason="no-shows",
            starts_at=NOW - timedelta(days=1),
            ends_at=NOW + timedelta(days=30),
        )
    )
    db.session.commit()
    refused(suspended, request_for(instrument), "暂停")


def test_self_operation_needs_training(instrument: Instrument, firm_user: User) -> None:
    refused(firm_user, request_for(instrument, mode="occupy"), "培训授权")
    db.session.add(TrainingAuthorisation(instrument_id=instrument.id, user_id=firm_user.id))
    db.session.commit()
    assert place_booking(firm_user, request_for(instrument, mode="occupy"), NOW).id


def test_overlap_is_slot_taken(instrument: Instrument, make_firm_user: Callable[..., User]) -> None:
    place_booking(make_firm_user(), request_for(instrument, 10, 9, 2), NOW)
    db.session.commit()
    with pytest.raises(SlotTaken):
        place_booking(make_firm_user(), request_for(instrument, 10, 10, 1), NOW)
    db.session.rollback()
    # Adjacent (half-open) intervals do not overlap.
    assert place_booking(make_firm_user(), request_for(instrument, 10, 11, 1), NOW).id


def test_provider_users_cannot_book(instrument: Instrument, make_user: Callable[..., User]) -> None:
    refused(make_user(kind=OrgKind.PROVIDER), request_for(instrument), "只有企业用户")


def test_quotas(instrument: Instrument, firm_user: User) -> None:
    instrument.max_future_bookings = 2
    db.session.commit()
    place_booking(firm_user, request_for(instrument, 10, 9), NOW)
    place_booking(firm_user, request_for(instrument, 10, 10), NOW)
    db.session.commit()
    refused(firm_user, request_for(instrument, 10, 12), "上限（2 个）")
    instrument.max_future_bookings = None
    instrument.max_hours_per_week = 3
    db.session.commit()
    place_booking(firm_user, request_for(instrument, 10, 11), NOW)
    db.session.commit()
    refused(firm_user, request_for(instrument, 10, 12), "每周 3 小时")


def test_same_idempotency_key_returns_the_first_booking(
    instrument: Instrument, firm_user: User
) -> None:
    first = place_booking(firm_user, request_for(instrument, idempotency_key="k-1"), NOW)
    db.session.commit()
    again = place_booking(firm_user, request_for(instrument, idempotency_key="k-1"), NOW)
    assert again.id == first.id
    assert booking_count() == 1


def test_lifecycle_bills_recorded_usage(
    instrument: Instrument, firm_user: User, make_user: Callable[..., User]
) -> None:
    staff = make_user(org=instrument.provider)
    booking = place_booking(firm_user, request_for(instrument, 10, 9, 2), NOW)
    services.approve_booking(booking, staff, NOW)
    start = booking.starts_at
    # Came 20 minutes late, left 45 minutes after the end: billed from the booked
    # start, overrun beyond the 30-minute tolerance billed as a full hour.
    services.check_in(booking, staff, now=start + timedelta(minutes=20))
    charge = services.record_usage(
        booking,
        staff,
        booking.ends_at + timedelta(minutes=45),
        now=booking.ends_at + timedelta(hours=1),
    )
    assert charge == 3 * 30_000
    assert booking.status == OrderStatus.COMPLETED
    with pytest.raises(InvalidTransition):
        services.record_usage(booking, staff, booking.ends_at, now=booking.ends_at)
    services.confirm_booking(booking, firm_user, 5, "很好", now=booking.ends_at + timedelta(1))
    assert booking.status == OrderStatus.CLOSED


def test_cancellation_fee_follows_the_cutoff(
    instrument: Instrument, firm_user: User, make_user: Callable[..., User]
) -> None:
    staff = make_user(org=instrument.provider)
    early = place_booking(firm_user, request_for(instrument, 10, 9), NOW)
    services.approve_booking(early, staff, NOW)
    assert services.cancel_booking(early, firm_user, "", NOW) == 0
    late = place_booking(firm_user, request_for(instrument, 10, 11), NOW)
    services.approve_booking(late, staff, NOW)
    assert (
        services.cancel_booking(late, firm_user, "", late.starts_at - timedelta(hours=2)) == 15_000
    )
    with pytest.raises(InvalidTransition):
        services.approve_booking(late, staff, NOW)


def test_week_calendar_marks_taken_and_too_soon(instrument: Instrument, firm_user: User) -> None:
    booking = place_booking(firm_user, request_for(instrument, 10, 9), NOW)
    db.session.commit()
    week = week_availability(instrument, booking.starts_at.date(), "entrusted", NOW)
    states = {s.starts_at: s.state for d in week.days for s in d.slots.values()}
    assert states[booking.starts_at] is SlotState.TAKEN
    this_week = week_availability(instrument, NOW.date(), "entrusted", NOW)
    assert all(
        s.state is SlotState.TOO_SOON
        for d in this_week.days
        for s in d.slots.values()
        if s.starts_at < NOW + timedelta(days=7)
    )
    assert len(this_week.times) == 12


def test_times_are_aware_utc_after_a_round_trip(instrument: Instrument, firm_user: User) -> None:
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Booking, booking.id)
    assert fresh is not None and fresh.starts_at.tzinfo is not None
    assert fresh.starts_at.utcoffset() == timedelta(0)
    assert fresh.starts_at.astimezone(UTC).time() == time(1, 0)  # 09:00 in Shanghai


def test_naive_datetimes_are_a_programming_error(instrument: Instrument, firm_user: User) -> None:
    start = datetime(2026, 12, 11, 9, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="aware"):
        place_booking(
            firm_user,
            BookingRequest(instrument.id, "entrusted", start, start + timedelta(hours=1)),
            NOW,
        )


def test_a_provider_cancelling_charges_the_firm_nothing(
    instrument: Instrument, firm_user: User, make_user: Callable[..., User]
) -> None:
    staff = make_user(org=instrument.provider)
    booking = place_booking(firm_user, request_for(instrument, 10, 9), NOW)
    services.approve_booking(booking, staff, NOW)
    late = booking.starts_at - timedelta(hours=2)
    assert services.cancel_booking(booking, staff, "仪器故障", late, by_provider=True) == 0
    assert booking.cancellation_fee_fen == 0
