"""The ICS feed: confirmed bookings of the token owner's enterprise, RFC 5545
text escaping and line folding, unknown or regenerated tokens answer 404."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from booking.accounts.models import OrgKind, User
from booking.extensions import db, utcnow
from booking.orders import services
from booking.orders.models import Booking
from booking.orders.services import BookingRequest, place_booking
from booking.orders.views import ics_escape, ics_fold
from instruments.models import Instrument
from tests.orders.test_views_booking import signed_in, utc_start


def book(user: User, instrument: Instrument, days: int, hour: int) -> int:
    start = utc_start(days, hour)
    booking = place_booking(
        user,
        BookingRequest(instrument.id, "entrusted", start, start + timedelta(hours=2)),
        utcnow(),
    )
    db.session.commit()
    return booking.id


def feed_path(app: Flask, user: User) -> str:
    page = signed_in(app, user).get("/my/calendar")
    assert page.status_code == 200
    db.session.refresh(user)
    assert user.calendar_token and user.calendar_token in page.text
    return f"/my/calendar/{user.calendar_token}.ics"


def test_feed_lists_confirmed_bookings_of_the_enterprise(
    app: Flask,
    instrument: Instrument,
    firm_user: User,
    make_user: Callable[..., User],
    make_firm_user: Callable[..., User],
) -> None:
    instrument.name_zh = "场发射扫描电镜; 含能谱, 第2台"
    instrument.location = "实验楼A201\n二层"
    staff = make_user(org=instrument.provider)
    colleague = make_user(org=firm_user.organization)
    confirmed = book(colleague, instrument, 10, 9)
    services.approve_booking(db.session.get(Booking, confirmed), staff, utcnow())
    pending = book(firm_user, instrument, 11, 9)
    other = book(make_firm_user(), instrument, 12, 9)
    services.approve_booking(db.session.get(Booking, other), staff, utcnow())
    db.session.commit()

    path = feed_path(app, firm_user)
    response = app.test_client().get(path)  # no cookies: the token is the credential
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.data.decode("utf-8")
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith("END:VCALENDAR\r\n")
    assert "\n" not in body.replace("\r\n", "")
    unfolded = body.replace("\r\n ", "")
    assert f"UID:booking-{confirmed}@localhost\r\n" in unfolded
    assert f"UID:booking-{pending}@" not in unfolded
    assert f"UID:booking-{other}@" not in unfolded
    start = utc_start(10, 9)
    assert f"DTSTART:{start.strftime('%Y%m%dT%H%M%SZ')}\r\n" in unfolded
    assert f"DTEND:{(start + timedelta(hours=2)).strftime('%Y%m%dT%H%M%SZ')}\r\n" in unfolded
    assert "SUMMARY:场发射扫描电镜\\; 含能谱\\, 第2台\r\n" in unfolded
    assert "实验楼A201\\n二层" in unfolded
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))


def test_unknown_and_regenerated_tokens_are_404(app: Flask, firm_user: User) -> None:
    client = app.test_client()
    assert client.get("/my/calendar/nope.ics").status_code == 404
    assert client.get(f"/my/calendar/{'x' * 43}.ics").status_code == 404
    assert client.get(f"/my/calendar/{'x' * 500}.ics").status_code == 404
    old = feed_path(app, firm_user)
    assert client.get(old).status_code == 200
    signed = signed_in(app, firm_user)
    assert signed.post("/my/calendar/regenerate").status_code == 302
    assert client.get(old).status_code == 404
    assert client.get(feed_path(app, firm_user)).status_code == 200


def test_token_is_made_once_and_only_for_enterprise_users(
    app: Flask, firm_user: User, make_user: Callable[..., User]
) -> None:
    first = feed_path(app, firm_user)
    assert feed_path(app, firm_user) == first
    assert signed_in(app, make_user(kind=OrgKind.PROVIDER)).get("/my/calendar").status_code == 404


def test_an_inactive_owner_s_feed_is_gone(app: Flask, firm_user: User) -> None:
    path = feed_path(app, firm_user)
    firm_user.active = False
    db.session.commit()
    assert app.test_client().get(path).status_code == 404


def test_escaping_and_folding() -> None:
    assert ics_escape("a\\b;c,d\r\ne\nf") == "a\\\\b\\;c\\,d\\ne\\nf"
    line = "SUMMARY:" + "扫描电镜" * 30
    folded = ics_fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(parts)) == line
    assert ics_fold("short") == "short"
