"""Fixtures for the accounts tests: one organization of each kind, in two
regions, each with a user; and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from booking.accounts.models import Organization, OrgKind, Region, User
from booking.audit.models import AuditEvent
from booking.extensions import db

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@dataclass
class World:
    """Two regions, each with an authority, a provider and an enterprise, plus
    the platform operator; a user (org admin) in each."""

    region_a: Region
    region_b: Region
    platform: User
    authority_a: User
    authority_b: User
    provider_a: User
    provider_b: User
    enterprise_a: User
    enterprise_b: User
    pending_a: Organization
    pending_b: Organization


@pytest.fixture
def world(
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
) -> World:
    a = make_region("jiading", name_zh="嘉定区", name_en="Jiading", division_code="310114")
    b = make_region("suzhou", name_zh="苏州市", name_en="Suzhou", division_code="320500")
    platform_org = make_org(kind=OrgKind.PLATFORM, region=a, uscc=None, name_zh="平台运营方")

    def user(kind: str, region: Region, **org_overrides: Any) -> User:
        return make_user(org=make_org(kind=kind, region=region, **org_overrides))

    w = World(
        region_a=a,
        region_b=b,
        platform=make_user(org=platform_org),
        authority_a=user(OrgKind.AUTHORITY, a, name_zh="嘉定区科委"),
        authority_b=user(OrgKind.AUTHORITY, b, name_zh="苏州市科技局"),
        provider_a=user(OrgKind.PROVIDER, a),
        provider_b=user(OrgKind.PROVIDER, b),
        enterprise_a=user(OrgKind.ENTERPRISE, a),
        enterprise_b=user(OrgKind.ENTERPRISE, b),
        pending_a=make_org(
            kind=OrgKind.ENTERPRISE, region=a, status="pending", name_zh="嘉定待审企业"
        ),
        pending_b=make_org(
            kind=OrgKind.ENTERPRISE, region=b, status="pending", name_zh="苏州待审企业"
        ),
    )
    db.session.commit()
    return w


def audit_count(action: str | None = None) -> int:
    stmt = select(func.count()).select_from(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return int(db.session.scalar(stmt) or 0)


def table_count(model: type[Any]) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)
