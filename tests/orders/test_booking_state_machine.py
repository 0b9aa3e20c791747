"""Random sequences of booking actions keep the engine's invariants.

Hypothesis drives place / approve / reject / cancel / check-in /
record-usage / confirm with a clock that moves forward, against the real
services and database. After every step: no two active bookings of the
instrument overlap, every status is reachable only through legal
transitions (the audit trail replays to the current status), charges exist
exactly for completed or closed bookings, and refused actions wrote nothing.
"""

from __future__ import annotations

from datetime import time, timedelta
from uuid import uuid4

import hypothesis.strategies as st
import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import delete, func, select

from booking import create_app  # noqa: F401 - keeps the import graph honest
from booking.accounts import uscc
from booking.accounts.models import Organization, Region, User
from booking.audit.models import AuditEvent
from booking.errors import DomainError
from booking.extensions import db
from booking.orders import jobs, services
from booking.orders.clock import at_local
from booking.orders.models import ACTIVE_STATUSES, Booking, OrderStatus
from booking.orders.services import BookingRequest
from instruments import services as catalogue
from tests.orders.conftest import NOW
from tests.orders.test_booking_races import overlapping_active_pairs

LEGAL = {
    None: {OrderStatus.REQUESTED, OrderStatus.CONFIRMED},
    OrderStatus.REQUESTED: {
        OrderStatus.CONFIRMED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
    },
    OrderStatus.CONFIRMED: {OrderStatus.IN_USE, OrderStatus.CANCELLED, OrderStatus.NO_SHOW},
    OrderStatus.IN_USE: {OrderStatus.COMPLETED},
    OrderStatus.COMPLETED: {OrderStatus.CLOSED},
}


def _world() -> tuple[int, list[int], int]:
    """A fresh instrument, three verified firms' users and one provider staff user."""
    for model in (AuditEvent, Booking):
        db.session.execute(delete(model))
    region = Region(
        code=f"sm{uuid4().hex[:12]}",
        name_zh="区",
        name_en="R",
        division_code="310114",
    )
    db.session.add(region)
    serial = db.session.scalar(select(func.count()).select_from(Organization)) or 0
    provider = Organization(
        kind="provider",
        name_zh="机构",
        uscc=uscc.make("310114", 900000 + serial),
        region=region,
        status="verified",
        provider_type="institute",
    )
    db.session.add(provider)
    staff = User(organization=provider, email=f"staff{serial}@sm.cn", name="staff", role="admin")
    staff.set_password("x-password-1")
    db.session.add(staff)
    firms = []
    for i in range(3):
        org = Organization(
            kind="enterprise",
            name_zh=f"企业{i}",
            uscc=uscc.make("310114", 910000 + serial * 10 + i),
            region=region,
            status="verified",
            enterprise_category="tech_sme",
        )
        user = User(organization=org, email=f"f{serial}-{i}@sm.cn", name="firm", role="admin")
        user.set_password("x-password-1")
        db.session.add_all([org, user])
        firms.append(user)
    db.session.flush()
    instrument = catalogue.create_instrument(
        provider,
        {
            "internal_no": f"SM{serial}",
            "name_zh": "液相色谱仪",
            "classification_code": "010501",
            "open_weekdays": "1234567",
            "open_from": time(8),
            "open_until": time(20),
            "slot_minutes": 60,
            "min_minutes": 60,
            "max_minutes": 180,
            "max_days_ahead": 30,
            "approval_required": True,
            "cancel_cutoff_hours": 24,
            "cancel_fee_percent": 50,
        },
        {"entrusted": 30_000},
        actor=None,
        lead_days={"entrusted": 1},
    )
    db.session.commit()
    return instrument.id, [u.id for u in firms], staff.id


class BookingMachine(RuleBasedStateMachine):
    app: Flask

    def __init__(self) -> None:
        super().__init__()
        self.instrument_id, self.firm_ids, self.staff_id = _world()
        self.now = NOW
        self.count = 0

    # --- helpers ---------------------------------------------------------------
    def user(self, user_id: int) -> User:
        user = db.session.get(User, user_id)
        assert user is not None
        return user

    def bookings(self, *statuses: str) -> list[Booking]:
        stmt = select(Booking).order_by(Booking.id)
        if statuses:
            stmt = stmt.where(Booking.status.in_(statuses))
        return list(db.session.scalars(stmt))

    def attempt(self, action: object) -> None:
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
        try:
            action()  # type: ignore[operator]
            db.session.commit()
        except DomainError:
            db.session.rollback()
            after = db.session.scalar(select(func.count()).select_from(AuditEvent))
            assert after == before, "a refused action wrote an audit event"

    # --- rules -----------------------------------------------------------------
    @rule(
        firm=st.integers(0, 2),
        day=st.integers(-1, 12),
        hour=st.integers(6, 20),
        hours=st.integers(1, 4),
    )
    def place(self, firm: int, day: int, hour: int, hours: int) -> None:
        local_date = (self.now + timedelta(hours=8, days=day)).date()
        start = at_local(local_date, time(min(hour, 23)))
        request = BookingRequest(
            self.instrument_id, "entrusted", start, start + timedelta(hours=hours)
        )
        self.attempt(
            lambda: services.place_booking(self.user(self.firm_ids[firm]), request, self.now)
        )

    @rule(hours=st.integers(1, 72))
    def advance(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule()
    def sweep(self) -> None:
        """The scheduler's sweeps at the current time: requests past their
        deadline expire, confirmed bookings never checked in become no-shows."""
        jobs.expire_requests(self.now)
        jobs.mark_no_shows(self.now)
        db.session.commit()

    @precondition(lambda self: bool(self.bookings(OrderStatus.REQUESTED)))
    @rule(pick=st.integers(0, 99), approve=st.booleans())
    def decide(self, pick: int, approve: bool) -> None:
        pending = self.bookings(OrderStatus.REQUESTED)
        booking = pending[pick % len(pending)]
        staff = self.user(self.staff_id)
        if approve:
            self.attempt(lambda: services.approve_booking(booking, staff, self.now))
        else:
            self.attempt(lambda: services.reject_booking(booking, staff, "排期冲突", self.now))

    @precondition(lambda self: bool(self.bookings()))
    @rule(pick=st.integers(0, 99))
    def cancel(self, pick: int) -> None:
        every = self.bookings()
        booking = every[pick % len(every)]
        firm = self.user(booking.user_id)
        self.attempt(lambda: services.cancel_booking(booking, firm, "", self.now))

    @precondition(lambda self: bool(self.bookings(OrderStatus.CONFIRMED)))
    @rule(pick=st.integers(0, 99), late=st.integers(0, 50))
    def check_in(self, pick: int, late: int) -> None:
        ready = self.bookings(OrderStatus.CONFIRMED)
        booking = ready[pick % len(ready)]
        self.now = max(self.now, booking.starts_at + timedelta(minutes=late))
        self.attempt(lambda: services.check_in(booking, self.user(self.staff_id), self.now))

    @precondition(lambda self: bool(self.bookings(OrderStatus.IN_USE)))
    @rule(pick=st.integers(0, 99), overrun=st.integers(-30, 120))
    def record_usage(self, pick: int, overrun: int) -> None:
        using = self.bookings(OrderStatus.IN_USE)
        booking = using[pick % len(using)]
        out = booking.ends_at + timedelta(minutes=overrun)
        self.now = max(self.now, out)
        self.attempt(
            lambda: services.record_usage(booking, self.user(self.staff_id), out, self.now)
        )

    @precondition(lambda self: bool(self.bookings(OrderStatus.COMPLETED)))
    @rule(pick=st.integers(0, 99), rating=st.integers(0, 6))
    def confirm(self, pick: int, rating: int) -> None:
        done = self.bookings(OrderStatus.COMPLETED)
        booking = done[pick % len(done)]
        firm = self.user(booking.user_id)
        self.attempt(lambda: services.confirm_booking(booking, firm, rating, "", self.now))

    # --- invariants --------------------------------------------------------------
    @invariant()
    def no_overlaps(self) -> None:
        assert overlapping_active_pairs() == 0

    @invariant()
    def history_replays_to_status(self) -> None:
        for booking in self.bookings():
            events = db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.object_type == "booking", AuditEvent.object_id == booking.id)
                .order_by(AuditEvent.id)
            ).all()
            state: str | None = None
            for event in events:
                assert event.from_state == state
                assert event.to_state in LEGAL[OrderStatus(state) if state else None]
                state = event.to_state
            assert state == booking.status

    @invariant()
    def charges_match_status(self) -> None:
        for booking in self.bookings():
            billed = booking.status in (OrderStatus.COMPLETED, OrderStatus.CLOSED)
            assert (booking.charge_fen is not None) == billed
            if billed:
                assert booking.charge_fen >= booking.quote_fen  # type: ignore[operator]
            if booking.status in ACTIVE_STATUSES or booking.status == OrderStatus.CLOSED:
                assert booking.cancellation_fee_fen is None


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_booking_state_machine(app: Flask) -> None:
    BookingMachine.app = app
    runner = BookingMachine.TestCase
    runner.settings = settings(
        max_examples=20,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    runner().runTest()
