"""The order engine's scheduled jobs, each called with a given `now`, twice:
the first run changes what is due (status, audit event, notification), the
second changes nothing."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from booking.accounts.models import User
from booking.audit.models import AuditEvent
from booking.extensions import db
from booking.notifications.models import Notification
from booking.orders import jobs, service_orders
from booking.orders import services as orders
from booking.orders.models import (
    Booking,
    OrderStatus,
    ServiceOrder,
    Suspension,
    UtilisationSnapshot,
)
from booking.orders.signals import order_changed
from instruments.models import Instrument, ServiceItem
from tests.orders.conftest import NOW, request_for

PDF = b"%PDF-1.4\n% test report\n"


# --- helpers -----------------------------------------------------------------------------


def notes(kind: str, user: User | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.kind == kind).order_by(Notification.id)
    if user is not None:
        stmt = stmt.where(Notification.user_id == user.id)
    return list(db.session.scalars(stmt))


def events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def fresh(obj: Any) -> Any:
    """The object as the database has it now (jobs write with bulk UPDATEs)."""
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def run(job: Callable[[datetime], Any], now: datetime) -> Any:
    """Run a job the way the scheduler does: one transaction, committed."""
    result = job(now)
    db.session.commit()
    return result


@pytest.fixture
def staff(instrument: Instrument, make_user: Callable[..., User]) -> User:
    user = make_user(org=instrument.provider)
    db.session.commit()
    return user


@pytest.fixture
def signals_seen() -> Iterator[list[tuple[Any, str, Any]]]:
    seen: list[tuple[Any, str, Any]] = []

    def receiver(sender: Any, **kw: Any) -> None:
        seen.append((sender, kw["action"], kw["actor"]))

    order_changed.connect(receiver)
    yield seen
    order_changed.disconnect(receiver)


def book(
    instrument: Instrument,
    user: User,
    staff: User | None = None,
    days: int = 10,
    hour: int = 9,
    hours: int = 1,
) -> Booking:
    """Place (and approve, when staff is given) a booking at NOW."""
    booking = orders.place_booking(user, request_for(instrument, days, hour, hours), NOW)
    if staff is not None:
        orders.approve_booking(booking, staff, NOW)
    db.session.commit()
    return booking


def use(booking: Booking, staff: User, minutes: int = 50) -> datetime:
    """Check in at the start and record `minutes` of use; returns completed_at."""
    orders.check_in(booking, staff, now=booking.starts_at)
    out = booking.starts_at + timedelta(minutes=minutes)
    orders.record_usage(booking, staff, out, now=out)
    db.session.commit()
    return out


@pytest.fixture
def item(instrument: Instrument, make_service_item: Callable[..., ServiceItem]) -> ServiceItem:
    made = make_service_item(provider=instrument.provider)
    db.session.commit()
    return made


def order_tests(item: ServiceItem, user: User, now: datetime = NOW) -> ServiceOrder:
    order = service_orders.place_service_order(
        user, item.id, 3, service_orders.current_week(now), "成分分析", "", None, now
    )
    db.session.commit()
    return order


# --- orders.expire_requests ------------------------------------------------------------------


def test_expire_requests(
    instrument: Instrument, firm_user: User, staff: User, item: ServiceItem, signals_seen: list[Any]
) -> None:
    pending = book(instrument, firm_user)
    approved = book(instrument, firm_user, staff, hour=11)
    order = order_tests(item, firm_user)
    assert pending.respond_by == NOW + timedelta(hours=48)
    assert order.respond_by == NOW + timedelta(hours=48)
    signals_seen.clear()

    assert run(jobs.expire_requests, NOW + timedelta(hours=47, minutes=59)) == {
        "bookings": 0,
        "service_orders": 0,
    }
    assert run(jobs.expire_requests, NOW + timedelta(hours=48)) == {
        "bookings": 1,
        "service_orders": 1,
    }

    assert fresh(pending).status == OrderStatus.EXPIRED
    assert fresh(approved).status == OrderStatus.CONFIRMED
    assert fresh(order).status == OrderStatus.EXPIRED
    [event] = events("booking.expire")
    assert (event.object_id, event.actor_user_id) == (pending.id, None)
    assert (event.from_state, event.to_state) == ("requested", "expired")
    assert event.at == NOW + timedelta(hours=48)
    assert [e.object_id for e in events("service_order.expire")] == [order.id]
    [note] = notes("booking.expired", firm_user)
    assert note.link == f"/my/orders/booking/{pending.id}"
    assert note.params["instrument"] == instrument.name_zh
    [note] = notes("service_order.expired", firm_user)
    assert note.link == f"/my/orders/service/{order.id}"
    assert [(action, actor) for _, action, actor in signals_seen] == [
        ("expire", None),
        ("expire", None),
    ]

    # Twice: nothing more.
    assert run(jobs.expire_requests, NOW + timedelta(hours=49)) == {
        "bookings": 0,
        "service_orders": 0,
    }
    assert len(events("booking.expire")) == 1
    assert len(notes("booking.expired")) == 1


def test_a_request_approved_in_time_does_not_expire(
    instrument: Instrument, firm_user: User, staff: User
) -> None:
    booking = book(instrument, firm_user)
    orders.approve_booking(booking, staff, NOW + timedelta(hours=47))
    db.session.commit()
    assert run(jobs.expire_requests, NOW + timedelta(days=3))["bookings"] == 0
    assert fresh(booking).status == OrderStatus.CONFIRMED


# --- orders.mark_no_shows ------------------------------------------------------------------


def test_mark_no_shows_then_suspend_at_the_limit(
    instrument: Instrument, firm_user: User, staff: User, make_firm_user: Callable[..., User]
) -> None:
    assert instrument.no_show_limit == 3
    missed = [book(instrument, firm_user, staff, days=d) for d in (10, 11, 12)]
    attended = book(instrument, firm_user, staff, days=12, hour=14)
    other_firm = book(instrument, make_firm_user(), staff, days=12, hour=16)
    orders.check_in(attended, staff, now=attended.starts_at + timedelta(minutes=5))
    db.session.commit()
    first = missed[0].starts_at

    assert run(jobs.mark_no_shows, first + timedelta(minutes=29)) == {
        "no_shows": 0,
        "suspensions": 0,
    }
    assert run(jobs.mark_no_shows, first + timedelta(minutes=30)) == {
        "no_shows": 1,
        "suspensions": 0,
    }
    assert fresh(missed[0]).status == OrderStatus.NO_SHOW
    assert fresh(missed[1]).status == OrderStatus.CONFIRMED

    late = other_firm.starts_at + timedelta(hours=1)
    assert run(jobs.mark_no_shows, late) == {"no_shows": 3, "suspensions": 1}
    assert {fresh(b).status for b in missed} == {OrderStatus.NO_SHOW}
    assert fresh(attended).status == OrderStatus.IN_USE
    assert fresh(other_firm).status == OrderStatus.NO_SHOW  # one miss: not suspended

    [suspension] = db.session.scalars(select(Suspension)).all()
    assert suspension.enterprise_id == firm_user.organization_id
    assert suspension.instrument_id == instrument.id
    assert suspension.starts_at == late
    assert suspension.ends_at == late + timedelta(days=90)
    assert suspension.lifted_at is None
    assert len(events("booking.no_show")) == 4
    assert all(e.actor_user_id is None for e in events("booking.no_show"))
    [started] = events("suspension.start")
    assert started.object_id == suspension.id
    assert len(notes("booking.no_show", firm_user)) == 3
    [note] = notes("suspension.started", firm_user)
    assert note.params["until"] == "2027-03-13 17:00"  # late + 90 days, Shanghai time

    # Twice: nothing more, and the open suspension is not doubled.
    assert run(jobs.mark_no_shows, late + timedelta(minutes=5)) == {"no_shows": 0, "suspensions": 0}
    assert db.session.scalar(select(func.count()).select_from(Suspension)) == 1
    assert len(notes("suspension.started")) == 1


def test_no_shows_that_led_to_a_suspension_do_not_count_again(
    instrument: Instrument, firm_user: User, staff: User
) -> None:
    _first, second, third = (book(instrument, firm_user, staff, days=d) for d in (10, 11, 12))
    # An earlier suspension (lifted by hand) already answered the first two misses.
    db.session.add(
        Suspension(
            enterprise_id=firm_user.organization_id,
            instrument_id=instrument.id,
            starts_at=second.starts_at + timedelta(hours=2),
            ends_at=second.starts_at + timedelta(days=1),
            lifted_at=second.starts_at + timedelta(hours=3),
        )
    )
    db.session.commit()
    assert run(jobs.mark_no_shows, second.starts_at + timedelta(hours=1)) == {
        "no_shows": 2,
        "suspensions": 0,
    }
    assert run(jobs.mark_no_shows, third.starts_at + timedelta(hours=1)) == {
        "no_shows": 1,
        "suspensions": 0,
    }


# --- orders.close_unconfirmed ------------------------------------------------------------------


def test_close_unconfirmed(
    instrument: Instrument, firm_user: User, staff: User, item: ServiceItem, tmp_path: Path
) -> None:
    booking = book(instrument, firm_user, staff)
    confirmed = book(instrument, firm_user, staff, hour=14)
    completed_at = use(booking, staff)
    use(confirmed, staff)
    orders.confirm_booking(confirmed, firm_user, 5, "", now=completed_at + timedelta(hours=6))
    db.session.commit()
    window = timedelta(days=booking.policy["confirm_window_days"])
    assert window == timedelta(days=7)

    order = order_tests(item, firm_user)
    service_orders.accept_service_order(order, staff, NOW + timedelta(hours=1))
    service_orders.receive_samples(order, staff, NOW + timedelta(days=1))
    service_orders.complete_service_order(
        order, staff, 3, io.BytesIO(PDF), "报告.pdf", tmp_path, NOW + timedelta(days=2)
    )
    db.session.commit()

    assert run(jobs.close_unconfirmed, NOW + timedelta(days=2) + window - timedelta(seconds=1)) == {
        "bookings": 0,
        "service_orders": 0,
    }
    assert run(jobs.close_unconfirmed, NOW + timedelta(days=2) + window) == {
        "bookings": 0,
        "service_orders": 1,
    }
    assert run(jobs.close_unconfirmed, completed_at + window - timedelta(minutes=1)) == {
        "bookings": 0,
        "service_orders": 0,
    }
    assert run(jobs.close_unconfirmed, completed_at + window) == {
        "bookings": 1,
        "service_orders": 0,
    }

    closed = fresh(booking)
    assert closed.status == OrderStatus.CLOSED
    assert closed.firm_confirmed_at is None
    assert closed.rating is None
    assert fresh(order).status == OrderStatus.CLOSED
    assert fresh(order).firm_confirmed_at is None
    [event] = events("booking.auto_close")
    assert (event.from_state, event.to_state, event.actor_user_id) == ("completed", "closed", None)
    assert [e.object_id for e in events("service_order.auto_close")] == [order.id]
    assert len(notes("booking.auto_closed", firm_user)) == 1
    assert len(notes("service_order.auto_closed", firm_user)) == 1
    # The firm confirmed the other booking itself: it keeps its own closing.
    assert fresh(confirmed).firm_confirmed_at is not None
    assert len(events("booking.confirm")) == 1

    assert run(jobs.close_unconfirmed, completed_at + 2 * window) == {
        "bookings": 0,
        "service_orders": 0,
    }
    assert len(events("booking.auto_close")) == 1


# --- orders.lift_suspensions ------------------------------------------------------------------


def test_lift_suspensions(
    instrument: Instrument, firm_user: User, make_firm_user: Callable[..., User]
) -> None:
    firm = firm_user.organization_id
    other = make_firm_user()
    short = Suspension(
        enterprise_id=firm,
        instrument_id=instrument.id,
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=1),
    )
    longer = Suspension(
        enterprise_id=firm,
        instrument_id=None,
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=10),
    )
    others = Suspension(
        enterprise_id=other.organization_id,
        instrument_id=instrument.id,
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=1),
    )
    db.session.add_all([short, longer, others])
    db.session.commit()

    assert run(jobs.lift_suspensions, NOW + timedelta(days=1) - timedelta(seconds=1)) == 0
    assert run(jobs.lift_suspensions, NOW + timedelta(days=1)) == 2
    assert fresh(short).lifted_at == NOW + timedelta(days=1)
    assert fresh(others).lifted_at == NOW + timedelta(days=1)
    assert fresh(longer).lifted_at is None
    # The firm is still suspended by the longer one: not told it may book again.
    assert notes("suspension.lifted", firm_user) == []
    assert len(notes("suspension.lifted", other)) == 1
    assert orders.active_suspension(firm, NOW + timedelta(days=2)) is not None

    assert run(jobs.lift_suspensions, NOW + timedelta(days=10)) == 1
    assert len(notes("suspension.lifted", firm_user)) == 1
    assert [e.object_id for e in events("suspension.lift")] == [short.id, others.id, longer.id]
    assert {(e.from_state, e.to_state, e.actor_user_id) for e in events("suspension.lift")} == {
        ("active", "lifted", None)
    }

    assert run(jobs.lift_suspensions, NOW + timedelta(days=11)) == 0
    assert len(events("suspension.lift")) == 3


# --- orders.send_reminders --------------------------------------------------------------------


def test_send_reminders(instrument: Instrument, firm_user: User, staff: User) -> None:
    confirmed = book(instrument, firm_user, staff)
    requested = book(instrument, firm_user, hour=11)
    later = book(instrument, firm_user, staff, days=11)
    start = confirmed.starts_at

    assert run(jobs.send_reminders, start - timedelta(hours=24, seconds=1)) == 0
    assert run(jobs.send_reminders, start - timedelta(hours=24)) == 1
    assert fresh(confirmed).reminded_at == start - timedelta(hours=24)
    assert fresh(requested).reminded_at is None
    assert fresh(later).reminded_at is None
    [note] = notes("booking.reminder", firm_user)
    assert note.link == f"/my/orders/booking/{confirmed.id}"
    assert note.params["when"] == "2026-12-11 09:00–10:00"
    assert [e.object_id for e in events("booking.remind")] == [confirmed.id]

    assert run(jobs.send_reminders, start - timedelta(hours=1)) == 0
    assert len(notes("booking.reminder")) == 1
    # A booking already under way gets no reminder.
    assert run(jobs.send_reminders, later.starts_at + timedelta(minutes=1)) == 0


# --- orders.snapshot_utilisation -----------------------------------------------------------------


def snapshot_rows() -> list[tuple[Any, ...]]:
    db.session.expire_all()
    return [
        (
            s.instrument_id,
            s.month,
            s.effective_minutes,
            s.external_minutes,
            s.bookings,
            s.users_served,
            s.income_fen,
            s.computed_at,
        )
        for s in db.session.scalars(
            select(UtilisationSnapshot).order_by(
                UtilisationSnapshot.instrument_id, UtilisationSnapshot.month
            )
        )
    ]


def test_snapshot_utilisation(
    instrument: Instrument,
    firm_user: User,
    staff: User,
    make_firm_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
) -> None:
    idle = make_instrument(provider=instrument.provider)
    first = book(instrument, firm_user, staff)
    second = book(instrument, make_firm_user(), staff, hour=14, hours=2)
    use(first, staff, minutes=50)
    use(second, staff, minutes=120)
    charges = fresh(first).charge_fen + fresh(second).charge_fen
    now = datetime(2026, 12, 20, 0, 0, tzinfo=NOW.tzinfo)

    # Only instruments with recorded use get a row; a missing row means zero.
    assert run(jobs.snapshot_utilisation, now) == {"2026-11": 0, "2026-12": 1}
    rows = snapshot_rows()
    assert rows == [(instrument.id, date(2026, 12, 1), 170, 170, 2, 2, charges, now)]
    assert idle.id not in {r[0] for r in rows}
    # Twice: the same figures, no new rows.
    run(jobs.snapshot_utilisation, now)
    assert snapshot_rows() == rows

    # In January the job refreshes December (now the previous month) and January.
    january = datetime(2027, 1, 2, 0, 0, tzinfo=NOW.tzinfo)
    assert run(jobs.snapshot_utilisation, january) == {"2026-12": 1, "2027-01": 0}
    december = [r for r in snapshot_rows() if r[0] == instrument.id and r[1].month == 12]
    assert december == [(instrument.id, date(2026, 12, 1), 170, 170, 2, 2, charges, january)]
    assert len(snapshot_rows()) == 1
