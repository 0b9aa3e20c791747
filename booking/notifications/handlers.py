"""Who hears about an order's state change.

The order engine announces every change on `booking.orders.signals.order_changed`
(sender: the Booking or ServiceOrder; kwargs actor, action, now). The
receivers here turn the changes someone must act on into in-app
notifications, inside the transaction of the change, so a rolled-back
change notifies nobody:

- placed (still a request) -> the provider's staff must approve or reject;
- approved / accepted, rejected, completed -> the firm's booker;
- cancelled -> the other side (the provider when the firm cancelled, the
  booker when the provider or the system did).

Changes made by the scheduler's jobs (expire, no-show, auto-close) are
notified by the jobs themselves, which reuse the helpers below; the
receivers ignore those actions so nobody hears twice.

Blinker signals are process-wide, so connecting is too: `init_app` may be
called once per app (or per test app) and connects each receiver once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import select

from booking.accounts.models import User
from booking.extensions import db
from booking.notifications.services import notify
from booking.orders.clock import local
from booking.orders.models import Booking, OrderStatus, ServiceOrder
from booking.orders.signals import order_changed

Order = Booking | ServiceOrder


# --- helpers shared with the jobs ------------------------------------------------------


def firm_link(order: Order) -> str:
    """Where the firm sees the order (the enterprise space)."""
    if isinstance(order, Booking):
        return f"/my/orders/booking/{order.id}"
    return f"/my/orders/service/{order.id}"


def provider_link(order: Order) -> str:
    """Where the provider's staff handle the order (the provider dashboard)."""
    if isinstance(order, Booking):
        return f"/provider/bookings/{order.id}"
    return f"/provider/service-orders/{order.id}"


def prefix(order: Order) -> str:
    """The notification-kind family of the order: 'booking' or 'service_order'."""
    return "booking" if isinstance(order, Booking) else "service_order"


def when(booking: Booking) -> str:
    """The booked interval as the reader sees it: Asia/Shanghai wall clock."""
    start, end = local(booking.starts_at), local(booking.ends_at)
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"


def order_params(order: Order) -> dict[str, Any]:
    """The message parameters every kind of the order's family may use."""
    if isinstance(order, Booking):
        return {
            "instrument": order.instrument.name_zh,
            "when": when(order),
            "enterprise": order.enterprise.name_zh,
        }
    return {
        "item": order.service_item.name_zh,
        "quantity": order.quantity,
        "week": order.week_start.isoformat(),
        "enterprise": order.enterprise.name_zh,
    }


def provider_id_of(order: Order) -> int:
    if isinstance(order, Booking):
        return order.instrument.provider_id
    return order.service_item.provider_id


def organization_users(organization_id: int) -> list[User]:
    """Every active user of an organization (notify skips inactive ones too)."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.organization_id == organization_id, User.active.is_(True))
            .order_by(User.id)
        )
    )


def notify_firm(order: Order, kind: str, now: datetime, **extra: Any) -> None:
    """Tell the user who placed the order."""
    notify([order.user], kind, now, link=firm_link(order), **order_params(order), **extra)


def notify_provider(order: Order, kind: str, now: datetime, **extra: Any) -> None:
    """Tell every active staff member of the order's provider."""
    notify(
        organization_users(provider_id_of(order)),
        kind,
        now,
        link=provider_link(order),
        **order_params(order),
        **extra,
    )


# --- receivers ---------------------------------------------------------------------------


def _placed(order: Order, actor: User | None, now: datetime) -> None:
    # A booking that confirmed at once needs nobody's action.
    if order.status == OrderStatus.REQUESTED:
        notify_provider(order, f"{prefix(order)}.requested", now)


def _approved(order: Order, actor: User | None, now: datetime) -> None:
    kind = "booking.confirmed" if isinstance(order, Booking) else "service_order.accepted"
    notify_firm(order, kind, now)


def _rejected(order: Order, actor: User | None, now: datetime) -> None:
    notify_firm(order, f"{prefix(order)}.rejected", now, reason=_reason(order))


def _reason(order: Order) -> str:
    """The rejection reason (the reject services set it before announcing)."""
    return order.decision_reason or ""


def _cancelled(order: Order, actor: User | None, now: datetime) -> None:
    if actor is not None and actor.organization_id == order.enterprise_id:
        notify_provider(order, f"{prefix(order)}.cancelled", now)
    else:
        notify_firm(order, f"{prefix(order)}.cancelled", now)


def _completed(order: Order, actor: User | None, now: datetime) -> None:
    notify_firm(order, f"{prefix(order)}.completed", now)


RECEIVERS: dict[str, Callable[[Order, User | None, datetime], None]] = {
    "place": _placed,
    "approve": _approved,  # bookings
    "accept": _approved,  # service orders
    "reject": _rejected,
    "cancel": _cancelled,
    "complete": _completed,
}


def on_order_changed(sender: Any, **kwargs: Any) -> None:
    """The one receiver: dispatch on the action, ignore what needs no one."""
    if not isinstance(sender, Booking | ServiceOrder):
        return
    receiver = RECEIVERS.get(str(kwargs.get("action", "")))
    if receiver is None:
        return
    receiver(sender, kwargs.get("actor"), kwargs["now"])


def init_app(app: Flask) -> None:
    """Connect the receivers (idempotent; signals are process-wide)."""
    order_changed.connect(on_order_changed, weak=False)
