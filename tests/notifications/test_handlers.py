"""Order changes notify whoever must act next, inside the change's transaction."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from booking.accounts.models import User
from booking.errors import DomainError
from booking.extensions import db
from booking.notifications.models import Notification
from booking.notifications.services import render
from booking.orders import service_orders
from booking.orders import services as orders
from booking.orders.models import Booking, ServiceOrder
from instruments.models import Instrument, ServiceItem
from tests.orders.conftest import NOW, request_for


def received(user: User) -> list[tuple[str, str]]:
    return [
        (n.kind, n.link)
        for n in db.session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    ]


def all_notes() -> list[Notification]:
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


@pytest.fixture
def staff(instrument: Instrument, make_user: Callable[..., User]) -> list[User]:
    """Two active staff members of the provider and one who left."""
    people = [make_user(org=instrument.provider) for _ in range(3)]
    people[2].active = False
    db.session.commit()
    return people


def place(instrument: Instrument, user: User, hour: int = 9) -> Booking:
    booking = orders.place_booking(user, request_for(instrument, hour=hour), NOW)
    db.session.commit()
    return booking


def test_a_request_notifies_every_active_provider_staff_member(
    instrument: Instrument, firm_user: User, staff: list[User]
) -> None:
    booking = place(instrument, firm_user)
    link = f"/provider/bookings/{booking.id}"
    assert received(staff[0]) == [("booking.requested", link)]
    assert received(staff[1]) == [("booking.requested", link)]
    assert received(staff[2]) == []
    assert received(firm_user) == []
    note = all_notes()[0]
    assert note.params == {
        "instrument": instrument.name_zh,
        "when": "2026-12-11 09:00–10:00",
        "enterprise": firm_user.organization.name_zh,
    }
    with force_locale("zh_Hans"):
        assert render(note).startswith(f"新的预约申请：{instrument.name_zh}，2026-12-11 09:00")


def test_a_booking_confirmed_at_once_needs_nobody(
    instrument: Instrument, firm_user: User, staff: list[User]
) -> None:
    instrument.approval_required = False
    db.session.commit()
    place(instrument, firm_user)
    assert all_notes() == []


def test_approval_and_rejection_notify_the_booker(
    instrument: Instrument, firm_user: User, staff: list[User]
) -> None:
    approved = place(instrument, firm_user)
    rejected = place(instrument, firm_user, hour=11)
    orders.approve_booking(approved, staff[0], NOW)
    orders.reject_booking(rejected, staff[1], "样品不符合要求", NOW)
    db.session.commit()
    assert received(firm_user) == [
        ("booking.confirmed", f"/my/orders/booking/{approved.id}"),
        ("booking.rejected", f"/my/orders/booking/{rejected.id}"),
    ]
    note = all_notes()[-1]
    assert note.params["reason"] == "样品不符合要求"
    with force_locale("zh_Hans"):
        assert render(note).endswith("理由：样品不符合要求")


def test_a_refused_change_notifies_nobody(
    instrument: Instrument, firm_user: User, staff: list[User]
) -> None:
    booking = place(instrument, firm_user)
    before = len(all_notes())
    with pytest.raises(DomainError):
        orders.reject_booking(booking, staff[0], "  ", NOW)
    db.session.rollback()
    assert len(all_notes()) == before


def test_cancel_notifies_the_other_side(
    instrument: Instrument, firm_user: User, staff: list[User]
) -> None:
    by_firm = place(instrument, firm_user)
    by_provider = place(instrument, firm_user, hour=11)
    orders.approve_booking(by_provider, staff[0], NOW)
    db.session.commit()
    orders.cancel_booking(by_firm, firm_user, "计划变更", NOW)
    orders.cancel_booking(by_provider, staff[0], "仪器故障", NOW)
    db.session.commit()
    assert received(staff[1])[-1] == ("booking.cancelled", f"/provider/bookings/{by_firm.id}")
    assert ("booking.cancelled", f"/provider/bookings/{by_provider.id}") not in received(staff[1])
    assert received(firm_user)[-1] == ("booking.cancelled", f"/my/orders/booking/{by_provider.id}")
    assert ("booking.cancelled", f"/my/orders/booking/{by_firm.id}") not in received(firm_user)


def test_completion_asks_the_booker_to_confirm(
    instrument: Instrument, firm_user: User, staff: list[User]
) -> None:
    booking = place(instrument, firm_user)
    orders.approve_booking(booking, staff[0], NOW)
    orders.check_in(booking, staff[0], now=booking.starts_at)
    orders.record_usage(booking, staff[0], booking.ends_at, now=booking.ends_at)
    db.session.commit()
    assert received(firm_user)[-1] == ("booking.completed", f"/my/orders/booking/{booking.id}")
    # Check-in needs nobody's action.
    assert [kind for kind, _ in received(firm_user)] == ["booking.confirmed", "booking.completed"]


def test_service_orders_use_their_own_kinds(
    instrument: Instrument,
    firm_user: User,
    staff: list[User],
    make_service_item: Callable[..., ServiceItem],
    tmp_path: Path,
) -> None:
    item = make_service_item(provider=instrument.provider)
    db.session.commit()
    week = service_orders.current_week(NOW)

    def order() -> ServiceOrder:
        made = service_orders.place_service_order(firm_user, item.id, 2, week, "", "", None, NOW)
        db.session.commit()
        return made

    accepted, rejected, cancelled = order(), order(), order()
    assert [kind for kind, _ in received(staff[0])] == ["service_order.requested"] * 3
    assert received(staff[0])[0][1] == f"/provider/service-orders/{accepted.id}"
    service_orders.accept_service_order(accepted, staff[0], NOW)
    service_orders.reject_service_order(rejected, staff[0], "超出检测范围", NOW)
    service_orders.cancel_service_order(cancelled, firm_user, "", NOW)
    service_orders.receive_samples(accepted, staff[0], NOW)
    service_orders.complete_service_order(
        accepted, staff[0], 2, io.BytesIO(b"%PDF-1.4\n"), "r.pdf", tmp_path, NOW
    )
    db.session.commit()
    assert received(firm_user) == [
        ("service_order.accepted", f"/my/orders/service/{accepted.id}"),
        ("service_order.rejected", f"/my/orders/service/{rejected.id}"),
        ("service_order.completed", f"/my/orders/service/{accepted.id}"),
    ]
    assert received(staff[1])[-1] == (
        "service_order.cancelled",
        f"/provider/service-orders/{cancelled.id}",
    )
    rejection = next(n for n in all_notes() if n.kind == "service_order.rejected")
    assert rejection.params["reason"] == "超出检测范围"
    assert rejection.params["item"] == item.name_zh
    assert rejection.params["quantity"] == 2
