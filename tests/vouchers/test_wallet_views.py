"""The firm's voucher wallet through the test client: grants and balances,
movements with order links and their export, open programmes, the
application form with its certificate upload, and access for other firms
and roles."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from booking.accounts.models import OrgKind, User
from booking.extensions import db
from tests.vouchers.grant_helpers import (
    NOW,
    PDF,
    Factories,
    World,
    application,
    counts,
    evidence,
    factories,
    today,
    world,
)
from vouchers import programmes as svc
from vouchers.models import Grant, GrantStatus, UseStatus

__all__ = ["factories", "world"]

Login = Callable[[User], FlaskClient]
BASE = "/my/vouchers"


def form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "amount": "25000.50",
        "category": "tech_sme",
        "certificate_no": "GR2026-0099",
        "certificate_valid_from": (today() - timedelta(days=365)).isoformat(),
        "certificate_valid_until": (today() + timedelta(days=365)).isoformat(),
        "purpose": "扫描电镜表征",
        "evidence": (io.BytesIO(PDF), "证书.pdf"),
    }
    data.update(overrides)
    return data


def stored_files(app: Flask) -> int:
    return sum(1 for _ in (Path(app.config["UPLOAD_DIR"]) / "vouchers").rglob("*.pdf"))


def test_other_roles_find_nothing_here(world: World, factories: Factories, login_as: Login) -> None:
    grant = factories.make_grant(world.programme, enterprise=world.firm)
    for user in (
        world.officer,
        factories.make_user(kind=OrgKind.PROVIDER),
        factories.make_user(kind=OrgKind.PLATFORM),
    ):
        client = login_as(user)
        for url in (
            "/",
            f"/grants/{grant.id}",
            f"/grants/{grant.id}/export?format=csv",
            f"/programmes/{world.programme.id}/apply",
        ):
            assert client.get(BASE + url).status_code == 404, url
        before = counts()
        response = client.post(f"{BASE}/programmes/{world.programme.id}/apply", data=form())
        assert response.status_code == 404
        assert counts() == before


def test_another_firms_grant_is_404(
    world: World, factories: Factories, app: Flask, login_as: Login
) -> None:
    root = Path(app.config["UPLOAD_DIR"]) / "vouchers"
    grant = svc.apply_for_grant(
        world.firm_user, world.programme.id, application(), evidence(), root, NOW
    )
    db.session.commit()
    _, stranger = factories.firm(world.authority)
    client = login_as(stranger)
    for url in (
        f"/grants/{grant.id}",
        f"/grants/{grant.id}/export?format=xlsx",
        f"/grants/{grant.id}/certificate",
    ):
        assert client.get(BASE + url).status_code == 404, url
    assert f'data-grant-id="{grant.id}"' not in client.get(BASE + "/").get_data(as_text=True)


def test_wallet_lists_grants_balances_programmes_and_applications(
    world: World, factories: Factories, login_as: Login, make_use: Callable[..., object]
) -> None:
    provider = factories.make_org(kind=OrgKind.PROVIDER)
    grant = factories.make_grant(world.programme, enterprise=world.firm, amount_fen=5_000_000)
    make_use(grant, provider, share_fen=1_000_000)
    make_use(grant, provider, share_fen=500_000, status=UseStatus.LOCKED)
    make_use(grant, provider, share_fen=200_000, status=UseStatus.HELD)
    rejected = factories.make_grant(
        world.programme, enterprise=world.firm, amount_fen=10, status="submitted"
    )
    rejected.status, rejected.decision_reason = GrantStatus.REJECTED, "证书过期"
    elsewhere = factories.programme(factories.make_org(kind=OrgKind.AUTHORITY))
    db.session.commit()
    html = login_as(world.firm_user).get(BASE + "/").get_data(as_text=True)
    row = html.split('id="wallet-grants"')[1].split(f'data-grant-id="{grant.id}"')[1]
    row = row.split("</tr>")[0]
    assert 'data-field="approved">¥50,000.00' in row
    assert 'data-field="available">¥33,000.00' in row  # 35,000 available less 2,000 held
    assert 'data-field="locked">¥5,000.00' in row
    assert 'data-field="used">¥10,000.00' in row
    assert f'data-programme-id="{world.programme.id}"' in html
    assert f'data-programme-id="{elsewhere.id}"' not in html
    assert "证书过期" in html
    assert html.count(f'data-grant-id="{rejected.id}"') == 1  # applications only


def test_grant_detail_links_movements_to_orders_and_exports_them(
    world: World, factories: Factories, login_as: Login, make_use: Callable[..., object]
) -> None:
    provider = factories.make_org(kind=OrgKind.PROVIDER)
    grant = factories.make_grant(world.programme, enterprise=world.firm, amount_fen=5_000_000)
    use = make_use(grant, provider, share_fen=1_234_500)
    db.session.commit()
    client = login_as(world.firm_user)
    html = client.get(f"{BASE}/grants/{grant.id}").get_data(as_text=True)
    assert html.count('data-kind="') == 3  # issue, lock, use
    assert f'href="/my/orders/booking/{use.booking_id}"' in html  # type: ignore[attr-defined]
    response = client.get(f"{BASE}/grants/{grant.id}/export?format=csv")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == ["发放", "冻结", "核销"]
    assert rows[2][2] == "12345.00" and rows[2][5] == f"预约 #{use.booking_id}"  # type: ignore[attr-defined]
    response = client.get(f"{BASE}/grants/{grant.id}/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert float(sheet.cell(2, 3).value) == 50000
    assert client.get(f"{BASE}/grants/{grant.id}/export?format=doc").status_code == 400


def test_apply_through_the_form(world: World, app: Flask, login_as: Login) -> None:
    client = login_as(world.firm_user)
    page = client.get(f"{BASE}/programmes/{world.programme.id}/apply").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and "尚可申请 ¥100,000.00" in page
    response = client.post(
        f"{BASE}/programmes/{world.programme.id}/apply",
        data=form(idempotency_key="abc123"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    grant = db.session.scalar(select(Grant).where(Grant.enterprise_id == world.firm.id))
    assert grant is not None and grant.requested_fen == 2_500_050
    assert grant.status == GrantStatus.SUBMITTED and (grant.evidence_name or "").endswith(".pdf")
    stored = Path(app.config["UPLOAD_DIR"]) / "vouchers" / (grant.evidence_path or "")
    assert stored.read_bytes() == PDF
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "待审核" in detail
    download = client.get(f"{BASE}/grants/{grant.id}/certificate")
    assert download.status_code == 200 and download.data == PDF
    download.close()
    # the same form submitted twice makes one application
    again = client.post(
        f"{BASE}/programmes/{world.programme.id}/apply",
        data=form(idempotency_key="abc123"),
        content_type="multipart/form-data",
    )
    assert again.status_code == 302
    assert len(db.session.scalars(select(Grant)).all()) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "-100"}, "金额不能为负数"),
        ({"amount": "0"}, "金额必须大于零"),
        ({"amount": "100.123"}, "最多保留两位小数"),
        ({"amount": "100000.01"}, "剩余上限"),
        ({"amount": "1e20"}, "金额过大"),
        (
            {"certificate_valid_from": "2019-01-01", "certificate_valid_until": "2020-01-01"},
            "证书已过有效期",
        ),
        ({"evidence": (io.BytesIO(b"not a pdf"), "x.pdf")}, "请上传 PDF 文件"),
        ({"evidence": (io.BytesIO(b""), "")}, "请上传证书的 PDF 文件"),
        ({"category": "giant"}, "请从列表中选择"),
    ],
)
def test_bad_applications_write_nothing(
    world: World, app: Flask, login_as: Login, overrides: dict[str, object], message: str
) -> None:
    client = login_as(world.firm_user)
    before = counts(), stored_files(app)
    response = client.post(
        f"{BASE}/programmes/{world.programme.id}/apply",
        data=form(**overrides),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (counts(), stored_files(app)) == before


def test_outside_the_window_and_unverified_are_refused(
    world: World, factories: Factories, login_as: Login
) -> None:
    closed = factories.programme(
        world.authority,
        applications_open_on=today() - timedelta(days=60),
        applications_close_on=today() - timedelta(days=1),
    )
    db.session.commit()
    client = login_as(world.firm_user)
    assert 'id="closed-note"' in client.get(f"{BASE}/programmes/{closed.id}/apply").get_data(
        as_text=True
    )
    before = counts()
    response = client.post(
        f"{BASE}/programmes/{closed.id}/apply", data=form(), content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "不在申请期内" in response.get_data(as_text=True)
    world.firm.status = "pending"
    db.session.commit()
    response = client.post(
        f"{BASE}/programmes/{world.programme.id}/apply",
        data=form(),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "尚未通过认证" in response.get_data(as_text=True)
    assert counts() == before


def test_another_regions_programme_is_404(
    world: World, factories: Factories, login_as: Login
) -> None:
    elsewhere = factories.programme(factories.make_org(kind=OrgKind.AUTHORITY))
    db.session.commit()
    client = login_as(world.firm_user)
    assert client.get(f"{BASE}/programmes/{elsewhere.id}/apply").status_code == 404
    before = counts()
    response = client.post(
        f"{BASE}/programmes/{elsewhere.id}/apply", data=form(), content_type="multipart/form-data"
    )
    assert response.status_code == 404
    assert counts() == before
