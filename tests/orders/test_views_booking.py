"""Booking instrument time through the web: the week calendar, the quote
step, the idempotent confirm, and every kind of bad input answering with its
own message and writing nothing.

The views use the real clock, so times here are relative to it: "10 days
ahead at 09:00 Beijing time" is always bookable on the conftest instrument
(open daily 08:00–20:00, entrusted lead time 7 days, 30 days ahead at most).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask, g, has_app_context, session
from flask.testing import FlaskClient
from flask_login import login_user
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from booking.accounts.models import OrgKind, User
from booking.extensions import db, utcnow
from booking.orders.clock import at_local, local
from booking.orders.models import Booking, OrderStatus, Suspension, TrainingAuthorisation
from instruments import services as catalogue
from instruments.models import Instrument

# --- helpers shared by the web tests of this package --------------------------------------


def local_day(days_ahead: int) -> date:
    return local(utcnow()).date() + timedelta(days=days_ahead)


def local_start(days_ahead: int, hour: int, minute: int = 0) -> str:
    """A datetime-local value (Beijing wall time) as the form posts it."""
    return f"{local_day(days_ahead).isoformat()}T{hour:02d}:{minute:02d}"


def utc_start(days_ahead: int, hour: int) -> datetime:
    return at_local(local_day(days_ahead), time(hour))


class OwnUserClient(FlaskClient):
    """A test client whose every request loads its own signed-in user.

    Requests made inside the test's app context share its `g`, where
    flask-login caches the user of the first request; with several clients
    in one test, each request must look its user up again from its cookie.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        if has_app_context():
            g.pop("_login_user", None)
        return super().open(*args, **kwargs)


def signed_in(app: Flask, user: User) -> FlaskClient:
    """A fresh test client with `user` signed in (one per firm in a test)."""
    db.session.commit()
    client = OwnUserClient(app, app.response_class, use_cookies=True)
    with app.test_request_context(), client.session_transaction() as sess:
        login_user(user)
        sess.update(dict(session))
    g.pop("_login_user", None)
    return client


def booking_form(
    days_ahead: int = 10, hour: int = 9, duration: int = 60, mode: str = "entrusted", **extra: str
) -> dict[str, str]:
    data = {
        "starts_at": local_start(days_ahead, hour),
        "duration": str(duration),
        "service_mode": mode,
        "purpose": "成分分析",
        "sample_notes": "3 个样品",
    }
    data.update(extra)
    return data


def key_of(response: TestResponse) -> str:
    found = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', response.text)
    assert found, response.text
    return found.group(1)


def booking_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Booking)) or 0


def book_url(instrument: Instrument) -> str:
    return f"/instruments/{instrument.id}/book"


# --- the calendar --------------------------------------------------------------------------


def test_calendar_shows_free_slots_as_links_that_fill_the_form(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    client = login_as(firm_user)
    day = local_day(10)
    response = client.get(f"{book_url(instrument)}?week={day.isoformat()}")
    assert response.status_code == 200
    html = response.text
    assert 'id="week-calendar"' in html
    start = utc_start(10, 9).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert 'class="slot-free' in html and f'data-start="{start}"' in html
    assert 'id="booking-form"' in html
    assert 'id="prev-week"' in html and 'id="next-week"' in html
    # The slot link pre-fills the start field.
    link = re.search(rf'data-start="{start}"[^>]*href="([^"]+)"', html)
    assert link
    filled = client.get(link.group(1).replace("&amp;", "&").split("#")[0])
    assert f'value="{local_start(10, 9)}"' in filled.text


def test_bad_week_shows_this_week_with_a_notice(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    client = login_as(firm_user)
    for bad in ("yesterday", "2026-13-45", "0001-01-01"):
        response = client.get(f"{book_url(instrument)}?week={bad}&mode=nonsense")
        assert response.status_code == 200
        assert "日期无效，已显示本周。" in response.text


def test_taken_and_too_soon_slots_are_not_links(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    client = login_as(firm_user)
    key = key_of(client.post(book_url(instrument), data=booking_form(10, 9)))
    client.post(f"{book_url(instrument)}/confirm", data=booking_form(10, 9, idempotency_key=key))
    html = client.get(f"{book_url(instrument)}?week={local_day(10).isoformat()}").text
    assert f'data-start="{utc_start(10, 9).strftime("%Y-%m-%dT%H:%M:%SZ")}"' not in html
    assert "slot-taken" in html
    html = client.get(book_url(instrument)).text  # this week: inside the lead time
    assert f'data-start="{utc_start(1, 9).strftime("%Y-%m-%dT%H:%M:%SZ")}"' not in html


def test_non_enterprise_users_see_the_calendar_read_only(
    login_as: Callable[[User], FlaskClient],
    instrument: Instrument,
    make_user: Callable[..., User],
) -> None:
    client = login_as(make_user(kind=OrgKind.PROVIDER))
    response = client.get(book_url(instrument))
    assert response.status_code == 200
    assert 'id="week-calendar"' in response.text
    assert 'id="booking-form"' not in response.text
    response = client.post(book_url(instrument), data=booking_form())
    assert response.status_code == 422
    assert "只有企业用户可以预约仪器。" in response.text


def test_sign_in_required_and_unknown_instrument_is_404(
    client: FlaskClient,
    login_as: Callable[[User], FlaskClient],
    instrument: Instrument,
    firm_user: User,
) -> None:
    response = client.get(book_url(instrument))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    client = login_as(firm_user)
    assert client.get("/instruments/999999/book").status_code == 404
    assert client.get("/instruments/99999999999999/book").status_code == 404
    instrument.sharing_mode = "internal"
    db.session.commit()
    assert client.get(book_url(instrument)).status_code == 404


# --- quote and confirm -------------------------------------------------------------------------


def test_quote_then_double_confirm_makes_one_booking(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    client = login_as(firm_user)
    quote = client.post(book_url(instrument), data=booking_form(10, 9, 120))
    assert quote.status_code == 200
    assert 'id="quote"' in quote.text and 'id="confirm-booking"' in quote.text
    assert "¥600.00" in quote.text  # 2 h × ¥300
    assert "需服务机构审核" in quote.text
    assert "50%" in quote.text  # the cancellation fee after the cut-off
    assert booking_count() == 0  # the quote writes nothing
    data = booking_form(10, 9, 120, idempotency_key=key_of(quote))
    first = client.post(f"{book_url(instrument)}/confirm", data=data)
    second = client.post(f"{book_url(instrument)}/confirm", data=data)
    assert first.status_code == 302
    assert second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert booking_count() == 1
    booking = db.session.scalars(select(Booking)).one()
    assert booking.status == OrderStatus.REQUESTED
    assert booking.quote_fen == 60_000
    assert booking.starts_at == utc_start(10, 9)
    assert booking.purpose == "成分分析"
    detail = client.get(first.headers["Location"])
    assert detail.status_code == 200
    assert "待审核" in detail.text


def _refuse(
    client: FlaskClient,
    instrument: Instrument,
    data: dict[str, str],
    message: str,
    status: int = 422,
) -> None:
    """The quote step and the confirm step both refuse with the message."""
    before = booking_count()
    quote = client.post(book_url(instrument), data=data)
    assert quote.status_code == status, quote.text
    assert message in quote.text
    assert 'id="week-calendar"' in quote.text
    confirm = client.post(
        f"{book_url(instrument)}/confirm", data={**data, "idempotency_key": "f" * 32}
    )
    assert confirm.status_code == status
    assert message in confirm.text
    assert booking_count() == before


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (booking_form(-1, 9), "不能预约已经过去的时间。"),
        (booking_form(10, 6), "所选时段不在该仪器的开放时间内。"),
        (booking_form(10, 19, 120), "所选时段不在该仪器的开放时间内。"),
        (
            {**booking_form(10, 9), "starts_at": local_start(10, 9, 15)},
            "开始时间须对齐到 60 分钟的时段。",
        ),
        (booking_form(10, 9, 300), "预约时长须在 60 至 240 分钟之间。"),
        (booking_form(10, 9, 90), "预约时长须为 60 分钟的整数倍。"),
        (booking_form(3, 9), "此服务方式须至少提前 7 天预约。"),
        (booking_form(40, 9), "最多只能预约 30 天以内的时段。"),
        (booking_form(10, 9, mode="remote"), "该仪器不提供所选的服务方式。"),
        (booking_form(10, 9, mode="occupy"), "自主上机须先取得该仪器的培训授权。"),
        ({**booking_form(), "starts_at": "not a time"}, "不是有效的日期与时间值。"),
        ({**booking_form(), "starts_at": ""}, "请选择开始时间。"),
        ({**booking_form(), "duration": "abc"}, "请选择有效的预约时长。"),
        ({**booking_form(), "duration": "99999999999"}, "请选择有效的预约时长。"),
        ({**booking_form(), "starts_at": "0001-01-01T09:00"}, "请输入有效的开始时间。"),
    ],
    ids=[
        "past",
        "before-opening",
        "after-closing",
        "misaligned",
        "too-long",
        "odd-length",
        "lead-time",
        "too-far",
        "mode-not-offered",
        "no-training",
        "junk-time",
        "no-time",
        "junk-duration",
        "huge-duration",
        "year-one",
    ],
)
def test_bad_input_answers_with_its_own_message(
    login_as: Callable[[User], FlaskClient],
    instrument: Instrument,
    firm_user: User,
    form: dict[str, str],
    message: str,
) -> None:
    client = login_as(firm_user)
    _refuse(client, instrument, form, message)


def test_downtime_is_refused(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    catalogue.add_downtime(
        instrument, utc_start(10, 8), utc_start(10, 12), "maintenance", "年度保养", None
    )
    db.session.commit()
    _refuse(
        login_as(firm_user), instrument, booking_form(10, 9), "所选时段仪器停机维护，不能预约。"
    )


def test_unbookable_instrument_is_refused(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    instrument.status = "awaiting_repair"
    db.session.commit()
    client = login_as(firm_user)
    assert "该仪器当前不可预约。" in client.get(book_url(instrument)).text
    _refuse(client, instrument, booking_form(10, 9), "该仪器当前不可预约（待修）。")


def test_unverified_firm_is_refused(
    login_as: Callable[[User], FlaskClient],
    instrument: Instrument,
    make_firm_user: Callable[..., User],
) -> None:
    _refuse(
        login_as(make_firm_user(status="pending")),
        instrument,
        booking_form(),
        "贵企业尚未通过认证，认证通过后才能预约。",
    )


def test_suspended_firm_is_refused(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    db.session.add(
        Suspension(
            enterprise_id=firm_user.organization_id,
            reason="no-shows",
            starts_at=utcnow() - timedelta(days=1),
            ends_at=utcnow() + timedelta(days=30),
        )
    )
    db.session.commit()
    _refuse(
        login_as(firm_user), instrument, booking_form(), "因多次预约未到，贵企业的预约资格暂停至"
    )


def test_training_lets_the_self_operation_mode_through(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    db.session.add(TrainingAuthorisation(instrument_id=instrument.id, user_id=firm_user.id))
    client = login_as(firm_user)
    quote = client.post(book_url(instrument), data=booking_form(5, 9, mode="occupy"))
    assert quote.status_code == 200
    assert "¥200.00" in quote.text
    assert "此服务方式须至少提前 3 天预约。" in quote.text


def test_quota_is_refused(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    instrument.max_future_bookings = 1
    client = login_as(firm_user)
    key = key_of(client.post(book_url(instrument), data=booking_form(10, 9)))
    client.post(f"{book_url(instrument)}/confirm", data=booking_form(10, 9, idempotency_key=key))
    _refuse(
        client, instrument, booking_form(10, 12), "贵企业在该仪器上的待使用预约已达上限（1 个）。"
    )


def test_taken_slot_answers_409_with_the_fresh_calendar(
    app: Flask, instrument: Instrument, make_firm_user: Callable[..., User]
) -> None:
    first, second = signed_in(app, make_firm_user()), signed_in(app, make_firm_user())
    # Both got a quote while the slot was free ...
    key_a = key_of(first.post(book_url(instrument), data=booking_form(10, 9, 120)))
    key_b = key_of(second.post(book_url(instrument), data=booking_form(10, 10)))
    assert (
        first.post(
            f"{book_url(instrument)}/confirm", data=booking_form(10, 9, 120, idempotency_key=key_a)
        ).status_code
        == 302
    )
    # ... the second confirms too late.
    late = second.post(
        f"{book_url(instrument)}/confirm", data=booking_form(10, 10, idempotency_key=key_b)
    )
    assert late.status_code == 409
    assert "该时段刚刚被其他用户预约" in late.text
    assert 'id="week-calendar"' in late.text and "slot-taken" in late.text
    assert booking_count() == 1
    # Asking for a quote on a taken slot says the same.
    _refuse(second, instrument, booking_form(10, 10), "该时段刚刚被其他用户预约", status=409)


def test_without_approval_the_booking_is_confirmed(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    instrument.approval_required = False
    client = login_as(firm_user)
    quote = client.post(book_url(instrument), data=booking_form())
    assert "无需审核" in quote.text
    done = client.post(
        f"{book_url(instrument)}/confirm",
        data=booking_form(idempotency_key=key_of(quote)),
        follow_redirects=True,
    )
    assert "预约成功，已确认。" in done.text
    assert db.session.scalars(select(Booking)).one().status == OrderStatus.CONFIRMED
