"""The order engine's scheduled sweeps.

Each job is a plain function of `now` that changes every row due before
`now` with one conditional UPDATE ... RETURNING (so it is set-based and a
concurrent change of the same row by a person wins or loses cleanly), then
writes one audit event (actor None: the system) and the notifications for
each changed row, and announces status changes on `order_changed` (actor
None) so listeners such as vouchers can react in the same transaction.

Running a job twice changes nothing the second time: the UPDATE's WHERE no
longer matches. Jobs flush; the scheduler or the CLI commits once.

Per-order rules (no-show grace, confirmation window, no-show limit and
window) come from the order's policy snapshot; the app config fills in for
orders whose snapshot lacks a key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from booking.audit.services import record
from booking.extensions import UTCDateTime, db
from booking.notifications.handlers import notify_firm, organization_users
from booking.notifications.services import notify
from booking.orders.clock import local
from booking.orders.models import Booking, OrderStatus, ServiceOrder, Suspension
from booking.orders.signals import order_changed
from booking.orders.utilisation import month_label, month_start, previous_month, snapshot_month
from instruments.models import ServiceItem

# Reminders go out for confirmed bookings starting within this many hours.
REMINDER_HOURS = 24
# Ids per IN (...) when loading changed rows (SQLite caps bound parameters).
CHUNK = 500

M = TypeVar("M", Booking, ServiceOrder, Suspension)


# --- SQL: a timestamp plus a per-row number of minutes -------------------------------------


class plus_minutes(FunctionElement[datetime]):
    """`moment + minutes` (minutes: any integer SQL expression), on either database."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(plus_minutes, "postgresql")
def _plus_minutes_pg(element: plus_minutes, compiler: SQLCompiler, **kw: Any) -> str:
    moment, minutes = list(element.clauses)
    return (
        f"({compiler.process(moment, **kw)} + "
        f"CAST({compiler.process(minutes, **kw)} AS INTEGER) * INTERVAL '1 minute')"
    )


@compiles(plus_minutes, "sqlite")
def _plus_minutes_sqlite(element: plus_minutes, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' text; strftime's %f
    # (seconds with milliseconds) keeps the result comparable as text.
    moment, minutes = list(element.clauses)
    return (
        f"strftime('%Y-%m-%d %H:%M:%f', {compiler.process(moment, **kw)}, "
        f"'+' || CAST({compiler.process(minutes, **kw)} AS INTEGER) || ' minutes')"
    )


def _policy_int(
    model: type[Booking] | type[ServiceOrder], key: str, default: int
) -> ColumnElement[int]:
    """The order's snapshot value for `key`, or `default` when it has none."""
    return func.coalesce(model.policy[key].as_integer(), default)


def _config_int(key: str, default: int) -> int:
    return int(current_app.config.get(key, default))


# --- plumbing ------------------------------------------------------------------------------


def _sweep(model: type[M], values: dict[str, Any], *due: ColumnElement[bool]) -> list[int]:
    """UPDATE model SET values WHERE due RETURNING id: the rows this run changed."""
    result = db.session.execute(
        update(model).where(*due).values(**values).returning(model.id),
        execution_options={"synchronize_session": False},
    )
    return sorted(int(i) for i in result.scalars())


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _bookings(ids: Sequence[int]) -> Iterator[Booking]:
    """The changed bookings, fresh from the database (the UPDATE bypassed
    the session), with what audit and notifications need loaded."""
    for chunk in _chunks(ids):
        yield from db.session.scalars(
            select(Booking)
            .where(Booking.id.in_(chunk))
            .options(
                selectinload(Booking.instrument),
                selectinload(Booking.enterprise),
                selectinload(Booking.user),
            )
            .order_by(Booking.id)
            .execution_options(populate_existing=True)
        ).all()


def _service_orders(ids: Sequence[int]) -> Iterator[ServiceOrder]:
    for chunk in _chunks(ids):
        yield from db.session.scalars(
            select(ServiceOrder)
            .where(ServiceOrder.id.in_(chunk))
            .options(
                selectinload(ServiceOrder.service_item).selectinload(ServiceItem.provider),
                selectinload(ServiceOrder.enterprise),
                selectinload(ServiceOrder.user),
            )
            .order_by(ServiceOrder.id)
            .execution_options(populate_existing=True)
        ).all()


def _changed(
    order: Booking | ServiceOrder,
    action: str,
    before: OrderStatus,
    kind: str,
    now: datetime,
    **detail: Any,
) -> None:
    """Audit, notify the firm, announce: one system-made status change."""
    object_type = "booking" if isinstance(order, Booking) else "service_order"
    record(
        None,
        f"{object_type}.{action}",
        object_type,
        order.id,
        from_state=before,
        to_state=order.status,
        now=now,
        **detail,
    )
    notify_firm(order, kind, now)
    order_changed.send(order, actor=None, action=action, now=now)


# --- jobs ------------------------------------------------------------------------------------


def expire_requests(now: datetime) -> dict[str, int]:
    """Expire bookings and service orders not approved by their respond-by time.

    requested with respond_by <= now -> expired; the firm is told.
    """
    booking_ids = _sweep(
        Booking,
        {"status": OrderStatus.EXPIRED, "updated_at": now},
        Booking.status == OrderStatus.REQUESTED,
        Booking.respond_by <= now,
    )
    for booking in _bookings(booking_ids):
        _changed(booking, "expire", OrderStatus.REQUESTED, "booking.expired", now)
    order_ids = _sweep(
        ServiceOrder,
        {"status": OrderStatus.EXPIRED, "updated_at": now},
        ServiceOrder.status == OrderStatus.REQUESTED,
        ServiceOrder.respond_by <= now,
    )
    for order in _service_orders(order_ids):
        _changed(order, "expire", OrderStatus.REQUESTED, "service_order.expired", now)
    db.session.flush()
    return {"bookings": len(booking_ids), "service_orders": len(order_ids)}


def mark_no_shows(now: datetime) -> dict[str, int]:
    """Mark confirmed bookings nobody checked in to as no-shows; suspend repeat offenders.

    confirmed, not checked in, starts_at + no-show grace <= now -> no_show.
    Then per (enterprise, instrument) touched: when the no-shows within the
    policy's window (and since its last suspension there) reach the policy's
    limit, the enterprise is suspended from now for the window's length,
    unless a suspension there is still open.
    """
    grace = _policy_int(Booking, "no_show_grace_minutes", _config_int("NO_SHOW_GRACE_MINUTES", 30))
    ids = _sweep(
        Booking,
        {"status": OrderStatus.NO_SHOW, "updated_at": now},
        Booking.status == OrderStatus.CONFIRMED,
        Booking.checked_in_at.is_(None),
        plus_minutes(Booking.starts_at, grace) <= now,
    )
    # The latest no-show of each pair carries the policy the pair is judged by.
    latest: dict[tuple[int, int], Booking] = {}
    for booking in _bookings(ids):
        _changed(booking, "no_show", OrderStatus.CONFIRMED, "booking.no_show", now)
        key = (booking.enterprise_id, booking.instrument_id)
        if key not in latest or booking.starts_at >= latest[key].starts_at:
            latest[key] = booking
    suspensions = [
        suspension
        for booking in latest.values()
        if (suspension := _suspend_if_due(booking, now)) is not None
    ]
    db.session.flush()
    for suspension in suspensions:
        record(
            None,
            "suspension.start",
            "suspension",
            suspension.id,
            to_state="active",
            now=now,
            instrument_id=suspension.instrument_id,
            reason=suspension.reason,
        )
        notify(
            organization_users(suspension.enterprise_id),
            "suspension.started",
            now,
            link="/my/orders",
            until=local(suspension.ends_at).strftime("%Y-%m-%d %H:%M"),
        )
    db.session.flush()
    return {"no_shows": len(ids), "suspensions": len(suspensions)}


def _suspend_if_due(booking: Booking, now: datetime) -> Suspension | None:
    limit = int(booking.policy.get("no_show_limit") or 0)
    window = timedelta(days=int(booking.policy.get("no_show_window_days") or 0))
    if limit <= 0 or window <= timedelta(0):
        return None
    pair = (
        Suspension.enterprise_id == booking.enterprise_id,
        Suspension.instrument_id == booking.instrument_id,
    )
    if (
        db.session.scalar(
            select(Suspension.id)
            .where(*pair, Suspension.lifted_at.is_(None), Suspension.ends_at > now)
            .limit(1)
        )
        is not None
    ):
        return None
    since = now - window
    # No-shows that already led to a suspension do not count again.
    last_start = db.session.scalar(select(func.max(Suspension.starts_at)).where(*pair))
    if last_start is not None and last_start > since:
        since = last_start
    count = (
        db.session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(
                Booking.enterprise_id == booking.enterprise_id,
                Booking.instrument_id == booking.instrument_id,
                Booking.status == OrderStatus.NO_SHOW,
                Booking.starts_at >= since,
            )
        )
        or 0
    )
    if count < limit:
        return None
    suspension = Suspension(
        enterprise_id=booking.enterprise_id,
        instrument_id=booking.instrument_id,
        reason=f"{window.days} 天内预约未到 {count} 次：{booking.instrument.name_zh}",
        starts_at=now,
        ends_at=now + window,
    )
    db.session.add(suspension)
    return suspension


def close_unconfirmed(now: datetime) -> dict[str, int]:
    """Close completed orders the firm did not confirm within the policy's window.

    completed with completed_at + confirm_window_days <= now -> closed;
    firm_confirmed_at stays empty (the firm never confirmed); the firm is told.
    """
    default_days = _config_int("ORDER_CONFIRM_WINDOW_DAYS", 7)
    booking_ids = _sweep(
        Booking,
        {"status": OrderStatus.CLOSED, "updated_at": now},
        Booking.status == OrderStatus.COMPLETED,
        Booking.firm_confirmed_at.is_(None),
        plus_minutes(
            Booking.completed_at,
            _policy_int(Booking, "confirm_window_days", default_days) * 1440,
        )
        <= now,
    )
    for booking in _bookings(booking_ids):
        _changed(booking, "auto_close", OrderStatus.COMPLETED, "booking.auto_closed", now)
    order_ids = _sweep(
        ServiceOrder,
        {"status": OrderStatus.CLOSED, "updated_at": now},
        ServiceOrder.status == OrderStatus.COMPLETED,
        ServiceOrder.firm_confirmed_at.is_(None),
        plus_minutes(
            ServiceOrder.completed_at,
            _policy_int(ServiceOrder, "confirm_window_days", default_days) * 1440,
        )
        <= now,
    )
    for order in _service_orders(order_ids):
        _changed(order, "auto_close", OrderStatus.COMPLETED, "service_order.auto_closed", now)
    db.session.flush()
    return {"bookings": len(booking_ids), "service_orders": len(order_ids)}


def lift_suspensions(now: datetime) -> int:
    """Lift no-show suspensions whose window has passed (lifted_at = now).

    The enterprise's users are told once it has no other open suspension.
    """
    ids = _sweep(
        Suspension,
        {"lifted_at": now},
        Suspension.lifted_at.is_(None),
        Suspension.ends_at <= now,
    )
    lifted: list[Suspension] = []
    for chunk in _chunks(ids):
        lifted.extend(
            db.session.scalars(
                select(Suspension)
                .where(Suspension.id.in_(chunk))
                .order_by(Suspension.id)
                .execution_options(populate_existing=True)
            )
        )
    for suspension in lifted:
        record(
            None,
            "suspension.lift",
            "suspension",
            suspension.id,
            from_state="active",
            to_state="lifted",
            now=now,
        )
    enterprises = sorted({s.enterprise_id for s in lifted})
    still_open = (
        set(
            db.session.scalars(
                select(Suspension.enterprise_id).where(
                    Suspension.enterprise_id.in_(enterprises),
                    Suspension.lifted_at.is_(None),
                    Suspension.ends_at > now,
                )
            )
        )
        if enterprises
        else set()
    )
    for enterprise_id in enterprises:
        if enterprise_id not in still_open:
            notify(organization_users(enterprise_id), "suspension.lifted", now)
    db.session.flush()
    return len(ids)


def send_reminders(now: datetime) -> int:
    """Remind bookers of confirmed bookings starting within the next 24 hours.

    Each booking is reminded once (reminded_at is stamped).
    """
    hours = _config_int("ORDER_REMINDER_HOURS", REMINDER_HOURS)
    ids = _sweep(
        Booking,
        {"reminded_at": now},
        Booking.status == OrderStatus.CONFIRMED,
        Booking.reminded_at.is_(None),
        Booking.starts_at > now,
        Booking.starts_at <= now + timedelta(hours=hours),
    )
    for booking in _bookings(ids):
        record(None, "booking.remind", "booking", booking.id, now=now)
        notify_firm(booking, "booking.reminder", now)
    db.session.flush()
    return len(ids)


def snapshot_utilisation(now: datetime) -> dict[str, int]:
    """Snapshot each instrument's utilisation for this month and the last (Asia/Shanghai).

    Overwrites the months' UtilisationSnapshot rows (one upsert per month, see
    booking.orders.utilisation.snapshot_month); re-running writes the same
    figures. Returns the rows written per month.
    """
    months = [previous_month(now), month_start(local(now).date())]
    return {month_label(month): snapshot_month(month, now) for month in months}
