"""`notifications.send_emails` against a real SMTP server (aiosmtpd on a
free local port): each notification is e-mailed once, in Chinese."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask, current_app
from sqlalchemy import select

from booking.accounts.models import User
from booking.extensions import db
from booking.notifications import jobs
from booking.notifications.models import Notification
from booking.orders import services as orders
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return [
            (list(e.rcpt_tos), message_from_bytes(e.content, policy=policy.default))
            for e in self.envelopes
        ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://yrd.example")
    try:
        yield inbox
    finally:
        controller.stop()


def test_send_emails_delivers_each_notification_once(
    smtp: Inbox, instrument: Instrument, firm_user: User, make_user: Callable[..., User]
) -> None:
    staff = make_user(org=instrument.provider, email="lab@example.cn")
    booking = orders.place_booking(firm_user, request_for(instrument), NOW)
    orders.approve_booking(booking, staff, NOW)
    db.session.commit()

    sent = jobs.send_emails(NOW)
    db.session.commit()

    # The request went to the provider's staff, the approval to the booker.
    assert sent == 2
    (to_staff, request), (to_firm, approval) = smtp.messages()
    assert (to_staff, to_firm) == (["lab@example.cn"], [firm_user.email])
    assert approval["To"] == firm_user.email
    assert approval["From"] == current_app.config["MAIL_SENDER"]
    assert approval["Subject"] == "长三角科技资源共享平台通知"
    body = approval.get_content()
    assert f"您的预约已确认：{instrument.name_zh}，2026-12-11 09:00–10:00。" in body
    assert f"https://yrd.example/my/orders/booking/{booking.id}" in body
    assert "新的预约申请" in request.get_content()
    assert f"https://yrd.example/provider/bookings/{booking.id}" in request.get_content()
    db.session.expire_all()
    assert [n.emailed_at for n in db.session.scalars(select(Notification))] == [NOW, NOW]

    # Twice: nothing is sent again.
    assert jobs.send_emails(NOW) == 0
    db.session.commit()
    assert len(smtp.envelopes) == sent


def test_without_mail_server_nothing_is_sent(firm_user: User) -> None:
    db.session.add(
        Notification(user_id=firm_user.id, kind="suspension.lifted", params={}, created_at=NOW)
    )
    db.session.commit()
    assert jobs.send_emails(NOW) == 0
    assert db.session.scalars(select(Notification.emailed_at)).one() is None
