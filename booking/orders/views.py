"""Blueprint `orders`: the firm's side of the order engine.

- booking instrument time: a week calendar (Beijing time, usable without
  JavaScript), the request form, a quote step, and a confirm that carries an
  idempotency key so a double submit makes one booking;
- ordering a testing service, with the same quote-then-confirm steps;
- the enterprise space: every booking and service order of the user's
  enterprise, details with history, cancel, confirm-and-rate, report
  download;
- the ICS feed of confirmed bookings, and the notifications page.

Views stay thin: forms check shape, the order services decide, the view
commits once or rolls back. A refusal is shown next to its field (422); a
slot lost to another firm answers 409 with the fresh calendar; another
enterprise's order is a 404.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from booking.accounts.loader import current_actor, login_required
from booking.accounts.models import Organization, OrgKind, User
from booking.audit.services import history_with_actors
from booking.core.navigation import BADGE_COUNTERS
from booking.core.pagination import paginate, parse_int, parse_sort
from booking.core.validators import EARLIEST_YEAR, LATEST_YEAR
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db, utcnow
from booking.i18n import money
from booking.notifications.models import Notification
from booking.notifications.services import mark_all_read, render, unread_count
from booking.orders import payment, services
from booking.orders import policy as rules
from booking.orders import service_orders as so
from booking.orders.availability import SlotState, WeekCalendar, week_availability
from booking.orders.clock import local, week_start
from booking.orders.forms import (
    ActionForm,
    BookingForm,
    CancelForm,
    ConfirmBookingForm,
    ConfirmServiceOrderForm,
    RateForm,
    ServiceOrderForm,
    attach_domain_error,
    choice,
    duration_choices,
)
from booking.orders.models import ACTIVE_STATUSES, Booking, OrderStatus, ServiceOrder
from booking.orders.services import ORDER_ACTION_LABELS, BookingRequest, SlotTaken, status_label
from instruments import queries
from instruments.classification import SERVICE_MODE_LABELS
from instruments.models import Instrument, ServiceItem, ServiceMode

bp = Blueprint("orders", __name__)


@bp.app_template_global("order_payment_lines")
def order_payment_lines(order: Booking | ServiceOrder) -> list[payment.PaymentLine]:
    """How an order is paid, for detail pages of every role (firm, provider, admin)."""
    return payment.summary_for(order)


BADGE_COUNTERS["unread_notifications"] = lambda user: unread_count(user.id)

PAGE_SIZE = 20
MAX_PAGE = 10_000

BOOKING_SORTS: dict[str, Any] = {
    "start": Booking.starts_at,
    "created": Booking.created_at,
    "status": Booking.status,
    "quote": Booking.quote_fen,
}
SERVICE_SORTS = so.QUEUE_SORTS


WEEKDAYS = (_l("周一"), _l("周二"), _l("周三"), _l("周四"), _l("周五"), _l("周六"), _l("周日"))


# --- helpers -------------------------------------------------------------------------------


def _now() -> datetime:
    return utcnow()


def _settings() -> rules.OrderSettings:
    return rules.OrderSettings.from_config(current_app.config)


def _not_found() -> NoReturn:
    abort(404)


def _enterprise_only() -> User:
    """The enterprise space exists only for enterprise users."""
    user = current_actor()
    if user.kind != OrgKind.ENTERPRISE:
        _not_found()
    return user


def _page_number() -> int:
    return parse_int(request.args.get("page"), 1, 1, MAX_PAGE)


def _sort_key(allowed: dict[str, Any], default: str) -> str:
    return parse_sort(request.args.get("sort"), allowed, default)


def _status_arg() -> str:
    status = request.args.get("status", "")
    return status if status == "active" or status in OrderStatus._value2member_map_ else ""


def first_error(form: Any) -> str:
    """The first field error of an invalid form, shown above the page too (a
    form is only on the page while the order's state offers it)."""
    for errors in form.errors.values():
        for message in errors:
            return str(message)
    return str(_("表单有误，请按提示修改后再提交。"))


def _error_status(error: DomainError) -> int:
    return 409 if isinstance(error, InvalidTransition | SlotTaken) else 422


def next_step(order: Booking | ServiceOrder) -> str:
    """What happens next, in a few words, for the firm."""
    status = order.status
    service = isinstance(order, ServiceOrder)
    if status == OrderStatus.REQUESTED:
        hint = _l("等待服务机构受理") if service else _l("等待服务机构审核")
        if order.respond_by is not None:
            return str(
                _(
                    "%(hint)s（%(when)s 前）",
                    hint=hint,
                    when=local(order.respond_by).strftime("%Y-%m-%d %H:%M"),
                )
            )
        return str(hint)
    hints = {
        OrderStatus.CONFIRMED: _l("请按约定送样") if service else _l("请按时到场上机"),
        OrderStatus.IN_USE: _l("检测中") if service else _l("使用中"),
        OrderStatus.COMPLETED: _l("请确认服务并评价"),
        OrderStatus.CLOSED: _l("已完成"),
    }
    return str(hints.get(OrderStatus(status), "—"))


def _history(object_type: str, object_id: int) -> dict[str, Any]:
    return history_with_actors(object_type, object_id)


def _labels() -> dict[str, Any]:
    return {
        "status_label": status_label,
        "mode_labels": SERVICE_MODE_LABELS,
        "action_labels": ORDER_ACTION_LABELS,
        "next_step": next_step,
        "local": local,
        "weekdays": WEEKDAYS,
    }


# --- booking: the week calendar, the form and the quote -----------------------------------


def _public_instrument(instrument_id: int, *, for_update: bool = False) -> Instrument:
    instrument = queries.public_instrument(instrument_id, for_update=for_update)
    if instrument is None:
        _not_found()
    return instrument


def _default_mode(instrument: Instrument) -> str | None:
    modes = [p.mode for p in instrument.prices]
    if ServiceMode.ENTRUSTED in modes:
        return str(ServiceMode.ENTRUSTED)
    return modes[0] if modes else None


def _mode_arg(instrument: Instrument, raw: str | None) -> str | None:
    modes = {p.mode for p in instrument.prices}
    return raw if raw in modes else _default_mode(instrument)


def _parse_week(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw.strip()[:10])
    except ValueError:
        return None
    return day if EARLIEST_YEAR <= day.year <= LATEST_YEAR else None


def _parse_start(raw: str | None) -> datetime | None:
    """A `start` query value (local datetime-local text) from a slot link."""
    if not raw:
        return None
    try:
        value = datetime.strptime(raw.strip()[:16], "%Y-%m-%dT%H:%M")  # noqa: DTZ007 - local wall time
    except ValueError:
        return None
    return value if EARLIEST_YEAR <= value.year <= LATEST_YEAR else None


def _calendar_rows(calendar: WeekCalendar) -> list[dict[str, Any]]:
    """Rows of the table: a local start time and its slot on each day."""
    rows = []
    for t in calendar.times:
        rows.append(
            {"time": t, "cells": [d.slots.get(t) if d.open else None for d in calendar.days]}
        )
    return rows


def _book_page(
    instrument: Instrument,
    form: BookingForm,
    day: date | None,
    mode: str | None,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
    calendar: WeekCalendar | None = None,
) -> ResponseReturnValue:
    now = _now()
    if calendar is None:
        calendar = week_availability(instrument, day or local(now).date(), mode, now)
    may_book = current_actor().kind == OrgKind.ENTERPRISE
    return render_template(
        "orders/book.html",
        instrument=instrument,
        calendar=calendar,
        rows=_calendar_rows(calendar),
        form=form,
        mode=mode,
        may_book=may_book,
        notice=notice,
        error=error,
        SlotState=SlotState,
        this_week=week_start(local(now).date()),
        **_labels(),
    ), status


@bp.get("/instruments/<int:instrument_id>/book")
@login_required
def book(instrument_id: int) -> ResponseReturnValue:
    """The instrument's week calendar with the booking form. Every free slot
    is a link that fills in the form's start. Other users than enterprise
    users see the calendar only."""
    instrument = _public_instrument(instrument_id)
    mode = _mode_arg(instrument, request.args.get("mode"))
    notice = None
    raw_week = request.args.get("week")
    day = _parse_week(raw_week)
    if raw_week and day is None:
        notice = _("日期无效，已显示本周。")
    form = BookingForm(formdata=None).setup(instrument)
    form.service_mode.data = mode
    start = _parse_start(request.args.get("start"))
    if start is not None:
        form.starts_at.data = start
        day = day or start.date()
    calendar = _first_bookable_week(instrument, mode) if day is None else None
    duration = parse_int(request.args.get("duration"), 0, 0, 10_000)
    valid = [m for m, _label in duration_choices(instrument)]
    form.duration.data = duration if duration in valid else (valid[0] if valid else 0)
    return _book_page(instrument, form, day, mode, notice=notice, calendar=calendar)


def _first_bookable_week(instrument: Instrument, mode: str | None) -> WeekCalendar:
    """The first week with a free slot for `mode` (its lead time may rule out
    this week and the next), looking a few weeks ahead at most."""
    now = _now()
    price = instrument.price_for(mode) if mode else None
    lead = price.lead_days if price is not None else 0
    first = local(now + timedelta(days=lead)).date()
    for weeks in range(4):
        calendar = week_availability(instrument, first + timedelta(weeks=weeks), mode, now)
        if calendar.free_count:
            return calendar
    return week_availability(instrument, first, mode, now)


def _form_day(form: BookingForm) -> date | None:
    """The local day of the form's start (it is entered in Beijing time)."""
    start = form.starts_at.data
    return start.date() if isinstance(start, datetime) and not form.starts_at.errors else None


def _booking_request(
    instrument: Instrument, form: BookingForm, key: str | None = None, payment: str = ""
) -> BookingRequest:
    starts_at, ends_at = form.interval()
    return BookingRequest(
        instrument_id=instrument.id,
        service_mode=form.service_mode.data or "",
        starts_at=starts_at,
        ends_at=ends_at,
        purpose=(form.purpose.data or "").strip(),
        sample_notes=(form.sample_notes.data or "").strip(),
        idempotency_key=key,
        payment=payment,
    )


def _payment_options(
    provider: Organization, service_kind: str, item_key: str, price_fen: int
) -> list[payment.PaymentOption]:
    """What else could pay for the order on the quote page (e.g. vouchers)."""
    user = current_actor()
    draft = payment.OrderDraft(
        enterprise=user.organization,
        provider=provider,
        service_kind=service_kind,
        item_key=item_key,
        price_fen=price_fen,
    )
    return payment.options_for(draft, user, _now())


def _refused(
    instrument: Instrument,
    form: BookingForm,
    error: DomainError,
) -> ResponseReturnValue:
    """Show a refusal: 409 with the fresh calendar when the slot was taken,
    else 422 with the message next to its field (or above the form)."""
    db.session.rollback()
    day = _form_day(form)
    mode = _mode_arg(instrument, form.service_mode.data)
    if isinstance(error, SlotTaken):
        return _book_page(
            instrument,
            form,
            day,
            mode,
            status=409,
            error=_("该时段刚刚被其他用户预约，请选择其他时段。"),
        )
    shown = attach_domain_error(form, error)
    return _book_page(instrument, form, day, mode, status=422, error=None if shown else str(error))


@bp.post("/instruments/<int:instrument_id>/book")
@login_required
def quote_booking(instrument_id: int) -> ResponseReturnValue:
    """The quote: price snapshot and policy of the requested interval, after
    every booking rule has been checked; nothing is written yet."""
    instrument = _public_instrument(instrument_id)
    form = BookingForm().setup(instrument)
    mode = _mode_arg(instrument, form.service_mode.data)
    if not form.validate():
        return _book_page(instrument, form, _form_day(form), mode, status=422)
    try:
        quote = services.quote_booking(
            current_actor(), _booking_request(instrument, form), _now(), _settings()
        )
    except DomainError as error:
        return _refused(instrument, form, error)
    options = _payment_options(
        instrument.provider,
        payment.INSTRUMENT_TIME,
        f"instrument:{instrument.id}",
        quote.quote_fen,
    )
    db.session.rollback()  # end the read transaction; the quote page writes nothing
    return render_template(
        "orders/quote.html",
        instrument=instrument,
        form=form,
        quote=quote,
        payment_options=options,
        idempotency_key=uuid.uuid4().hex,
        **_labels(),
    )


@bp.post("/instruments/<int:instrument_id>/book/confirm")
@login_required
def place_booking(instrument_id: int) -> ResponseReturnValue:
    """Place the quoted booking. The idempotency key from the quote page makes
    a repeated submit return the booking made the first time."""
    # The form is checked first: its fields take any value (the engine judges
    # them), so checking needs nothing of the instrument, and a malformed
    # post never takes the lock below. Its choices are only built to show it
    # again; a booking that goes through never needs them.
    form = ConfirmBookingForm()
    if not form.validate():
        instrument = _public_instrument(instrument_id)
        form.setup(instrument)
        mode = _mode_arg(instrument, form.service_mode.data)
        return _book_page(
            instrument, form, _form_day(form), mode, status=422, error=_("表单有误，请重新填写。")
        )
    # Read under the row lock that placing takes first anyway; the order
    # engine reuses this read instead of loading the instrument again.
    instrument = _public_instrument(instrument_id, for_update=True)
    req = _booking_request(
        instrument, form, form.idempotency_key.data, form.payment.data or payment.OWN_PAYMENT
    )
    try:
        booking = services.place_booking(current_actor(), req, _now(), _settings())
    except DomainError as error:
        return _refused(instrument, form.setup(instrument), error)
    # Read before the commit expires the booking: reading it after would
    # cost a new transaction and a SELECT only to learn these two again.
    booking_id, confirmed = booking.id, booking.status == OrderStatus.CONFIRMED
    db.session.commit()
    if confirmed:
        flash(_("预约成功，已确认。"), "success")
    else:
        flash(_("预约已提交，等待服务机构审核。"), "success")
    return redirect(url_for("orders.booking_detail", booking_id=booking_id))


# --- service orders (firm side) ---------------------------------------------------------------


def _public_item(item_id: int) -> ServiceItem:
    item = queries.public_service_item(item_id)
    if item is None:
        _not_found()
    return item


def _week_label(week: date, remaining: int | None = None) -> str:
    end = week + timedelta(days=6)
    text = f"{week.isoformat()} — {end.strftime('%m-%d')}"
    if remaining is not None:
        text += _("（剩余 %(n)s 个样品）", n=remaining)
    return text


def _service_page(
    item: ServiceItem, form: ServiceOrderForm, status: int = 200, error: str | None = None
) -> ResponseReturnValue:
    weeks = so.week_choices(_now())
    remaining = so.remaining_by_week(item, weeks)
    form.week_start.choices = [choice(w, _week_label(w, remaining[w])) for w in weeks]
    return render_template(
        "orders/order_service.html",
        item=item,
        form=form,
        may_order=current_actor().kind == OrgKind.ENTERPRISE,
        error=error,
        **_labels(),
    ), status


def _service_refused(
    item: ServiceItem, form: ServiceOrderForm, error: DomainError
) -> ResponseReturnValue:
    db.session.rollback()
    shown = attach_domain_error(form, error)
    return _service_page(
        item, form, status=_error_status(error), error=None if shown else str(error)
    )


@bp.route("/services/<int:item_id>/order", methods=["GET", "POST"])
@login_required
def order_service(item_id: int) -> ResponseReturnValue:
    """The order form of a testing service (quantity, week, notes); posting
    it shows the quote, checked against every rule, nothing written yet."""
    item = _public_item(item_id)
    form = ServiceOrderForm()
    if request.method == "GET":
        form.week_start.data = so.current_week(_now())
        form.quantity.data = 1
        return _service_page(item, form)
    if not form.validate():
        return _service_page(item, form, status=422)
    try:
        quote = so.quote_service_order(
            current_actor(), item.id, int(form.quantity.data), form.week_start.data, _now()
        )
    except DomainError as error:
        return _service_refused(item, form, error)
    options = _payment_options(
        item.provider, payment.TESTING_SERVICE, f"service:{item.id}", quote.quote_fen
    )
    db.session.rollback()
    return render_template(
        "orders/service_quote.html",
        item=item,
        form=form,
        quote=quote,
        payment_options=options,
        week_label=_week_label(quote.week_start),
        idempotency_key=uuid.uuid4().hex,
        settings=_settings(),
        **_labels(),
    )


@bp.post("/services/<int:item_id>/order/confirm")
@login_required
def place_service_order(item_id: int) -> ResponseReturnValue:
    """Place the quoted service order (idempotent by the quote page's key)."""
    item = _public_item(item_id)
    form = ConfirmServiceOrderForm()
    if not form.validate():
        return _service_page(item, form, status=422, error=_("表单有误，请重新填写。"))
    try:
        order = so.place_service_order(
            current_actor(),
            item.id,
            int(form.quantity.data),
            form.week_start.data,
            form.purpose.data or "",
            form.sample_notes.data or "",
            form.idempotency_key.data,
            _now(),
            _settings(),
            payment=form.payment.data or payment.OWN_PAYMENT,
        )
    except DomainError as error:
        return _service_refused(item, form, error)
    db.session.commit()
    flash(_("检测委托已提交，等待服务机构受理。"), "success")
    return redirect(url_for("orders.service_order_detail", order_id=order.id))


# --- the enterprise space -----------------------------------------------------------------------


def enterprise_bookings(enterprise_id: int, status: str, sort: str) -> Select[Any]:
    stmt = select(Booking).where(Booking.enterprise_id == enterprise_id)
    if status == "active":
        stmt = stmt.where(Booking.status.in_(ACTIVE_STATUSES))
    elif status:
        stmt = stmt.where(Booking.status == status)
    column = BOOKING_SORTS[sort.lstrip("-")]
    return stmt.order_by(column.desc() if sort.startswith("-") else column.asc(), Booking.id.desc())


def _own_booking(booking_id: int) -> Booking:
    user = _enterprise_only()
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.enterprise_id != user.organization_id:
        _not_found()
    return booking


def _own_service_order(order_id: int) -> ServiceOrder:
    user = _enterprise_only()
    try:
        return so.enterprise_service_order(user.organization_id, order_id)
    except NotFound:
        _not_found()


def booking_cancel_fee(booking: Booking, now: datetime) -> int | None:
    """The fee cancelling now would cost, or None when it cannot be cancelled."""
    if (
        booking.status not in (OrderStatus.REQUESTED, OrderStatus.CONFIRMED)
        or now >= booking.starts_at
    ):
        return None
    return rules.cancellation_fee(
        booking.quote_fen,
        booking.policy,
        booking.starts_at,
        now,
        booking.status == OrderStatus.CONFIRMED,
    )


@bp.get("/my/orders")
@login_required
def my_orders() -> ResponseReturnValue:
    """The enterprise's bookings or service orders (every user of the
    enterprise sees them): status filter, sortable columns, pages."""
    user = _enterprise_only()
    kind = request.args.get("kind", "booking")
    kind = kind if kind in ("booking", "service") else "booking"
    status = _status_arg()
    if kind == "booking":
        sort = _sort_key(BOOKING_SORTS, "-start")
        stmt = enterprise_bookings(user.organization_id, status, sort)
    else:
        sort = _sort_key(SERVICE_SORTS, "-created")
        stmt = so.enterprise_service_orders(user.organization_id, status, sort)
    page = paginate(stmt, _page_number(), PAGE_SIZE)
    args = {k: v for k, v in {"kind": kind, "status": status, "sort": sort}.items() if v}
    now = _now()
    return render_template(
        "orders/my_orders.html",
        kind=kind,
        status=status,
        sort=sort,
        page=page,
        args=args,
        statuses=list(OrderStatus),
        cancel_fee=lambda b: booking_cancel_fee(b, now),
        can_cancel_service=so.can_cancel,
        **_labels(),
    )


def _booking_page(
    booking: Booking,
    status: int = 200,
    error: str | None = None,
    rate_form: RateForm | None = None,
    cancel_form: CancelForm | None = None,
) -> ResponseReturnValue:
    return render_template(
        "orders/booking_detail.html",
        booking=booking,
        cancel_fee=booking_cancel_fee(booking, _now()),
        rate_form=rate_form or RateForm(formdata=None),
        cancel_form=cancel_form or CancelForm(formdata=None),
        error=error,
        **_history("booking", booking.id),
        **_labels(),
    ), status


@bp.get("/my/orders/booking/<int:booking_id>")
@login_required
def booking_detail(booking_id: int) -> ResponseReturnValue:
    """One booking of the enterprise: snapshot, policy, usage, charge, history,
    and what the firm can do next (cancel, confirm and rate)."""
    return _booking_page(_own_booking(booking_id))


@bp.post("/my/orders/booking/<int:booking_id>/cancel")
@login_required
def cancel_booking(booking_id: int) -> ResponseReturnValue:
    """Cancel a booking; the policy's fee (shown next to the button) applies."""
    booking = _own_booking(booking_id)
    form = CancelForm()
    if not form.validate():
        return _booking_page(booking, 422, error=first_error(form), cancel_form=form)
    try:
        fee = services.cancel_booking(booking, current_actor(), form.reason.data or "", _now())
    except DomainError as error:
        db.session.rollback()
        return _booking_page(booking, _error_status(error), error=str(error))
    db.session.commit()
    if fee:
        flash(_("预约已取消，按规定收取取消费 %(fee)s。", fee=money(fee)), "warning")
    else:
        flash(_("预约已取消，未收取费用。"), "success")
    return redirect(url_for("orders.booking_detail", booking_id=booking.id))


@bp.post("/my/orders/booking/<int:booking_id>/confirm")
@login_required
def rate_booking(booking_id: int) -> ResponseReturnValue:
    """The firm confirms the delivered service and rates it."""
    booking = _own_booking(booking_id)
    form = RateForm()
    if not form.validate():
        return _booking_page(booking, 422, error=first_error(form), rate_form=form)
    try:
        services.confirm_booking(
            booking, current_actor(), int(form.rating.data), form.comment.data or "", _now()
        )
    except DomainError as error:
        db.session.rollback()
        if not attach_domain_error(form, error):
            return _booking_page(booking, _error_status(error), error=str(error))
        return _booking_page(booking, 422, error=first_error(form), rate_form=form)
    db.session.commit()
    flash(_("感谢您的评价，订单已完成。"), "success")
    return redirect(url_for("orders.booking_detail", booking_id=booking.id))


def _service_order_page(
    order: ServiceOrder,
    status: int = 200,
    error: str | None = None,
    rate_form: RateForm | None = None,
    cancel_form: CancelForm | None = None,
) -> ResponseReturnValue:
    return render_template(
        "orders/service_order_detail.html",
        order=order,
        can_cancel=so.can_cancel(order),
        rate_form=rate_form or RateForm(formdata=None),
        cancel_form=cancel_form or CancelForm(formdata=None),
        error=error,
        **_history("service_order", order.id),
        **_labels(),
    ), status


@bp.get("/my/orders/service/<int:order_id>")
@login_required
def service_order_detail(order_id: int) -> ResponseReturnValue:
    """One service order of the enterprise: snapshot, samples, report,
    charge, history, and cancel or confirm-and-rate."""
    return _service_order_page(_own_service_order(order_id))


@bp.post("/my/orders/service/<int:order_id>/cancel")
@login_required
def cancel_service_order(order_id: int) -> ResponseReturnValue:
    """Withdraw a service order before the samples are received (free)."""
    order = _own_service_order(order_id)
    form = CancelForm()
    if not form.validate():
        return _service_order_page(order, 422, error=first_error(form), cancel_form=form)
    try:
        so.cancel_service_order(order, current_actor(), form.reason.data or "", _now())
    except DomainError as error:
        db.session.rollback()
        return _service_order_page(order, _error_status(error), error=str(error))
    db.session.commit()
    flash(_("检测委托已取消。"), "success")
    return redirect(url_for("orders.service_order_detail", order_id=order.id))


@bp.post("/my/orders/service/<int:order_id>/confirm")
@login_required
def rate_service_order(order_id: int) -> ResponseReturnValue:
    """The firm confirms the delivered tests and rates them."""
    order = _own_service_order(order_id)
    form = RateForm()
    if not form.validate():
        return _service_order_page(order, 422, error=first_error(form), rate_form=form)
    try:
        so.confirm_service_order(
            order, current_actor(), int(form.rating.data), form.comment.data or "", _now()
        )
    except DomainError as error:
        db.session.rollback()
        if not attach_domain_error(form, error):
            return _service_order_page(order, _error_status(error), error=str(error))
        return _service_order_page(order, 422, error=first_error(form), rate_form=form)
    db.session.commit()
    flash(_("感谢您的评价，订单已完成。"), "success")
    return redirect(url_for("orders.service_order_detail", order_id=order.id))


@bp.get("/my/orders/service/<int:order_id>/report")
@login_required
def download_report(order_id: int) -> ResponseReturnValue:
    """The test report, for the ordering enterprise and the provider only."""
    order = db.session.get(ServiceOrder, order_id)
    if order is None or not so.may_download_report(order, current_actor()) or not order.report_path:
        _not_found()
    base = so.reports_dir(current_app.config).resolve()
    path = (base / order.report_path).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        _not_found()
    return send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=order.report_name or "report.pdf",
    )


# --- calendar feed ---------------------------------------------------------------------------


@bp.get("/my/calendar")
@login_required
def calendar() -> ResponseReturnValue:
    """The address of the enterprise's ICS feed; made on the first visit."""
    user = _enterprise_only()
    if not user.calendar_token:
        user.calendar_token = secrets.token_urlsafe(32)
        db.session.commit()
    return render_template(
        "orders/calendar.html",
        feed_url=url_for("orders.calendar_feed", token=user.calendar_token, _external=True),
        form=ActionForm(formdata=None),
    )


@bp.post("/my/calendar/regenerate")
@login_required
def regenerate_calendar_token() -> ResponseReturnValue:
    """A new feed address; the old one stops working at once."""
    user = _enterprise_only()
    form = ActionForm()
    if not form.validate():
        abort(400)
    user.calendar_token = secrets.token_urlsafe(32)
    db.session.commit()
    flash(_("已生成新的订阅地址，原地址已失效。"), "success")
    return redirect(url_for("orders.calendar"))


def ics_escape(text: str) -> str:
    """RFC 5545 TEXT escaping."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "")
    )


def ics_fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def _ics_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def render_ics(
    bookings: Iterable[Booking], host: str, name: str, now: datetime, link: Callable[[Booking], str]
) -> str:
    """A VCALENDAR of the bookings, one VEVENT each, times in UTC."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//YRD science alliance//instrument sharing//ZH",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_escape(name)}",
        "X-WR-TIMEZONE:Asia/Shanghai",
    ]
    for b in bookings:
        instrument = b.instrument
        location = " ".join(
            part for part in (instrument.provider.name_zh, instrument.location) if part
        )
        mode = str(SERVICE_MODE_LABELS.get(b.service_mode, b.service_mode))
        lines += [
            "BEGIN:VEVENT",
            f"UID:booking-{b.id}@{host}",
            f"DTSTAMP:{_ics_time(b.updated_at or now)}",
            f"DTSTART:{_ics_time(b.starts_at)}",
            f"DTEND:{_ics_time(b.ends_at)}",
            f"SUMMARY:{ics_escape(instrument.name_zh)}",
            f"LOCATION:{ics_escape(location)}",
            f"DESCRIPTION:{ics_escape(mode + chr(10) + status_label(b.status))}",
            f"URL:{link(b)}",
            "STATUS:CONFIRMED",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(ics_fold(line) + "\r\n" for line in lines)


@bp.get("/my/calendar/<token>.ics")
def calendar_feed(token: str) -> ResponseReturnValue:
    """Confirmed and running bookings of the token owner's enterprise, for
    calendar apps (no cookies: the secret token is the credential)."""
    if not 20 <= len(token) <= 64:
        _not_found()
    user = db.session.scalar(select(User).where(User.calendar_token == token))
    if user is None or not user.active or user.kind != OrgKind.ENTERPRISE:
        _not_found()
    bookings = db.session.scalars(
        select(Booking)
        .where(
            Booking.enterprise_id == user.organization_id,
            Booking.status.in_((OrderStatus.CONFIRMED, OrderStatus.IN_USE)),
        )
        .order_by(Booking.starts_at)
        .limit(2000)
    ).all()
    host = request.host.split(":")[0] or "localhost"
    body = render_ics(
        bookings,
        host,
        _("%(org)s 仪器预约", org=user.organization.name_zh),
        _now(),
        lambda b: url_for("orders.booking_detail", booking_id=b.id, _external=True),
    )
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# --- notifications ---------------------------------------------------------------------------


@bp.get("/notifications")
@login_required
def notifications() -> ResponseReturnValue:
    """The signed-in user's notifications, newest first."""
    user = current_actor()
    stmt = (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    page = paginate(stmt, _page_number(), PAGE_SIZE)
    return render_template(
        "orders/notifications.html",
        page=page,
        args={},
        render=render,
        unread=unread_count(user.id),
        form=ActionForm(formdata=None),
    )


@bp.post("/notifications/read-all")
@login_required
def mark_notifications_read() -> ResponseReturnValue:
    """Mark every notification of the user read."""
    form = ActionForm()
    if not form.validate():
        abort(400)
    mark_all_read(current_actor().id, _now())
    db.session.commit()
    flash(_("已全部标为已读。"), "success")
    return redirect(url_for("orders.notifications"))
