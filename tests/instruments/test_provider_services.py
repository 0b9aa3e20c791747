"""Provider staff keep their own testing service items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.audit.services import history
from booking.errors import DomainError
from booking.extensions import db
from instruments import services as catalogue
from instruments.models import ServiceItem
from tests.instruments.test_provider_instruments import field_errors

LoginAs = Callable[[User], FlaskClient]


def service_form_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": "FW-001",
        "name_zh": "金属材料室温拉伸试验",
        "name_en": "Tensile test at room temperature",
        "category": "materials",
        "method_standard": "GB/T 228.1-2021",
        "sample_requirements": "标准试样 5 根",
        "description": "出具 CMA 报告",
        "unit_price": "300.00",
        "turnaround_days": "5",
        "weekly_capacity": "40",
        "cma_scope": "y",
        "active": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def provider(make_org: Callable[..., Organization]) -> Organization:
    return make_org(kind=OrgKind.PROVIDER)


@pytest.fixture
def staff(make_user: Callable[..., User], provider: Organization) -> User:
    return make_user(org=provider)


def _count(model: type[Any]) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_create_service_item(login_as: LoginAs, staff: User, provider: Organization) -> None:
    client = login_as(staff)
    assert client.get("/provider/services/new").status_code == 200
    response = client.post("/provider/services/new", data=service_form_data())
    assert response.status_code == 302
    item = db.session.scalars(select(ServiceItem)).one()
    assert item.provider_id == provider.id
    assert item.unit_price_fen == 30_000
    assert item.cma_scope is True and item.cnas_scope is False and item.active is True
    assert [e.action for e in history("service_item", item.id)] == ["service_item.create"]
    assert history("service_item", item.id)[0].actor_user_id == staff.id


@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        ({"unit_price": "300.001"}, "unit_price", "两位小数"),
        ({"unit_price": "-1"}, "unit_price", "负数"),
        ({"unit_price": ""}, "unit_price", "必填"),
        ({"unit_price": "1e30"}, "unit_price", "金额过大"),
        ({"category": "astrology"}, "category", "请从列表中选择"),
        ({"turnaround_days": "0"}, "turnaround_days", "1 到 365"),
        ({"weekly_capacity": "many"}, "weekly_capacity", "请输入整数"),
        ({"code": ""}, "code", "必填"),
        ({"sample_requirements": "样" * 501}, "sample_requirements", "500"),
    ],
)
def test_bad_service_input_is_shown_next_to_the_field(
    login_as: LoginAs, staff: User, overrides: dict[str, Any], field_id: str, message: str
) -> None:
    client = login_as(staff)
    response = client.post("/provider/services/new", data=service_form_data(**overrides))
    assert response.status_code == 422
    assert message in field_errors(response.get_data(as_text=True), field_id)
    assert _count(ServiceItem) == 0
    assert _count(AuditEvent) == 0


def test_duplicate_code_is_refused(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_service_item: Callable[..., ServiceItem],
) -> None:
    make_service_item(provider=provider, code="FW-001")
    client = login_as(staff)
    response = client.post("/provider/services/new", data=service_form_data())
    assert response.status_code == 422
    assert "相同编号" in field_errors(response.get_data(as_text=True), "code")
    assert _count(ServiceItem) == 1


def test_edit_service_item_changes_price_with_audit(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_service_item: Callable[..., ServiceItem],
) -> None:
    item = make_service_item(provider=provider, code="FW-001", unit_price_fen=30_000)
    client = login_as(staff)
    html = client.get(f"/provider/services/{item.id}/edit").get_data(as_text=True)
    assert 'value="300.00"' in html
    response = client.post(
        f"/provider/services/{item.id}/edit",
        data=service_form_data(unit_price="450.5", active=None, cnas_scope="y"),
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert item.unit_price_fen == 45_050
    assert item.active is False and item.cnas_scope is True
    event = history("service_item", item.id)[-1]
    assert event.action == "service_item.update"
    assert event.detail["price_before"] == 30_000 and event.detail["price_after"] == 45_050
    assert event.actor_user_id == staff.id


def test_services_list_shows_own_items_only(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_service_item: Callable[..., ServiceItem],
) -> None:
    own = make_service_item(provider=provider, code="A")
    inactive = make_service_item(provider=provider, code="B", active=False)
    foreign = make_service_item(code="C")
    client = login_as(staff)
    html = client.get("/provider/services").get_data(as_text=True)
    assert f'data-service-id="{own.id}"' in html
    assert f'data-service-id="{inactive.id}"' in html
    assert f'data-service-id="{foreign.id}"' not in html
    html = client.get("/provider/services?state=inactive").get_data(as_text=True)
    assert f'data-service-id="{own.id}"' not in html
    assert f'data-service-id="{inactive.id}"' in html
    html = client.get("/provider/services?sort=-code").get_data(as_text=True)
    assert html.index(f'data-service-id="{inactive.id}"') < html.index(
        f'data-service-id="{own.id}"'
    )
    assert client.get("/provider/services?sort=bogus&state=x&page=-1").status_code == 200


def test_service_rules_live_in_the_service(provider: Organization) -> None:
    base = {"code": "X", "name_zh": "项目", "category": "materials", "unit_price_fen": 100}
    with pytest.raises(DomainError) as caught:
        catalogue.create_service_item(provider, {**base, "category": "nope"}, actor=None)
    assert caught.value.field == "category"
    with pytest.raises(DomainError) as caught:
        catalogue.create_service_item(provider, {**base, "unit_price_fen": -1}, actor=None)
    assert caught.value.field == "unit_price_fen"
    with pytest.raises(DomainError) as caught:
        catalogue.create_service_item(provider, {**base, "turnaround_days": 0}, actor=None)
    assert caught.value.field == "turnaround_days"
