"""Paying with vouchers through the web: the quote shows each grant's split
(or why it cannot pay), confirming with a grant writes the use, a refused or
foreign grant answers 4xx with its message and writes nothing, and the
detail pages of firm and provider show how the order is paid.

The views use the real clock, so the programme here is open around today.
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from booking.extensions import db, utcnow
from booking.orders.clock import local
from booking.orders.models import Booking, ServiceOrder
from tests.orders.test_views_booking import booking_form, key_of, signed_in
from tests.vouchers.spending_helpers import Factories, World, key, written
from vouchers.models import GrantStatus, VoucherUse


@pytest.fixture
def world(
    make_org: Any,
    make_user: Any,
    make_instrument: Any,
    make_service_item: Any,
    make_programme: Any,
    make_grant: Any,
) -> World:
    today = local(utcnow()).date()
    factories = Factories(
        make_org, make_user, make_instrument, make_service_item, make_programme, make_grant
    )
    return factories.world(
        fiscal_year=today.year,
        applications_open_on=today - timedelta(days=30),
        applications_close_on=today + timedelta(days=60),
        valid_until=today + timedelta(days=60),
        claim_deadline=today + timedelta(days=150),
    )


def book_url(world: World) -> str:
    return f"/instruments/{world.instrument.id}/book"


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def quote_and_confirm(app: Flask, world: World, payment: str) -> Any:
    client = signed_in(app, world.firm)
    form = booking_form(10, 9, 120)
    quote = client.post(book_url(world), data=form)
    assert quote.status_code == 200, quote.text
    return client.post(
        f"{book_url(world)}/confirm",
        data={**form, "idempotency_key": key_of(quote), "payment": payment},
    )


def test_quote_shows_the_voucher_split(app: Flask, world: World) -> None:
    client = signed_in(app, world.firm)
    quote = client.post(book_url(world), data=booking_form(10, 9, 120))
    assert quote.status_code == 200
    page = text_of(quote)
    assert f'value="{key(world.grant)}"' in page
    assert "创新券支付 ¥10,000.00" in page and "自付 ¥10,000.00" in page
    assert world.programme.name_zh in page
    assert written()[2] == 0


def test_quote_shows_a_refused_grant_disabled_with_its_reason(app: Flask, world: World) -> None:
    world.grant.status = GrantStatus.SUSPENDED
    db.session.commit()
    client = signed_in(app, world.firm)
    page = text_of(client.post(book_url(world), data=booking_form(10, 9, 120)))
    assert f'value="{key(world.grant)}" form="confirm-form" disabled' in page
    assert "暂停使用" in page


def test_confirming_with_the_voucher_creates_the_use(app: Flask, world: World) -> None:
    done = quote_and_confirm(app, world, key(world.grant))
    assert done.status_code == 302, done.text
    db.session.rollback()
    booking = db.session.scalars(select(Booking)).one()
    use = db.session.scalars(select(VoucherUse)).one()
    assert (use.booking_id, use.status, use.share_fen) == (booking.id, "held", 1_000_000)
    firm = signed_in(app, world.firm)
    detail = text_of(firm.get(f"/my/orders/booking/{booking.id}"))
    assert "创新券支付（通兑）" in detail and "待服务机构受理" in detail
    assert "企业自付" in detail and "¥10,000.00" in detail
    staff = signed_in(app, world.staff)
    provider_page = text_of(staff.get(f"/provider/bookings/{booking.id}"))
    assert "创新券支付（通兑）" in provider_page
    # The provider approves over HTTP: the share is locked.
    assert staff.post(f"/provider/bookings/{booking.id}/approve").status_code == 302
    db.session.rollback()
    assert db.session.scalars(select(VoucherUse)).one().status == "locked"
    assert "已冻结" in text_of(firm.get(f"/my/orders/booking/{booking.id}"))


def test_paying_yourself_shows_no_voucher_lines(app: Flask, world: World) -> None:
    done = quote_and_confirm(app, world, "")
    assert done.status_code == 302
    booking = db.session.scalars(select(Booking)).one()
    detail = text_of(signed_in(app, world.firm).get(f"/my/orders/booking/{booking.id}"))
    assert "创新券支付" not in detail
    assert written()[2] == 0


def test_a_refused_grant_answers_422_and_writes_nothing(app: Flask, world: World) -> None:
    client = signed_in(app, world.firm)
    form = booking_form(10, 9, 120)
    quote = client.post(book_url(world), data=form)
    world.grant.status = GrantStatus.SUSPENDED  # between the quote and the confirm
    db.session.commit()
    before = written()
    refused = client.post(
        f"{book_url(world)}/confirm",
        data={**form, "idempotency_key": key_of(quote), "payment": key(world.grant)},
    )
    assert refused.status_code == 422
    assert "暂停使用" in text_of(refused)
    assert written() == before


@pytest.mark.parametrize("foreign", [True, False])
def test_a_foreign_or_unknown_grant_answers_4xx_and_writes_nothing(
    app: Flask, world: World, make_grant: Any, foreign: bool
) -> None:
    payment = key(make_grant(world.programme)) if foreign else "grant:424242"
    db.session.commit()
    before = written()
    refused = quote_and_confirm(app, world, payment)
    assert 400 <= refused.status_code < 500
    assert "所选的创新券额度不存在" in text_of(refused)
    assert written() == before


def test_service_order_with_a_voucher(app: Flask, world: World) -> None:
    from booking.orders import service_orders as so

    client = signed_in(app, world.firm)
    form = {
        "quantity": "5",
        "week_start": so.current_week(utcnow()).isoformat(),
        "purpose": "拉伸强度",
        "sample_notes": "Q235 钢板",
    }
    quote = client.post(f"/services/{world.item.id}/order", data=form)
    assert quote.status_code == 200
    assert "创新券支付 ¥10,000.00" in text_of(quote)
    done = client.post(
        f"/services/{world.item.id}/order/confirm",
        data={**form, "idempotency_key": key_of(quote), "payment": key(world.grant)},
    )
    assert done.status_code == 302, done.text
    db.session.rollback()
    order = db.session.scalars(select(ServiceOrder)).one()
    use = db.session.scalars(select(VoucherUse)).one()
    assert (use.service_order_id, use.share_fen) == (order.id, 1_000_000)
    page = text_of(client.get(f"/my/orders/service/{order.id}"))
    assert "创新券支付（通兑）" in page
    staff = signed_in(app, world.staff)
    assert "创新券支付（通兑）" in text_of(staff.get(f"/provider/service-orders/{order.id}"))
