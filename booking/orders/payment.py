"""How an order is paid, beyond the firm's own money.

The quote page asks every subscriber of `payment_options` what else could pay
for the draft order (the voucher side answers with one option per grant, each
with its split or the reason it cannot pay); the firm picks one and its key
travels with the `place` event. Detail pages ask `payment_summary` for the
split of a placed order. Dependency direction stays accounts ← instruments ←
orders ← vouchers: this module defines the shapes, vouchers fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from booking.orders.signals import payment_options, payment_summary

if TYPE_CHECKING:
    from booking.accounts.models import Organization, User

INSTRUMENT_TIME = "instrument_time"
TESTING_SERVICE = "testing_service"
OWN_PAYMENT = ""  # the option key for "the firm pays everything itself"


@dataclass(frozen=True)
class OrderDraft:
    """What a payment option needs to know about an order not yet placed."""

    enterprise: Organization
    provider: Organization
    service_kind: str  # INSTRUMENT_TIME or TESTING_SERVICE
    item_key: str  # "instrument:<id>" or "service:<id>", for split-order detection
    price_fen: int


@dataclass(frozen=True)
class PaymentOption:
    key: str  # posted back with the confirm form
    label: str
    share_fen: int  # paid by the option (0 when refused)
    own_fen: int  # left for the firm to pay
    refusal: str | None = None  # why this option cannot pay for this order
    note: str = ""  # e.g. "reimbursed after the claim is paid"

    @property
    def usable(self) -> bool:
        return self.refusal is None and self.share_fen > 0


@dataclass(frozen=True)
class PaymentLine:
    label: str
    amount_fen: int
    status: str = ""
    url: str | None = None


def options_for(draft: OrderDraft, user: User, now: datetime) -> list[PaymentOption]:
    return [
        option
        for _receiver, options in payment_options.send(draft, user=user, now=now)
        for option in (options or [])
    ]


def summary_for(order: Any) -> list[PaymentLine]:
    return [line for _receiver, lines in payment_summary.send(order) for line in (lines or [])]
