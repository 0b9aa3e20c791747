"""Concurrent placements paying from one grant, or from one controller
group's cap, on PostgreSQL.

Each thread has its own app context, session and connection and goes
through the real order service and a real commit. The orders are for
different instruments (or service items), so the order engine's own row
locks do not serialise them: only the grant row lock and the conditional
UPDATEs of the ledger stand between the clients and the last yuan.

Decision under test: a placement whose voucher payment is refused fails as
a whole, with the reason (the firm may retry and pay itself); it never
quietly becomes an order the firm pays in full.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from booking.accounts.models import User
from booking.errors import DomainError
from booking.extensions import db
from booking.orders.models import Booking, ServiceOrder
from instruments.models import Instrument, ServiceItem
from tests.vouchers.spending_helpers import (
    Factories,
    book,
    key,
    order_service,
)
from vouchers import ledger
from vouchers.models import Grant, GroupSpend, UseStatus, VoucherUse

CLIENTS = 32
SHARE = 1_000_000  # a 2-hour booking at ¥10,000/h, 50 %; five ¥4,000 samples, 50 %
K = 5

Attempt = Callable[[User], Any]


def booking_attempt(instrument: Instrument, payment: str) -> Attempt:
    return lambda user: book(user, instrument, payment)


def service_attempt(item: ServiceItem, payment: str) -> Attempt:
    return lambda user: order_service(user, item, payment=payment)


def race(app: Flask, attempts: list[tuple[int, Attempt]]) -> tuple[list[int], list[DomainError]]:
    """Run every (user id, attempt) at once; return the winners' order ids and the refusals."""
    barrier = threading.Barrier(len(attempts))
    won: list[int] = []
    lost: list[DomainError] = []
    crashed: list[BaseException] = []

    def client(user_id: int, attempt: Attempt) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            assert user is not None
            barrier.wait(timeout=30)
            try:
                order = attempt(user)
                db.session.commit()
                won.append(order.id)
            except DomainError as refusal:
                db.session.rollback()
                lost.append(refusal)
            except BaseException as error:  # surfaced below: a race must never crash
                db.session.rollback()
                crashed.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=client, args=pair) for pair in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    db.session.rollback()
    assert not crashed, crashed
    return won, lost


@pytest.fixture
def factories(
    make_org: Any,
    make_user: Any,
    make_instrument: Any,
    make_service_item: Any,
    make_programme: Any,
    make_grant: Any,
) -> Factories:
    return Factories(
        make_org, make_user, make_instrument, make_service_item, make_programme, make_grant
    )


def committed_shares(grant_ids: list[int]) -> int:
    return (
        db.session.scalar(
            select(func.sum(Grant.held_fen + Grant.locked_fen + Grant.used_fen)).where(
                Grant.id.in_(grant_ids)
            )
        )
        or 0
    )


def assert_books_balance(grants: list[Grant]) -> None:
    db.session.expire_all()
    for grant in grants:
        fresh = db.session.get(Grant, grant.id)
        assert fresh is not None and fresh.approved_fen is not None
        assert fresh.held_fen + fresh.locked_fen + fresh.used_fen <= fresh.approved_fen
        uses = db.session.scalar(
            select(func.coalesce(func.sum(VoucherUse.share_fen), 0)).where(
                VoucherUse.grant_id == grant.id,
                VoucherUse.status.in_((UseStatus.HELD, UseStatus.LOCKED)),
            )
        )
        assert uses == fresh.held_fen + fresh.locked_fen
    assert ledger.mismatches() == []


def test_instant_bookings_race_for_one_grant(
    postgres: None, app: Flask, factories: Factories
) -> None:
    world = factories.world(grant_fen=K * SHARE)
    instruments = [world.instant] + [
        factories.instrument(world.provider, approval=False) for _ in range(CLIENTS - 1)
    ]
    db.session.commit()
    payment = key(world.grant)
    attempts: list[tuple[int, Attempt]] = [
        (world.firm.id, booking_attempt(i, payment)) for i in instruments
    ]
    won, lost = race(app, attempts)
    assert len(won) == K
    assert len(lost) == CLIENTS - K
    assert all(isinstance(e, ledger.InsufficientFunds) for e in lost), lost
    assert all("余额不足" in str(e) for e in lost)
    # A refused voucher payment refuses the order: only the winners were booked.
    assert db.session.scalar(select(func.count()).select_from(Booking)) == K
    uses = db.session.scalars(select(VoucherUse)).all()
    assert sorted(u.booking_id or 0 for u in uses) == sorted(won)
    assert {u.status for u in uses} == {"locked"}
    assert committed_shares([world.grant.id]) == K * SHARE
    assert_books_balance([world.grant])


def test_service_orders_race_for_one_grant_with_partial_last_share(
    postgres: None, app: Flask, factories: Factories
) -> None:
    # K shares and a half: the (K+1)-th order gets the half, the rest are refused.
    world = factories.world(grant_fen=K * SHARE + SHARE // 2)
    items = [world.item] + [
        factories.make_service_item(provider=world.provider, unit_price_fen=400_000)
        for _ in range(7)
    ]
    db.session.commit()
    payment = key(world.grant)
    attempts: list[tuple[int, Attempt]] = [
        (world.firm.id, service_attempt(items[n % 8], payment)) for n in range(CLIENTS)
    ]
    won, lost = race(app, attempts)
    assert len(won) == K + 1
    assert all("余额不足" in str(e) for e in lost) and len(lost) == CLIENTS - K - 1
    assert db.session.scalar(select(func.count()).select_from(ServiceOrder)) == K + 1
    shares = sorted(u.share_fen for u in db.session.scalars(select(VoucherUse)))
    assert shares == [SHARE // 2] + [SHARE] * K
    assert committed_shares([world.grant.id]) == K * SHARE + SHARE // 2
    assert_books_balance([world.grant])


def test_two_firms_race_for_one_controller_group_cap(
    postgres: None, app: Flask, factories: Factories
) -> None:
    world = factories.world(grant_fen=20 * SHARE, group_cap_fen=K * SHARE)
    world.firm.organization.controller_name = "赵六"
    sister = factories.firm(controller_name="赵六")
    sister_grant = factories.make_grant(world.programme, sister.organization, 20 * SHARE)
    instruments = [world.instant] + [
        factories.instrument(world.provider, approval=False) for _ in range(CLIENTS - 1)
    ]
    db.session.commit()
    attempts: list[tuple[int, Attempt]] = []
    for n, instrument in enumerate(instruments):
        user, grant = (world.firm, world.grant) if n % 2 else (sister, sister_grant)
        attempts.append((user.id, booking_attempt(instrument, key(grant))))
    won, lost = race(app, attempts)
    assert len(won) == K
    assert all(isinstance(e, ledger.InsufficientFunds) for e in lost), lost
    assert all("已达上限" in str(e) for e in lost)
    group = db.session.scalars(select(GroupSpend)).one()
    assert group.committed_fen == K * SHARE <= group.cap_fen
    assert committed_shares([world.grant.id, sister_grant.id]) == K * SHARE
    assert_books_balance([world.grant, sister_grant])
