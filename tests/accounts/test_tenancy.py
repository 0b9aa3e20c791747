"""Role and tenant checks: each role against another tenant's objects gets
404 and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from booking.accounts.models import Organization, User
from booking.extensions import db
from tests.accounts.conftest import World, audit_count, table_count

ENTERPRISE_PAGES = ("/admin/enterprises/{a}",)
PLATFORM_PAGES = (
    "/admin/organizations",
    "/admin/organizations/new",
    "/admin/organizations/{a}",
    "/admin/organizations/{a}/users/new",
)


def urls(world: World, templates: tuple[str, ...]) -> list[str]:
    return [t.format(a=world.pending_a.id) for t in templates]


@pytest.mark.parametrize("who", ["enterprise_a", "provider_a"])
def test_enterprise_and_provider_users_get_404_on_every_admin_page(
    login_as: Callable[[User], FlaskClient], world: World, who: str
) -> None:
    client = login_as(getattr(world, who))
    for url in ["/admin/enterprises", *urls(world, ENTERPRISE_PAGES + PLATFORM_PAGES)]:
        assert client.get(url).status_code == 404, url
    for url in (
        f"/admin/enterprises/{world.pending_a.id}/verify",
        f"/admin/enterprises/{world.pending_a.id}/reject",
        "/admin/organizations/new",
        f"/admin/organizations/{world.pending_a.id}/users/new",
    ):
        response = client.post(url, data={"reason": "x", "kind": "provider", "name": "x"})
        assert response.status_code == 404, url
    db.session.refresh(world.pending_a)
    assert world.pending_a.status == "pending"


def test_authority_gets_404_on_platform_pages(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.authority_a)
    for url in urls(world, PLATFORM_PAGES):
        assert client.get(url).status_code == 404, url
    orgs, users = table_count(Organization), table_count(User)
    response = client.post(
        "/admin/organizations/new",
        data={
            "kind": "provider",
            "name_zh": "越权机构",
            "uscc": "91110000101623741K",
            "region_id": str(world.region_a.id),
            "provider_type": "university",
        },
    )
    assert response.status_code == 404
    response = client.post(
        f"/admin/organizations/{world.authority_a.organization_id}/users/new",
        data={
            "name": "x",
            "email": "x@example.cn",
            "role": "staff",
            "password": "Staff-pass-2026",
            "confirm": "Staff-pass-2026",
        },
    )
    assert response.status_code == 404
    assert (table_count(Organization), table_count(User)) == (orgs, users)


def test_authority_of_another_region_gets_404(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.authority_b)
    org_id = world.pending_a.id
    assert client.get(f"/admin/enterprises/{org_id}").status_code == 404
    assert client.post(f"/admin/enterprises/{org_id}/verify").status_code == 404
    assert (
        client.post(f"/admin/enterprises/{org_id}/reject", data={"reason": "越权"}).status_code
        == 404
    )
    # The queue does not list it either.
    assert "嘉定待审企业" not in client.get("/admin/enterprises").get_data(as_text=True)
    db.session.refresh(world.pending_a)
    assert world.pending_a.status == "pending"
    assert audit_count() == 0


def test_authority_cannot_open_non_enterprises_as_enterprises(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.authority_a)
    for org_id in (world.provider_a.organization_id, world.authority_a.organization_id):
        assert client.get(f"/admin/enterprises/{org_id}").status_code == 404


def test_platform_admin_reaches_every_tenant_but_unknown_ids_are_404(
    login_as: Callable[[User], FlaskClient], world: World
) -> None:
    client = login_as(world.platform)
    for org_id in (world.pending_a.id, world.pending_b.id):
        assert client.get(f"/admin/enterprises/{org_id}").status_code == 200
    assert client.get(f"/admin/organizations/{world.provider_b.organization_id}").status_code == 200
    assert client.get("/admin/enterprises/999999").status_code == 404
    assert client.get("/admin/organizations/999999").status_code == 404
    assert client.get("/admin/organizations/999999/users/new").status_code == 404
    # Not an enterprise: the verification page does not exist for it.
    assert client.get(f"/admin/enterprises/{world.provider_a.organization_id}").status_code == 404


def test_anonymous_users_are_sent_to_sign_in(client: FlaskClient, world: World) -> None:
    response = client.get("/admin/enterprises")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    response = client.post(f"/admin/enterprises/{world.pending_a.id}/verify")
    assert response.status_code == 302
    db.session.refresh(world.pending_a)
    assert world.pending_a.status == "pending"
