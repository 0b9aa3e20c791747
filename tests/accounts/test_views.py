"""Sign-in, sign-out, registration, password change and the home pages,
through the test client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from booking.accounts.models import Organization, OrgKind, Region, User
from booking.extensions import db
from tests.accounts.conftest import World, audit_count, table_count
from tests.conftest import PASSWORD

VALID_USCC = "91350100M000100Y43"


def page(response: Any) -> str:
    return str(response.get_data(as_text=True))


# --- sign-in -----------------------------------------------------------------------------


def test_login_page_renders(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert 'id="login-form"' in page(response)
    assert "邮箱" in page(response)


def test_login_success_goes_home_and_records_login(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user(email="wang@example.cn", kind=OrgKind.PROVIDER)
    db.session.commit()
    response = client.post("/login", data={"email": "Wang@Example.cn", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    db.session.refresh(user)
    assert user.last_login_at is not None
    assert audit_count("user.login") == 1
    home = client.get("/home")
    assert home.status_code == 200
    assert "机构工作台" in page(home)


def test_login_follows_only_same_site_next(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user(email="wang@example.cn")
    db.session.commit()
    data = {"email": "wang@example.cn", "password": PASSWORD}
    response = client.post("/login?next=/account/password", data=data)
    assert response.headers["Location"] == "/account/password"
    client.post("/logout")
    response = client.post("/login?next=https://evil.example/x", data=data)
    assert response.headers["Location"] == "/home"


def test_login_failure_shows_generic_error(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user(email="wang@example.cn")
    db.session.commit()
    response = client.post("/login", data={"email": "wang@example.cn", "password": "nope-12345"})
    assert response.status_code == 200
    assert 'id="login-error"' in page(response)
    assert "邮箱或密码错误" in page(response)
    db.session.refresh(user)
    assert user.last_login_at is None
    assert client.get("/home").status_code == 302  # still anonymous


def test_login_missing_fields_shows_errors_next_to_fields(client: FlaskClient) -> None:
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 200
    assert "此项为必填项" in page(response)
    assert "is-invalid" in page(response)


def test_unverified_enterprise_can_sign_in_and_sees_pending_notice(
    client: FlaskClient, world: World
) -> None:
    user = User(organization=world.pending_a, email="pending@example.cn", name="待审")
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    response = client.post(
        "/login",
        data={"email": "pending@example.cn", "password": PASSWORD},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert 'data-status="pending"' in page(response)
    assert "等待" in page(response)


def test_logout_is_post_only(
    login_as: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    client = login_as(make_user())
    assert client.get("/logout").status_code == 405
    assert client.get("/home").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/home").status_code == 302


def test_anonymous_home_redirects_to_login(client: FlaskClient) -> None:
    response = client.get("/home")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


# --- registration ------------------------------------------------------------------------


def registration_form(region: Region, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name_zh": "上海精测科技有限公司",
        "name_en": "",
        "uscc": VALID_USCC,
        "region_id": str(region.id),
        "enterprise_category": "high_tech",
        "controller_name": "张三",
        "address": "上海市嘉定区叶城路1288号",
        "contact_name": "李四",
        "contact_phone": "021-59990000",
        "email": "li.si@jingce.cn",
        "password": "Secret-pass-2026",
        "confirm": "Secret-pass-2026",
    }
    data.update(overrides)
    return data


def test_register_page_lists_regions_and_categories(
    client: FlaskClient, make_region: Callable[..., Region]
) -> None:
    make_region(name_zh="嘉定区")
    make_region(name_zh="温州市")
    db.session.commit()
    html = page(client.get("/register"))
    assert 'id="register-form"' in html
    assert "嘉定区" in html and "温州市" in html
    assert "高新技术企业" in html and "科技型中小企业" in html
    assert "实际控制人" in html


def test_register_creates_pending_enterprise_and_signs_in(
    client: FlaskClient, make_region: Callable[..., Region]
) -> None:
    region = make_region()
    db.session.commit()
    response = client.post("/register", data=registration_form(region))
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    org = db.session.scalar(select(Organization).where(Organization.uscc == VALID_USCC))
    assert org is not None
    assert (org.kind, org.status, org.region_id) == ("enterprise", "pending", region.id)
    assert org.enterprise_category == "high_tech"
    assert audit_count("organization.register") == 1
    home = client.get("/home")
    assert 'id="status-banner"' in page(home)
    assert 'data-status="pending"' in page(home)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"uscc": "91350100M000100Y44"}, "校验位不正确"),
        ({"uscc": "ABC"}, "格式不正确"),
        ({"password": "short1", "confirm": "short1"}, "至少 10 个字符"),
        ({"confirm": "Other-pass-2026"}, "两次输入的密码不一致"),
        ({"email": "not-an-email"}, "请输入有效的邮箱地址"),
        ({"controller_name": ""}, "此项为必填项"),
        ({"region_id": "0"}, "此项为必填项"),
        ({"region_id": "99999"}, "请从列表中选择"),
        ({"enterprise_category": "giant"}, "请从列表中选择"),
    ],
)
def test_register_bad_input_shows_error_and_writes_nothing(
    client: FlaskClient,
    make_region: Callable[..., Region],
    overrides: dict[str, Any],
    message: str,
) -> None:
    region = make_region()
    db.session.commit()
    response = client.post("/register", data=registration_form(region, **overrides))
    assert response.status_code == 200
    assert message in page(response)
    assert "invalid-feedback" in page(response)
    assert table_count(Organization) == 0
    assert table_count(User) == 0
    assert audit_count() == 0


def test_register_duplicate_email_and_uscc(
    client: FlaskClient,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
) -> None:
    region = make_region()
    make_org(uscc=VALID_USCC, region=region)
    make_user(email="taken@example.cn")
    db.session.commit()
    orgs = table_count(Organization)
    html = page(client.post("/register", data=registration_form(region)))
    assert "该统一社会信用代码已注册" in html
    other = "91110000101623741K"
    html = page(
        client.post(
            "/register", data=registration_form(region, uscc=other, email="TAKEN@example.cn")
        )
    )
    assert "该邮箱已被使用" in html
    assert table_count(Organization) == orgs


def test_signed_in_user_is_sent_home_from_login_and_register(
    login_as: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    client = login_as(make_user())
    assert client.get("/login").headers["Location"] == "/home"
    assert client.get("/register").headers["Location"] == "/home"


# --- password change ---------------------------------------------------------------------


def test_change_password_page_needs_sign_in(client: FlaskClient) -> None:
    assert client.get("/account/password").status_code == 302


def test_change_password_success_keeps_this_session(
    login_as: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    user = make_user()
    client = login_as(user)
    assert 'id="password-form"' in page(client.get("/account/password"))
    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "Brand-new-2026",
            "confirm": "Brand-new-2026",
        },
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.check_password("Brand-new-2026")
    assert audit_count("user.change_password") == 1
    assert client.get("/home").status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "current_password": "Wrong-pass-1",
                "new_password": "Brand-new-2026",
                "confirm": "Brand-new-2026",
            },
            "当前密码不正确",
        ),
        (
            {"current_password": PASSWORD, "new_password": "abcdefghijk", "confirm": "abcdefghijk"},
            "必须同时包含字母和数字",
        ),
        (
            {
                "current_password": PASSWORD,
                "new_password": "Brand-new-2026",
                "confirm": "Brand-new-2027",
            },
            "两次输入的密码不一致",
        ),
    ],
)
def test_change_password_bad_input(
    login_as: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    data: dict[str, str],
    message: str,
) -> None:
    user = make_user()
    client = login_as(user)
    response = client.post("/account/password", data=data)
    assert response.status_code == 200
    assert message in page(response)
    db.session.refresh(user)
    assert user.check_password(PASSWORD)
    assert audit_count() == 0


# --- home pages --------------------------------------------------------------------------


def test_enterprise_home_shows_rejection_reason(
    login_as: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    make_org: Callable[..., Organization],
) -> None:
    org = make_org(status="rejected", status_reason="营业执照已过期")
    client = login_as(make_user(org=org))
    html = page(client.get("/home"))
    assert 'data-status="rejected"' in html
    assert "营业执照已过期" in html
    assert 'id="link-instruments"' in html


def test_verified_enterprise_home(
    login_as: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    html = page(login_as(make_user(kind=OrgKind.ENTERPRISE)).get("/home"))
    assert 'data-status="verified"' in html
    assert "企业工作台" in html


def test_provider_home_counts_own_catalogue(
    login_as: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    make_instrument: Callable[..., Any],
    make_service_item: Callable[..., Any],
) -> None:
    user = make_user(kind=OrgKind.PROVIDER)
    make_instrument(provider=user.organization)
    make_instrument(provider=user.organization)
    make_service_item(provider=user.organization)
    make_instrument()  # another provider's
    html = page(login_as(user).get("/home"))
    assert 'data-figure="instruments">2<' in html
    assert 'data-figure="services">1<' in html
    assert 'id="link-import"' in html


def test_authority_home_counts_pending_in_its_region(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    html = page(login_as(world.authority_a).get("/home"))
    assert 'id="pending-count">1<' in html
    assert "/admin/enterprises" in html
    assert 'data-badge="pending_enterprises"' in html


def test_platform_home_counts_organizations_by_kind(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    html = page(login_as(world.platform).get("/home"))
    assert 'data-kind="enterprise"' in html
    # Two verified enterprises with users and two pending ones.
    row = html.split('data-kind="enterprise"')[1].split("</tr>")[0]
    assert 'data-status="verified">2<' in row
    assert 'data-status="pending">2<' in row
    assert "成员机构" in html


def test_pages_render_in_english(
    client: FlaskClient, login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client.get("/locale/en?next=/")
    for url in ("/login", "/register"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'lang="en"' in page(response)
    login_as(world.platform)
    client.get("/locale/en?next=/")
    for url in (
        "/home",
        "/account/password",
        "/admin/enterprises",
        f"/admin/enterprises/{world.pending_a.id}",
        "/admin/organizations",
        "/admin/organizations/new",
        f"/admin/organizations/{world.provider_a.organization_id}",
        f"/admin/organizations/{world.provider_a.organization_id}/users/new",
    ):
        assert client.get(url).status_code == 200, url
