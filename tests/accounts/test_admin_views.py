"""The /admin pages: verification queue and decisions, organizations and
users, through the test client."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from booking.accounts import uscc
from booking.accounts.models import Organization, OrgKind, Region, User
from booking.audit.services import history
from booking.extensions import db
from tests.accounts.conftest import World, audit_count, table_count
from tests.conftest import PASSWORD


def page(response: Any) -> str:
    return str(response.get_data(as_text=True))


# --- verification queue ---------------------------------------------------------------------


def test_authority_queue_shows_only_its_region(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    html = page(login_as(world.authority_a).get("/admin/enterprises"))
    assert "嘉定待审企业" in html
    assert "苏州待审企业" not in html
    assert f'data-org-id="{world.pending_a.id}"' in html
    # The default filter is pending: verified enterprises are on another tab.
    assert f'data-org-id="{world.enterprise_a.organization_id}"' not in html


def test_platform_queue_shows_all_regions_and_filters(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.platform)
    html = page(client.get("/admin/enterprises"))
    assert "嘉定待审企业" in html and "苏州待审企业" in html
    html = page(client.get("/admin/enterprises?region=suzhou"))
    assert "苏州待审企业" in html and "嘉定待审企业" not in html
    html = page(client.get("/admin/enterprises?status=verified"))
    assert f'data-org-id="{world.enterprise_a.organization_id}"' in html
    assert f'data-org-id="{world.enterprise_b.organization_id}"' in html
    assert "待审企业" not in html


@pytest.mark.parametrize(
    "query",
    [
        "?status=bogus",
        "?sort=drop+table",
        "?page=-5",
        "?page=999999999999999",
        "?sort=-name&page=abc",
        "?region=%C2%B2",
    ],
)
def test_queue_survives_malformed_query_strings(
    login_as: Callable[[User], FlaskClient], world: World, query: str
) -> None:
    response = login_as(world.platform).get("/admin/enterprises" + query)
    assert response.status_code == 200


def test_queue_refuses_nul_bytes_with_an_explanation(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    response = login_as(world.platform).get("/admin/enterprises?region=%00x")
    assert response.status_code == 400
    assert "无效字符" in response.get_data(as_text=True)


def test_queue_sorts_and_paginates(
    login_as: Callable[[User], FlaskClient],
    world: World,
    make_org: Callable[..., Organization],
) -> None:
    for n in range(25):
        make_org(
            kind=OrgKind.ENTERPRISE,
            region=world.region_a,
            status="pending",
            name_zh=f"排序企业{n:02d}",
        )
    client = login_as(world.authority_a)
    first = page(client.get("/admin/enterprises?sort=name"))
    second = page(client.get("/admin/enterprises?sort=name&page=2"))
    assert "共 26 家企业" in first
    names_1 = re.findall(r"排序企业\d\d", first)
    names_2 = re.findall(r"排序企业\d\d", second)
    assert first.count("data-org-id=") == 20
    assert second.count("data-org-id=") == 6
    assert names_1 + names_2 == sorted(f"排序企业{n:02d}" for n in range(25))
    reverse = re.findall(r"排序企业\d\d", page(client.get("/admin/enterprises?sort=-name")))
    assert reverse == sorted(reverse, reverse=True)
    assert 'href="/admin/enterprises?status=pending&amp;sort=name&amp;page=2"' in first


# --- decisions --------------------------------------------------------------------------------


def test_enterprise_detail_renders_with_buttons_and_history(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    html = page(login_as(world.authority_a).get(f"/admin/enterprises/{world.pending_a.id}"))
    assert 'id="verify-button"' in html
    assert 'id="reject-form"' in html
    assert 'id="status-banner"' in html
    assert 'id="audit-history"' in html


def test_verify_enterprise_by_post(login_as: Callable[[User], FlaskClient], world: World) -> None:
    client = login_as(world.authority_a)
    org_id = world.pending_a.id
    response = client.post(f"/admin/enterprises/{org_id}/verify")
    assert response.status_code == 302
    org = db.session.get(Organization, org_id)
    assert org is not None
    db.session.refresh(org)
    assert org.status == "verified"
    events = history("organization", org_id)
    assert (
        events[-1].action,
        events[-1].from_state,
        events[-1].to_state,
        events[-1].actor_user_id,
    ) == ("organization.verify", "pending", "verified", world.authority_a.id)
    html = page(client.get(f"/admin/enterprises/{org_id}"))
    assert 'data-status="verified"' in html
    assert 'id="verify-button"' not in html
    # Deciding twice answers with a clear message and records nothing.
    response = client.post(f"/admin/enterprises/{org_id}/verify", follow_redirects=True)
    assert "已通过认证，不能重复处理" in page(response)
    assert audit_count("organization.verify") == 1


def test_reject_enterprise_by_post_needs_reason(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.authority_a)
    org_id = world.pending_a.id
    response = client.post(f"/admin/enterprises/{org_id}/reject", data={"reason": "  "})
    assert response.status_code == 200
    assert "此项为必填项" in page(response)
    org = db.session.get(Organization, org_id)
    assert org is not None
    db.session.refresh(org)
    assert org.status == "pending"
    assert audit_count("organization.reject") == 0

    response = client.post(
        f"/admin/enterprises/{org_id}/reject", data={"reason": "营业执照照片不清晰"}
    )
    assert response.status_code == 302
    db.session.refresh(org)
    assert org.status == "rejected"
    assert org.status_reason == "营业执照照片不清晰"
    assert audit_count("organization.reject") == 1
    response = client.post(
        f"/admin/enterprises/{org_id}/reject", data={"reason": "再驳"}, follow_redirects=True
    )
    assert "已被驳回" in page(response)
    assert audit_count("organization.reject") == 1


def test_badge_counts_pending_enterprises(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.platform)
    html = page(client.get("/admin/enterprises"))
    assert 'data-badge="pending_enterprises">2<' in html


# --- organizations (platform admin) ---------------------------------------------------------


def test_organizations_list_filters_and_sorts(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.platform)
    html = page(client.get("/admin/organizations"))
    assert "嘉定区科委" in html and "苏州市科技局" in html
    html = page(client.get("/admin/organizations?kind=authority&region=suzhou"))
    assert "苏州市科技局" in html and "嘉定区科委" not in html
    html = page(client.get("/admin/organizations?status=pending"))
    assert "嘉定待审企业" in html and "嘉定区科委" not in html
    html = page(client.get("/admin/organizations?sort=-kind&kind=nonsense&page=0"))
    assert "嘉定区科委" in html


def test_organization_detail_shows_users_and_history(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    org = world.provider_a.organization
    html = page(login_as(world.platform).get(f"/admin/organizations/{org.id}"))
    assert world.provider_a.email in html
    assert 'id="audit-history"' in html
    assert 'id="new-user"' in html


def new_org_form(region: Region, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "provider",
        "name_zh": "复旦大学分析测试中心",
        "name_en": "Fudan University Analysis Centre",
        "uscc": uscc.make(region.division_code, 4242),
        "uscc_override_reason": "",
        "region_id": str(region.id),
        "provider_type": "university",
        "contact_name": "周老师",
        "contact_phone": "021-65640000",
        "address": "上海市杨浦区邯郸路220号",
    }
    data.update(overrides)
    return data


def test_new_organization_page_and_create(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.platform)
    html = page(client.get("/admin/organizations/new"))
    assert 'id="organization-form"' in html
    response = client.post("/admin/organizations/new", data=new_org_form(world.region_a))
    assert response.status_code == 302
    org = db.session.scalar(
        select(Organization).where(Organization.name_zh == "复旦大学分析测试中心")
    )
    assert org is not None
    assert response.headers["Location"] == f"/admin/organizations/{org.id}"
    assert (org.kind, org.status, org.provider_type) == ("provider", "verified", "university")
    assert history("organization", org.id)[-1].action == "organization.create"


def test_new_organization_override_reason(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.platform)
    bad_check = "91350100M000100Y44"
    response = client.post(
        "/admin/organizations/new", data=new_org_form(world.region_a, uscc=bad_check)
    )
    assert response.status_code == 200
    assert "校验位不正确" in page(response)
    assert db.session.scalar(select(Organization).where(Organization.uscc == bad_check)) is None
    response = client.post(
        "/admin/organizations/new",
        data=new_org_form(
            world.region_a, uscc=bad_check, uscc_override_reason="核对营业执照原件无误"
        ),
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert 'id="uscc-override-reason"' in page(response)
    org = db.session.scalar(select(Organization).where(Organization.uscc == bad_check))
    assert org is not None
    assert org.uscc_override_reason == "核对营业执照原件无误"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "authority", "provider_type": ""}, "该区域已有主管部门"),
        ({"kind": "enterprise"}, "请从列表中选择"),
        ({"uscc": "NOT-A-CODE", "uscc_override_reason": "同意"}, "格式不正确"),
        ({"name_zh": ""}, "此项为必填项"),
        ({"provider_type": ""}, "请选择服务机构类型"),
    ],
)
def test_new_organization_bad_input(
    login_as: Callable[[User], FlaskClient],
    world: World,
    overrides: dict[str, Any],
    message: str,
) -> None:
    client = login_as(world.platform)
    count = table_count(Organization)
    response = client.post(
        "/admin/organizations/new", data=new_org_form(world.region_a, **overrides)
    )
    assert response.status_code == 200
    assert message in page(response)
    assert table_count(Organization) == count
    assert audit_count("organization.create") == 0


def test_new_user_for_an_organization(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.platform)
    org = world.provider_b.organization
    assert 'id="user-form"' in page(client.get(f"/admin/organizations/{org.id}/users/new"))
    data = {
        "name": "吴工",
        "email": "wu@lab.cn",
        "phone": "",
        "role": "staff",
        "password": "Staff-pass-2026",
        "confirm": "Staff-pass-2026",
    }
    response = client.post(f"/admin/organizations/{org.id}/users/new", data=data)
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "wu@lab.cn"))
    assert user is not None
    assert (user.organization_id, user.role) == (org.id, "staff")
    # The new user can sign in.
    client.post("/logout")
    signed_in = client.post("/login", data={"email": "wu@lab.cn", "password": "Staff-pass-2026"})
    assert signed_in.headers["Location"] == "/home"


def test_new_user_bad_input(login_as: Callable[[User], FlaskClient], world: World) -> None:
    client = login_as(world.platform)
    org = world.provider_b.organization
    users = table_count(User)
    data = {
        "name": "吴工",
        "email": world.enterprise_a.email,
        "role": "staff",
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    html = page(client.post(f"/admin/organizations/{org.id}/users/new", data=data))
    assert "该邮箱已被使用" in html
    data = {
        "name": "吴工",
        "email": "wu@lab.cn",
        "role": "staff",
        "password": "abc",
        "confirm": "abc",
    }
    html = page(client.post(f"/admin/organizations/{org.id}/users/new", data=data))
    assert "至少 10 个字符" in html
    assert table_count(User) == users
    assert audit_count("user.create") == 0
