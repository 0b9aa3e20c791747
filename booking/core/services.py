"""Figures the public pages show about the alliance as a whole."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text

from booking.accounts.models import Organization, OrgKind, Region
from booking.extensions import db
from instruments.models import Instrument, ServiceItem, SharingMode


@dataclass(frozen=True)
class RegionFigures:
    region: Region
    institutions: int
    instruments: int
    service_items: int


def alliance_figures() -> list[RegionFigures]:
    """Member institutions (admitted providers), externally shared instruments
    and active service items, per region, in region order."""
    providers: dict[int, int] = dict(
        db.session.execute(
            select(Organization.region_id, func.count())
            .where(Organization.kind == OrgKind.PROVIDER, Organization.status == "verified")
            .group_by(Organization.region_id)
        ).all()
    )
    instruments: dict[int, int] = dict(
        db.session.execute(
            select(Organization.region_id, func.count())
            .select_from(Instrument)
            .join(Organization, Organization.id == Instrument.provider_id)
            .where(Instrument.sharing_mode == SharingMode.EXTERNAL)
            .group_by(Organization.region_id)
        ).all()
    )
    services: dict[int, int] = dict(
        db.session.execute(
            select(Organization.region_id, func.count())
            .select_from(ServiceItem)
            .join(Organization, Organization.id == ServiceItem.provider_id)
            .where(ServiceItem.active.is_(True))
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
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        db.session.rollback()
        return False
    return True
