"""The provider's order desk through the test client: the request queue,
decisions, 上机/下机 and billing, illegal transitions, tenancy and access."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from booking.accounts.models import OrgKind, User
from booking.audit.models import AuditEvent
from booking.core.navigation import BADGE_COUNTERS
from booking.extensions import db
from booking.orders import policy
from booking.orders.clock import local
from booking.orders.models import Booking, OrderStatus
from booking.orders.services import place_booking
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for

LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def add_booking(
    instrument: Instrument,
    user: User,
    starts_at: datetime,
    hours: int = 2,
    status: str = OrderStatus.CONFIRMED,
    **fields: Any,
) -> Booking:
    """A booking written directly (times of the test's choosing, e.g. in the
    past), with the same snapshot place_booking would take."""
    price = instrument.price_for("entrusted")
    assert price is not None
    ends_at = starts_at + timedelta(hours=hours)
    booking = Booking(
        instrument=instrument,
        enterprise_id=user.organization_id,
        user_id=user.id,
        service_mode="entrusted",
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
        price_fen_per_hour=price.price_fen_per_hour,
        quote_fen=policy.quote(price.price_fen_per_hour, starts_at, ends_at),
        policy=policy.booking_policy(instrument, price, policy.OrderSettings()),
        respond_by=fields.pop("respond_by", starts_at - timedelta(hours=1)),
        created_at=fields.pop("created_at", starts_at - timedelta(days=8)),
        **fields,
    )
    db.session.add(booking)
    db.session.commit()
    return booking


def this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def events(booking_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "booking", AuditEvent.object_id == booking_id)
            .order_by(AuditEvent.id)
        )
    )


def fresh(booking: Booking) -> Booking:
    db.session.expire_all()
    found = db.session.get(Booking, booking.id)
    assert found is not None
    return found


@pytest.fixture
def staff(instrument: Instrument, make_user: Callable[..., User]) -> User:
    user = make_user(org=instrument.provider, name="王审核")
    db.session.commit()
    return user


@pytest.fixture
def other_instrument(make_instrument: Callable[..., Instrument]) -> Instrument:
    made = make_instrument(prices={"entrusted": 10_000}, open_weekdays="1234567")
    db.session.commit()
    return made


# --- the queue ----------------------------------------------------------------------------


def test_queue_shows_only_own_requests_oldest_respond_by_first(
    instrument: Instrument,
    other_instrument: Instrument,
    staff: User,
    make_firm_user: Callable[..., User],
    login_as: Callable[[User], FlaskClient],
) -> None:
    firm = make_firm_user()
    later = place_booking(firm, request_for(instrument, 10, 9), NOW)
    sooner = place_booking(firm, request_for(instrument, 9, 9), NOW - timedelta(hours=5))
    theirs = add_booking(
        other_instrument, firm, NOW + timedelta(days=9), status=OrderStatus.REQUESTED
    )
    confirmed = add_booking(instrument, firm, NOW + timedelta(days=12, hours=2))
    db.session.commit()

    page = login_as(staff).get("/provider/requests")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="requests-table"' in html
    shown = [int(i) for i in re.findall(r'<tr data-booking-id="(\d+)"', html)]
    assert shown == [sooner.id, later.id]
    assert theirs.id not in shown and confirmed.id not in shown
    assert f'id="approve-{sooner.id}"' in html and f'id="reject-{sooner.id}"' in html

    by_start = login_as(staff).get("/provider/requests?sort=-starts").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'<tr data-booking-id="(\d+)"', by_start)] == [
        later.id,
        sooner.id,
    ]
    junk = login_as(staff).get("/provider/requests?sort=%27;drop&page=abc")
    assert junk.status_code == 200

    assert BADGE_COUNTERS["pending_requests"](staff) == 2
    assert BADGE_COUNTERS["pending_requests"](firm) == 0


def test_queue_is_paginated(
    instrument: Instrument, staff: User, firm_user: User, login_as: Callable[[User], FlaskClient]
) -> None:
    for k in range(23):
        add_booking(
            instrument,
            firm_user,
            NOW + timedelta(days=2, hours=3 * k),
            hours=1,
            status=OrderStatus.REQUESTED,
        )
    client = login_as(staff)
    first = client.get("/provider/requests").get_data(as_text=True)
    second = client.get("/provider/requests?page=2").get_data(as_text=True)
    assert len(re.findall(r"<tr data-booking-id=", first)) == 20
    assert len(re.findall(r"<tr data-booking-id=", second)) == 3
    assert "共 23 个" in first


# --- decisions ------------------------------------------------------------------------------


def test_approve_changes_status_audits_and_shows_history(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    login_as: Callable[[User], FlaskClient],
) -> None:
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    client = login_as(staff)
    answer = client.post(f"/provider/bookings/{booking.id}/approve", data={"return_to": "requests"})
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/provider/requests")
    assert fresh(booking).status == OrderStatus.CONFIRMED
    assert events(booking.id) == ["booking.place", "booking.approve"]

    detail = client.get(f"/provider/bookings/{booking.id}").get_data(as_text=True)
    history = detail.split('id="booking-history"')[1]
    assert "批准" in history and "王审核" in history
    assert "待审核 → 已确认" in history
    assert 'id="checkin-form"' in detail


def test_reject_needs_a_reason(
    instrument: Instrument, staff: User, firm_user: User, login_as: Callable[[User], FlaskClient]
) -> None:
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    client = login_as(staff)
    blank = client.post(f"/provider/bookings/{booking.id}/reject", data={"reason": "   "})
    assert blank.status_code == 422
    assert "请填写拒绝理由" in blank.get_data(as_text=True)
    assert fresh(booking).status == OrderStatus.REQUESTED
    assert events(booking.id) == ["booking.place"]

    done = client.post(
        f"/provider/bookings/{booking.id}/reject",
        data={"reason": "该时段仪器校准"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    html = done.get_data(as_text=True)
    assert "已拒绝预约" in html
    rejected = fresh(booking)
    assert rejected.status == OrderStatus.REJECTED
    assert rejected.decision_reason == "该时段仪器校准"
    assert events(booking.id) == ["booking.place", "booking.reject"]
    history = html.split('id="booking-history"')[1]
    assert "理由：该时段仪器校准" in history
    assert 'id="no-actions"' in html


def test_provider_cancels_with_a_reason(
    instrument: Instrument, staff: User, firm_user: User, login_as: Callable[[User], FlaskClient]
) -> None:
    booking = add_booking(instrument, firm_user, this_hour() + timedelta(days=10))
    client = login_as(staff)
    assert (
        client.post(f"/provider/bookings/{booking.id}/cancel", data={"reason": ""}).status_code
        == 422
    )
    assert fresh(booking).status == OrderStatus.CONFIRMED
    answer = client.post(f"/provider/bookings/{booking.id}/cancel", data={"reason": "仪器故障"})
    assert answer.status_code == 302
    cancelled = fresh(booking)
    assert cancelled.status == OrderStatus.CANCELLED
    assert cancelled.cancel_reason == "仪器故障"
    assert cancelled.cancellation_fee_fen == 0  # well before the cut-off


# --- 上机 / 下机 and billing -------------------------------------------------------------


def test_late_start_and_overrun_are_billed_through_the_page(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    login_as: Callable[[User], FlaskClient],
) -> None:
    start = this_hour() - timedelta(hours=4)
    booking = add_booking(instrument, firm_user, start, hours=2)  # 30,000 fen per hour
    client = login_as(staff)
    page = client.get(f"/provider/bookings/{booking.id}").get_data(as_text=True)
    assert 'id="checkin-form"' in page and 'id="usage-form"' not in page

    came = local(start + timedelta(minutes=20)).strftime(LOCAL_INPUT)
    answer = client.post(f"/provider/bookings/{booking.id}/check-in", data={"checked_in_at": came})
    assert answer.status_code == 302
    in_use = fresh(booking)
    assert in_use.status == OrderStatus.IN_USE
    assert in_use.checked_in_at == start + timedelta(minutes=20)

    page = client.get(f"/provider/bookings/{booking.id}").get_data(as_text=True)
    assert 'id="usage-form"' in page
    # Left 45 minutes after the booked end: beyond the 30-minute tolerance.
    left = local(start + timedelta(hours=2, minutes=45)).strftime(LOCAL_INPUT)
    answer = client.post(
        f"/provider/bookings/{booking.id}/usage",
        data={"checked_out_at": left},
        follow_redirects=True,
    )
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    done = fresh(booking)
    assert done.status == OrderStatus.COMPLETED
    # Billed from the booked start (2 h) plus a full hour for the overrun.
    assert done.charge_fen == 3 * 30_000
    assert "¥900.00" in html
    assert events(booking.id) == ["booking.check_in", "booking.complete"]
    history = html.split('id="booking-history"')[1]
    assert "上机" in history and "下机并计费" in history and "费用：¥900.00" in history


def test_overrun_within_tolerance_and_default_times(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    login_as: Callable[[User], FlaskClient],
) -> None:
    start = this_hour() - timedelta(hours=3)
    booking = add_booking(instrument, firm_user, start, hours=1)
    client = login_as(staff)
    # An empty 上机 time means now.
    assert (
        client.post(
            f"/provider/bookings/{booking.id}/check-in", data={"checked_in_at": ""}
        ).status_code
        == 302
    )
    checked_in = fresh(booking).checked_in_at
    assert checked_in is not None and checked_in > start
    future = local(datetime.now(UTC) + timedelta(hours=2)).strftime(LOCAL_INPUT)
    too_late = client.post(
        f"/provider/bookings/{booking.id}/usage", data={"checked_out_at": future}
    )
    assert too_late.status_code == 422
    assert "下机时间不能晚于当前时间" in too_late.get_data(as_text=True)
    assert fresh(booking).status == OrderStatus.IN_USE
    garbage = client.post(
        f"/provider/bookings/{booking.id}/usage", data={"checked_out_at": "昨天下午"}
    )
    assert garbage.status_code == 422
    assert "请输入日期和时间" in garbage.get_data(as_text=True)
    assert (
        client.post(
            f"/provider/bookings/{booking.id}/usage", data={"checked_out_at": ""}
        ).status_code
        == 302
    )
    # Came late, left after the booked end but within the time checked in:
    # the engine bills from the booked start.
    done = fresh(booking)
    assert done.status == OrderStatus.COMPLETED
    assert done.charge_fen is not None and done.charge_fen >= 30_000


# --- illegal transitions --------------------------------------------------------------------


def test_approving_a_cancelled_booking_is_refused(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    login_as: Callable[[User], FlaskClient],
) -> None:
    booking = add_booking(
        instrument, firm_user, this_hour() + timedelta(days=10), status=OrderStatus.CANCELLED
    )
    answer = login_as(staff).post(f"/provider/bookings/{booking.id}/approve")
    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert "该预约当前状态（已取消）不允许此操作" in html
    assert 'id="action-error"' in html
    assert fresh(booking).status == OrderStatus.CANCELLED
    assert events(booking.id) == []


def test_recording_usage_twice_is_refused(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    login_as: Callable[[User], FlaskClient],
) -> None:
    start = this_hour() - timedelta(hours=4)
    booking = add_booking(instrument, firm_user, start, hours=2)
    client = login_as(staff)
    client.post(
        f"/provider/bookings/{booking.id}/check-in",
        data={"checked_in_at": local(start).strftime(LOCAL_INPUT)},
    )
    client.post(
        f"/provider/bookings/{booking.id}/usage",
        data={"checked_out_at": local(start + timedelta(hours=2)).strftime(LOCAL_INPUT)},
    )
    done = fresh(booking)
    assert done.charge_fen == 60_000
    again = client.post(
        f"/provider/bookings/{booking.id}/usage",
        data={"checked_out_at": local(start + timedelta(hours=3)).strftime(LOCAL_INPUT)},
    )
    assert again.status_code == 409
    assert "只有上机中的预约可以登记下机" in again.get_data(as_text=True)
    after = fresh(booking)
    assert after.charge_fen == 60_000
    assert after.checked_out_at == start + timedelta(hours=2)
    assert events(booking.id) == ["booking.check_in", "booking.complete"]
    # Checking in again is refused the same way.
    assert client.post(f"/provider/bookings/{booking.id}/check-in").status_code == 409


# --- tenancy and access -----------------------------------------------------------------------


ACTIONS = ("approve", "reject", "check-in", "usage", "cancel")


def test_another_providers_booking_is_404_for_every_action(
    instrument: Instrument,
    other_instrument: Instrument,
    firm_user: User,
    make_user: Callable[..., User],
    login_as: Callable[[User], FlaskClient],
) -> None:
    intruder = make_user(org=other_instrument.provider)
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    client = login_as(intruder)
    assert client.get(f"/provider/bookings/{booking.id}").status_code == 404
    for action in ACTIONS:
        answer = client.post(
            f"/provider/bookings/{booking.id}/{action}",
            data={"reason": "x", "checked_in_at": "", "checked_out_at": ""},
        )
        assert answer.status_code == 404, action
    assert fresh(booking).status == OrderStatus.REQUESTED
    assert events(booking.id) == ["booking.place"]
    assert client.get("/provider/bookings/99999999999").status_code == 404
    assert client.get("/provider/bookings/0").status_code == 404
    listing = client.get("/provider/bookings").get_data(as_text=True)
    assert f'data-booking-id="{booking.id}"' not in listing


PAGES = (
    "/provider/dashboard",
    "/provider/requests",
    "/provider/bookings",
    "/provider/bookings/1",
    "/provider/training",
    "/provider/utilisation",
    "/provider/utilisation/export?format=csv",
    "/provider/bookings/export?format=csv",
)


@pytest.mark.parametrize("kind", [OrgKind.ENTERPRISE, OrgKind.AUTHORITY])
def test_other_kinds_of_user_get_404(
    kind: str, make_user: Callable[..., User], login_as: Callable[[User], FlaskClient]
) -> None:
    client = login_as(make_user(kind=kind))
    for path in PAGES:
        assert client.get(path).status_code == 404, path
    assert client.post("/provider/bookings/1/approve").status_code == 404
    assert client.post("/provider/training", data={}).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert "/login" in answer.headers["Location"]


# --- dashboard ----------------------------------------------------------------------------------


def test_dashboard_shows_the_week_and_counts(
    instrument: Instrument,
    other_instrument: Instrument,
    staff: User,
    make_firm_user: Callable[..., User],
    login_as: Callable[[User], FlaskClient],
) -> None:
    firm = make_firm_user(name_zh="星河材料科技有限公司")
    hour = this_hour()
    tomorrow = add_booking(
        instrument, firm, hour + timedelta(days=1), hours=1, status=OrderStatus.REQUESTED
    )
    running = add_booking(
        instrument,
        firm,
        hour - timedelta(hours=3),
        hours=2,
        status=OrderStatus.IN_USE,
        checked_in_at=hour - timedelta(hours=3),
    )
    not_checked_in = add_booking(instrument, firm, hour - timedelta(hours=6), hours=1)
    far = add_booking(instrument, firm, hour + timedelta(days=20), hours=1)
    gone = add_booking(
        instrument, firm, hour + timedelta(days=2), hours=1, status=OrderStatus.CANCELLED
    )
    theirs = add_booking(
        other_instrument, firm, hour + timedelta(days=1), hours=1, status=OrderStatus.REQUESTED
    )

    html = login_as(staff).get("/provider/dashboard").get_data(as_text=True)
    calendar = html.split('id="dashboard-calendar"')[1].split("</table>")[0]
    assert f'data-booking-id="{tomorrow.id}"' in calendar
    assert "星河材料科技有限公司" in calendar
    for absent in (far, gone, theirs):
        assert f'data-booking-id="{absent.id}"' not in calendar
    assert len(re.findall(r"data-day=", calendar)) == 7
    assert re.search(r'id="count-pending">1<', html)
    assert re.search(r'id="count-in-use">1<', html)
    # In use past its end (下机 due) and confirmed past its start (上机 due).
    assert re.search(r'id="count-to-record">2<', html)
    to_record = html.split('id="to-record-table"')[1]
    assert f'data-booking-id="{running.id}"' in to_record
    assert f'data-booking-id="{not_checked_in.id}"' in to_record


# --- all bookings, filters and exports ------------------------------------------------------------


def test_bookings_filter_and_export(
    instrument: Instrument,
    staff: User,
    make_firm_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
    login_as: Callable[[User], FlaskClient],
) -> None:
    second = make_instrument(provider=instrument.provider, prices={"entrusted": 10_000})
    firm = make_firm_user(name_zh="甲公司")
    base = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    done = add_booking(
        instrument,
        firm,
        base,
        hours=2,
        status=OrderStatus.COMPLETED,
        checked_in_at=base,
        checked_out_at=base + timedelta(hours=2),
        charge_fen=60_000,
    )
    other_day = add_booking(
        instrument, firm, base + timedelta(days=5), hours=1, status=OrderStatus.CANCELLED
    )
    on_second = add_booking(second, firm, base, hours=1, status=OrderStatus.COMPLETED)
    client = login_as(staff)

    def shown(query: str) -> list[int]:
        html = client.get(f"/provider/bookings?{query}").get_data(as_text=True)
        return sorted(int(i) for i in re.findall(r'<tr data-booking-id="(\d+)"', html))

    assert shown("") == sorted([done.id, other_day.id, on_second.id])
    assert shown("status=completed") == sorted([done.id, on_second.id])
    assert shown(f"instrument={instrument.id}") == sorted([done.id, other_day.id])
    assert shown("from=2026-06-01&to=2026-06-01") == sorted([done.id, on_second.id])
    assert shown(f"status=completed&instrument={instrument.id}&from=2026-05-01") == [done.id]
    junk = client.get("/provider/bookings?status=nope&instrument=abc&from=2026-13-01")
    assert junk.status_code == 200
    assert "未知的状态" in junk.get_data(as_text=True)

    exported = client.get(f"/provider/bookings/export?format=csv&instrument={instrument.id}")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.get_data().decode("utf-8-sig"))))
    assert rows[0][0] == "预约编号"
    by_id = {int(r[0]): r for r in rows[1:]}
    assert set(by_id) == {done.id, other_day.id}
    assert by_id[done.id][3] == "甲公司"
    assert by_id[done.id][6] == "2026-06-01 09:00"
    assert by_id[done.id][8] == "待确认"
    assert by_id[done.id][12] == "600.00"

    xlsx = client.get("/provider/bookings/export?format=xlsx&status=completed")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "预约编号"
    assert sorted(int(str(r[0])) for r in values[1:]) == sorted([done.id, on_second.id])
    assert client.get("/provider/bookings/export?format=pdf").status_code == 400


def test_detail_shows_snapshot_usage_and_charge(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    login_as: Callable[[User], FlaskClient],
) -> None:
    base = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    booking = add_booking(
        instrument,
        firm_user,
        base,
        hours=2,
        status=OrderStatus.COMPLETED,
        checked_in_at=base + timedelta(minutes=10),
        checked_out_at=base + timedelta(hours=2),
        charge_fen=60_000,
    )
    html = login_as(staff).get(f"/provider/bookings/{booking.id}").get_data(as_text=True)
    assert "¥300.00" in html  # price per hour
    assert "¥600.00" in html  # quote and charge
    assert "2026-06-01 09:10" in html  # 上机, Beijing time
    assert "超时超过 30 分钟按整小时计费" in html
    assert 'id="no-actions"' in html


def test_a_provider_without_instruments_sees_empty_pages(
    make_user: Callable[..., User], login_as: Callable[[User], FlaskClient]
) -> None:
    client = login_as(make_user(kind=OrgKind.PROVIDER))
    for path in PAGES[:3] + PAGES[4:]:
        assert client.get(path).status_code == 200, path


def test_action_forms_carry_a_working_csrf_token(
    app: Flask,
    instrument: Instrument,
    staff: User,
    firm_user: User,
    login_as: Callable[[User], FlaskClient],
) -> None:
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    client = login_as(staff)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        html = client.get("/provider/requests").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token is not None
        forged = client.post(f"/provider/bookings/{booking.id}/approve")
        assert forged.status_code == 400
        assert fresh(booking).status == OrderStatus.REQUESTED
        answer = client.post(
            f"/provider/bookings/{booking.id}/approve",
            data={"csrf_token": token.group(1), "return_to": "requests"},
        )
        assert answer.status_code == 302
        assert fresh(booking).status == OrderStatus.CONFIRMED
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
