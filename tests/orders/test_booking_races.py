"""Concurrent clients racing for the same slot or quota.

Each thread has its own app context, session and connection, and goes
through the real booking service and a real commit. On PostgreSQL the
instrument row lock and the exclusion constraint decide; on SQLite the
BEGIN IMMEDIATE serialisation does. Both must give exactly one winner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from booking.accounts.models import User
from booking.errors import DomainError
from booking.extensions import db
from booking.orders.models import ACTIVE_STATUSES, Booking
from booking.orders.services import BookingRequest, QuotaExceeded, SlotTaken, place_booking
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for

CLIENTS = 16


def race(
    app: Flask,
    users: list[User],
    requests: list[BookingRequest],
) -> tuple[list[int], list[DomainError]]:
    barrier = threading.Barrier(len(users))
    won: list[int] = []
    lost: list[DomainError] = []
    crashed: list[BaseException] = []
    user_ids = [u.id for u in users]

    def client(user_id: int, request: BookingRequest) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            assert user is not None
            barrier.wait(timeout=30)
            try:
                booking = place_booking(user, request, NOW)
                db.session.commit()
                won.append(booking.id)
            except DomainError as refusal:
                db.session.rollback()
                lost.append(refusal)
            except BaseException as error:  # surfaced below: a race must never crash
                db.session.rollback()
                crashed.append(error)
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=client, args=(uid, req))
        for uid, req in zip(user_ids, requests, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # End this thread's read transaction so the checks below see what the
    # clients committed (SQLite readers keep their snapshot until then).
    db.session.rollback()
    assert not crashed, crashed
    return won, lost


def overlapping_active_pairs() -> int:
    b1, b2 = Booking.__table__.alias("b1"), Booking.__table__.alias("b2")
    return (
        db.session.scalar(
            select(func.count())
            .select_from(b1)
            .join(
                b2,
                (b1.c.instrument_id == b2.c.instrument_id)
                & (b1.c.id < b2.c.id)
                & (b1.c.starts_at < b2.c.ends_at)
                & (b2.c.starts_at < b1.c.ends_at),
            )
            .where(b1.c.status.in_(ACTIVE_STATUSES), b2.c.status.in_(ACTIVE_STATUSES))
        )
        or 0
    )


def test_sixteen_firms_race_for_one_slot(
    app: Flask, instrument: Instrument, make_firm_user: Callable[..., User]
) -> None:
    users = [make_firm_user() for _ in range(CLIENTS)]
    requests = [request_for(instrument, 10, 9, 2) for _ in users]
    won, lost = race(app, users, requests)
    assert len(won) == 1
    assert len(lost) == CLIENTS - 1
    assert all(isinstance(e, SlotTaken) for e in lost)
    assert overlapping_active_pairs() == 0


def test_weekly_quota_admits_exactly_k(app: Flask, instrument: Instrument, firm_user: User) -> None:
    instrument.max_hours_per_week = 3
    db.session.commit()
    # 16 different free slots in one ISO week (Fri–Sun), all for the same firm.
    requests = [request_for(instrument, 10 + (i % 3), 8 + i // 3) for i in range(CLIENTS)]
    assert len({r.starts_at for r in requests}) == CLIENTS
    won, lost = race(app, [firm_user] * CLIENTS, requests)
    assert len(won) == 3
    assert all(isinstance(e, QuotaExceeded) for e in lost)


def test_same_idempotency_key_from_racing_retries_makes_one_booking(
    app: Flask, instrument: Instrument, firm_user: User
) -> None:
    requests = [request_for(instrument, idempotency_key="double-submit") for _ in range(8)]
    won, lost = race(app, [firm_user] * 8, requests)
    assert lost == []
    assert len(set(won)) == 1
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_exclusion_constraint_holds_whatever_writes(
    postgres: None, instrument: Instrument, firm_user: User
) -> None:
    """Bypass the service: the database itself refuses an overlap (23P01)."""
    first = place_booking(firm_user, request_for(instrument, 10, 9, 2), NOW)
    db.session.commit()
    clash = Booking(
        instrument_id=instrument.id,
        enterprise_id=first.enterprise_id,
        user_id=firm_user.id,
        service_mode="entrusted",
        starts_at=first.starts_at + timedelta(hours=1),
        ends_at=first.ends_at + timedelta(hours=1),
        status="confirmed",
        price_fen_per_hour=0,
        quote_fen=0,
        policy={},
    )
    db.session.add(clash)
    with pytest.raises(IntegrityError) as caught:
        db.session.flush()
    assert getattr(caught.value.orig, "sqlstate", None) == "23P01"
    db.session.rollback()
    # A cancelled booking no longer holds its interval.
    db.session.execute(text("UPDATE booking SET status = 'cancelled'"))
    clash = Booking(
        instrument_id=instrument.id,
        enterprise_id=first.enterprise_id,
        user_id=firm_user.id,
        service_mode="entrusted",
        starts_at=first.starts_at,
        ends_at=first.ends_at,
        status="confirmed",
        price_fen_per_hour=0,
        quote_fen=0,
        policy={},
    )
    db.session.add(clash)
    db.session.flush()
