"""Figures the public pages show about the alliance as a whole."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, text

from booking.accounts.models import Organization, OrgKind, Region, VerificationStatus
from booking.extensions import db
from instruments.models import Instrument, ServiceItem, SharingMode


@dataclass(frozen=True)
class RegionFigures:
    region: Region
    institutions: int
    instruments: int
    service_items: int


def _public_provider() -> tuple[ColumnElement[bool], ...]:
    # The same rule as the public catalogue (instruments.queries): only what a
    # visitor can find there is counted here.
    return (
        Organization.kind == OrgKind.PROVIDER,
        Organization.status == VerificationStatus.VERIFIED,
    )


def alliance_figures() -> list[RegionFigures]:
    """Member institutions (admitted providers), and the instruments and
    service items the public catalogue lists (externally shared instruments,
    active service items, both of verified providers), per region, in region
    order."""
    providers: dict[int, int] = dict(
        db.session.execute(
            select(Organization.region_id, func.count())
            .where(*_public_provider())
            .group_by(Organization.region_id)
        ).all()
    )
    instruments: dict[int, int] = dict(
        db.session.execute(
            select(Organization.region_id, func.count())
            .select_from(Instrument)
            .join(Organization, Organization.id == Instrument.provider_id)
            .where(Instrument.sharing_mode == SharingMode.EXTERNAL, *_public_provider())
            .group_by(Organization.region_id)
        ).all()
    )
    services: dict[int, int] = dict(
        db.session.execute(
            select(Organization.region_id, func.count())
            .select_from(ServiceItem)
            .join(Organization, Organization.id == ServiceItem.provider_id)
            .where(ServiceItem.active.is_(True), *_public_provider())
            .group_by(Organization.region_id)
        ).all()
    )
    regions = db.session.scalars(select(Region).order_by(Region.id))
    return [
        RegionFigures(r, providers.get(r.id, 0), instruments.get(r.id, 0), services.get(r.id, 0))
        for r in regions
    ]


def database_answers() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure means "not answering"
        db.session.rollback()
        return False
    return True
