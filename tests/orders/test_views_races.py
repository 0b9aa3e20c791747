"""Sixteen firms confirm the same slot at the same moment, each through its
own test client and session: exactly one gets its booking, every other one
the "slot taken" page (409) with the fresh calendar, and nobody a 500."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from booking.accounts.models import User
from booking.extensions import db
from booking.orders.models import Booking
from instruments.models import Instrument
from tests.orders.test_booking_races import overlapping_active_pairs
from tests.orders.test_views_booking import booking_form, key_of, signed_in

CLIENTS = 16


def test_sixteen_clients_confirm_the_same_slot(
    app: Flask, instrument: Instrument, make_firm_user: Callable[..., User]
) -> None:
    url = f"/instruments/{instrument.id}/book"
    clients = [signed_in(app, make_firm_user()) for _ in range(CLIENTS)]
    forms = []
    for client in clients:
        quote = client.post(url, data=booking_form(10, 9, 120))
        assert quote.status_code == 200
        forms.append(booking_form(10, 9, 120, idempotency_key=key_of(quote)))
    db.session.commit()  # end the test's own read transaction before the race

    barrier = threading.Barrier(CLIENTS)
    answers: list[tuple[int, str]] = []
    crashed: list[BaseException] = []

    def confirm(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            response = clients[index].post(f"{url}/confirm", data=forms[index])
            answers.append((response.status_code, response.text))
        except BaseException as error:  # surfaced below
            crashed.append(error)

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    db.session.rollback()
    assert not crashed, crashed
    codes = sorted(code for code, _ in answers)
    assert len(codes) == CLIENTS
    assert codes.count(302) == 1, codes
    assert codes.count(409) == CLIENTS - 1, codes
    assert all("该时段刚刚被其他用户预约" in text for code, text in answers if code == 409)
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
    assert overlapping_active_pairs() == 0
