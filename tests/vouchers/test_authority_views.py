"""The authority's voucher pages through the test client: dashboard and
exports, programmes, the applications queue, decisions, certificates,
split flags and flows; access for every other role and tenant."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from booking.accounts.models import OrgKind, User
from booking.core.navigation import BADGE_COUNTERS
from booking.extensions import db
from tests.vouchers.grant_helpers import (
    NOW,
    Factories,
    World,
    application,
    counts,
    evidence,
    factories,
    world,
)
from vouchers import programmes as svc
from vouchers.models import Grant, GrantStatus, Programme, UseStatus

__all__ = ["factories", "world"]

Login = Callable[[User], FlaskClient]
BASE = "/authority/vouchers"


def submitted(world: World, app: Flask, amount_fen: int = 3_000_000) -> Grant:
    root = Path(app.config["UPLOAD_DIR"]) / "vouchers"
    grant = svc.apply_for_grant(
        world.firm_user, world.programme.id, application(amount_fen), evidence(), root, NOW
    )
    db.session.commit()
    return grant


def programme_form(**overrides: str) -> dict[str, object]:
    data: dict[str, object] = {
        "code": "JD-NEW",
        "name_zh": "嘉定区2027年创新券",
        "name_en": "",
        "fiscal_year": "2027",
        "budget": "2000000.00",
        "subsidy_percent": "40",
        "enterprise_cap": "100000",
        "order_cap": "20000",
        "group_cap": "",
        "mode": "firm_reimbursed",
        "eligible_categories": ["high_tech"],
        "eligible_kinds": ["instrument_time", "testing_service"],
        "applications_open_on": "2027-01-01",
        "applications_close_on": "2027-10-31",
        "valid_until": "2027-12-31",
        "claim_deadline": "2028-03-31",
        "settlement_cycle": "quarterly",
        "split_window_days": "30",
    }
    data.update(overrides)
    return data


def programme_count() -> int:
    db.session.rollback()
    return int(db.session.scalar(select(func.count()).select_from(Programme)) or 0)


# --- access ------------------------------------------------------------------------------------


PAGES = (
    "/",
    "/export?format=csv",
    "/programmes/new",
    "/applications",
    "/applications/export?format=xlsx",
    "/flags",
    "/flags/export?format=csv",
    "/flows",
)


@pytest.mark.parametrize("kind", [OrgKind.ENTERPRISE, OrgKind.PROVIDER, OrgKind.PLATFORM])
def test_other_roles_find_nothing_here(
    world: World, factories: Factories, login_as: Login, kind: str
) -> None:
    grant = factories.make_grant(world.programme)
    client = login_as(factories.make_user(kind=kind))
    urls = [*PAGES, f"/programmes/{world.programme.id}", f"/grants/{grant.id}"]
    for url in urls:
        assert client.get(BASE + url).status_code == 404, url
    before = counts()
    for action in ("approve", "reject", "suspend", "resume"):
        response = client.post(f"{BASE}/grants/{grant.id}/{action}", data={"reason": "x"})
        assert response.status_code == 404
    assert counts() == before


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get(BASE + "/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_authoritys_objects_are_404(
    world: World, factories: Factories, login_as: Login, app: Flask
) -> None:
    grant = submitted(world, app)
    other = factories.make_user(org=factories.make_org(kind=OrgKind.AUTHORITY))
    client = login_as(other)
    pid = world.programme.id
    for url in (
        f"/programmes/{pid}",
        f"/programmes/{pid}/edit",
        f"/grants/{grant.id}",
        f"/grants/{grant.id}/certificate",
    ):
        assert client.get(BASE + url).status_code == 404, url
    before = counts()
    assert client.post(f"{BASE}/programmes/{pid}/edit", data=programme_form()).status_code == 404
    for action in ("approve", "reject", "suspend", "resume"):
        response = client.post(f"{BASE}/grants/{grant.id}/{action}", data={"reason": "x"})
        assert response.status_code == 404
    assert counts() == before
    listed = client.get(BASE + "/applications?status=").get_data(as_text=True)
    assert f'data-grant-id="{grant.id}"' not in listed


# --- dashboard and exports ----------------------------------------------------------------------


def test_dashboard_shows_burn_as_chart_data_and_table(
    world: World, factories: Factories, login_as: Login, make_use: Callable[..., object]
) -> None:
    provider = factories.make_org(kind=OrgKind.PROVIDER)
    grant = factories.make_grant(world.programme, enterprise=world.firm, amount_fen=5_000_000)
    make_use(grant, provider, share_fen=1_000_000)
    make_use(grant, provider, share_fen=500_000, status=UseStatus.LOCKED)
    client = login_as(world.officer)
    html = client.get(BASE + "/").get_data(as_text=True)
    assert 'id="burn-chart"' in html and 'id="burn-data"' in html
    assert "chart.umd.min.js" in html
    row = html.split(f'data-programme-id="{world.programme.id}"')[1].split("</tr>")[0]
    assert "¥1,000,000.00" in row  # budget
    assert "¥50,000.00" in row  # granted
    assert "¥5,000.00" in row  # locked
    assert "¥10,000.00" in row  # used


def test_programme_export_csv_and_xlsx(world: World, factories: Factories, login_as: Login) -> None:
    factories.make_grant(world.programme, amount_fen=1_234_567)
    client = login_as(world.officer)
    response = client.get(BASE + "/export?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][0] == "券种编号"
    assert rows[1][0] == world.programme.code and rows[1][5] == "12345.67"
    response = client.get(BASE + "/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert sheet.cell(2, 1).value == world.programme.code
    assert float(sheet.cell(2, 6).value) == 12345.67
    assert client.get(BASE + "/export?format=pdf").status_code == 400


# --- programmes -----------------------------------------------------------------------------------


def test_create_programme_through_the_form(
    world: World, factories: Factories, login_as: Login
) -> None:
    elsewhere = factories.make_org(kind=OrgKind.PROVIDER, name_zh="苏州检测中心")
    client = login_as(world.officer)
    page = client.get(BASE + "/programmes/new").get_data(as_text=True)
    assert "苏州检测中心" in page and elsewhere.region.name_zh in page
    response = client.post(
        BASE + "/programmes/new", data=programme_form(providers=str(elsewhere.id))
    )
    assert response.status_code == 302
    programme = db.session.scalar(select(Programme).where(Programme.code == "JD-NEW"))
    assert programme is not None and programme.authority_id == world.authority.id
    assert programme.budget_fen == 200_000_000 and programme.order_cap_fen == 2_000_000
    assert [link.provider_id for link in programme.recognised] == [elsewhere.id]
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "苏州检测中心" in detail and "¥2,000,000.00" in detail


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("budget", "-5", "金额不能为负数"),
        ("budget", "0", "金额必须大于零"),
        ("enterprise_cap", "100.005", "最多保留两位小数"),
        ("budget", "99999999999999", "金额过大"),
        ("order_cap", "0", "金额必须大于零"),
        ("enterprise_cap", "3000000", "不能超过总预算"),
        ("claim_deadline", "2027-06-30", "不能早于券种有效期"),
    ],
)
def test_bad_programme_input_is_refused_on_the_field(
    world: World, login_as: Login, field: str, value: str, message: str
) -> None:
    client = login_as(world.officer)
    before = programme_count()
    response = client.post(BASE + "/programmes/new", data=programme_form(**{field: value}))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert programme_count() == before


def test_edit_refuses_a_budget_below_what_is_granted(
    world: World, factories: Factories, login_as: Login
) -> None:
    factories.make_grant(world.programme, amount_fen=8_000_000)
    client = login_as(world.officer)
    page = client.get(f"{BASE}/programmes/{world.programme.id}/edit").get_data(as_text=True)
    assert 'value="1000000.00"' in page or 'value="1000000"' in page
    p = world.programme
    form = programme_form(
        code=p.code,
        budget="79999.99",
        enterprise_cap="50000",
        order_cap="",
        applications_open_on=p.applications_open_on.isoformat(),
        applications_close_on=p.applications_close_on.isoformat(),
        valid_until=p.valid_until.isoformat(),
        claim_deadline=p.claim_deadline.isoformat(),
    )
    response = client.post(f"{BASE}/programmes/{p.id}/edit", data=form)
    assert response.status_code == 422
    assert "总预算不能低于已批准发放的额度" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Programme, p.id).budget_fen == 100_000_000  # type: ignore[union-attr]
    response = client.post(f"{BASE}/programmes/{p.id}/edit", data={**form, "budget": "80000"})
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(Programme, p.id).budget_fen == 8_000_000  # type: ignore[union-attr]


# --- applications and decisions ---------------------------------------------------------------


def test_queue_filters_sorts_and_pages(world: World, factories: Factories, login_as: Login) -> None:
    waiting = [
        factories.make_grant(world.programme, amount_fen=100_000 * (i + 1), status="submitted")
        for i in range(23)
    ]
    approved = factories.make_grant(world.programme)
    client = login_as(world.officer)
    first = client.get(BASE + "/applications").get_data(as_text=True)
    assert "共 23 份" in first and f'data-grant-id="{approved.id}"' not in first
    assert first.count("data-grant-id=") == 20
    second = client.get(BASE + "/applications?page=2").get_data(as_text=True)
    assert second.count("data-grant-id=") == 3
    by_amount = client.get(BASE + "/applications?sort=-requested").get_data(as_text=True)
    assert by_amount.index(f'data-grant-id="{waiting[-1].id}"') < by_amount.index(
        f'data-grant-id="{waiting[-2].id}"'
    )
    only_approved = client.get(BASE + "/applications?status=approved").get_data(as_text=True)
    assert only_approved.count("data-grant-id=") == 1
    everything = client.get(BASE + "/applications?status=&sort=bogus&page=x")
    assert everything.status_code == 200 and "共 24 份" in everything.get_data(as_text=True)
    assert BADGE_COUNTERS["pending_voucher_applications"](world.officer) == 23


def test_applications_export(world: World, app: Flask, login_as: Login) -> None:
    grant = submitted(world, app)
    client = login_as(world.officer)
    response = client.get(BASE + "/applications/export?format=csv&status=submitted")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[1][0] == str(grant.id) and rows[1][5] == "30000.00"
    assert rows[1][12] == "GR202631000123"
    response = client.get(BASE + "/applications/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert sheet.cell(2, 1).value == grant.id


def test_grant_page_shows_evidence_balances_ledger_and_history(
    world: World, app: Flask, login_as: Login
) -> None:
    grant = submitted(world, app)
    client = login_as(world.officer)
    html = client.get(f"{BASE}/grants/{grant.id}").get_data(as_text=True)
    assert "GR202631000123" in html and 'id="approve-form"' in html
    assert "最多可批准 ¥30,000.00" in html
    certificate = client.get(f"{BASE}/grants/{grant.id}/certificate")
    assert certificate.status_code == 200 and certificate.data.startswith(b"%PDF-")
    certificate.close()
    assert client.post(f"{BASE}/grants/{grant.id}/approve", data={}).status_code == 302
    html = client.get(f"{BASE}/grants/{grant.id}").get_data(as_text=True)
    assert 'data-kind="issue"' in html and 'data-action="voucher_grant.approve"' in html
    assert 'id="suspend-form"' in html


def test_approve_a_lower_amount_through_the_page(world: World, app: Flask, login_as: Login) -> None:
    grant = submitted(world, app)
    client = login_as(world.officer)
    response = client.post(
        f"{BASE}/grants/{grant.id}/approve", data={"approved_amount": "12000.50"}
    )
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(Grant, grant.id).approved_fen == 1_200_050  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-1", "金额不能为负数"),
        ("0", "金额必须大于零"),
        ("10.001", "最多保留两位小数"),
        ("30000.01", "批准金额不能超过申请金额"),
        ("abc", "请输入数字"),
    ],
)
def test_bad_approval_amounts_write_nothing(
    world: World, app: Flask, login_as: Login, amount: str, message: str
) -> None:
    grant = submitted(world, app)
    client = login_as(world.officer)
    before = counts()
    response = client.post(f"{BASE}/grants/{grant.id}/approve", data={"approved_amount": amount})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts() == before


def test_over_budget_approval_shows_on_the_amount_field(
    world: World, factories: Factories, app: Flask, login_as: Login
) -> None:
    world.programme = factories.programme(world.authority, budget_fen=2_000_000)
    db.session.commit()
    grant = submitted(world, app, 2_000_000)
    factories.make_grant(world.programme, amount_fen=1_500_000)
    client = login_as(world.officer)
    before = counts()
    response = client.post(f"{BASE}/grants/{grant.id}/approve", data={})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "项目预算不足" in html and "invalid-feedback" in html
    assert counts() == before


def test_approving_twice_answers_409(world: World, app: Flask, login_as: Login) -> None:
    grant = submitted(world, app)
    client = login_as(world.officer)
    assert client.post(f"{BASE}/grants/{grant.id}/approve", data={}).status_code == 302
    before = counts()
    response = client.post(f"{BASE}/grants/{grant.id}/approve", data={})
    assert response.status_code == 409
    assert "不能执行此操作" in response.get_data(as_text=True)
    assert counts() == before


def test_reject_suspend_resume_through_the_pages(
    world: World, factories: Factories, app: Flask, login_as: Login
) -> None:
    grant = submitted(world, app)
    client = login_as(world.officer)
    before = counts()
    response = client.post(f"{BASE}/grants/{grant.id}/reject", data={"reason": " "})
    assert response.status_code == 422 and "请填写理由" in response.get_data(as_text=True)
    assert counts() == before
    response = client.post(f"{BASE}/grants/{grant.id}/reject", data={"reason": "材料不全"})
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(Grant, grant.id).status == GrantStatus.REJECTED  # type: ignore[union-attr]

    approved = factories.make_grant(world.programme, enterprise=world.firm)
    db.session.commit()
    url = f"{BASE}/grants/{approved.id}"
    assert client.post(url + "/resume", data={}).status_code == 409
    assert client.post(url + "/suspend", data={"reason": ""}).status_code == 422
    assert client.post(url + "/suspend", data={"reason": "核查中"}).status_code == 302
    db.session.rollback()
    assert db.session.get(Grant, approved.id).status == GrantStatus.SUSPENDED  # type: ignore[union-attr]
    assert 'id="resume-form"' in client.get(url).get_data(as_text=True)
    response = client.post(url + "/resume", data={"return_to": "applications"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/applications")
    db.session.rollback()
    assert db.session.get(Grant, approved.id).status == GrantStatus.APPROVED  # type: ignore[union-attr]


def test_csrf_is_required_when_enabled(
    world: World, app: Flask, login_as: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = submitted(world, app)
    client = login_as(world.officer)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    before = counts()
    assert client.post(f"{BASE}/grants/{grant.id}/approve", data={}).status_code == 400
    assert client.post(BASE + "/programmes/new", data=programme_form()).status_code == 400
    assert counts() == before


# --- flags and flows ------------------------------------------------------------------------------


def test_flags_and_flows_pages(
    world: World, factories: Factories, login_as: Login, make_use: Callable[..., object]
) -> None:
    provider = factories.make_org(kind=OrgKind.PROVIDER, name_zh="温州分析测试中心")
    grant = factories.make_grant(world.programme, enterprise=world.firm)
    use = make_use(grant, provider, share_fen=700_000)
    use.split_flag, use.split_reason = True, "30天内合计超过单笔上限"  # type: ignore[attr-defined]
    db.session.commit()
    client = login_as(world.officer)
    html = client.get(BASE + "/flags").get_data(as_text=True)
    assert "温州分析测试中心" in html and "30天内合计超过单笔上限" in html and "¥7,000.00" in html
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(BASE + "/flags/export?format=csv").get_data().decode("utf-8-sig")
            )
        )
    )
    assert rows[1][3] == "温州分析测试中心" and rows[1][7] == "7000.00"
    flows = client.get(BASE + "/flows").get_data(as_text=True)
    assert 'id="flow-matrix"' in flows and provider.region.name_zh in flows
    assert 'id="flow-total">¥7,000.00' in flows
