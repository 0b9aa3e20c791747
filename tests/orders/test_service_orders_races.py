"""Weekly capacity under concurrency: many firms ordering the last samples of
a week at once. PostgreSQL locks the service item's row, so exactly the
capacity is admitted and every other firm is told the week is full."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from booking.accounts.models import User
from booking.errors import DomainError
from booking.extensions import db
from booking.orders import service_orders as so
from booking.orders.models import ServiceOrder
from instruments.models import ServiceItem
from tests.orders.conftest import NOW
from tests.orders.test_service_orders import NEXT_WEEK

CLIENTS = 16


def race(
    app: Flask,
    user_ids: list[int],
    item_id: int,
    keys: list[str | None],
) -> tuple[list[int], list[DomainError]]:
    barrier = threading.Barrier(len(user_ids))
    won: list[int] = []
    lost: list[DomainError] = []
    crashed: list[BaseException] = []

    def client(user_id: int, key: str | None) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            assert user is not None
            barrier.wait(timeout=30)
            try:
                order = so.place_service_order(user, item_id, 1, NEXT_WEEK, "", "", key, NOW)
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

    threads = [
        threading.Thread(target=client, args=(uid, key))
        for uid, key in zip(user_ids, keys, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    db.session.rollback()
    assert not crashed, crashed
    return won, lost


def test_sixteen_firms_race_for_five_samples(
    postgres: None,
    app: Flask,
    make_service_item: Callable[..., ServiceItem],
    make_firm_user: Callable[..., User],
) -> None:
    item = make_service_item(weekly_capacity=5)
    users = [make_firm_user() for _ in range(CLIENTS)]
    db.session.commit()
    won, lost = race(app, [u.id for u in users], item.id, [None] * CLIENTS)
    assert len(won) == 5
    assert len(lost) == CLIENTS - 5
    assert all("当周只剩 0 个样品" in str(e) for e in lost)
    total = db.session.scalar(
        select(func.sum(ServiceOrder.quantity)).where(ServiceOrder.service_item_id == item.id)
    )
    assert total == 5


def test_racing_retries_with_one_key_make_one_order(
    app: Flask, make_service_item: Callable[..., ServiceItem], firm_user: User
) -> None:
    item = make_service_item(weekly_capacity=5)
    db.session.commit()
    won, lost = race(app, [firm_user.id] * 8, item.id, ["same-key-123"] * 8)
    assert lost == []
    assert len(set(won)) == 1
    assert db.session.scalar(select(func.count()).select_from(ServiceOrder)) == 1
