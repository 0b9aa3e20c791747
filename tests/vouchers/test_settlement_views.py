"""Settlement pages over HTTP: batches, payment, print views, PDFs and
exports for the authority; statements for the payee; 404 for everyone else."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from booking.accounts.models import OrgKind
from booking.extensions import db
from tests.vouchers.test_claims_support import World, approved, at_shanghai, build_world
from vouchers import settlement
from vouchers.models import Claim, ClaimStatus, SettlementBatch

OCT = at_shanghai(2026, 10, 20)


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


@pytest.fixture
def batch(world: World, root: Path) -> SettlementBatch:
    approved(world, world.used(), root, OCT)
    approved(world, world.used(share_fen=500_000), root, OCT)
    (batch_id,) = settlement.settle("2026-10", at_shanghai(2026, 11, 2)).batch_ids
    found = db.session.get(SettlementBatch, batch_id)
    assert found is not None
    return found


def _get(client: FlaskClient, url: str) -> tuple[int, str, bytes]:
    response = client.get(url)
    try:
        return response.status_code, response.mimetype, response.get_data()
    finally:
        response.close()


def test_authority_closes_a_period_from_the_page(
    world: World, client: FlaskClient, login_as: Any, root: Path
) -> None:
    approved(world, world.used(), root, OCT)
    login_as(world.authority_user)
    page = client.get("/authority/settlement/batches")
    assert page.status_code == 200 and 'id="close-form"' in page.get_data(as_text=True)
    bad = client.post("/authority/settlement/batches/close", data={"period": "2026-13"})
    assert bad.status_code == 422 and "2026-Q4" in bad.get_data(as_text=True)
    # The test clock is real: a period far ahead has not ended.
    future = client.post("/authority/settlement/batches/close", data={"period": "2099-01"})
    assert future.status_code == 422 and "尚未结束" in future.get_data(as_text=True)
    done = client.post("/authority/settlement/batches/close", data={"period": "2026-10"})
    assert done.status_code == 302
    batch = db.session.scalar(select(SettlementBatch))
    assert batch is not None and done.headers["Location"].endswith(f"/batches/{batch.id}")
    again = client.post("/authority/settlement/batches/close", data={"period": "2026-10"})
    assert again.status_code == 302 and again.headers["Location"].endswith("/batches")
    assert len(db.session.scalars(select(SettlementBatch)).all()) == 1


def test_batch_detail_payment_and_downloads(
    world: World, client: FlaskClient, login_as: Any, batch: SettlementBatch
) -> None:
    login_as(world.authority_user)
    listing = client.get("/authority/settlement/batches").get_data(as_text=True)
    assert f'data-batch-id="{batch.id}"' in listing
    detail = client.get(f"/authority/settlement/batches/{batch.id}")
    assert detail.status_code == 200
    text = detail.get_data(as_text=True)
    assert f'data-payee-id="{world.provider.id}"' in text and "¥15,000.00" in text
    cell = f'data-cell="{world.authority.region_id}-{world.provider.region_id}"'
    assert cell in text

    status, mimetype, body = _get(client, f"/authority/settlement/batches/{batch.id}/print")
    assert status == 200 and "region-matrix" in body.decode()
    status, mimetype, body = _get(client, f"/authority/settlement/batches/{batch.id}/pdf")
    assert status == 200 and mimetype == "application/pdf" and body.startswith(b"%PDF-")
    base = f"/authority/settlement/batches/{batch.id}"
    status, _m, body = _get(client, f"{base}/statements/{world.provider.id}")
    assert status == 200 and "statement-claims" in body.decode()
    status, mimetype, body = _get(client, f"{base}/statements/{world.provider.id}/pdf")
    assert status == 200 and body.startswith(b"%PDF-")
    assert _get(client, f"{base}/statements/{world.enterprise.id}")[0] == 404
    for part in ("statement", "matrix", "claims"):
        status, mimetype, body = _get(client, f"{base}/export?format=csv&part={part}")
        assert status == 200 and mimetype == "text/csv", part
    csv_text = _get(client, f"{base}/export?format=csv&part=statement")[2].decode("utf-8-sig")
    assert world.provider.name_zh in csv_text and "15000.00" in csv_text
    status, mimetype, body = _get(client, f"{base}/export?format=xlsx")
    book = load_workbook(io.BytesIO(body))
    assert len(book.sheetnames) == 3
    assert _get(client, f"{base}/export?format=csv&part=nope")[0] == 400

    no_ref = client.post(f"{base}/payment", data={"reference": ""})
    assert no_ref.status_code == 422
    paid = client.post(f"{base}/payment", data={"reference": "CZ-2026-11-01"})
    assert paid.status_code == 302
    db.session.refresh(batch)
    assert batch.status == "paid" and batch.payment_reference == "CZ-2026-11-01"
    assert {c.status for c in db.session.scalars(select(Claim))} == {ClaimStatus.PAID}
    twice = client.post(f"{base}/payment", data={"reference": "AGAIN"})
    assert twice.status_code == 409 and "重复" in twice.get_data(as_text=True)


def test_payee_sees_its_statements(
    world: World, client: FlaskClient, login_as: Any, batch: SettlementBatch
) -> None:
    login_as(world.provider_user)
    listing = client.get("/claims/statements")
    assert listing.status_code == 200 and f'data-batch-id="{batch.id}"' in listing.get_data(
        as_text=True
    )
    assert "2026-10" in client.get("/claims/").get_data(as_text=True)
    status, _m, body = _get(client, f"/claims/statements/{batch.id}")
    assert status == 200 and "¥15,000.00" in body.decode()
    status, _mimetype, body = _get(client, f"/claims/statements/{batch.id}/pdf")
    assert status == 200 and body.startswith(b"%PDF-")
    status, _mimetype, body = _get(client, f"/claims/statements/{batch.id}/export?format=csv")
    assert status == 200 and "2026-10" in body.decode("utf-8-sig")
    assert _get(client, f"/claims/statements/{batch.id}/export?format=xlsx")[0] == 200


def test_nobody_else_sees_a_batch(
    world: World, client: FlaskClient, login_as: Any, batch: SettlementBatch
) -> None:
    other_authority = world.make_user(kind=OrgKind.AUTHORITY)
    other_provider = world.make_user(kind=OrgKind.PROVIDER)
    platform = world.make_user(kind=OrgKind.PLATFORM)
    authority_urls = [
        f"/authority/settlement/batches/{batch.id}",
        f"/authority/settlement/batches/{batch.id}/pdf",
        f"/authority/settlement/batches/{batch.id}/print",
        f"/authority/settlement/batches/{batch.id}/export?format=csv",
    ]
    for user in (
        other_authority,
        other_provider,
        world.enterprise_user,
        platform,
        world.provider_user,
    ):
        login_as(user)
        for url in authority_urls:
            assert _get(client, url)[0] == 404, (user.organization.kind, url)
    login_as(other_authority)
    assert (
        client.post(
            f"/authority/settlement/batches/{batch.id}/payment", data={"reference": "X"}
        ).status_code
        == 404
    )
    for user in (other_provider, world.enterprise_user):
        login_as(user)
        assert _get(client, f"/claims/statements/{batch.id}")[0] == 404
        assert _get(client, f"/claims/statements/{batch.id}/pdf")[0] == 404
    db.session.refresh(batch)
    assert batch.status == "closed"
