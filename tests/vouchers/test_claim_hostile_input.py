"""Claims against hostile input found by probing the running app: absurd
amounts, control and format characters, one invoice written two ways."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.accounts.models import User
from booking.core.uploads import display_name
from booking.errors import DomainError
from booking.extensions import db
from tests.vouchers.test_claims_support import CLAIM_NOW, World, build_world, details, uploads
from tests.vouchers.test_claims_views import _form
from vouchers import claims
from vouchers.claim_forms import yuan_to_fen
from vouchers.claims import invoice_key
from vouchers.models import Claim


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


def _claims() -> int:
    return db.session.scalar(select(func.count()).select_from(Claim)) or 0


@pytest.mark.parametrize("text", ["1e309", "9" * 40, "1e28", "Infinity", "NaN", "-1", "0.001"])
def test_absurd_amounts_are_not_amounts(text: str) -> None:
    assert yuan_to_fen(text) is None


def test_invoice_numbers_compare_as_written_on_paper() -> None:
    assert invoice_key(" demo-0001 ") == invoice_key("DEMO-0001") == "DEMO-0001"
    assert invoice_key("ＦＰ－００１") == "FP-001"  # full-width forms fold (NFKC)
    assert invoice_key("FP 0 01") == "FP001"


def test_format_characters_leave_uploaded_names() -> None:
    assert display_name("a\x01b\u202egpj.pdf") == "abgpj.pdf"
    assert display_name("..\\..\\检测报告.pdf") == "检测报告.pdf"


def test_huge_invoice_amount_is_a_message_not_an_error(
    world: World, client: FlaskClient, login_as: Any
) -> None:
    use = world.used()
    login_as(world.provider_user)
    answer = client.post(
        f"/claims/uses/{use.id}/claim",
        data=_form(world.provider.name_zh, amount="1e309"),
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert "金额" in answer.get_data(as_text=True)
    assert _claims() == 0


def test_control_characters_in_bank_details_are_refused(
    world: World, client: FlaskClient, login_as: Any
) -> None:
    use = world.used()
    login_as(world.provider_user)
    answer = client.post(
        f"/claims/uses/{use.id}/claim",
        data={**_form(world.provider.name_zh), "payee_bank": "中国银行\x01\x02"},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert "控制字符" in answer.get_data(as_text=True)
    assert _claims() == 0


def test_one_invoice_cannot_be_claimed_twice_by_spelling_it_differently(
    world: World, client: FlaskClient, login_as: Any
) -> None:
    first, second = world.used(), world.used()
    login_as(world.provider_user)
    made = client.post(
        f"/claims/uses/{first.id}/claim",
        data=_form(world.provider.name_zh, invoice="fp-0001"),
        content_type="multipart/form-data",
    )
    assert made.status_code == 302
    again = client.post(
        f"/claims/uses/{second.id}/claim",
        data=_form(world.provider.name_zh, invoice=" FP-0001 "),
        content_type="multipart/form-data",
    )
    assert again.status_code == 422
    assert "一张发票只能申请一次" in again.get_data(as_text=True)
    assert _claims() == 1
    assert db.session.scalar(select(Claim.invoice_number)) == "FP-0001"


def test_racing_claims_with_one_invoice_leave_one_claim(
    app: Flask, world: World, postgres: None
) -> None:
    """16 payee requests for 16 different uses carry the same invoice number
    at once (PostgreSQL): one claim is filed, every other request is refused
    with the invoice message, and nothing crashes."""
    uses = [world.used(share_fen=500_000, price_fen=1_000_000).id for _ in range(16)]
    provider_user_id, root = world.provider_user.id, Path(app.config["UPLOAD_DIR"])
    same_invoice = details(world.provider, 1_000_000, invoice="FP-RACE-1")
    db.session.commit()
    barrier = threading.Barrier(len(uses))
    won: list[int] = []
    lost: list[str] = []
    crashed: list[BaseException] = []

    def payee_files(use_id: int) -> None:
        with app.app_context():
            user = db.session.get(User, provider_user_id)
            assert user is not None
            barrier.wait(timeout=30)
            try:
                claim = claims.file_claim(
                    use_id,
                    user,
                    same_invoice,
                    uploads(),
                    root,
                    CLAIM_NOW,
                )
                db.session.commit()
                won.append(claim.id)
            except DomainError as refusal:
                db.session.rollback()
                lost.append(str(refusal))
            except BaseException as error:  # a race must never crash
                db.session.rollback()
                crashed.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=payee_files, args=(u,)) for u in uses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    db.session.rollback()
    assert not crashed, crashed
    assert len(won) == 1 and len(lost) == 15
    assert all("一张发票只能申请一次" in message for message in lost)
    assert _claims() == 1
