"""Catalogue use cases: creating and editing instruments and service items,
their prices and downtime. Services flush; the caller commits once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.services import record
from booking.errors import DomainError, NotFound, PermissionDenied
from booking.extensions import db, utcnow
from instruments.classification import is_valid_code
from instruments.models import (
    Downtime,
    Instrument,
    InstrumentPrice,
    ServiceItem,
    ServiceMode,
)
from instruments.search import search_fields

INSTRUMENT_FIELDS = frozenset(
    c.key
    for c in Instrument.__table__.columns
    if c.key
    not in {
        "id", "provider_id", "category_code", "price_from_fen", "search_text",
        "search_tokens", "created_at", "updated_at",
    }
)
SERVICE_ITEM_FIELDS = frozenset(
    c.key
    for c in ServiceItem.__table__.columns
    if c.key not in {"id", "provider_id", "search_text", "search_tokens", "created_at",
                     "updated_at"}
)


def _require_provider(provider: Organization) -> None:
    if provider.kind != OrgKind.PROVIDER:
        raise PermissionDenied(_l("只有服务机构可以维护仪器和服务目录。"))


def refresh_instrument_search(instrument: Instrument) -> None:
    """Recompute the search text and tokens from the instrument's fields."""
    from instruments.classification import category_name

    instrument.search_text, instrument.search_tokens = search_fields(
        instrument.name_zh,
        instrument.name_en,
        instrument.model,
        instrument.manufacturer,
        instrument.internal_no,
        category_name(instrument.classification_code, "zh"),
        category_name(instrument.classification_code, "en"),
        instrument.functions,
        instrument.specifications,
    )


def refresh_service_item_search(item: ServiceItem) -> None:
    from instruments.classification import service_category_name

    item.search_text, item.search_tokens = search_fields(
        item.name_zh,
        item.name_en,
        item.code,
        item.method_standard,
        service_category_name(item.category, "zh"),
        service_category_name(item.category, "en"),
        item.description,
    )


def _apply_instrument_fields(instrument: Instrument, fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - INSTRUMENT_FIELDS
    if unknown:
        raise ValueError(f"unknown instrument fields: {sorted(unknown)}")
    for key, value in fields.items():
        setattr(instrument, key, value)
    if not is_valid_code(instrument.classification_code or ""):
        raise DomainError(_l("仪器分类代码无效。"), field="classification_code")
    instrument.category_code = instrument.classification_code[:2]


def set_prices(instrument: Instrument, prices: Mapping[str, int],
               lead_days: Mapping[str, int] | None = None) -> None:
    """Replace the instrument's service modes with `prices` (mode -> fen per
    hour). At least one mode is required for an externally shared instrument."""
    lead_days = lead_days or {}
    for mode in prices:
        ServiceMode(mode)  # raises ValueError on an unknown mode: a programming error
    if any(p < 0 for p in prices.values()):
        raise DomainError(_l("价格不能为负数。"), field="prices")
    existing = {p.mode: p for p in instrument.prices}
    for mode, row in existing.items():
        if mode not in prices:
            instrument.prices.remove(row)
    for mode, fen in prices.items():
        default_lead = 7 if mode == ServiceMode.ENTRUSTED else 3
        row = existing.get(mode)
        if row is None:
            instrument.prices.append(
                InstrumentPrice(mode=mode, price_fen_per_hour=fen,
                                lead_days=lead_days.get(mode, default_lead))
            )
        else:
            row.price_fen_per_hour = fen
            row.lead_days = lead_days.get(mode, row.lead_days)
    instrument.price_from_fen = min(prices.values()) if prices else None


def create_instrument(provider: Organization, fields: Mapping[str, Any],
                      prices: Mapping[str, int], actor: User | None,
                      lead_days: Mapping[str, int] | None = None,
                      now: datetime | None = None) -> Instrument:
    """Add an instrument to the provider's catalogue."""
    _require_provider(provider)
    instrument = Instrument(provider=provider)
    _apply_instrument_fields(instrument, fields)
    duplicate = db.session.scalar(
        select(Instrument.id).where(
            Instrument.provider_id == provider.id,
            Instrument.internal_no == instrument.internal_no,
        )
    )
    if duplicate is not None:
        raise DomainError(_l("本机构已有相同内部编号的仪器。"), field="internal_no")
    set_prices(instrument, prices, lead_days)
    refresh_instrument_search(instrument)
    db.session.add(instrument)
    db.session.flush()
    record(actor, "instrument.create", "instrument", instrument.id,
           to_state=instrument.status, now=now)
    return instrument


def update_instrument(instrument: Instrument, fields: Mapping[str, Any],
                      prices: Mapping[str, int] | None, actor: User | None,
                      lead_days: Mapping[str, int] | None = None,
                      now: datetime | None = None) -> Instrument:
    """Edit an instrument; a status change is audited with from/to."""
    before = instrument.status
    if "internal_no" in fields and fields["internal_no"] != instrument.internal_no:
        taken = db.session.scalar(
            select(Instrument.id).where(
                Instrument.provider_id == instrument.provider_id,
                Instrument.internal_no == fields["internal_no"],
                Instrument.id != instrument.id,
            )
        )
        if taken is not None:
            raise DomainError(_l("本机构已有相同内部编号的仪器。"), field="internal_no")
    _apply_instrument_fields(instrument, fields)
    if prices is not None:
        set_prices(instrument, prices, lead_days)
    refresh_instrument_search(instrument)
    db.session.flush()
    record(actor, "instrument.update", "instrument", instrument.id,
           from_state=before, to_state=instrument.status, now=now)
    return instrument


def create_service_item(provider: Organization, fields: Mapping[str, Any],
                        actor: User | None, now: datetime | None = None) -> ServiceItem:
    """Add a testing service to the provider's catalogue."""
    _require_provider(provider)
    unknown = set(fields) - SERVICE_ITEM_FIELDS
    if unknown:
        raise ValueError(f"unknown service item fields: {sorted(unknown)}")
    duplicate = db.session.scalar(
        select(ServiceItem.id).where(
            ServiceItem.provider_id == provider.id, ServiceItem.code == fields.get("code")
        )
    )
    if duplicate is not None:
        raise DomainError(_l("本机构已有相同编号的服务项目。"), field="code")
    item = ServiceItem(provider=provider, **fields)
    refresh_service_item_search(item)
    db.session.add(item)
    db.session.flush()
    record(actor, "service_item.create", "service_item", item.id, now=now)
    return item


def update_service_item(item: ServiceItem, fields: Mapping[str, Any], actor: User | None,
                        now: datetime | None = None) -> ServiceItem:
    unknown = set(fields) - SERVICE_ITEM_FIELDS
    if unknown:
        raise ValueError(f"unknown service item fields: {sorted(unknown)}")
    if "code" in fields and fields["code"] != item.code:
        taken = db.session.scalar(
            select(ServiceItem.id).where(
                ServiceItem.provider_id == item.provider_id,
                ServiceItem.code == fields["code"],
                ServiceItem.id != item.id,
            )
        )
        if taken is not None:
            raise DomainError(_l("本机构已有相同编号的服务项目。"), field="code")
    for key, value in fields.items():
        setattr(item, key, value)
    refresh_service_item_search(item)
    db.session.flush()
    record(actor, "service_item.update", "service_item", item.id, now=now)
    return item


def add_downtime(instrument: Instrument, starts_at: datetime, ends_at: datetime,
                 kind: str, reason: str, actor: User | None,
                 now: datetime | None = None) -> Downtime:
    """Block [starts_at, ends_at) for maintenance or closure."""
    now = now or utcnow()
    if ends_at <= starts_at:
        raise DomainError(_l("结束时间必须晚于开始时间。"), field="ends_at")
    if ends_at <= now:
        raise DomainError(_l("停机时段已经结束，无需登记。"), field="ends_at")
    downtime = Downtime(instrument=instrument, starts_at=starts_at, ends_at=ends_at,
                        kind=kind, reason=reason, created_by_id=actor.id if actor else None,
                        created_at=now)
    db.session.add(downtime)
    db.session.flush()
    record(actor, "downtime.create", "instrument", instrument.id, now=now,
           downtime_id=downtime.id, starts_at=starts_at.isoformat(),
           ends_at=ends_at.isoformat())
    return downtime


def remove_downtime(downtime: Downtime, actor: User | None,
                    now: datetime | None = None) -> None:
    record(actor, "downtime.delete", "instrument", downtime.instrument_id, now=now,
           downtime_id=downtime.id)
    db.session.delete(downtime)
    db.session.flush()


# --- scoped look-ups: another tenant's object is "not found" --------------------


def provider_instrument(provider_id: int, instrument_id: int) -> Instrument:
    instrument = db.session.get(Instrument, instrument_id)
    if instrument is None or instrument.provider_id != provider_id:
        raise NotFound(_l("仪器不存在。"))
    return instrument


def provider_service_item(provider_id: int, item_id: int) -> ServiceItem:
    item = db.session.get(ServiceItem, item_id)
    if item is None or item.provider_id != provider_id:
        raise NotFound(_l("服务项目不存在。"))
    return item
