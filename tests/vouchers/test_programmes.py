"""Programmes (券种): the authority creates and edits its own, with the rules
across fields (dates in order, caps within the budget), recognised providers
of any region, and a budget that cannot fall below what is granted. Money
comes from the form as yuan with at most two decimals."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from booking.accounts.models import OrgKind
from booking.audit.models import AuditEvent
from booking.errors import DomainError, NotFound
from booking.extensions import db
from tests.vouchers.grant_helpers import NOW, Factories, World, factories, world
from vouchers import programmes as svc
from vouchers.forms import ProgrammeForm
from vouchers.models import Programme

__all__ = ["factories", "world"]


def programme_input(**overrides: Any) -> svc.ProgrammeInput:
    fields: dict[str, Any] = {
        "code": "JD2026",
        "name_zh": "2026年嘉定区科技创新券",
        "name_en": "Jiading innovation vouchers 2026",
        "fiscal_year": 2026,
        "budget_fen": 500_000_000,
        "subsidy_percent": 50,
        "enterprise_cap_fen": 50_000_000,
        "order_cap_fen": 2_000_000,
        "group_cap_fen": None,
        "mode": "provider_redeems",
        "eligible_categories": ["tech_sme", "high_tech"],
        "eligible_kinds": ["instrument_time", "testing_service"],
        "provider_ids": [],
        "applications_open_on": date(2026, 1, 1),
        "applications_close_on": date(2026, 11, 30),
        "valid_until": date(2026, 12, 31),
        "claim_deadline": date(2027, 3, 31),
        "settlement_cycle": "quarterly",
        "split_window_days": 30,
    }
    fields.update(overrides)
    return svc.ProgrammeInput(**fields)


def programme_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Programme)) or 0)


def test_authority_creates_a_programme_recognising_providers_of_other_regions(
    world: World, factories: Factories
) -> None:
    home = factories.make_org(kind=OrgKind.PROVIDER, region=world.authority.region)
    elsewhere = factories.make_org(kind=OrgKind.PROVIDER)
    data = programme_input(provider_ids=[home.id, elsewhere.id])
    programme = svc.create_programme(world.officer, data, NOW)
    db.session.commit()

    assert programme.authority_id == world.authority.id
    assert programme.budget_fen == 500_000_000 and programme.granted_fen == 0
    assert {link.provider_id for link in programme.recognised} == {home.id, elsewhere.id}
    assert programme.eligible_categories == ["high_tech", "tech_sme"]
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_type == "voucher_programme")
    )
    assert event is not None and event.action == "voucher_programme.create"
    assert event.actor_user_id == world.officer.id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"applications_close_on": date(2025, 12, 31)}, "applications_close_on"),
        ({"valid_until": date(2026, 11, 1)}, "valid_until"),
        ({"claim_deadline": date(2026, 12, 1)}, "claim_deadline"),
        ({"enterprise_cap_fen": 600_000_000}, "enterprise_cap"),
        ({"order_cap_fen": 60_000_000}, "order_cap"),
        ({"budget_fen": 0}, "budget"),
        ({"group_cap_fen": -1}, "group_cap"),
        ({"subsidy_percent": 0}, "subsidy_percent"),
        ({"mode": "cash"}, "mode"),
        ({"eligible_kinds": []}, "eligible_kinds"),
        ({"eligible_categories": ["giant"]}, "eligible_categories"),
        ({"settlement_cycle": "weekly"}, "settlement_cycle"),
        ({"split_window_days": 0}, "split_window_days"),
    ],
)
def test_inconsistent_programmes_are_refused_on_their_field(
    world: World, overrides: dict[str, Any], field: str
) -> None:
    before = programme_count()
    with pytest.raises(DomainError) as refused:
        svc.create_programme(world.officer, programme_input(**overrides), NOW)
    assert refused.value.field == field
    db.session.rollback()
    assert programme_count() == before


def test_codes_are_unique_per_authority_only(world: World, factories: Factories) -> None:
    svc.create_programme(world.officer, programme_input(code="X1"), NOW)
    with pytest.raises(DomainError) as refused:
        svc.create_programme(world.officer, programme_input(code="X1"), NOW)
    assert refused.value.field == "code"
    other = factories.make_user(org=factories.make_org(kind=OrgKind.AUTHORITY))
    assert svc.create_programme(other, programme_input(code="X1"), NOW).code == "X1"


def test_only_verified_providers_can_be_recognised(world: World, factories: Factories) -> None:
    pending = factories.make_org(kind=OrgKind.PROVIDER, status="pending")
    firm = factories.make_org(kind=OrgKind.ENTERPRISE)
    for wrong in (pending.id, firm.id, 999_999):
        with pytest.raises(DomainError) as refused:
            svc.create_programme(world.officer, programme_input(provider_ids=[wrong]), NOW)
        assert refused.value.field == "providers"


def test_only_authorities_run_programmes(world: World, factories: Factories) -> None:
    provider_user = factories.make_user(kind=OrgKind.PROVIDER)
    platform_user = factories.make_user(kind=OrgKind.PLATFORM)
    for actor in (world.firm_user, provider_user, platform_user):
        with pytest.raises(NotFound):
            svc.create_programme(actor, programme_input(), NOW)
        with pytest.raises(NotFound):
            svc.update_programme(actor, world.programme.id, programme_input(), NOW)


def test_budget_cannot_fall_below_what_is_granted(world: World, factories: Factories) -> None:
    programme = world.programme
    factories.make_grant(programme, amount_fen=6_000_000)
    db.session.commit()
    data = programme_input(
        code=programme.code,
        applications_open_on=programme.applications_open_on,
        applications_close_on=programme.applications_close_on,
        valid_until=programme.valid_until,
        claim_deadline=programme.claim_deadline,
        enterprise_cap_fen=5_000_000,
        order_cap_fen=None,
    )
    with pytest.raises(DomainError) as refused:
        svc.update_programme(world.officer, programme.id, replace(data, budget_fen=5_999_999), NOW)
    assert refused.value.field == "budget"
    assert "60,000.00" in str(refused.value)
    db.session.rollback()
    assert db.session.get(Programme, programme.id).budget_fen == 100_000_000  # type: ignore[union-attr]

    updated = svc.update_programme(
        world.officer, programme.id, replace(data, budget_fen=6_000_000), NOW
    )
    db.session.commit()
    assert (updated.budget_fen, updated.granted_fen, updated.enterprise_cap_fen) == (
        6_000_000,
        6_000_000,
        5_000_000,
    )
    event = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "voucher_programme.update")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and "budget_fen" in event.detail["changed"]


def test_editing_syncs_recognised_providers(world: World, factories: Factories) -> None:
    a, b = (factories.make_org(kind=OrgKind.PROVIDER) for _ in range(2))
    programme = svc.create_programme(world.officer, programme_input(provider_ids=[a.id]), NOW)
    svc.update_programme(world.officer, programme.id, programme_input(provider_ids=[b.id]), NOW)
    db.session.commit()
    db.session.refresh(programme)
    assert [link.provider_id for link in programme.recognised] == [b.id]


def test_another_authoritys_programme_is_not_found(world: World, factories: Factories) -> None:
    other = factories.make_user(org=factories.make_org(kind=OrgKind.AUTHORITY))
    with pytest.raises(NotFound):
        svc.update_programme(other, world.programme.id, programme_input(), NOW)
    with pytest.raises(NotFound):
        svc.authority_programme(other.organization_id, world.programme.id)


# --- the form: money as yuan -------------------------------------------------------------


def form_data(**overrides: str) -> MultiDict[str, str]:
    data = {
        "code": "JD2026",
        "name_zh": "嘉定区创新券",
        "fiscal_year": "2026",
        "budget": "5000000",
        "subsidy_percent": "50",
        "enterprise_cap": "500000.50",
        "order_cap": "",
        "group_cap": "",
        "mode": "provider_redeems",
        "applications_open_on": "2026-01-01",
        "applications_close_on": "2026-11-30",
        "valid_until": "2026-12-31",
        "claim_deadline": "2027-03-31",
        "settlement_cycle": "monthly",
        "split_window_days": "30",
    }
    data.update(overrides)
    md = MultiDict(data)
    md.add("eligible_kinds", "instrument_time")
    return md


def test_form_converts_yuan_to_fen_exactly(app: Flask) -> None:
    with app.test_request_context(method="POST", data=form_data(order_cap="0.01")):
        form = ProgrammeForm(providers=[])
        assert form.validate(), form.errors
        data = form.to_input()
    assert (data.budget_fen, data.enterprise_cap_fen, data.order_cap_fen) == (
        500_000_000,
        50_000_050,
        1,
    )
    assert data.group_cap_fen is None and data.eligible_categories == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("budget", "-100"),
        ("budget", "0"),
        ("budget", "100.001"),
        ("budget", "1e30"),
        ("budget", "abc"),
        ("budget", "NaN"),
        ("enterprise_cap", "0.00"),
        ("order_cap", "-0.01"),
        ("group_cap", "12.345"),
        ("subsidy_percent", "101"),
        ("valid_until", "2026-02-30"),
        ("code", "空 格"),
    ],
)
def test_form_refuses_bad_values_with_a_field_message(app: Flask, field: str, value: str) -> None:
    with app.test_request_context(method="POST", data=form_data(**{field: value})):
        form = ProgrammeForm(providers=[])
        assert not form.validate()
        assert form.errors.get(field)


def test_form_refuses_unknown_providers(app: Flask) -> None:
    data = form_data()
    data.add("providers", "42")
    with app.test_request_context(method="POST", data=data):
        form = ProgrammeForm(providers=[(7, "机构")])
        assert not form.validate()
        assert form.errors.get("providers")
