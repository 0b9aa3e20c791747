"""The policy snapshot an order keeps, and the money rules computed from it.

Everything here is a pure function of the snapshot and the times given, so
the rules are tested without a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from instruments.models import Instrument, InstrumentPrice


@dataclass(frozen=True)
class OrderSettings:
    """Platform-wide order rules (from config)."""

    approval_window_hours: int = 48
    confirm_window_days: int = 7
    no_show_grace_minutes: int = 30

    @classmethod
    def from_config(cls, config: Any) -> OrderSettings:
        return cls(
            approval_window_hours=int(config.get("ORDER_APPROVAL_WINDOW_HOURS", 48)),
            confirm_window_days=int(config.get("ORDER_CONFIRM_WINDOW_DAYS", 7)),
            no_show_grace_minutes=int(config.get("NO_SHOW_GRACE_MINUTES", 30)),
        )


def booking_policy(
    instrument: Instrument, price: InstrumentPrice, settings: OrderSettings
) -> dict[str, Any]:
    """What a booking keeps of the instrument's policy when it is placed."""
    return {
        "slot_minutes": instrument.slot_minutes,
        "min_minutes": instrument.min_minutes,
        "max_minutes": instrument.max_minutes,
        "open_weekdays": instrument.open_weekdays,
        "open_from": instrument.open_from.strftime("%H:%M"),
        "open_until": instrument.open_until.strftime("%H:%M"),
        "lead_days": price.lead_days,
        "max_days_ahead": instrument.max_days_ahead,
        "approval_required": instrument.approval_required,
        "cancel_cutoff_hours": instrument.cancel_cutoff_hours,
        "cancel_fee_percent": instrument.cancel_fee_percent,
        "overrun_tolerance_minutes": instrument.overrun_tolerance_minutes,
        "no_show_limit": instrument.no_show_limit,
        "no_show_window_days": instrument.no_show_window_days,
        "approval_window_hours": settings.approval_window_hours,
        "confirm_window_days": settings.confirm_window_days,
        "no_show_grace_minutes": settings.no_show_grace_minutes,
    }


def quote(price_fen_per_hour: int, starts_at: datetime, ends_at: datetime) -> int:
    """Price of the booked interval, in fen, rounded half up to the fen."""
    minutes = int((ends_at - starts_at).total_seconds() // 60)
    return (price_fen_per_hour * minutes + 30) // 60


def usage_charge(
    price_fen_per_hour: int,
    policy: dict[str, Any],
    starts_at: datetime,
    ends_at: datetime,
    checked_in_at: datetime,
    checked_out_at: datetime,
) -> int:
    """The bill for recorded use.

    Billing starts at the booked start even when the firm came late (and at
    check-in if it started early with the provider's leave). The booked time
    is always billed. An overrun past the booked end within the tolerance is
    free; beyond it, the overrun is billed in whole hours, rounded up.
    """
    billed_start = min(checked_in_at, starts_at)
    minutes = (ends_at - billed_start).total_seconds() / 60
    overrun = (checked_out_at - ends_at).total_seconds() / 60
    if overrun > policy["overrun_tolerance_minutes"]:
        minutes += math.ceil(overrun / 60) * 60
    return (price_fen_per_hour * int(minutes) + 30) // 60


def cancellation_fee(
    quote_fen: int, policy: dict[str, Any], starts_at: datetime, now: datetime, approved: bool
) -> int:
    """Free before the cut-off or while still a request; after the cut-off the
    policy's percentage of the quote."""
    if not approved:
        return 0
    if now < starts_at - timedelta(hours=policy["cancel_cutoff_hours"]):
        return 0
    return quote_fen * int(policy["cancel_fee_percent"]) // 100
