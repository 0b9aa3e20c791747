"""The claim pages over HTTP: the payee files and corrects, the authority
reviews; every other role gets 404."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.accounts.models import OrgKind
from booking.extensions import db
from tests.vouchers.test_claims_support import (
    PDF,
    World,
    build_world,
    file,
    service_order_use,
)
from vouchers import claims
from vouchers.models import Claim, ClaimStatus, UseStatus


@pytest.fixture
def world(
    make_org: Any,
    make_user: Any,
    make_region: Any,
    make_programme: Any,
    make_grant: Any,
    make_use: Any,
) -> World:
    return build_world(make_org, make_user, make_region, make_programme, make_grant, make_use)


@pytest.fixture
def root(app: Flask) -> Path:
    return Path(app.config["UPLOAD_DIR"])


def _form(
    payee_name: str, invoice: str = "FP-0001", amount: str = "20000.00", files: bool = True
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "invoice_number": invoice,
        "invoice_amount": amount,
        "payee_account_name": payee_name,
        "payee_bank": "中国银行",
        "payee_account_no": "6216600000000000001",
    }
    if files:
        for kind in ("contract", "invoice", "payment_proof"):
            data[kind] = (io.BytesIO(PDF), f"{kind}.pdf")
    return data


def _fetch(client: FlaskClient, url: str) -> tuple[int, bytes]:
    """GET a download and close it (send_file keeps the file open until then)."""
    response = client.get(url)
    try:
        return response.status_code, response.get_data()
    finally:
        response.close()


def _claims() -> int:
    return db.session.scalar(select(func.count()).select_from(Claim)) or 0


def test_provider_files_a_claim_through_the_pages(
    world: World, client: FlaskClient, login_as: Any
) -> None:
    use = world.used()
    login_as(world.provider_user)
    index = client.get("/claims/")
    assert index.status_code == 200
    page = index.get_data(as_text=True)
    assert f'data-use-id="{use.id}"' in page and f"/claims/uses/{use.id}/claim" in page

    form = client.get(f"/claims/uses/{use.id}/claim")
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    assert world.provider.name_zh in body and "20000.00" in body

    done = client.post(
        f"/claims/uses/{use.id}/claim",
        data=_form(world.provider.name_zh),
        content_type="multipart/form-data",
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    claim = db.session.scalar(select(Claim))
    assert claim is not None and done.headers["Location"].endswith(f"/claims/{claim.id}")
    detail = client.get(f"/claims/{claim.id}")
    assert detail.status_code == 200
    text = detail.get_data(as_text=True)
    assert 'data-status="submitted"' in text and 'data-action="claim.submit"' in text
    status, data = _fetch(client, f"/claims/{claim.id}/evidence/contract")
    assert status == 200 and data.startswith(b"%PDF-")
    assert client.get(f"/claims/{claim.id}/evidence/usage_record").status_code == 404
    # The use is no longer claimable.
    assert f'data-use-id="{use.id}"' not in client.get("/claims/").get_data(as_text=True)


def test_refused_claim_shows_why_and_writes_nothing(
    world: World, client: FlaskClient, login_as: Any
) -> None:
    use = world.used()
    login_as(world.provider_user)
    wrong_amount = client.post(
        f"/claims/uses/{use.id}/claim",
        data=_form(world.provider.name_zh, amount="19999.99"),
        content_type="multipart/form-data",
    )
    assert wrong_amount.status_code == 422
    assert "合同金额" in wrong_amount.get_data(as_text=True)
    not_own_name = client.post(
        f"/claims/uses/{use.id}/claim",
        data=_form("张三"),
        content_type="multipart/form-data",
    )
    assert not_own_name.status_code == 422 and "收款单位本身" in not_own_name.get_data(as_text=True)
    missing = client.post(
        f"/claims/uses/{use.id}/claim",
        data=_form(world.provider.name_zh, files=False),
        content_type="multipart/form-data",
    )
    assert missing.status_code == 422 and "请上传" in missing.get_data(as_text=True)
    junk = client.post(
        f"/claims/uses/{use.id}/claim",
        data={**_form(world.provider.name_zh), "amount": "x", "invoice_amount": "abc"},
        content_type="multipart/form-data",
    )
    assert junk.status_code == 422
    assert _claims() == 0


def test_unconfirmed_use_answers_conflict(world: World, client: FlaskClient, login_as: Any) -> None:
    use = world.used(status=UseStatus.LOCKED)
    login_as(world.provider_user)
    response = client.post(
        f"/claims/uses/{use.id}/claim",
        data=_form(world.provider.name_zh),
        content_type="multipart/form-data",
    )
    assert response.status_code == 409 and "尚未确认" in response.get_data(as_text=True)


def test_authority_reviews_and_the_payee_corrects(
    world: World, client: FlaskClient, login_as: Any, root: Path
) -> None:
    claim = file(world, world.used(), root)
    login_as(world.authority_user)
    queue = client.get("/authority/settlement/claims")
    assert queue.status_code == 200
    text = queue.get_data(as_text=True)
    assert f'data-claim-id="{claim.id}"' in text and 'data-badge="pending_claims">1<' in text
    for query in (
        "?status=all&sort=-amount",
        "?status=approved",
        "?q=测试&sort=payee&page=9",
        "?sort=bogus&status=x",
    ):
        assert client.get("/authority/settlement/claims" + query).status_code == 200
    assert f'data-claim-id="{claim.id}"' not in client.get(
        "/authority/settlement/claims?status=approved"
    ).get_data(as_text=True)

    page = client.get(f"/authority/settlement/claims/{claim.id}")
    assert page.status_code == 200 and 'id="approve"' in page.get_data(as_text=True)
    assert _fetch(client, f"/authority/settlement/claims/{claim.id}/evidence/invoice")[0] == 200

    no_reason = client.post(
        f"/authority/settlement/claims/{claim.id}/return", data={"return-reason": ""}
    )
    assert no_reason.status_code == 422
    returned = client.post(
        f"/authority/settlement/claims/{claim.id}/return", data={"return-reason": "合同缺页"}
    )
    assert returned.status_code == 302
    db.session.refresh(claim)
    assert claim.status == ClaimStatus.RETURNED

    login_as(world.provider_user)
    detail = client.get(f"/claims/{claim.id}")
    assert "合同缺页" in detail.get_data(as_text=True) and 'id="resubmit"' in detail.get_data(
        as_text=True
    )
    fixed = client.post(
        f"/claims/{claim.id}/resubmit",
        data={
            **_form(world.provider.name_zh, invoice="FP-FIXED", files=False),
            "contract": (io.BytesIO(PDF), "contract-v2.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert fixed.status_code == 302, fixed.get_data(as_text=True)
    db.session.refresh(claim)
    assert (claim.status, claim.invoice_number) == (ClaimStatus.SUBMITTED, "FP-FIXED")
    again = client.post(
        f"/claims/{claim.id}/resubmit",
        data=_form(world.provider.name_zh, invoice="FP-3", files=False),
        content_type="multipart/form-data",
    )
    assert again.status_code == 409

    login_as(world.authority_user)
    assert client.post(f"/authority/settlement/claims/{claim.id}/approve").status_code == 302
    twice = client.post(f"/authority/settlement/claims/{claim.id}/approve")
    assert twice.status_code == 409 and "已处理" in twice.get_data(as_text=True)
    db.session.refresh(claim)
    assert claim.status == ClaimStatus.APPROVED


def test_authority_voids_a_fraudulent_claim(
    world: World, client: FlaskClient, login_as: Any, root: Path
) -> None:
    use = world.used()
    claim = file(world, use, root)
    login_as(world.authority_user)
    assert (
        client.post(
            f"/authority/settlement/claims/{claim.id}/void", data={"void-reason": ""}
        ).status_code
        == 422
    )
    done = client.post(
        f"/authority/settlement/claims/{claim.id}/void", data={"void-reason": "伪造合同"}
    )
    assert done.status_code == 302
    db.session.refresh(claim)
    db.session.refresh(use)
    assert claim.status == ClaimStatus.VOIDED and use.status == UseStatus.VOIDED
    assert (
        client.post(
            f"/authority/settlement/claims/{claim.id}/claw-back", data={"clawback-reason": "x"}
        ).status_code
        == 409
    )


def test_service_report_is_attached_by_reference(
    world: World, client: FlaskClient, login_as: Any, root: Path, make_service_item: Any, app: Flask
) -> None:
    use = service_order_use(world, make_service_item, report=True)
    report = Path(app.config["UPLOAD_DIR"]) / "reports" / "1" / "report.pdf"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_bytes(PDF)
    claim = file(world, use, root)
    login_as(world.provider_user)
    page = client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert 'id="report-link"' in page
    assert _fetch(client, f"/claims/{claim.id}/report")[1].startswith(b"%PDF-")
    login_as(world.authority_user)
    assert _fetch(client, f"/authority/settlement/claims/{claim.id}/report")[0] == 200


def test_claim_exports(world: World, client: FlaskClient, login_as: Any, root: Path) -> None:
    claim = file(world, world.used(), root)
    login_as(world.authority_user)
    csv = client.get("/authority/settlement/claims/export?format=csv&status=all")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert claim.invoice_number in csv.data.decode("utf-8-sig")
    xlsx = client.get("/authority/settlement/claims/export?format=xlsx&status=all")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert client.get("/authority/settlement/claims/export?format=pdf").status_code == 400


# --- access ------------------------------------------------------------------------------------


def test_nobody_else_sees_a_claim(
    world: World, client: FlaskClient, login_as: Any, root: Path
) -> None:
    use = world.used()
    claim = file(world, use, root)
    other_provider = world.make_user(kind=OrgKind.PROVIDER)
    other_authority = world.make_user(kind=OrgKind.AUTHORITY)
    platform = world.make_user(kind=OrgKind.PLATFORM)
    payee_urls = [
        f"/claims/{claim.id}",
        f"/claims/{claim.id}/evidence/contract",
        f"/claims/uses/{use.id}/claim",
    ]
    authority_urls = [
        f"/authority/settlement/claims/{claim.id}",
        f"/authority/settlement/claims/{claim.id}/evidence/contract",
    ]
    # Under 通兑 the enterprise is not the payee: its claim pages do not show this claim.
    for user in (other_provider, world.enterprise_user, platform, other_authority):
        login_as(user)
        for url in payee_urls + authority_urls:
            assert _fetch(client, url)[0] == 404, (user.organization.kind, url)
    login_as(other_authority)
    assert client.post(f"/authority/settlement/claims/{claim.id}/approve").status_code == 404
    assert client.get("/authority/settlement/claims").status_code == 200
    login_as(world.provider_user)
    assert client.get("/authority/settlement/claims").status_code == 404
    assert client.post(f"/authority/settlement/claims/{claim.id}/approve").status_code == 404
    db.session.refresh(claim)
    assert claim.status == ClaimStatus.SUBMITTED


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    for url in ("/claims/", "/authority/settlement/claims", "/authority/settlement/batches"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_firm_reimbursed_claims_are_the_enterprises(
    world: World, client: FlaskClient, login_as: Any
) -> None:
    use = world.used()
    use.rules = {**use.rules, "mode": "firm_reimbursed"}
    login_as(world.enterprise_user)
    assert f'data-use-id="{use.id}"' in client.get("/claims/").get_data(as_text=True)
    done = client.post(
        f"/claims/uses/{use.id}/claim",
        data=_form(world.enterprise.name_zh),
        content_type="multipart/form-data",
    )
    assert done.status_code == 302
    claim = db.session.scalar(select(Claim))
    assert claim is not None and claim.payee_id == world.enterprise.id
    login_as(world.provider_user)
    assert client.get(f"/claims/{claim.id}").status_code == 404
    assert claims.payee_id_of(use) == world.enterprise.id
