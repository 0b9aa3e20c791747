"""Orders: instrument-time bookings and per-sample service orders, training
authorisations, enterprise suspensions, in-app notifications.

Both kinds of order carry a snapshot of price and policy taken when placed:
later changes to the catalogue never change an order.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.accounts.models import Organization, User
from booking.db import PostgresOnly
from booking.extensions import Model, Money, utcnow
from instruments.models import Instrument, ServiceItem


class OrderStatus(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    IN_USE = "in_use"
    COMPLETED = "completed"
    CLOSED = "closed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES


# Active orders hold their slot (bookings) or capacity (service orders).
ACTIVE_STATUSES = (OrderStatus.REQUESTED, OrderStatus.CONFIRMED, OrderStatus.IN_USE)
_ACTIVE_SQL = "status IN ('requested', 'confirmed', 'in_use')"
_STATUS_SQL = "status IN (" + ", ".join(f"'{s.value}'" for s in OrderStatus) + ")"


class Booking(Model):
    """Instrument time [starts_at, ends_at) for one enterprise."""

    __tablename__ = "booking"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="interval_order"),
        CheckConstraint(_STATUS_SQL, name="status_known"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("quote_fen >= 0 AND price_fen_per_hour >= 0", name="money_nonnegative"),
        # No two active bookings of one instrument overlap, whatever code path
        # writes (DESIGN.md §3.1). PostgreSQL only; SQLite serialises writers.
        ExcludeConstraint(
            ("instrument_id", "="),
            (func.tstzrange(text("starts_at"), text("ends_at"), "[)"), "&&"),
            where=text(_ACTIVE_SQL),
            using="gist",
            name="ex_booking_no_overlap",
            info=PostgresOnly,
        ),
        Index("ix_booking_instrument_window", "instrument_id", "starts_at", "ends_at"),
        Index("ix_booking_enterprise_status", "enterprise_id", "status"),
        Index("ix_booking_status_starts", "status", "starts_at"),
        Index("ix_booking_status_respond_by", "status", "respond_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    service_mode: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.REQUESTED)
    purpose: Mapped[str] = mapped_column(String(500), default="")
    sample_notes: Mapped[str] = mapped_column(String(500), default="")

    # Snapshot at placement.
    price_fen_per_hour: Mapped[int] = mapped_column(Money)
    quote_fen: Mapped[int] = mapped_column(Money)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)

    # A retried submission carries the same key and finds the first booking.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    # A request not approved by then expires (the scheduler's sweep).
    respond_by: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]  # 上机
    checked_out_at: Mapped[datetime | None]  # 下机
    charge_fen: Mapped[int | None] = mapped_column(Money)
    cancellation_fee_fen: Mapped[int | None] = mapped_column(Money)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    completed_at: Mapped[datetime | None]
    firm_confirmed_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    reminded_at: Mapped[datetime | None]

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    instrument: Mapped[Instrument] = relationship()
    enterprise: Mapped[Organization] = relationship()
    user: Mapped[User] = relationship()

    @property
    def hours(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 3600


class ServiceOrder(Model):
    """Testing of `quantity` samples on a service item, in a capacity week."""

    __tablename__ = "service_order"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(_STATUS_SQL, name="status_known"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("quote_fen >= 0 AND unit_price_fen >= 0", name="money_nonnegative"),
        Index("ix_service_order_item_week", "service_item_id", "week_start", "status"),
        Index("ix_service_order_enterprise_status", "enterprise_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_item_id: Mapped[int] = mapped_column(ForeignKey("service_item.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    # Monday (Asia/Shanghai) of the week whose capacity the samples use.
    week_start: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.REQUESTED)
    purpose: Mapped[str] = mapped_column(String(500), default="")
    sample_notes: Mapped[str] = mapped_column(String(500), default="")

    unit_price_fen: Mapped[int] = mapped_column(Money)
    quote_fen: Mapped[int] = mapped_column(Money)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    respond_by: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[datetime | None]
    samples_received_at: Mapped[datetime | None]
    samples_tested: Mapped[int | None] = mapped_column(Integer)
    report_path: Mapped[str | None] = mapped_column(String(255))
    report_name: Mapped[str | None] = mapped_column(String(255))
    report_uploaded_at: Mapped[datetime | None]
    charge_fen: Mapped[int | None] = mapped_column(Money)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    completed_at: Mapped[datetime | None]
    firm_confirmed_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(500))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    service_item: Mapped[ServiceItem] = relationship()
    enterprise: Mapped[Organization] = relationship()
    user: Mapped[User] = relationship()


class TrainingAuthorisation(Model):
    """A provider's record that a user may operate an instrument themselves."""

    __tablename__ = "training_authorisation"
    __table_args__ = (UniqueConstraint("instrument_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(String(255), default="")

    instrument: Mapped[Instrument] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Suspension(Model):
    """An enterprise barred from booking after repeated no-shows, until
    `ends_at`; the lift job stamps `lifted_at` when the window has passed."""

    __tablename__ = "suspension"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_order"),
        Index("ix_suspension_enterprise_open", "enterprise_id", "lifted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instrument.id"))
    reason: Mapped[str] = mapped_column(String(255), default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    lifted_at: Mapped[datetime | None]


class UtilisationSnapshot(Model):
    """Monthly figures per instrument, as the authorities report them:
    有效工作机时 (recorded use), 对外服务机时 (use by other organisations),
    共享率 = external / effective, income and users served. Written by the
    `orders.snapshot_utilisation` job; re-running it overwrites the month."""

    __tablename__ = "utilisation_snapshot"
    __table_args__ = (UniqueConstraint("instrument_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"))
    month: Mapped[date] = mapped_column(Date)  # first day of the month (Asia/Shanghai)
    effective_minutes: Mapped[int] = mapped_column(Integer, default=0)
    external_minutes: Mapped[int] = mapped_column(Integer, default=0)
    bookings: Mapped[int] = mapped_column(Integer, default=0)
    users_served: Mapped[int] = mapped_column(Integer, default=0)
    income_fen: Mapped[int] = mapped_column(Money, default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def sharing_rate(self) -> float | None:
        if not self.effective_minutes:
            return None
        return self.external_minutes / self.effective_minutes


class InternalUse(Model):
    """The provider's own use of an instrument (科研/教学 by its own staff).
    It counts toward 有效工作机时 but not 对外服务机时, so 共享率 means what
    the authorities report. It blocks no booking slot: providers record it
    after the fact, as they record usage of bookings."""

    __tablename__ = "internal_use"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="interval_order"),
        Index("ix_internal_use_instrument_starts", "instrument_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    purpose: Mapped[str] = mapped_column(String(255), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided_at: Mapped[datetime | None]  # a wrong entry is voided, not deleted (audit)

    instrument: Mapped[Instrument] = relationship()
