"""Sign-in throttling, CSRF and session stamping."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from booking.accounts.models import Organization, User
from booking.extensions import db
from tests.accounts.conftest import World, audit_count, table_count
from tests.conftest import PASSWORD

WRONG_PASSWORD = "Wrong-pass-1"


def attempt(
    client: FlaskClient, email: str, password: str = WRONG_PASSWORD, address: str = "10.0.0.1"
) -> int:
    response = client.post(
        "/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )
    return int(response.status_code)


@pytest.fixture
def throttled(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")


@pytest.mark.usefixtures("throttled")
def test_sign_in_is_throttled_per_client_address(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user(email="victim@example.cn")
    db.session.commit()
    # Different emails from one address: the address limit trips.
    assert [attempt(client, f"guess{n}@example.cn") for n in range(3)] == [200, 200, 200]
    assert attempt(client, "guess9@example.cn") == 429
    # Even the right password is refused from that address for now ...
    assert attempt(client, "victim@example.cn", PASSWORD) == 429
    # ... but another address can still sign in, and GET is never throttled.
    assert attempt(client, "victim@example.cn", PASSWORD, address="10.0.0.2") == 302
    assert client.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code in (200, 302)


@pytest.mark.usefixtures("throttled")
def test_sign_in_is_throttled_per_email(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user(email="victim@example.cn")
    db.session.commit()
    # One email from many addresses: the email limit trips, whatever the case.
    statuses = [attempt(client, "Victim@example.cn", address=f"10.0.1.{n}") for n in range(3)]
    assert statuses == [200, 200, 200]
    response = client.post(
        "/login",
        data={"email": "victim@example.cn", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.1.99"},
    )
    assert response.status_code == 429
    assert "尝试次数过多" in response.get_data(as_text=True)
    # Another account from a fresh address is unaffected.
    assert attempt(client, "other@example.cn", address="10.0.1.100") == 200


@pytest.mark.usefixtures("throttled")
def test_successful_sign_ins_do_not_use_up_the_limit(
    app: Flask, make_user: Callable[..., User]
) -> None:
    make_user(email="busy@example.cn")
    db.session.commit()
    for _ in range(5):
        client = app.test_client()
        assert attempt(client, "busy@example.cn", PASSWORD) == 302


def csrf_token(client: FlaskClient, url: str = "/login") -> str:
    html = client.get(url).get_data(as_text=True)
    return html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


def test_csrf_token_is_required_when_enabled(
    app: Flask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    world: World,
) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    orgs, users, events = table_count(Organization), table_count(User), audit_count()
    region_id = world.region_a.id
    response = client.post(
        "/register",
        data={
            "name_zh": "无令牌企业",
            "uscc": "91350100M000100Y43",
            "region_id": str(region_id),
            "enterprise_category": "tech_sme",
            "controller_name": "张三",
            "contact_name": "李四",
            "contact_phone": "123",
            "email": "nocsrf@example.cn",
            "password": "Secret-pass-2026",
            "confirm": "Secret-pass-2026",
        },
    )
    assert response.status_code == 400
    assert "页面已过期或表单无效" in response.get_data(as_text=True)
    credentials = {"email": world.authority_a.email, "password": PASSWORD}
    assert client.post("/login", data=credentials).status_code == 400
    assert client.get("/home").status_code == 302  # not signed in
    # Signed in properly (with the token), a tokenless POST is still refused.
    response = client.post("/login", data={**credentials, "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    events = audit_count()
    response = client.post(f"/admin/enterprises/{world.pending_a.id}/verify")
    assert response.status_code == 400
    response = client.post("/logout")
    assert response.status_code == 400
    db.session.refresh(world.pending_a)
    assert world.pending_a.status == "pending"
    assert (table_count(Organization), table_count(User), audit_count()) == (orgs, users, events)
    # Still signed in: the logout without a token did nothing.
    assert client.get("/home").status_code == 200
    # With the token from the page, the same actions work.
    token = csrf_token(client, f"/admin/enterprises/{world.pending_a.id}")
    response = client.post(
        f"/admin/enterprises/{world.pending_a.id}/verify", data={"csrf_token": token}
    )
    assert response.status_code == 302
    db.session.refresh(world.pending_a)
    assert world.pending_a.status == "verified"
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/home").status_code == 302


def test_password_change_signs_out_other_sessions(
    app: Flask, make_user: Callable[..., User]
) -> None:
    user = make_user(email="two.devices@example.cn")
    db.session.commit()
    laptop, phone = app.test_client(), app.test_client()
    for device in (laptop, phone):
        response = device.post(
            "/login", data={"email": "two.devices@example.cn", "password": PASSWORD}
        )
        assert response.status_code == 302
        assert device.get("/home").status_code == 200
    old_cookie = phone.get_cookie("session")
    assert old_cookie is not None

    response = laptop.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "Brand-new-2026",
            "confirm": "Brand-new-2026",
        },
    )
    assert response.status_code == 302
    # The device that changed it stays signed in; the other one is signed out.
    assert laptop.get("/home").status_code == 200
    assert phone.get("/home").status_code == 302
    # Replaying the old session cookie on a fresh client does not authenticate either.
    replay = app.test_client()
    replay.set_cookie("session", old_cookie.value)
    assert replay.get("/home").status_code == 302
    db.session.refresh(user)
    assert user.check_password("Brand-new-2026")
