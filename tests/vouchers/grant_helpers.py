"""A world for programmes and grants: an authority with an officer, a
verified firm of the same region with a user, and a programme of that
authority open on the day the test runs (web pages use the real clock) and
on VOUCHER_NOW (services are given it). Plus counters that show a refused
request wrote nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.extensions import db, utcnow
from booking.notifications.models import Notification
from booking.orders.clock import local
from tests.vouchers.conftest import VOUCHER_NOW
from vouchers.models import Grant, LedgerEntry, Programme
from vouchers.programmes import Application, Evidence

NOW = VOUCHER_NOW
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def today() -> date:
    return local(utcnow()).date()


def open_window() -> dict[str, Any]:
    """Dates that hold both on VOUCHER_NOW and on the real today."""
    first = min(today(), NOW.date()) - timedelta(days=30)
    last = max(today(), NOW.date()) + timedelta(days=30)
    return {
        "fiscal_year": first.year,
        "applications_open_on": first,
        "applications_close_on": last,
        "valid_until": last + timedelta(days=60),
        "claim_deadline": last + timedelta(days=150),
    }


@dataclass
class World:
    authority: Organization
    officer: User
    firm: Organization
    firm_user: User
    programme: Programme


@dataclass
class Factories:
    make_org: Callable[..., Organization]
    make_user: Callable[..., User]
    make_programme: Callable[..., Programme]
    make_grant: Callable[..., Grant]

    def firm(self, authority: Organization, **overrides: Any) -> tuple[Organization, User]:
        """A verified firm of the authority's region, with a user."""
        org = self.make_org(kind=OrgKind.ENTERPRISE, region=authority.region, **overrides)
        return org, self.make_user(org=org)

    def programme(self, authority: Organization, **overrides: Any) -> Programme:
        return self.make_programme(authority=authority, **{**open_window(), **overrides})


@pytest.fixture
def factories(
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_programme: Callable[..., Programme],
    make_grant: Callable[..., Grant],
) -> Factories:
    return Factories(make_org, make_user, make_programme, make_grant)


@pytest.fixture
def world(factories: Factories) -> World:
    authority = factories.make_org(kind=OrgKind.AUTHORITY)
    officer = factories.make_user(org=authority)
    firm, firm_user = factories.firm(authority)
    programme = factories.programme(authority)
    db.session.commit()
    return World(authority, officer, firm, firm_user, programme)


def application(amount_fen: int = 3_000_000, **overrides: Any) -> Application:
    fields: dict[str, Any] = {
        "amount_fen": amount_fen,
        "category": "tech_sme",
        "certificate_no": "GR202631000123",
        "certificate_valid_from": date(2025, 1, 1),
        "certificate_valid_until": date(2027, 12, 31),
        "purpose": "材料表征",
    }
    fields.update(overrides)
    return Application(**fields)


def evidence(data: bytes = PDF, name: str = "高新证书.pdf") -> Evidence:
    return Evidence(io.BytesIO(data), name)


def counts() -> tuple[int, ...]:
    """Rows that any voucher decision would write: a refusal changes none."""
    db.session.rollback()
    rows = [
        int(db.session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (Grant, LedgerEntry, AuditEvent, Notification)
    ]
    granted = db.session.scalar(select(func.coalesce(func.sum(Programme.granted_fen), 0)))
    decided = db.session.scalar(
        select(func.count()).select_from(Grant).where(Grant.status != "submitted")
    )
    return (*rows, int(granted or 0), int(decided or 0))
