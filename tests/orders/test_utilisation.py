"""Utilisation on a small data set whose numbers are worked out by hand,
including a session just after midnight at a month boundary in Shanghai."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from booking.accounts.models import Organization, OrgKind, User
from booking.extensions import db
from booking.orders import policy
from booking.orders.clock import at_local
from booking.orders.models import Booking, OrderStatus, UtilisationSnapshot
from booking.orders.utilisation import (
    UtilisationRow,
    last_months,
    month_bounds,
    monthly_utilisation,
    previous_month,
    snapshot_month,
)
from instruments.models import Instrument

OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


def used(
    instrument: Instrument,
    enterprise_id: int,
    user: User,
    day: date,
    at: time,
    minutes: int,
    charge_fen: int,
    status: str = OrderStatus.COMPLETED,
    recorded: bool = True,
) -> Booking:
    """A booking with recorded use: 上机 at local `day` `at`, for `minutes`."""
    start = at_local(day, at)
    price = instrument.prices[0]
    booking = Booking(
        instrument=instrument,
        enterprise_id=enterprise_id,
        user_id=user.id,
        service_mode=price.mode,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        status=status,
        price_fen_per_hour=price.price_fen_per_hour,
        quote_fen=charge_fen,
        policy=policy.booking_policy(instrument, price, policy.OrderSettings()),
        checked_in_at=start if recorded else None,
        checked_out_at=start + timedelta(minutes=minutes) if recorded else None,
        charge_fen=charge_fen,
        created_at=start - timedelta(days=10),
    )
    db.session.add(booking)
    return booking


@dataclass
class World:
    provider: Organization
    a: Instrument
    b: Instrument
    c: Instrument  # another provider's
    f1: Organization
    f2: Organization
    staff: User


@pytest.fixture
def world(
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
) -> World:
    provider = make_org(kind=OrgKind.PROVIDER)
    other = make_org(kind=OrgKind.PROVIDER)
    a = make_instrument(provider=provider, internal_no="A-001", name_zh="场发射扫描电镜")
    b = make_instrument(provider=provider, internal_no="B-002", name_zh="核磁共振波谱仪")
    c = make_instrument(provider=other, internal_no="C-003")
    f1, f2 = make_org(kind=OrgKind.ENTERPRISE), make_org(kind=OrgKind.ENTERPRISE)
    u1, u2 = make_user(org=f1), make_user(org=f2)
    staff = make_user(org=provider)

    # Instrument A, October: F1 150 min, F2 60 min, the provider's own use
    # 180 min, and F1 23:00–00:30 on 31 October (still October: it started then).
    used(a, f1.id, u1, date(2026, 10, 15), time(9), 150, 75_000)
    used(a, f2.id, u2, date(2026, 10, 20), time(13), 60, 30_000, status=OrderStatus.CLOSED)
    used(a, provider.id, staff, date(2026, 10, 21), time(9), 180, 0)
    used(a, f1.id, u1, date(2026, 10, 31), time(23), 90, 45_000)
    # 07:00 on 1 November in Shanghai is 23:00 UTC on 31 October: November.
    used(a, f1.id, u1, date(2026, 11, 1), time(7), 120, 60_000)
    # Instrument B, November: F2 90 min.
    used(b, f2.id, u2, date(2026, 11, 10), time(9), 90, 45_000)
    # Not counted: cancelled, still in use (no 下机), outside the range.
    used(a, f2.id, u2, date(2026, 10, 22), time(9), 60, 30_000, status=OrderStatus.CANCELLED)
    used(
        a, f2.id, u2, date(2026, 11, 20), time(9), 60, 0, status=OrderStatus.IN_USE, recorded=False
    )
    used(a, f1.id, u1, date(2026, 12, 2), time(9), 60, 30_000)
    # Another provider's instrument, October: F1 60 min.
    used(c, f1.id, u1, date(2026, 10, 15), time(9), 60, 30_000)
    db.session.commit()
    return World(provider, a, b, c, f1, f2, staff)


def test_month_boundary_is_shanghai_time() -> None:
    start, end = month_bounds(NOV)
    assert start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    now = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)  # 1 November 01:00 in Shanghai
    assert last_months(now, 3) == [date(2026, 9, 1), OCT, NOV]
    assert previous_month(now) == OCT


def test_monthly_figures(world: World) -> None:
    rows = monthly_utilisation(world.provider.id, [OCT, NOV])
    assert rows == [
        UtilisationRow(
            world.a.id,
            OCT,
            effective_minutes=480,
            external_minutes=300,
            bookings=4,
            users_served=2,
            income_fen=150_000,
        ),
        UtilisationRow(
            world.a.id,
            NOV,
            effective_minutes=120,
            external_minutes=120,
            bookings=1,
            users_served=1,
            income_fen=60_000,
        ),
        UtilisationRow(
            world.b.id,
            NOV,
            effective_minutes=90,
            external_minutes=90,
            bookings=1,
            users_served=1,
            income_fen=45_000,
        ),
    ]
    october = rows[0]
    assert october.effective_hours == Decimal("8.00")
    assert october.external_hours == Decimal("5.00")
    assert october.sharing_rate == pytest.approx(0.625)
    assert october.sharing_percent == Decimal("62.5")
    # Months need not be contiguous; a month without use has no rows.
    assert [r.month for r in monthly_utilisation(world.provider.id, [DEC, OCT])] == [OCT, DEC]
    assert monthly_utilisation(world.provider.id, [date(2026, 9, 1)]) == []


def _cells(html: str, marker: str) -> dict[str, str]:
    match = re.search(rf"<tr {marker}>(.*?)</tr>", html, re.S)
    assert match, marker
    return dict(re.findall(r'data-field="(\w+)">([^<]*)<', match.group(1)))


def test_page_tables_and_chart(world: World, login_as: Callable[[User], FlaskClient]) -> None:
    answer = login_as(world.staff).get("/provider/utilisation?from=2026-10&to=2026-11")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert 'id="utilisation-chart"' in html and 'id="utilisation-table"' in html
    assert "vendor/chart.js/chart.umd.min.js" in html
    assert _cells(html, f'data-instrument-id="{world.a.id}"') == {
        "effective": "10.00",
        "external": "7.00",
        "rate": "70.0%",
        "bookings": "5",
        "firms": "3",
        "income": "¥2,100.00",
    }
    assert _cells(html, f'data-instrument-id="{world.b.id}"')["rate"] == "100.0%"
    assert f'data-instrument-id="{world.c.id}"' not in html
    assert _cells(html, 'id="utilisation-total"') == {
        "effective": "11.50",
        "external": "8.50",
        "rate": "73.9%",
        "bookings": "6",
        "firms": "4",
        "income": "¥2,550.00",
    }
    assert _cells(html, 'data-month="2026-10"') == {
        "effective": "8.00",
        "external": "5.00",
        "rate": "62.5%",
        "bookings": "4",
        "firms": "2",
        "income": "¥1,500.00",
    }
    block = re.search(
        r'<script type="application/json" id="utilisation-data">(.*?)</script>', html, re.S
    )
    assert block is not None
    data = json.loads(block.group(1))
    assert data["labels"] == ["2026-10", "2026-11"]
    assert data["effective"] == [8.0, 3.5]
    assert data["external"] == [5.0, 3.5]
    assert data["rate"] == [62.5, 100.0]
    assert data["income"] == [1500.0, 1050.0]


def test_month_range_input(world: World, login_as: Callable[[User], FlaskClient]) -> None:
    client = login_as(world.staff)
    default = client.get("/provider/utilisation").get_data(as_text=True)
    assert len(re.findall(r'<tr data-month="', default)) == 6
    junk = client.get("/provider/utilisation?from=10/2026&to=x").get_data(as_text=True)
    assert "月份格式无效" in junk and len(re.findall(r'<tr data-month="', junk)) == 6
    swapped = client.get("/provider/utilisation?from=2026-11&to=2026-10").get_data(as_text=True)
    assert "已交换" in swapped
    assert re.findall(r'<tr data-month="([\d-]+)"', swapped) == ["2026-10", "2026-11"]
    wide = client.get("/provider/utilisation?from=2000-01&to=2026-12").get_data(as_text=True)
    assert len(re.findall(r'<tr data-month="', wide)) == 36


def test_exports_parse_back(world: World, login_as: Callable[[User], FlaskClient]) -> None:
    client = login_as(world.staff)
    answer = client.get("/provider/utilisation/export?format=csv&from=2026-10&to=2026-11")
    assert answer.status_code == 200
    assert "utilisation-2026-10-2026-11.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert rows[0] == [
        "仪器编号",
        "仪器名称",
        "有效工作机时（小时）",
        "对外服务机时（小时）",
        "共享率（%）",
        "预约次数",
        "服务企业数",
        "收入（元）",
    ]
    assert rows[1] == ["A-001", "场发射扫描电镜", "10.00", "7.00", "70.0", "5", "3", "2100.00"]
    assert rows[2] == ["B-002", "核磁共振波谱仪", "1.50", "1.50", "100.0", "1", "1", "450.00"]
    assert rows[3] == ["合计", "", "11.50", "8.50", "73.9", "6", "4", "2550.00"]
    assert len(rows) == 4

    answer = client.get("/provider/utilisation/export?format=xlsx&from=2026-10&to=2026-11")
    assert answer.status_code == 200
    book = load_workbook(io.BytesIO(answer.get_data()))
    table = list(book.worksheets[0].iter_rows(values_only=True))
    assert table[0][0] == "仪器编号"
    assert table[1][:2] == ("A-001", "场发射扫描电镜")
    assert [float(v) for v in table[1][2:]] == [10.0, 7.0, 70.0, 5, 3, 2100.0]
    assert table[3][0] == "合计" and float(table[3][2]) == 11.5
    monthly = list(book.worksheets[1].iter_rows(values_only=True))
    assert [r[0] for r in monthly[1:]] == ["2026-10", "2026-11"]
    assert float(monthly[2][1]) == 3.5
    assert client.get("/provider/utilisation/export?format=ods").status_code == 400


def _snapshot_rows() -> list[tuple[int, date, int, int, int, int, int]]:
    return [
        (
            s.instrument_id,
            s.month,
            s.effective_minutes,
            s.external_minutes,
            s.bookings,
            s.users_served,
            s.income_fen,
        )
        for s in db.session.scalars(
            select(UtilisationSnapshot).order_by(UtilisationSnapshot.instrument_id)
        )
    ]


def test_snapshot_month_is_idempotent(world: World) -> None:
    now = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    written = snapshot_month(OCT, now)
    db.session.commit()
    first = _snapshot_rows()
    # Instruments with recorded use get a row; no row means no use (zero).
    assert written == 2
    assert first == [
        (world.a.id, OCT, 480, 300, 4, 2, 150_000),
        (world.c.id, OCT, 60, 60, 1, 1, 30_000),
    ]
    assert snapshot_month(OCT, now + timedelta(hours=1)) == 2
    db.session.commit()
    assert _snapshot_rows() == first
    snapshot = db.session.scalars(select(UtilisationSnapshot)).first()
    assert snapshot is not None and snapshot.computed_at == now + timedelta(hours=1)

    # A later run sees later data and overwrites the month; other months stay.
    snapshot_month(NOV, now)
    used(world.b, world.f1.id, world.staff, date(2026, 10, 5), time(10), 30, 15_000)
    db.session.commit()
    snapshot_month(date(2026, 10, 17), now)  # any day names its month
    db.session.commit()
    rows = _snapshot_rows()
    assert (world.b.id, OCT, 30, 30, 1, 1, 15_000) in rows
    assert (world.a.id, NOV, 120, 120, 1, 1, 60_000) in rows
    assert len(rows) == 5  # October: a, b, c; November: a, b (c had no use)
