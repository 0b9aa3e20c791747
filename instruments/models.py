"""The shared catalogue: instruments with their service modes and booking
policy, downtime windows, and testing service items."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.accounts.models import Organization
from booking.db import PostgresOnly
from booking.extensions import Model, Money, utcnow
from instruments.search import token_array_type


class InstrumentStatus(StrEnum):
    """运行状态. Only the first four can be booked."""

    NORMAL = "normal"  # 正常
    STANDBY = "standby"  # 待机
    REMOTE = "remote"  # 远程服务中
    OCCASIONAL_FAULT = "occasional_fault"  # 偶有故障
    FREQUENT_FAULT = "frequent_fault"  # 故障频繁
    AWAITING_REPAIR = "awaiting_repair"  # 待修
    AWAITING_DISPOSAL = "awaiting_disposal"  # 待报废

    @property
    def bookable(self) -> bool:
        return self in BOOKABLE_STATUSES


BOOKABLE_STATUSES = frozenset(
    {
        InstrumentStatus.NORMAL,
        InstrumentStatus.STANDBY,
        InstrumentStatus.REMOTE,
        InstrumentStatus.OCCASIONAL_FAULT,
    }
)


class SharingMode(StrEnum):
    """共享模式. Only external sharing is offered to firms."""

    INTERNAL = "internal"
    EXTERNAL = "external"
    NONE = "none"


class ServiceMode(StrEnum):
    """服务方式: who operates the instrument."""

    OCCUPY = "occupy"  # 占用共享: the firm operates, after training
    TECHNICAL = "technical"  # 技术共享: the firm operates under guidance
    ENTRUSTED = "entrusted"  # 委托共享: provider staff operate (送样)
    REMOTE = "remote"  # 远程共享

    @property
    def needs_training(self) -> bool:
        return self is ServiceMode.OCCUPY


class InstrumentSource(StrEnum):
    PURCHASED = "purchased"
    BUILT = "built"
    DONATED = "donated"


class DowntimeKind(StrEnum):
    MAINTENANCE = "maintenance"
    CLOSURE = "closure"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Instrument(Model):
    __tablename__ = "instrument"
    __table_args__ = (
        UniqueConstraint("provider_id", "internal_no"),
        CheckConstraint(_in("status", InstrumentStatus), name="status_known"),
        CheckConstraint(_in("sharing_mode", SharingMode), name="sharing_mode_known"),
        CheckConstraint(_in("source", InstrumentSource), name="source_known"),
        CheckConstraint("original_value_fen >= 0", name="original_value_nonnegative"),
        CheckConstraint("slot_minutes > 0", name="slot_positive"),
        CheckConstraint("min_minutes > 0 AND max_minutes >= min_minutes", name="duration_range"),
        CheckConstraint("open_until > open_from", name="opening_hours_order"),
        CheckConstraint("max_days_ahead > 0", name="max_days_ahead_positive"),
        Index("ix_instrument_listing", "sharing_mode", "category_code", "status"),
        Index(
            "ix_instrument_search_tokens",
            "search_tokens",
            postgresql_using="gin",
            postgresql_ops={"search_tokens": "array_ops"},
            info=PostgresOnly,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    internal_no: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    classification_code: Mapped[str] = mapped_column(String(6))
    category_code: Mapped[str] = mapped_column(String(2))
    model: Mapped[str] = mapped_column(String(128), default="")
    manufacturer: Mapped[str] = mapped_column(String(128), default="")
    country_of_origin: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(16), default=InstrumentSource.PURCHASED)
    original_value_fen: Mapped[int] = mapped_column(Money, default=0)  # 原值
    commissioned_on: Mapped[date | None] = mapped_column(Date)
    location: Mapped[str] = mapped_column(String(255), default="")
    contact_name: Mapped[str] = mapped_column(String(64), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    specifications: Mapped[str] = mapped_column(String(500), default="")
    functions: Mapped[str] = mapped_column(String(300), default="")
    subject_areas: Mapped[str] = mapped_column(String(255), default="")
    service_content: Mapped[str] = mapped_column(Text, default="")
    sharing_rules: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=InstrumentStatus.NORMAL)
    sharing_mode: Mapped[str] = mapped_column(String(16), default=SharingMode.EXTERNAL)

    # Booking policy (see DOMAIN.md "Booking norms"): every value is per instrument.
    slot_minutes: Mapped[int] = mapped_column(Integer, default=60)
    min_minutes: Mapped[int] = mapped_column(Integer, default=60)
    max_minutes: Mapped[int] = mapped_column(Integer, default=480)
    open_weekdays: Mapped[str] = mapped_column(String(7), default="12345")  # ISO 1=Mon
    open_from: Mapped[time] = mapped_column(Time, default=time(8, 30))
    open_until: Mapped[time] = mapped_column(Time, default=time(17, 30))
    max_days_ahead: Mapped[int] = mapped_column(Integer, default=60)
    approval_required: Mapped[bool] = mapped_column(Boolean, default=True)
    cancel_cutoff_hours: Mapped[int] = mapped_column(Integer, default=24)
    cancel_fee_percent: Mapped[int] = mapped_column(Integer, default=0)
    overrun_tolerance_minutes: Mapped[int] = mapped_column(Integer, default=30)
    no_show_limit: Mapped[int] = mapped_column(Integer, default=3)
    no_show_window_days: Mapped[int] = mapped_column(Integer, default=90)
    max_hours_per_week: Mapped[int | None] = mapped_column(Integer)  # per enterprise
    max_future_bookings: Mapped[int | None] = mapped_column(Integer)  # per enterprise

    # Lowest hourly price over its service modes; kept by services.set_prices so
    # that sorting and price filters at 100,000 rows need no aggregate.
    price_from_fen: Mapped[int | None] = mapped_column(Money, index=True)

    search_text: Mapped[str] = mapped_column(Text, default="")
    search_tokens: Mapped[list[str]] = mapped_column(token_array_type(), default=list)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    provider: Mapped[Organization] = relationship()
    prices: Mapped[list[InstrumentPrice]] = relationship(
        back_populates="instrument", cascade="all, delete-orphan", order_by="InstrumentPrice.mode"
    )
    downtimes: Mapped[list[Downtime]] = relationship(
        back_populates="instrument", cascade="all, delete-orphan", order_by="Downtime.starts_at"
    )

    @property
    def is_bookable(self) -> bool:
        return (
            self.sharing_mode == SharingMode.EXTERNAL
            and InstrumentStatus(self.status) in BOOKABLE_STATUSES
        )

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name_zh

    def price_for(self, mode: str) -> InstrumentPrice | None:
        return next((p for p in self.prices if p.mode == mode), None)


class InstrumentPrice(Model):
    """The hourly fee (机时费) and lead time of one service mode of an instrument."""

    __tablename__ = "instrument_price"
    __table_args__ = (
        CheckConstraint(_in("mode", ServiceMode), name="mode_known"),
        CheckConstraint("price_fen_per_hour >= 0", name="price_nonnegative"),
        CheckConstraint("lead_days >= 0", name="lead_nonnegative"),
    )

    instrument_id: Mapped[int] = mapped_column(
        ForeignKey("instrument.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16), primary_key=True)
    price_fen_per_hour: Mapped[int] = mapped_column(Money)
    # Bookings in this mode must start at least this many days ahead
    # (operator-run ≥ 7, self-operated ≥ 3 at many facilities).
    lead_days: Mapped[int] = mapped_column(Integer, default=3)

    instrument: Mapped[Instrument] = relationship(back_populates="prices")


class Downtime(Model):
    """A maintenance or closure window, [starts_at, ends_at), that blocks booking."""

    __tablename__ = "downtime"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_order"),
        CheckConstraint(_in("kind", DowntimeKind), name="kind_known"),
        Index("ix_downtime_instrument_window", "instrument_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default=DowntimeKind.MAINTENANCE)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    instrument: Mapped[Instrument] = relationship(back_populates="downtimes")


class ServiceItem(Model):
    """A testing service (检验检测服务) priced per sample."""

    __tablename__ = "service_item"
    __table_args__ = (
        UniqueConstraint("provider_id", "code"),
        CheckConstraint("unit_price_fen >= 0", name="price_nonnegative"),
        CheckConstraint("turnaround_days > 0", name="turnaround_positive"),
        CheckConstraint("weekly_capacity > 0", name="capacity_positive"),
        Index(
            "ix_service_item_search_tokens",
            "search_tokens",
            postgresql_using="gin",
            postgresql_ops={"search_tokens": "array_ops"},
            info=PostgresOnly,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(32), index=True)
    method_standard: Mapped[str] = mapped_column(String(255), default="")
    sample_requirements: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    unit_price_fen: Mapped[int] = mapped_column(Money, index=True)
    turnaround_days: Mapped[int] = mapped_column(Integer, default=7)
    weekly_capacity: Mapped[int] = mapped_column(Integer, default=20)
    cma_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    cnas_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instrument.id"))

    search_text: Mapped[str] = mapped_column(Text, default="")
    search_tokens: Mapped[list[str]] = mapped_column(token_array_type(), default=list)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    provider: Mapped[Organization] = relationship()
    instrument: Mapped[Instrument | None] = relationship()

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name_zh
