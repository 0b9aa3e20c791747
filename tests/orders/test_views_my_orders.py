"""The enterprise space: the firm's orders (seen by every user of the
enterprise), booking details with history, cancel with the policy's fee,
confirm-and-rate, 404 for other tenants; and the notifications page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from booking.accounts.models import OrgKind, User
from booking.core.navigation import BADGE_COUNTERS
from booking.extensions import db, utcnow
from booking.notifications.models import Notification
from booking.notifications.services import notify
from booking.orders import services
from booking.orders.models import Booking, OrderStatus
from booking.orders.services import BookingRequest, place_booking
from instruments.models import Instrument
from tests.orders.test_views_booking import signed_in, utc_start


def booked(
    user: User, instrument: Instrument, days: int = 10, hour: int = 9, hours: int = 1
) -> Booking:
    start = utc_start(days, hour)
    booking = place_booking(
        user,
        BookingRequest(
            instrument.id, "entrusted", start, start + timedelta(hours=hours), purpose="形貌观察"
        ),
        utcnow(),
    )
    db.session.commit()
    return booking


def fresh(booking: Booking) -> Booking:
    db.session.rollback()
    found = db.session.get(Booking, booking.id)
    assert found is not None
    return found


def test_every_user_of_the_enterprise_sees_its_orders(
    app: Flask,
    instrument: Instrument,
    firm_user: User,
    make_user: Callable[..., User],
    make_firm_user: Callable[..., User],
) -> None:
    mine = booked(firm_user, instrument, 10, 9)
    theirs = booked(make_firm_user(), instrument, 10, 11)
    colleague = make_user(org=firm_user.organization, role="staff")
    page = signed_in(app, colleague).get("/my/orders")
    assert page.status_code == 200
    assert 'id="my-orders"' in page.text
    assert f'data-booking-id="{mine.id}"' in page.text
    assert f'data-booking-id="{theirs.id}"' not in page.text
    assert "待审核" in page.text and "等待服务机构审核" in page.text
    assert 'class="btn btn-sm btn-outline-danger cancel-link"' in page.text


def test_filters_sorts_and_pages_never_fail(
    app: Flask, instrument: Instrument, firm_user: User
) -> None:
    ids = [booked(firm_user, instrument, 10, h).id for h in (9, 10, 11)]
    client = signed_in(app, firm_user)
    for query in (
        "?status=requested",
        "?status=nonsense&sort=evil&page=abc",
        "?kind=service&status=active",
        "?kind=bogus&sort=--start&page=999999999999",
        "?sort=quote",
        "?status=active&sort=-status",
    ):
        assert client.get(f"/my/orders{query}").status_code == 200, query
    rows = re.findall(r'data-booking-id="(\d+)"', client.get("/my/orders?sort=start").text)
    assert rows == [str(i) for i in ids]
    assert "data-booking-id" not in client.get("/my/orders?status=cancelled").text


def test_detail_shows_snapshot_policy_and_history(
    app: Flask, instrument: Instrument, firm_user: User
) -> None:
    booking = booked(firm_user, instrument, 10, 9, 2)
    page = signed_in(app, firm_user).get(f"/my/orders/booking/{booking.id}")
    assert page.status_code == 200
    text = page.text
    assert "¥600.00" in text and "¥300.00" in text
    assert "形貌观察" in text
    assert "提交预约" in text  # history
    assert 'id="cancel-button"' in text
    assert "现在取消不收取费用。" in text


def test_cancel_shows_and_charges_the_policy_fee(
    app: Flask, instrument: Instrument, firm_user: User, make_user: Callable[..., User]
) -> None:
    # Inside the 24-hour cut-off of an approved booking: 50 % of the quote.
    start = utcnow() + timedelta(hours=3)
    booking = Booking(
        instrument_id=instrument.id,
        enterprise_id=firm_user.organization_id,
        user_id=firm_user.id,
        service_mode="entrusted",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        status=OrderStatus.CONFIRMED,
        price_fen_per_hour=30_000,
        quote_fen=30_000,
        policy={
            "cancel_cutoff_hours": 24,
            "cancel_fee_percent": 50,
            "approval_required": True,
            "overrun_tolerance_minutes": 30,
        },
    )
    db.session.add(booking)
    db.session.commit()
    client = signed_in(app, firm_user)
    page = client.get(f"/my/orders/booking/{booking.id}")
    assert "现在取消将收取取消费 ¥150.00。" in page.text
    assert "（¥150.00）" in client.get("/my/orders").text
    done = client.post(
        f"/my/orders/booking/{booking.id}/cancel", data={"reason": "改期"}, follow_redirects=True
    )
    assert "按规定收取取消费 ¥150.00" in done.text
    booking = fresh(booking)
    assert (booking.status, booking.cancellation_fee_fen) == (OrderStatus.CANCELLED, 15_000)
    again = client.post(f"/my/orders/booking/{booking.id}/cancel", data={})
    assert again.status_code == 409
    assert "不允许此操作" in again.text
    assert fresh(booking).cancellation_fee_fen == 15_000


def test_confirm_and_rate_a_completed_booking(
    app: Flask, instrument: Instrument, firm_user: User, make_user: Callable[..., User]
) -> None:
    booking = booked(firm_user, instrument)
    staff = make_user(org=instrument.provider)
    services.approve_booking(booking, staff, utcnow())
    services.check_in(booking, staff, now=booking.starts_at)
    services.record_usage(booking, staff, booking.ends_at, now=booking.ends_at)
    db.session.commit()
    client = signed_in(app, firm_user)
    page = client.get(f"/my/orders/booking/{booking.id}")
    assert 'id="rating"' in page.text and "请确认服务并评价" in page.text
    assert 'id="cancel-button"' not in page.text
    bad = client.post(f"/my/orders/booking/{booking.id}/confirm", data={"rating": "9"})
    assert bad.status_code == 422 and "请选择 1 到 5 之间的评价。" in bad.text
    assert fresh(booking).status == OrderStatus.COMPLETED
    ok = client.post(
        f"/my/orders/booking/{booking.id}/confirm", data={"rating": "4", "comment": "操作规范"}
    )
    assert ok.status_code == 302
    booking = fresh(booking)
    assert (booking.status, booking.rating, booking.rating_comment) == ("closed", 4, "操作规范")
    history = client.get(f"/my/orders/booking/{booking.id}").text
    for step in ("提交预约", "批准预约", "上机", "下机并计费", "确认并评价"):
        assert step in history


def test_other_tenants_get_404_for_every_booking_page_and_action(
    app: Flask,
    instrument: Instrument,
    firm_user: User,
    make_firm_user: Callable[..., User],
    make_user: Callable[..., User],
) -> None:
    booking = booked(firm_user, instrument)
    for outsider in (
        make_firm_user(),
        make_user(org=instrument.provider),
        make_user(kind=OrgKind.AUTHORITY),
    ):
        client = signed_in(app, outsider)
        assert client.get(f"/my/orders/booking/{booking.id}").status_code == 404
        for action in ("cancel", "confirm"):
            response = client.post(
                f"/my/orders/booking/{booking.id}/{action}", data={"rating": "5"}
            )
            assert response.status_code == 404, action
    assert signed_in(app, make_user(org=instrument.provider)).get("/my/orders").status_code == 404
    client = signed_in(app, firm_user)
    assert client.get("/my/orders/booking/999999").status_code == 404
    assert client.get("/my/orders/booking/99999999999999").status_code == 404
    assert fresh(booking).status == OrderStatus.REQUESTED


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask) -> None:
    client = app.test_client()
    for url in (
        "/my/orders",
        "/my/orders/booking/1",
        "/my/calendar",
        "/notifications",
        "/services/1/order",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


# --- notifications ------------------------------------------------------------------------


def test_notifications_page_newest_first_and_mark_all_read(
    app: Flask, firm_user: User, make_firm_user: Callable[..., User]
) -> None:
    now = utcnow()
    notify(
        [firm_user],
        "booking.confirmed",
        now - timedelta(hours=2),
        link="/my/orders",
        instrument="扫描电镜",
        when="12-10 09:00",
    )
    notify(
        [firm_user], "service_order.accepted", now - timedelta(hours=1), item="拉伸试验", quantity=2
    )
    other = make_firm_user()
    notify([other], "booking.cancelled", now, instrument="别人的仪器", when="x")
    db.session.commit()
    assert BADGE_COUNTERS["unread_notifications"](firm_user) == 2
    client = signed_in(app, firm_user)
    page = client.get("/notifications")
    assert page.status_code == 200
    text = page.text
    first = text.index("您的检测委托已受理：拉伸试验 × 2。")
    second = text.index("您的预约已确认：扫描电镜，12-10 09:00。")
    assert first < second
    assert "别人的仪器" not in text
    assert 'href="/my/orders"' in text
    assert client.post("/notifications/read-all").status_code == 302
    db.session.rollback()
    unread = db.session.scalars(select(Notification).where(Notification.read_at.is_(None))).all()
    assert [n.user_id for n in unread] == [other.id]
    assert 'id="mark-all-read"' not in client.get("/notifications").text
