"""The platform admin reads every order and its history; nobody else can."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from booking.accounts.models import OrgKind, User
from booking.extensions import db
from booking.orders import services
from booking.orders.services import place_booking
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for


@pytest.fixture
def platform_admin(make_user: Callable[..., User]) -> User:
    user = make_user(kind=OrgKind.PLATFORM)
    db.session.commit()
    return user


def test_admin_sees_a_booking_and_its_history(
    login_as: Callable[[User], FlaskClient],
    platform_admin: User,
    instrument: Instrument,
    firm_user: User,
    make_user: Callable[..., User],
) -> None:
    staff = make_user(org=instrument.provider)
    booking = place_booking(firm_user, request_for(instrument), NOW)
    services.reject_booking(booking, staff, "仪器检修", NOW)
    db.session.commit()
    client = login_as(platform_admin)

    listing = client.get("/admin/orders/bookings?status=rejected").get_data(as_text=True)
    assert f'data-booking-id="{booking.id}"' in listing
    assert f'data-booking-id="{booking.id}"' not in client.get(
        "/admin/orders/bookings?status=confirmed"
    ).get_data(as_text=True)

    page = client.get(f"/admin/orders/bookings/{booking.id}").get_data(as_text=True)
    assert 'data-action="booking.place"' in page
    assert 'data-action="booking.reject"' in page
    assert "仪器检修" in page


@pytest.mark.parametrize("kind", [OrgKind.ENTERPRISE, OrgKind.PROVIDER, OrgKind.AUTHORITY])
def test_everyone_else_gets_404(
    kind: str,
    login_as: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    instrument: Instrument,
    firm_user: User,
) -> None:
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    client = login_as(make_user(kind=kind))
    assert client.get("/admin/orders/bookings").status_code == 404
    assert client.get(f"/admin/orders/bookings/{booking.id}").status_code == 404


def test_bad_ids_and_filters_do_not_fail(
    login_as: Callable[[User], FlaskClient], platform_admin: User
) -> None:
    client = login_as(platform_admin)
    assert client.get("/admin/orders/bookings/99999999999").status_code == 404
    assert client.get("/admin/orders/service/1").status_code == 404
    assert client.get("/admin/orders/bookings?status=bogus&page=-4").status_code == 200


def test_every_recorded_order_action_has_a_label() -> None:
    """History panels show labels, never raw action names (jobs included)."""
    from booking.orders.services import ORDER_ACTION_LABELS

    recorded = {
        *(
            f"booking.{a}"
            for a in (
                "place",
                "approve",
                "reject",
                "cancel",
                "check_in",
                "complete",
                "confirm",
                "expire",
                "no_show",
                "auto_close",
                "remind",
            )
        ),
        *(
            f"service_order.{a}"
            for a in (
                "place",
                "accept",
                "reject",
                "receive",
                "complete",
                "confirm",
                "cancel",
                "expire",
                "auto_close",
            )
        ),
    }
    assert recorded <= set(ORDER_ACTION_LABELS)
