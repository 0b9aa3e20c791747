"""Catalogue use cases: creating and editing instruments and service items,
their prices and downtime. Services flush; the caller commits once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.services import record
from booking.errors import DomainError, NotFound, PermissionDenied
from booking.extensions import db, utcnow
from instruments.classification import SERVICE_CATEGORY_CODES, is_valid_code
from instruments.models import (
    Downtime,
    DowntimeKind,
    Instrument,
    InstrumentPrice,
    InstrumentSource,
    InstrumentStatus,
    ServiceItem,
    ServiceMode,
    SharingMode,
)
from instruments.search import search_fields

INSTRUMENT_FIELDS = frozenset(
    c.key
    for c in Instrument.__table__.columns
    if c.key
    not in {
        "id",
        "provider_id",
        "category_code",
        "price_from_fen",
        "search_text",
        "search_tokens",
        "created_at",
        "updated_at",
    }
)
SERVICE_ITEM_FIELDS = frozenset(
    c.key
    for c in ServiceItem.__table__.columns
    if c.key
    not in {"id", "provider_id", "search_text", "search_tokens", "created_at", "updated_at"}
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
    _check_instrument_rules(instrument)


def _check_instrument_rules(instrument: Instrument) -> None:
    """The catalogue rules the database also guards (CHECK constraints), said
    in words the provider understands. Unset values (None before the first
    flush) take the column default and are not checked here."""
    for key, enum in (
        ("status", InstrumentStatus),
        ("sharing_mode", SharingMode),
        ("source", InstrumentSource),
    ):
        value = getattr(instrument, key)
        if value is not None and value not in set(enum):
            raise DomainError(_l("取值无效。"), field=key)
    if (instrument.original_value_fen or 0) < 0:
        raise DomainError(_l("原值不能为负数。"), field="original_value_fen")
    for key in ("slot_minutes", "min_minutes", "max_days_ahead"):
        value = getattr(instrument, key)
        if value is not None and value <= 0:
            raise DomainError(_l("必须大于 0。"), field=key)
    low, high = instrument.min_minutes, instrument.max_minutes
    if low is not None and high is not None and high < low:
        raise DomainError(_l("最长预约时长不能短于最短预约时长。"), field="max_minutes")
    opens, closes = instrument.open_from, instrument.open_until
    if opens is not None and closes is not None and closes <= opens:
        raise DomainError(_l("结束开放时间必须晚于开始开放时间。"), field="open_until")
    weekdays = instrument.open_weekdays
    if weekdays is not None and (
        not weekdays
        or any(d not in "1234567" for d in weekdays)
        or len(set(weekdays)) != len(weekdays)
    ):
        raise DomainError(_l("请至少选择一个开放日。"), field="open_weekdays")
    fee = instrument.cancel_fee_percent
    if fee is not None and not 0 <= fee <= 100:
        raise DomainError(_l("取消费比例应在 0 到 100 之间。"), field="cancel_fee_percent")


def _check_offered(instrument: Instrument) -> None:
    """An externally shared instrument is offered to firms, so it needs a price."""
    if instrument.sharing_mode == SharingMode.EXTERNAL and not instrument.prices:
        raise DomainError(_l("对外共享的仪器至少需要提供一种服务方式及其价格。"), field="prices")


def set_prices(
    instrument: Instrument, prices: Mapping[str, int], lead_days: Mapping[str, int] | None = None
) -> None:
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
        current = existing.get(mode)
        if current is None:
            instrument.prices.append(
                InstrumentPrice(
                    mode=mode, price_fen_per_hour=fen, lead_days=lead_days.get(mode, default_lead)
                )
            )
        else:
            current.price_fen_per_hour = fen
            current.lead_days = lead_days.get(mode, current.lead_days)
    instrument.price_from_fen = min(prices.values()) if prices else None


def create_instrument(
    provider: Organization,
    fields: Mapping[str, Any],
    prices: Mapping[str, int],
    actor: User | None,
    lead_days: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> Instrument:
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
    if instrument.sharing_mode is None:
        instrument.sharing_mode = SharingMode.EXTERNAL  # the column default, needed now
    _check_offered(instrument)
    refresh_instrument_search(instrument)
    db.session.add(instrument)
    db.session.flush()
    record(
        actor, "instrument.create", "instrument", instrument.id, to_state=instrument.status, now=now
    )
    return instrument


def update_instrument(
    instrument: Instrument,
    fields: Mapping[str, Any],
    prices: Mapping[str, int] | None,
    actor: User | None,
    lead_days: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> Instrument:
    """Edit an instrument; a status change is audited with from/to, and the
    event names the fields that changed and the prices before and after."""
    before = instrument.status
    changed = sorted(k for k, v in fields.items() if getattr(instrument, k) != v)
    prices_before = {p.mode: [p.price_fen_per_hour, p.lead_days] for p in instrument.prices}
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
    _check_offered(instrument)
    refresh_instrument_search(instrument)
    db.session.flush()
    prices_after = {p.mode: [p.price_fen_per_hour, p.lead_days] for p in instrument.prices}
    detail: dict[str, Any] = {"changed": changed}
    if prices_after != prices_before:
        detail.update(prices_before=prices_before, prices_after=prices_after)
    record(
        actor,
        "instrument.update",
        "instrument",
        instrument.id,
        from_state=before,
        to_state=instrument.status,
        now=now,
        **detail,
    )
    return instrument


def create_service_item(
    provider: Organization,
    fields: Mapping[str, Any],
    actor: User | None,
    now: datetime | None = None,
) -> ServiceItem:
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
    _check_service_item_rules(item)
    refresh_service_item_search(item)
    db.session.add(item)
    db.session.flush()
    record(actor, "service_item.create", "service_item", item.id, now=now)
    return item


def update_service_item(
    item: ServiceItem, fields: Mapping[str, Any], actor: User | None, now: datetime | None = None
) -> ServiceItem:
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
    changed = sorted(k for k, v in fields.items() if getattr(item, k) != v)
    price_before = item.unit_price_fen
    for key, value in fields.items():
        setattr(item, key, value)
    _check_service_item_rules(item)
    refresh_service_item_search(item)
    db.session.flush()
    detail: dict[str, Any] = {"changed": changed}
    if item.unit_price_fen != price_before:
        detail.update(price_before=price_before, price_after=item.unit_price_fen)
    record(actor, "service_item.update", "service_item", item.id, now=now, **detail)
    return item


def _check_service_item_rules(item: ServiceItem) -> None:
    """The service-item rules the database also guards, as user-facing errors."""
    if item.category not in SERVICE_CATEGORY_CODES:
        raise DomainError(_l("服务类别无效。"), field="category")
    if item.unit_price_fen is None or item.unit_price_fen < 0:
        raise DomainError(_l("单价不能为负数。"), field="unit_price_fen")
    for key in ("turnaround_days", "weekly_capacity"):
        value = getattr(item, key)
        if value is not None and value <= 0:
            raise DomainError(_l("必须大于 0。"), field=key)


def add_downtime(
    instrument: Instrument,
    starts_at: datetime,
    ends_at: datetime,
    kind: str,
    reason: str,
    actor: User | None,
    now: datetime | None = None,
) -> Downtime:
    """Block [starts_at, ends_at) for maintenance or closure."""
    now = now or utcnow()
    if ends_at <= starts_at:
        raise DomainError(_l("结束时间必须晚于开始时间。"), field="ends_at")
    if ends_at <= now:
        raise DomainError(_l("停机时段已经结束，无需登记。"), field="ends_at")
    if kind not in set(DowntimeKind):
        raise DomainError(_l("取值无效。"), field="kind")
    downtime = Downtime(
        instrument=instrument,
        starts_at=starts_at,
        ends_at=ends_at,
        kind=kind,
        reason=reason,
        created_by_id=actor.id if actor else None,
        created_at=now,
    )
    db.session.add(downtime)
    db.session.flush()
    record(
        actor,
        "downtime.create",
        "instrument",
        instrument.id,
        now=now,
        downtime_id=downtime.id,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
    )
    return downtime


def remove_downtime(downtime: Downtime, actor: User | None, now: datetime | None = None) -> None:
    record(
        actor,
        "downtime.delete",
        "instrument",
        downtime.instrument_id,
        now=now,
        downtime_id=downtime.id,
    )
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


def provider_downtime(provider_id: int, instrument_id: int, downtime_id: int) -> Downtime:
    downtime = db.session.get(Downtime, downtime_id)
    if (
        downtime is None
        or downtime.instrument_id != instrument_id
        or downtime.instrument.provider_id != provider_id
    ):
        raise NotFound(_l("停机时段不存在。"))
    return downtime


# --- the provider's own catalogue, as lists --------------------------------------

INSTRUMENT_SORTS: dict[str, Any] = {
    "internal_no": Instrument.internal_no,
    "name": Instrument.name_zh,
    "status": Instrument.status,
    "sharing_mode": Instrument.sharing_mode,
    "price": Instrument.price_from_fen,
    "updated": Instrument.updated_at,
}
SERVICE_ITEM_SORTS: dict[str, Any] = {
    "code": ServiceItem.code,
    "name": ServiceItem.name_zh,
    "category": ServiceItem.category,
    "price": ServiceItem.unit_price_fen,
    "turnaround": ServiceItem.turnaround_days,
    "updated": ServiceItem.updated_at,
}


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _order(stmt: Select[Any], sorts: Mapping[str, Any], sort: str, tiebreak: Any) -> Select[Any]:
    column = sorts[sort.lstrip("-")]
    if sort.startswith("-"):
        return stmt.order_by(column.desc().nulls_last(), tiebreak.desc())
    return stmt.order_by(column.asc().nulls_last(), tiebreak)


def provider_instruments(
    provider_id: int, *, status: str | None = None, sort: str = "internal_no", q: str | None = None
) -> Select[tuple[Instrument]]:
    """The provider's own instruments, filtered and sorted; `sort` must be a key
    of INSTRUMENT_SORTS, optionally prefixed with "-" for descending."""
    stmt = select(Instrument).where(Instrument.provider_id == provider_id)
    if status:
        stmt = stmt.where(Instrument.status == status)
    if q:
        pattern = _like(q)
        stmt = stmt.where(
            or_(
                Instrument.internal_no.like(pattern, escape="\\"),
                Instrument.name_zh.like(pattern, escape="\\"),
                Instrument.name_en.like(pattern, escape="\\"),
                Instrument.model.like(pattern, escape="\\"),
            )
        )
    return _order(stmt, INSTRUMENT_SORTS, sort, Instrument.id)


def provider_instrument_status_counts(provider_id: int) -> dict[str, int]:
    """How many of the provider's instruments are in each status."""
    rows = db.session.execute(
        select(Instrument.status, func.count())
        .where(Instrument.provider_id == provider_id)
        .group_by(Instrument.status)
    )
    return {status: int(count) for status, count in rows}


def provider_service_items(
    provider_id: int, *, active: bool | None = None, sort: str = "code", q: str | None = None
) -> Select[tuple[ServiceItem]]:
    """The provider's own service items, filtered and sorted (see SERVICE_ITEM_SORTS)."""
    stmt = select(ServiceItem).where(ServiceItem.provider_id == provider_id)
    if active is not None:
        stmt = stmt.where(ServiceItem.active.is_(active))
    if q:
        pattern = _like(q)
        stmt = stmt.where(
            or_(
                ServiceItem.code.like(pattern, escape="\\"),
                ServiceItem.name_zh.like(pattern, escape="\\"),
                ServiceItem.name_en.like(pattern, escape="\\"),
                ServiceItem.method_standard.like(pattern, escape="\\"),
            )
        )
    return _order(stmt, SERVICE_ITEM_SORTS, sort, ServiceItem.id)
