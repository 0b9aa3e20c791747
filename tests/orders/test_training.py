"""Training authorisations: the use cases and the provider's page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.accounts.models import OrgKind, User
from booking.audit.models import AuditEvent
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db, utcnow
from booking.orders import training
from booking.orders.models import TrainingAuthorisation
from booking.orders.services import has_training, place_booking
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for


@pytest.fixture
def staff(instrument: Instrument, make_user: Callable[..., User]) -> User:
    user = make_user(org=instrument.provider)
    db.session.commit()
    return user


def audit_actions() -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "training_authorisation")
            .order_by(AuditEvent.id)
        )
    )


def grant_count() -> int:
    return db.session.scalar(select(func.count()).select_from(TrainingAuthorisation)) or 0


# --- use cases -------------------------------------------------------------------------------


def test_grant_lets_the_user_book_self_operated_and_revoke_stops_it(
    instrument: Instrument, staff: User, firm_user: User
) -> None:
    grant = training.grant_training(
        staff, instrument.id, f"  {firm_user.email.upper()} ", NOW, note="2026-11 培训合格"
    )
    db.session.commit()
    assert grant.user_id == firm_user.id and grant.granted_by_id == staff.id
    assert has_training(firm_user.id, instrument.id, NOW)
    assert place_booking(firm_user, request_for(instrument, 5, 9, mode="occupy"), NOW).id
    db.session.commit()

    training.revoke_training(staff, grant.id, NOW + timedelta(hours=1))
    db.session.commit()
    assert not has_training(firm_user.id, instrument.id, NOW + timedelta(hours=2))
    with pytest.raises(InvalidTransition, match="已经撤销"):
        training.revoke_training(staff, grant.id, NOW + timedelta(hours=2))
    db.session.rollback()

    # Granted again: the same row lives again (one row per instrument and user).
    again = training.grant_training(staff, instrument.id, firm_user.email, NOW + timedelta(days=1))
    db.session.commit()
    assert again.id == grant.id and again.revoked_at is None
    assert grant_count() == 1
    assert audit_actions() == ["training.grant", "training.revoke", "training.grant"]


def test_refusals(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
) -> None:
    other_provider_staff = make_user(kind=OrgKind.PROVIDER)
    theirs = make_instrument()
    db.session.commit()

    def refused(match: str, **kw: object) -> None:
        args: dict[str, object] = {
            "actor": staff,
            "instrument_id": instrument.id,
            "email": firm_user.email,
            "now": NOW,
        }
        args.update(kw)
        with pytest.raises(DomainError, match=match):
            training.grant_training(**args)  # type: ignore[arg-type]
        db.session.rollback()

    refused("没有使用该邮箱的用户", email="nobody@example.cn")
    refused("只能授予企业用户", email=other_provider_staff.email)
    refused("有效期须晚于今天", valid_until=NOW - timedelta(hours=1))
    with pytest.raises(NotFound):
        training.grant_training(staff, theirs.id, firm_user.email, NOW)
    db.session.rollback()
    with pytest.raises(DomainError, match="服务机构"):
        training.grant_training(firm_user, instrument.id, firm_user.email, NOW)
    db.session.rollback()
    assert grant_count() == 0

    training.grant_training(staff, instrument.id, firm_user.email, NOW)
    db.session.commit()
    refused("已有该仪器的有效培训授权")
    assert grant_count() == 1
    assert audit_actions() == ["training.grant"]

    grant = db.session.scalars(select(TrainingAuthorisation)).one()
    with pytest.raises(NotFound):
        training.revoke_training(other_provider_staff, grant.id, NOW)


def test_a_lapsed_grant_can_be_renewed(
    instrument: Instrument, staff: User, firm_user: User
) -> None:
    grant = training.grant_training(
        staff, instrument.id, firm_user.email, NOW, valid_until=NOW + timedelta(days=30)
    )
    db.session.commit()
    later = NOW + timedelta(days=31)
    assert not has_training(firm_user.id, instrument.id, later)
    renewed = training.grant_training(
        staff, instrument.id, firm_user.email, later, valid_until=later + timedelta(days=365)
    )
    db.session.commit()
    assert renewed.id == grant.id
    assert has_training(firm_user.id, instrument.id, later)
    current = db.session.scalars(training.current_grants(instrument.provider_id, later)).all()
    assert [g.id for g in current] == [grant.id]


# --- the page ------------------------------------------------------------------------


def test_grant_and_revoke_through_the_page(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    login_as: Callable[[User], FlaskClient],
) -> None:
    client = login_as(staff)
    page = client.get("/provider/training")
    assert page.status_code == 200
    assert 'id="training-form"' in page.get_data(as_text=True)

    tomorrow = (utcnow() + timedelta(days=40)).date().isoformat()
    answer = client.post(
        "/provider/training",
        data={
            "instrument_id": str(instrument.id),
            "email": firm_user.email,
            "valid_until": tomorrow,
            "note": "操作培训",
        },
        follow_redirects=True,
    )
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "已授予" in html
    grant = db.session.scalars(select(TrainingAuthorisation)).one()
    assert f'data-grant-id="{grant.id}"' in html
    assert grant.valid_until is not None and grant.valid_until > utcnow() + timedelta(days=39)

    duplicate = client.post(
        "/provider/training",
        data={
            "instrument_id": str(instrument.id),
            "email": firm_user.email,
        },
    )
    assert duplicate.status_code == 422
    assert "已有该仪器的有效培训授权" in duplicate.get_data(as_text=True)

    assert client.post(f"/provider/training/{grant.id}/revoke").status_code == 302
    html = client.get("/provider/training").get_data(as_text=True)
    assert f'data-grant-id="{grant.id}"' not in html
    assert audit_actions() == ["training.grant", "training.revoke"]


def test_page_refusals(
    instrument: Instrument,
    staff: User,
    firm_user: User,
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
    login_as: Callable[[User], FlaskClient],
) -> None:
    theirs = make_instrument()
    their_staff = make_user(org=theirs.provider)
    authority_user = make_user(kind=OrgKind.AUTHORITY)
    db.session.commit()
    client = login_as(staff)

    def post(**data: str) -> tuple[int, str]:
        answer = client.post("/provider/training", data=data)
        return answer.status_code, answer.get_data(as_text=True)

    status, html = post(instrument_id=str(instrument.id), email="ghost@example.cn")
    assert status == 422 and "没有使用该邮箱的用户" in html
    status, html = post(instrument_id=str(instrument.id), email=authority_user.email)
    assert status == 422 and "只能授予企业用户" in html
    status, html = post(instrument_id=str(instrument.id), email="not-an-email")
    assert status == 422 and "有效的邮箱地址" in html
    status, html = post(instrument_id="abc", email=firm_user.email)
    assert status == 422 and "请从列表中选择" in html
    status, html = post(
        instrument_id=str(instrument.id), email=firm_user.email, valid_until="2020-01-01"
    )
    assert status == 422 and "有效期须晚于今天" in html
    status, _html = post(instrument_id=str(theirs.id), email=firm_user.email)
    assert status == 404
    assert grant_count() == 0

    their_grant = training.grant_training(their_staff, theirs.id, firm_user.email, utcnow())
    db.session.commit()
    assert client.post(f"/provider/training/{their_grant.id}/revoke").status_code == 404
    listing = client.get("/provider/training").get_data(as_text=True)
    assert not re.search(rf'data-grant-id="{their_grant.id}"', listing)
    db.session.expire_all()
    assert db.session.get(TrainingAuthorisation, their_grant.id).revoked_at is None  # type: ignore[union-attr]
