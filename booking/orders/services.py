"""Order use cases: place, approve, reject, cancel, check in, record usage,
complete, confirm and rate; and the rules they enforce.

Each raises a DomainError with a user-safe message and writes nothing when
refused. Services flush; the request or job commits once. Placing a booking
is race-free: PostgreSQL locks the instrument row (quotas) and the exclusion
constraint is the last word on overlaps; SQLite serialises the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.services import record
from booking.db import LOCKED_IN_TRANSACTION, serialize_writes
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db
from booking.orders import policy as rules
from booking.orders.clock import local, local_week_bounds
from booking.orders.models import (
    ACTIVE_STATUSES,
    Booking,
    OrderStatus,
    Suspension,
    TrainingAuthorisation,
)
from booking.orders.signals import order_changed
from instruments.classification import INSTRUMENT_STATUS_LABELS
from instruments.models import Downtime, Instrument, InstrumentPrice, ServiceMode


class SlotTaken(DomainError):
    """Someone else holds (part of) the requested interval."""

    code = "slot_taken"


class QuotaExceeded(DomainError):
    code = "quota_exceeded"


@dataclass(frozen=True)
class BookingRequest:
    instrument_id: int
    service_mode: str
    starts_at: datetime
    ends_at: datetime
    purpose: str = ""
    sample_notes: str = ""
    idempotency_key: str | None = None
    payment: str = ""  # payment option key from the quote page (booking.orders.payment)


# --- checks shared by placing and quoting ---------------------------------------


def active_suspension(enterprise_id: int, now: datetime) -> Suspension | None:
    return db.session.scalar(
        select(Suspension)
        .where(
            Suspension.enterprise_id == enterprise_id,
            Suspension.lifted_at.is_(None),
            Suspension.starts_at <= now,
            Suspension.ends_at > now,
        )
        .order_by(Suspension.ends_at.desc())
        .limit(1)
    )


def has_training(user_id: int, instrument_id: int, now: datetime) -> bool:
    grant = db.session.scalar(
        select(TrainingAuthorisation).where(
            TrainingAuthorisation.user_id == user_id,
            TrainingAuthorisation.instrument_id == instrument_id,
            TrainingAuthorisation.revoked_at.is_(None),
        )
    )
    return grant is not None and (grant.valid_until is None or grant.valid_until > now)


def _suspended_until(enterprise_id: int, now: datetime) -> datetime | None:
    """When the enterprise's current suspension ends (the latest end when
    several overlap), None when it is not suspended. The same rows as
    `active_suspension`, but only the one column the message needs."""
    return db.session.scalar(
        select(Suspension.ends_at)
        .where(
            Suspension.enterprise_id == enterprise_id,
            Suspension.lifted_at.is_(None),
            Suspension.starts_at <= now,
            Suspension.ends_at > now,
        )
        .order_by(Suspension.ends_at.desc())
        .limit(1)
    )


def _check_requester(user: User, now: datetime) -> Organization:
    org = user.organization
    if org.kind != OrgKind.ENTERPRISE:
        raise DomainError(_l("只有企业用户可以预约仪器。"))
    if not org.is_verified:
        raise DomainError(_l("贵企业尚未通过认证，认证通过后才能预约。"))
    until = _suspended_until(org.id, now)
    if until is not None:
        raise DomainError(
            _l(
                "因多次预约未到，贵企业的预约资格暂停至 %(until)s。",
                until=local(until).strftime("%Y-%m-%d %H:%M"),
            )
        )
    return org


def _check_interval(
    instrument: Instrument, lead_days: int, starts_at: datetime, ends_at: datetime, now: datetime
) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValueError("booking times must be timezone-aware")
    if starts_at < now:
        raise DomainError(_l("不能预约已经过去的时间。"), field="starts_at")
    if ends_at <= starts_at:
        raise DomainError(_l("结束时间必须晚于开始时间。"), field="ends_at")
    minutes = int((ends_at - starts_at).total_seconds() // 60)
    slot = instrument.slot_minutes
    start_local, end_local = local(starts_at), local(ends_at)
    start_minute = start_local.hour * 60 + start_local.minute
    open_minute = instrument.open_from.hour * 60 + instrument.open_from.minute
    if start_local.second or (start_minute - open_minute) % slot:
        raise DomainError(
            _l("开始时间须对齐到 %(slot)s 分钟的时段。", slot=slot), field="starts_at"
        )
    if minutes % slot:
        raise DomainError(_l("预约时长须为 %(slot)s 分钟的整数倍。", slot=slot), field="ends_at")
    if minutes < instrument.min_minutes or minutes > instrument.max_minutes:
        raise DomainError(
            _l(
                "预约时长须在 %(min)s 至 %(max)s 分钟之间。",
                min=instrument.min_minutes,
                max=instrument.max_minutes,
            ),
            field="ends_at",
        )
    same_day = end_local.date() == start_local.date() or (
        end_local.time() == time(0) and end_local.date() == start_local.date() + timedelta(1)
    )
    open_day = str(start_local.isoweekday()) in instrument.open_weekdays
    end_clock = end_local.time() if end_local.time() != time(0) else time(23, 59, 59)
    if (
        not same_day
        or not open_day
        or start_local.time() < instrument.open_from
        or end_clock > instrument.open_until
    ):
        raise DomainError(_l("所选时段不在该仪器的开放时间内。"), field="starts_at")
    if starts_at < now + timedelta(days=lead_days):
        raise DomainError(
            _l("此服务方式须至少提前 %(days)s 天预约。", days=lead_days), field="starts_at"
        )
    if starts_at > now + timedelta(days=instrument.max_days_ahead):
        raise DomainError(
            _l("最多只能预约 %(days)s 天以内的时段。", days=instrument.max_days_ahead),
            field="starts_at",
        )
    in_downtime = db.session.scalar(
        select(Downtime.id)
        .where(
            Downtime.instrument_id == instrument.id,
            Downtime.starts_at < ends_at,
            Downtime.ends_at > starts_at,
        )
        .limit(1)
    )
    if in_downtime is not None:
        raise DomainError(_l("所选时段仪器停机维护，不能预约。"), field="starts_at")


def _check_quotas(
    instrument: Instrument,
    enterprise_id: int,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> None:
    if instrument.max_future_bookings is not None:
        future = (
            db.session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(
                    Booking.instrument_id == instrument.id,
                    Booking.enterprise_id == enterprise_id,
                    Booking.status.in_(ACTIVE_STATUSES),
                    Booking.ends_at > now,
                )
            )
            or 0
        )
        if future >= instrument.max_future_bookings:
            raise QuotaExceeded(
                _l(
                    "贵企业在该仪器上的待使用预约已达上限（%(n)s 个）。",
                    n=instrument.max_future_bookings,
                )
            )
    if instrument.max_hours_per_week is not None:
        week_from, week_to = local_week_bounds(local(starts_at).date())
        rows = db.session.execute(
            select(Booking.starts_at, Booking.ends_at).where(
                Booking.instrument_id == instrument.id,
                Booking.enterprise_id == enterprise_id,
                Booking.status.notin_(
                    (OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.CANCELLED)
                ),
                Booking.starts_at >= week_from,
                Booking.starts_at < week_to,
            )
        ).all()
        used = sum((e - s).total_seconds() for s, e in rows)
        wanted = (ends_at - starts_at).total_seconds()
        if used + wanted > instrument.max_hours_per_week * 3600:
            raise QuotaExceeded(
                _l("超出该仪器每家企业每周 %(h)s 小时的预约上限。", h=instrument.max_hours_per_week)
            )


def _overlapping_booking(instrument_id: int, starts_at: datetime, ends_at: datetime) -> int | None:
    return db.session.scalar(
        select(Booking.id)
        .where(
            Booking.instrument_id == instrument_id,
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.starts_at < ends_at,
            Booking.ends_at > starts_at,
        )
        .limit(1)
    )


def _lock_instrument(instrument_id: int) -> Instrument:
    """The instrument with its price rows, its row locked until the
    transaction ends. Read once per transaction: when the caller already
    read it under the lock (the confirm view's public look-up, see
    `instruments.queries.public_instrument`), that object is reused."""
    key = ("Instrument", instrument_id)
    # The note lives as long as the transaction (booking.db forgets it when
    # the transaction ends), so on SQLite, where serialize_writes restarts a
    # transaction that has only read, the instrument is read again here.
    locked = db.session.info.setdefault(LOCKED_IN_TRANSACTION, set())
    if key in locked:
        known = db.session.get(Instrument, instrument_id)  # the identity map: no SQL
        if known is not None:
            return known
    instrument = (
        db.session.scalars(
            select(Instrument)
            .where(Instrument.id == instrument_id)
            # Prices in the same statement: every placement reads them.
            # Only the instrument's row is locked (the outer join's price
            # rows could not be, and need not be).
            .options(joinedload(Instrument.prices))
            .with_for_update(of=Instrument)
            .execution_options(populate_existing=True)
        )
        .unique()
        .first()
    )
    if instrument is None:
        raise NotFound(_l("仪器不存在。"))
    locked.add(key)
    return instrument


def _slot_taken() -> SlotTaken:
    return SlotTaken(_l("该时段刚刚被其他用户预约，请选择其他时段。"), field="starts_at")


# --- placing ------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingQuote:
    """What the firm sees before confirming: price and policy snapshot."""

    instrument: Instrument
    price: InstrumentPrice
    starts_at: datetime
    ends_at: datetime
    quote_fen: int
    policy: dict[str, Any]


def check_booking(
    user: User,
    instrument: Instrument,
    request: BookingRequest,
    now: datetime,
    *,
    check_overlap: bool = True,
) -> tuple[Organization, InstrumentPrice]:
    """Every rule of placing a booking, in order, without writing anything.
    Returns the booking enterprise and the price row of the chosen mode.
    `check_overlap=False` leaves the last rule, a free slot, to the caller's
    INSERT (see `place_booking`)."""
    org = _check_requester(user, now)
    if not instrument.is_bookable:
        raise DomainError(
            _l(
                "该仪器当前不可预约（%(status)s）。",
                status=INSTRUMENT_STATUS_LABELS.get(instrument.status, instrument.status),
            )
        )
    price = instrument.price_for(request.service_mode)
    if price is None:
        raise DomainError(_l("该仪器不提供所选的服务方式。"), field="service_mode")
    if ServiceMode(request.service_mode).needs_training and not has_training(
        user.id, instrument.id, now
    ):
        raise DomainError(_l("自主上机须先取得该仪器的培训授权。"), field="service_mode")
    _check_interval(instrument, price.lead_days, request.starts_at, request.ends_at, now)
    _check_quotas(instrument, org.id, request.starts_at, request.ends_at, now)
    if check_overlap and (
        _overlapping_booking(instrument.id, request.starts_at, request.ends_at) is not None
    ):
        raise _slot_taken()
    return org, price


def quote_booking(
    user: User, request: BookingRequest, now: datetime, settings: rules.OrderSettings | None = None
) -> BookingQuote:
    """The quote step: the same checks as placing, no lock, no write."""
    settings = settings or rules.OrderSettings()
    instrument = db.session.get(Instrument, request.instrument_id)
    if instrument is None:
        raise NotFound(_l("仪器不存在。"))
    _org, price = check_booking(user, instrument, request, now)
    return BookingQuote(
        instrument=instrument,
        price=price,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        quote_fen=rules.quote(price.price_fen_per_hour, request.starts_at, request.ends_at),
        policy=rules.booking_policy(instrument, price, settings),
    )


def place_booking(
    user: User, request: BookingRequest, now: datetime, settings: rules.OrderSettings | None = None
) -> Booking:
    """Book instrument time for the user's enterprise.

    Refused with its own message when: the enterprise is not verified or is
    suspended; the instrument is not bookable or lacks the mode; the user
    lacks the training the mode needs; the interval is in the past, outside
    opening hours, misaligned, too short or long, inside the lead time or
    beyond max days ahead, in downtime, over a quota, or taken. A repeated
    idempotency key returns the booking it made the first time.
    """
    settings = settings or rules.OrderSettings()
    user_id = user.id
    serialize_writes(db.session)
    user = db.session.get(User, user_id) or user

    # The lock comes first: a retry racing its original must see its booking.
    instrument = _lock_instrument(request.instrument_id)
    if request.idempotency_key:
        # Ids only: a retry is rare, and only then is its booking loaded.
        existing = db.session.execute(
            select(Booking.id, Booking.user_id).where(
                Booking.idempotency_key == request.idempotency_key
            )
        ).first()
        if existing is not None:
            if existing.user_id != user.id:
                raise DomainError(_l("重复的提交标识。"))
            return db.session.get_one(Booking, existing.id)

    # On PostgreSQL the overlap SELECT would only repeat what the INSERT
    # below finds out anyway: the instrument's row lock (held from above
    # until commit) queues every placement on this instrument behind this
    # one, and the exclusion constraint refuses an overlapping active
    # booking with 23P01, answered with the same SlotTaken. SQLite has no
    # such constraint, so there the check stays.
    postgres = db.session.get_bind().dialect.name == "postgresql"
    org, price = check_booking(user, instrument, request, now, check_overlap=not postgres)

    policy = rules.booking_policy(instrument, price, settings)
    approval = instrument.approval_required
    booking = Booking(
        instrument=instrument,
        enterprise_id=org.id,
        user_id=user.id,
        service_mode=request.service_mode,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        status=OrderStatus.REQUESTED if approval else OrderStatus.CONFIRMED,
        purpose=request.purpose,
        sample_notes=request.sample_notes,
        price_fen_per_hour=price.price_fen_per_hour,
        quote_fen=rules.quote(price.price_fen_per_hour, request.starts_at, request.ends_at),
        policy=policy,
        idempotency_key=request.idempotency_key or None,
        respond_by=min(request.starts_at, now + timedelta(hours=settings.approval_window_hours))
        if approval
        else None,
        decided_at=None if approval else now,
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(booking)
            db.session.flush()
    except IntegrityError as error:
        # 23P01: the exclusion constraint saw an overlap: the slot is taken
        # (on PostgreSQL this is how a taken slot is found, see above).
        if getattr(error.orig, "sqlstate", None) == "23P01":
            raise _slot_taken() from None
        if request.idempotency_key:
            again = db.session.scalar(
                select(Booking).where(Booking.idempotency_key == request.idempotency_key)
            )
            if again is not None:
                return again
        raise
    record(user, "booking.place", "booking", booking.id, to_state=booking.status, now=now)
    order_changed.send(booking, actor=user, action="place", now=now, payment=request.payment)
    return booking


# --- transitions ------------------------------------------------------------------------


def lock_for_transition(order: Any) -> None:
    """Re-read the order under a row lock before deciding on its status, so a
    person's action and a scheduler sweep on the same order cannot both win
    (the later one sees the earlier one's status and is refused)."""
    locked = db.session.info.setdefault(LOCKED_IN_TRANSACTION, set())
    key = (type(order).__name__, order.id)
    if key in locked:  # already re-read under the lock in this transaction
        return
    serialize_writes(db.session)
    db.session.flush()  # the refresh below must not drop this transaction's own changes
    db.session.refresh(order, with_for_update=True)
    locked.add(key)


def _transition(
    booking: Booking,
    to: OrderStatus,
    allowed_from: tuple[OrderStatus, ...],
    actor: User | None,
    action: str,
    now: datetime,
    changes: dict[str, Any] | None = None,
    **detail: Any,
) -> None:
    """Move `booking` to `to` if its current status (re-read under a lock)
    allows it; apply `changes`, audit, then tell listeners, who see the
    final state."""
    lock_for_transition(booking)
    if booking.status not in allowed_from:
        raise InvalidTransition(
            _l("该预约当前状态（%(status)s）不允许此操作。", status=status_label(booking.status))
        )
    before = booking.status
    booking.status = to
    booking.updated_at = now
    for name, value in (changes or {}).items():
        setattr(booking, name, value)
    record(
        actor,
        f"booking.{action}",
        "booking",
        booking.id,
        from_state=before,
        to_state=to,
        now=now,
        **detail,
    )
    order_changed.send(booking, actor=actor, action=action, now=now)


def approve_booking(booking: Booking, actor: User, now: datetime) -> None:
    _transition(
        booking,
        OrderStatus.CONFIRMED,
        (OrderStatus.REQUESTED,),
        actor,
        "approve",
        now,
        {"decided_at": now},
    )


def reject_booking(booking: Booking, actor: User, reason: str, now: datetime) -> None:
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("请填写拒绝理由。"), field="reason")
    _transition(
        booking,
        OrderStatus.REJECTED,
        (OrderStatus.REQUESTED,),
        actor,
        "reject",
        now,
        {"decided_at": now, "decision_reason": reason},
        reason=reason,
    )


def cancel_booking(
    booking: Booking, actor: User, reason: str, now: datetime, by_provider: bool = False
) -> int:
    """Cancel before the start; returns the fee (fen) the policy charges the
    firm. A provider cancelling its own slot never charges the firm."""
    lock_for_transition(booking)
    if now >= booking.starts_at:
        raise InvalidTransition(_l("预约已开始，不能取消。"))
    approved = booking.status == OrderStatus.CONFIRMED
    fee = (
        0
        if by_provider
        else rules.cancellation_fee(
            booking.quote_fen, booking.policy, booking.starts_at, now, approved
        )
    )
    _transition(
        booking,
        OrderStatus.CANCELLED,
        (OrderStatus.REQUESTED, OrderStatus.CONFIRMED),
        actor,
        "cancel",
        now,
        {"cancel_reason": reason.strip() or None, "cancellation_fee_fen": fee},
        fee_fen=fee,
    )
    return fee


def check_in(booking: Booking, actor: User, now: datetime, at: datetime | None = None) -> None:
    """上机: the firm starts using the instrument."""
    at = at or now
    if at > now:
        raise DomainError(_l("上机时间不能晚于当前时间。"), field="checked_in_at")
    if at < booking.starts_at - timedelta(hours=1):
        raise DomainError(_l("上机时间早于预约开始时间过多。"), field="checked_in_at")
    _transition(
        booking,
        OrderStatus.IN_USE,
        (OrderStatus.CONFIRMED,),
        actor,
        "check_in",
        now,
        {"checked_in_at": at},
    )


def record_usage(booking: Booking, actor: User, checked_out_at: datetime, now: datetime) -> int:
    """下机: record the end of use, bill it, complete the booking; returns the charge."""
    lock_for_transition(booking)
    if booking.status != OrderStatus.IN_USE or booking.checked_in_at is None:
        raise InvalidTransition(_l("只有上机中的预约可以登记下机。"))
    if checked_out_at <= booking.checked_in_at:
        raise DomainError(_l("下机时间必须晚于上机时间。"), field="checked_out_at")
    if checked_out_at > now:
        raise DomainError(_l("下机时间不能晚于当前时间。"), field="checked_out_at")
    charge = rules.usage_charge(
        booking.price_fen_per_hour,
        booking.policy,
        booking.starts_at,
        booking.ends_at,
        booking.checked_in_at,
        checked_out_at,
    )
    _transition(
        booking,
        OrderStatus.COMPLETED,
        (OrderStatus.IN_USE,),
        actor,
        "complete",
        now,
        {"checked_out_at": checked_out_at, "charge_fen": charge, "completed_at": now},
        charge_fen=charge,
    )
    return charge


def confirm_booking(
    booking: Booking, actor: User, rating: int, comment: str, now: datetime
) -> None:
    """The firm confirms the delivered service and rates it (1–5)."""
    if not 1 <= rating <= 5:
        raise DomainError(_l("请选择 1 到 5 之间的评价。"), field="rating")
    _transition(
        booking,
        OrderStatus.CLOSED,
        (OrderStatus.COMPLETED,),
        actor,
        "confirm",
        now,
        {"firm_confirmed_at": now, "rating": rating, "rating_comment": comment.strip() or None},
        rating=rating,
    )


# Audit actions of orders, as history panels show them.
ORDER_ACTION_LABELS = {
    "booking.place": _l("提交预约"),
    "booking.approve": _l("批准预约"),
    "booking.reject": _l("拒绝预约"),
    "booking.cancel": _l("取消预约"),
    "booking.check_in": _l("上机"),
    "booking.complete": _l("下机并计费"),
    "booking.confirm": _l("确认并评价"),
    "booking.expire": _l("超时未审核"),
    "booking.no_show": _l("预约未到"),
    "booking.auto_close": _l("自动结单"),
    "booking.remind": _l("发送预约提醒"),
    "service_order.place": _l("提交委托"),
    "service_order.accept": _l("受理委托"),
    "service_order.reject": _l("拒绝委托"),
    "service_order.receive": _l("收到样品"),
    "service_order.complete": _l("上传报告并完成"),
    "service_order.confirm": _l("确认并评价"),
    "service_order.cancel": _l("取消委托"),
    "service_order.expire": _l("超时未受理"),
    "service_order.auto_close": _l("自动结单"),
}


STATUS_LABELS = {
    OrderStatus.REQUESTED: _l("待审核"),
    OrderStatus.CONFIRMED: _l("已确认"),
    OrderStatus.IN_USE: _l("使用中"),
    OrderStatus.COMPLETED: _l("待确认"),
    OrderStatus.CLOSED: _l("已完成"),
    OrderStatus.REJECTED: _l("已拒绝"),
    OrderStatus.EXPIRED: _l("已过期"),
    OrderStatus.CANCELLED: _l("已取消"),
    OrderStatus.NO_SHOW: _l("未到"),
}


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(OrderStatus(status), status))
