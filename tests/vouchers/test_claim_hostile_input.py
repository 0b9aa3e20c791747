"""Claims against hostile input found by probing the running app: absurd
amounts, control and format characters, one invoice written two ways."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.core.uploads import display_name
from booking.extensions import db
from tests.vouchers.test_claims_support import World, build_world
from tests.vouchers.test_claims_views import _form
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
