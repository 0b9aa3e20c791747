"""Service-order use cases: a firm orders testing of samples on a service item
(检验检测服务); the provider accepts or rejects it, receives the samples,
uploads the report and completes it; the firm confirms and rates.

Every use case raises a DomainError with a user-safe message and changes
nothing when refused; services flush, the request commits once. Placing an
order is race-free on weekly capacity: SQLite serialises the transaction
(BEGIN IMMEDIATE), PostgreSQL locks the service item's row, so two orders
for the last samples of a week cannot both see room.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.utils import secure_filename

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.services import record
from booking.db import MAX_ID, serialize_writes
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db
from booking.orders import policy as rules
from booking.orders.clock import local, week_start
from booking.orders.models import OrderStatus, ServiceOrder
from booking.orders.services import active_suspension, lock_for_transition, status_label
from booking.orders.signals import order_changed
from instruments.models import ServiceItem

# Reports larger than this are refused; the app may lower or raise it with
# the MAX_REPORT_BYTES setting.
MAX_REPORT_BYTES = 20 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
# How many weeks ahead (counting the current one) a firm may order for.
WEEKS_AHEAD = 12
MAX_QUANTITY = 10_000

# Orders that ended without service give their samples' capacity back.
RELEASED_STATUSES = (
    OrderStatus.REJECTED,
    OrderStatus.EXPIRED,
    OrderStatus.CANCELLED,
    OrderStatus.NO_SHOW,
)


def report_limit(config: Mapping[str, Any]) -> int:
    """The report size limit in bytes (config MAX_REPORT_BYTES, default 20 MB)."""
    return int(config.get("MAX_REPORT_BYTES", MAX_REPORT_BYTES))


def reports_dir(config: Mapping[str, Any]) -> Path:
    return Path(str(config["UPLOAD_DIR"])) / "reports"


@dataclass(frozen=True)
class ServiceQuote:
    item: ServiceItem
    quantity: int
    week_start: date
    unit_price_fen: int
    quote_fen: int
    remaining: int  # capacity left that week before this order


# --- weeks and capacity ------------------------------------------------------------------


def current_week(now: datetime) -> date:
    """Monday (Asia/Shanghai) of the week holding `now`."""
    return week_start(local(now).date())


def week_choices(now: datetime, weeks: int = WEEKS_AHEAD) -> list[date]:
    """The Mondays a firm may order for: this week and the next ones."""
    first = current_week(now)
    return [first + timedelta(weeks=n) for n in range(weeks)]


def capacity_used(item_id: int, week: date) -> int:
    """Samples already promised in that week (every order not released)."""
    used = db.session.scalar(
        select(func.coalesce(func.sum(ServiceOrder.quantity), 0)).where(
            ServiceOrder.service_item_id == item_id,
            ServiceOrder.week_start == week,
            ServiceOrder.status.notin_(RELEASED_STATUSES),
        )
    )
    return int(used or 0)


def remaining_capacity(item: ServiceItem, week: date) -> int:
    return max(0, item.weekly_capacity - capacity_used(item.id, week))


def remaining_by_week(item: ServiceItem, weeks: list[date]) -> dict[date, int]:
    """Capacity left in each of `weeks`, in one query (for the week picker)."""
    if not weeks:
        return {}
    rows = db.session.execute(
        select(ServiceOrder.week_start, func.sum(ServiceOrder.quantity))
        .where(
            ServiceOrder.service_item_id == item.id,
            ServiceOrder.week_start.in_(weeks),
            ServiceOrder.status.notin_(RELEASED_STATUSES),
        )
        .group_by(ServiceOrder.week_start)
    ).all()
    used = {w: int(n or 0) for w, n in rows}
    return {w: max(0, item.weekly_capacity - used.get(w, 0)) for w in weeks}


# --- checks shared by quoting and placing --------------------------------------------------


def _check_requester(user: User, now: datetime) -> Organization:
    org = user.organization
    if org.kind != OrgKind.ENTERPRISE:
        raise DomainError(_l("只有企业用户可以委托检测。"))
    if not org.is_verified:
        raise DomainError(_l("贵企业尚未通过认证，认证通过后才能委托检测。"))
    suspension = active_suspension(org.id, now)
    if suspension is not None:
        raise DomainError(
            _l(
                "贵企业的服务资格暂停至 %(until)s。",
                until=local(suspension.ends_at).strftime("%Y-%m-%d %H:%M"),
            )
        )
    return org


def _check_item(item: ServiceItem | None) -> ServiceItem:
    if item is None:
        raise NotFound(_l("服务项目不存在。"))
    if not item.active or not item.provider.is_verified:
        raise DomainError(_l("该服务项目目前不接受委托。"))
    return item


def _check_shape(quantity: int, week: date, now: datetime) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise DomainError(
            _l("样品数量须为 1 至 %(max)s 之间的整数。", max=MAX_QUANTITY), field="quantity"
        )
    choices = week_choices(now)
    if week.weekday() != 0 or week < choices[0]:
        raise DomainError(_l("请选择本周或之后的某一周。"), field="week_start")
    if week > choices[-1]:
        raise DomainError(
            _l("最多只能委托 %(n)s 周以内的检测。", n=WEEKS_AHEAD), field="week_start"
        )


def _check_capacity(item: ServiceItem, quantity: int, week: date) -> int:
    remaining = remaining_capacity(item, week)
    if quantity > remaining:
        raise DomainError(
            _l(
                "该服务项目 %(week)s 当周只剩 %(left)s 个样品的检测能力，请减少数量或选择其他周。",
                week=week.isoformat(),
                left=remaining,
            ),
            field="quantity",
        )
    return remaining


def quote_service_order(
    user: User, item_id: int, quantity: int, week: date, now: datetime
) -> ServiceQuote:
    """What placing this order would cost, checked against every rule but
    without writing or locking (the quote step before the firm confirms)."""
    _check_requester(user, now)
    item = _check_item(db.session.get(ServiceItem, item_id))
    _check_shape(quantity, week, now)
    remaining = _check_capacity(item, quantity, week)
    return ServiceQuote(
        item, quantity, week, item.unit_price_fen, item.unit_price_fen * quantity, remaining
    )


def service_policy(item: ServiceItem, settings: rules.OrderSettings) -> dict[str, Any]:
    """What a service order keeps of the item's terms when it is placed."""
    return {
        "turnaround_days": item.turnaround_days,
        "weekly_capacity": item.weekly_capacity,
        "method_standard": item.method_standard,
        "cma_scope": item.cma_scope,
        "cnas_scope": item.cnas_scope,
        "approval_window_hours": settings.approval_window_hours,
        "confirm_window_days": settings.confirm_window_days,
    }


def _lock_item(item_id: int) -> ServiceItem | None:
    # FOR UPDATE is rendered on PostgreSQL only; SQLite is already serialised.
    return db.session.scalar(select(ServiceItem).where(ServiceItem.id == item_id).with_for_update())


def _by_key(key: str) -> ServiceOrder | None:
    return db.session.scalar(select(ServiceOrder).where(ServiceOrder.idempotency_key == key))


# --- placing ----------------------------------------------------------------------------------


def place_service_order(
    user: User,
    item_id: int,
    quantity: int,
    week_start: date,
    purpose: str,
    sample_notes: str,
    idempotency_key: str | None,
    now: datetime,
    settings: rules.OrderSettings | None = None,
    payment: str = "",
) -> ServiceOrder:
    """Order testing of `quantity` samples in the week starting `week_start`.

    Refused with its own message when the user is not of a verified
    enterprise, the enterprise is suspended, the item is not offered, the
    quantity or week is out of range, or the week's capacity is exhausted.
    The price is snapshot (unit × quantity). A repeated idempotency key
    returns the order it made the first time.
    """
    settings = settings or rules.OrderSettings()
    user_id = user.id
    serialize_writes(db.session)
    user = db.session.get(User, user_id) or user

    # The lock comes first: a retry racing its original must see its order.
    item = _lock_item(item_id)
    if idempotency_key:
        existing = _by_key(idempotency_key)
        if existing is not None:
            if existing.user_id != user.id:
                raise DomainError(_l("重复的提交标识。"))
            return existing

    org = _check_requester(user, now)
    item = _check_item(item)
    _check_shape(quantity, week_start, now)
    _check_capacity(item, quantity, week_start)

    order = ServiceOrder(
        service_item=item,
        enterprise_id=org.id,
        user_id=user.id,
        quantity=quantity,
        week_start=week_start,
        status=OrderStatus.REQUESTED,
        purpose=purpose.strip(),
        sample_notes=sample_notes.strip(),
        unit_price_fen=item.unit_price_fen,
        quote_fen=item.unit_price_fen * quantity,
        policy=service_policy(item, settings),
        idempotency_key=idempotency_key or None,
        respond_by=now + timedelta(hours=settings.approval_window_hours),
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(order)
            db.session.flush()
    except IntegrityError:
        # Only the idempotency key is unique here: a racing retry won.
        if idempotency_key:
            again = _by_key(idempotency_key)
            if again is not None:
                return again
        raise
    record(
        user,
        "service_order.place",
        "service_order",
        order.id,
        to_state=order.status,
        now=now,
        quantity=quantity,
        week_start=week_start.isoformat(),
    )
    order_changed.send(order, actor=user, action="place", now=now, payment=payment)
    return order


# --- transitions ------------------------------------------------------------------------------


def _transition(
    order: ServiceOrder,
    to: OrderStatus,
    allowed_from: tuple[OrderStatus, ...],
    actor: User | None,
    action: str,
    now: datetime,
    **detail: Any,
) -> None:
    _require(order, allowed_from)
    before = order.status
    order.status = to
    order.updated_at = now
    record(
        actor,
        f"service_order.{action}",
        "service_order",
        order.id,
        from_state=before,
        to_state=to,
        now=now,
        **detail,
    )
    order_changed.send(order, actor=actor, action=action, now=now)


def _require(order: ServiceOrder, allowed_from: tuple[OrderStatus, ...]) -> None:
    lock_for_transition(order)  # a person and a scheduler sweep cannot both win
    if order.status not in allowed_from:
        raise InvalidTransition(
            _l("该检测委托当前状态（%(status)s）不允许此操作。", status=status_label(order.status))
        )


def accept_service_order(order: ServiceOrder, actor: User, now: datetime) -> None:
    """The provider takes the order on (requested → confirmed)."""
    _require(order, (OrderStatus.REQUESTED,))
    order.decided_at = now
    _transition(order, OrderStatus.CONFIRMED, (OrderStatus.REQUESTED,), actor, "accept", now)


def reject_service_order(order: ServiceOrder, actor: User, reason: str, now: datetime) -> None:
    """The provider declines the order, with a reason (requested → rejected)."""
    reason = reason.strip()
    _require(order, (OrderStatus.REQUESTED,))
    if not reason:
        raise DomainError(_l("请填写拒绝理由。"), field="reason")
    # Fields first, the announcement last: listeners (notifications) read them.
    order.decided_at = now
    order.decision_reason = reason[:500]
    _transition(
        order, OrderStatus.REJECTED, (OrderStatus.REQUESTED,), actor, "reject", now, reason=reason
    )


def receive_samples(order: ServiceOrder, actor: User, now: datetime) -> None:
    """The provider has the samples and starts testing (confirmed → in_use)."""
    _require(order, (OrderStatus.CONFIRMED,))
    order.samples_received_at = now
    _transition(order, OrderStatus.IN_USE, (OrderStatus.CONFIRMED,), actor, "receive", now)


def _read_report(stream: IO[bytes], max_bytes: int) -> bytes:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DomainError(
            _l("报告文件不能超过 %(mb)s MB。", mb=round(max_bytes / (1024 * 1024), 1)),
            field="report",
        )
    if not data.startswith(PDF_MAGIC):
        raise DomainError(_l("报告须为 PDF 文件。"), field="report")
    return data


def complete_service_order(
    order: ServiceOrder,
    actor: User,
    samples_tested: int,
    report: IO[bytes],
    filename: str,
    upload_dir: Path,
    now: datetime,
    max_bytes: int = MAX_REPORT_BYTES,
) -> int:
    """Upload the test report and complete the order (in_use → completed);
    returns the charge: unit price × samples tested.

    The report must be a PDF (its first bytes, not its name, decide) within
    the size limit. It is stored as `<upload_dir>/<order id>/<uuid>.pdf`;
    the uploaded name is kept, made safe, for display only.
    """
    _require(order, (OrderStatus.IN_USE,))
    if not 1 <= samples_tested <= order.quantity:
        raise DomainError(
            _l("检测样品数须在 1 至 %(n)s 之间。", n=order.quantity), field="samples_tested"
        )
    data = _read_report(report, max_bytes)
    shown = secure_filename(filename) or "report.pdf"
    if not shown.lower().endswith(".pdf"):
        shown += ".pdf"
    folder = upload_dir / str(order.id)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}.pdf"
    stored.write_bytes(data)

    charge = order.unit_price_fen * samples_tested
    order.samples_tested = samples_tested
    order.report_path = f"{order.id}/{stored.name}"
    order.report_name = shown[:255]
    order.report_uploaded_at = now
    order.charge_fen = charge
    order.completed_at = now
    _transition(
        order,
        OrderStatus.COMPLETED,
        (OrderStatus.IN_USE,),
        actor,
        "complete",
        now,
        samples_tested=samples_tested,
        charge_fen=charge,
    )
    return charge


def confirm_service_order(
    order: ServiceOrder, actor: User, rating: int, comment: str, now: datetime
) -> None:
    """The firm confirms the delivered service and rates it 1–5 (completed → closed)."""
    _require(order, (OrderStatus.COMPLETED,))
    if not 1 <= rating <= 5:
        raise DomainError(_l("请选择 1 到 5 之间的评价。"), field="rating")
    order.firm_confirmed_at = now
    order.rating = rating
    order.rating_comment = comment.strip()[:500] or None
    _transition(
        order, OrderStatus.CLOSED, (OrderStatus.COMPLETED,), actor, "confirm", now, rating=rating
    )


def cancel_service_order(order: ServiceOrder, actor: User, reason: str, now: datetime) -> None:
    """The firm withdraws the order before the samples are received; free."""
    if order.status == OrderStatus.IN_USE:
        raise InvalidTransition(_l("样品已送达检测机构，不能再取消。"))
    allowed = (OrderStatus.REQUESTED, OrderStatus.CONFIRMED)
    _require(order, allowed)
    order.cancel_reason = reason.strip()[:500] or None
    _transition(order, OrderStatus.CANCELLED, allowed, actor, "cancel", now)


def can_cancel(order: ServiceOrder) -> bool:
    return order.status in (OrderStatus.REQUESTED, OrderStatus.CONFIRMED)


# --- scoped look-ups -------------------------------------------------------------------------


def enterprise_service_order(enterprise_id: int, order_id: int) -> ServiceOrder:
    """One of the enterprise's own orders; anything else is NotFound."""
    # Scoped look-ups are also called with ids that did not come through a URL.
    order = db.session.get(ServiceOrder, order_id) if 0 < order_id <= MAX_ID else None
    if order is None or order.enterprise_id != enterprise_id:
        raise NotFound(_l("检测委托不存在。"))
    return order


def provider_service_order(provider_id: int, order_id: int) -> ServiceOrder:
    """An order on one of the provider's own service items; else NotFound."""
    if not 0 < order_id <= MAX_ID:
        raise NotFound(_l("检测委托不存在。"))
    order = db.session.scalar(
        select(ServiceOrder)
        .join(ServiceItem, ServiceItem.id == ServiceOrder.service_item_id)
        .where(ServiceOrder.id == order_id, ServiceItem.provider_id == provider_id)
    )
    if order is None:
        raise NotFound(_l("检测委托不存在。"))
    return order


def may_download_report(order: ServiceOrder, user: User) -> bool:
    """Only the ordering enterprise and the provider may read the report."""
    return user.organization_id in (order.enterprise_id, order.service_item.provider_id)


QUEUE_SORTS: dict[str, Any] = {
    "created": ServiceOrder.created_at,
    "week": ServiceOrder.week_start,
    "quantity": ServiceOrder.quantity,
    "status": ServiceOrder.status,
    "respond_by": ServiceOrder.respond_by,
}


def _ordered(stmt: Select[Any], sorts: Mapping[str, Any], sort: str) -> Select[Any]:
    column = sorts[sort.lstrip("-")]
    direction = column.desc() if sort.startswith("-") else column.asc()
    return stmt.order_by(direction, ServiceOrder.id.desc())


def _status_filter(status: str) -> list[ColumnElement[bool]]:
    if status == "active":
        return [
            ServiceOrder.status.in_(
                (OrderStatus.REQUESTED, OrderStatus.CONFIRMED, OrderStatus.IN_USE)
            )
        ]
    if status:
        return [ServiceOrder.status == status]
    return []


def provider_queue(provider_id: int, status: str, sort: str) -> Select[Any]:
    """Service orders of the provider's items, optionally of one status."""
    stmt = (
        select(ServiceOrder)
        .join(ServiceItem, ServiceItem.id == ServiceOrder.service_item_id)
        .where(ServiceItem.provider_id == provider_id, *_status_filter(status))
    )
    return _ordered(stmt, QUEUE_SORTS, sort)


def provider_status_counts(provider_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(ServiceOrder.status, func.count())
        .join(ServiceItem, ServiceItem.id == ServiceOrder.service_item_id)
        .where(ServiceItem.provider_id == provider_id)
        .group_by(ServiceOrder.status)
    ).all()
    return {str(s): int(n) for s, n in rows}


def enterprise_service_orders(enterprise_id: int, status: str, sort: str) -> Select[Any]:
    """The enterprise's service orders, optionally of one status."""
    stmt = select(ServiceOrder).where(
        ServiceOrder.enterprise_id == enterprise_id, *_status_filter(status)
    )
    return _ordered(stmt, QUEUE_SORTS, sort)
