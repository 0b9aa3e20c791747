"""Blueprint `provider_orders`: the provider's order desk.

- a dashboard of today and the next six days (Asia/Shanghai), per instrument;
- the queue of booking requests to approve or reject (with a reason);
- every booking of the provider's instruments, filtered, sorted, exported;
- one booking's detail with its price and policy snapshot, usage, charge,
  audit history and the actions its state allows: approve, reject, 上机,
  下机 (completes and bills), cancel;
- training authorisations; utilisation (有效工作机时, 对外服务机时, 共享率,
  income) as a chart and tables, exported as CSV or XLSX;
- internal use (内部使用) per instrument: list, add, void, import a file.

Only provider staff get in; anyone else signed in gets 404 and anonymous
visitors are sent to sign in. Every booking is looked up through the
provider's own instruments, so another provider's booking is a 404 for
every action. Views stay thin: the order engine applies the rules and
audits, the view commits once or rolls back and shows the engine's message
(409 for an illegal transition, 422 for other refused input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NoReturn

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from booking.accounts.loader import current_actor, restrict_blueprint
from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.audit.services import actor_names, history
from booking.core.navigation import BADGE_COUNTERS
from booking.core.pagination import paginate, parse_int, parse_sort
from booking.core.spreadsheets import (
    download,
    export_format,
    local_text,
    yuan_text,
)
from booking.core.validators import EARLIEST_YEAR, LATEST_YEAR
from booking.db import MAX_ID
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db, utcnow
from booking.i18n import current_locale, money
from booking.orders import internal_use as internal_use_service
from booking.orders import services as orders
from booking.orders import training as training_service
from booking.orders import utilisation as usage
from booking.orders.clock import at_local, local
from booking.orders.models import (
    ACTIVE_STATUSES,
    Booking,
    InternalUse,
    OrderStatus,
    TrainingAuthorisation,
)
from booking.orders.provider_forms import (
    ApproveForm,
    CancelForm,
    CheckInForm,
    InternalUseForm,
    InternalUseImportForm,
    ProviderForm,
    RejectForm,
    RevokeForm,
    TrainingGrantForm,
    UsageForm,
    VoidInternalUseForm,
    local_input_value,
)
from booking.orders.services import ORDER_ACTION_LABELS
from instruments.classification import SERVICE_MODE_LABELS
from instruments.importer import ImportFileError
from instruments.models import Instrument

bp = Blueprint("provider_orders", __name__, url_prefix="/provider")

PAGE_SIZE = 20
# An export is one provider's bookings; this bounds one file (a few MB).
EXPORT_MAX_ROWS = 20_000
DASHBOARD_DAYS = 7

# Bookings that no longer hold a slot are left off the calendar.
ENDED_WITHOUT_SERVICE = (OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.CANCELLED)

STATUS_BADGES = {
    OrderStatus.REQUESTED: "bg-warning text-dark",
    OrderStatus.CONFIRMED: "bg-primary",
    OrderStatus.IN_USE: "bg-info text-dark",
    OrderStatus.COMPLETED: "bg-success",
    OrderStatus.CLOSED: "bg-secondary",
    OrderStatus.NO_SHOW: "bg-dark",
    OrderStatus.REJECTED: "bg-light text-dark border",
    OrderStatus.EXPIRED: "bg-light text-dark border",
    OrderStatus.CANCELLED: "bg-light text-dark border",
}


DETAIL_LABELS = {
    "reason": _l("理由"),
    "fee_fen": _l("取消费"),
    "charge_fen": _l("费用"),
    "rating": _l("评价"),
}


restrict_blueprint(bp, OrgKind.PROVIDER)


@bp.app_template_global()
def order_status_label(status: str) -> str:
    return orders.status_label(status) if status in set(OrderStatus) else status


@bp.app_template_global()
def order_status_badge(status: str) -> str:
    return (
        STATUS_BADGES.get(OrderStatus(status), "bg-secondary")
        if status in set(OrderStatus)
        else "bg-secondary"
    )


# --- queries (scoped to one provider; no request objects) -------------------------


def pending_request_count(user: Any) -> int:
    """Booking requests waiting for the user's provider (the navigation badge)."""
    if not getattr(user, "is_authenticated", False) or user.kind != OrgKind.PROVIDER:
        return 0
    count = db.session.scalar(
        select(func.count())
        .select_from(Booking)
        .join(Instrument, Instrument.id == Booking.instrument_id)
        .where(
            Instrument.provider_id == user.organization_id,
            Booking.status == OrderStatus.REQUESTED,
        )
    )
    return int(count or 0)


BADGE_COUNTERS["pending_requests"] = pending_request_count


def provider_booking(provider_id: int, booking_id: int) -> Booking:
    """One booking of the provider's instruments; another's is NotFound."""
    booking = db.session.scalar(
        select(Booking)
        .join(Instrument, Instrument.id == Booking.instrument_id)
        .where(Booking.id == booking_id, Instrument.provider_id == provider_id)
    )
    if booking is None:
        raise NotFound(_l("预约不存在。"))
    return booking


BOOKING_SORTS: dict[str, Any] = {
    "starts": Booking.starts_at,
    "respond_by": Booking.respond_by,
    "created": Booking.created_at,
    "status": Booking.status,
    "instrument": Instrument.internal_no,
    "firm": Organization.name_zh,
    "charge": Booking.charge_fen,
    "id": Booking.id,
}


@dataclass(frozen=True)
class BookingFilter:
    status: str = ""
    instrument_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


def provider_bookings(provider_id: int, filters: BookingFilter, sort: str) -> Select[Any]:
    """The provider's bookings (instrument and firm loaded with them), filtered
    and sorted; `sort` is a key of BOOKING_SORTS, '-' first for descending."""
    stmt = (
        select(Booking)
        .join(Instrument, Instrument.id == Booking.instrument_id)
        .join(Organization, Organization.id == Booking.enterprise_id)
        .where(Instrument.provider_id == provider_id)
        .options(
            contains_eager(Booking.instrument),
            contains_eager(Booking.enterprise),
            joinedload(Booking.user),
        )
    )
    if filters.status:
        stmt = stmt.where(Booking.status == filters.status)
    if filters.instrument_id is not None:
        stmt = stmt.where(Booking.instrument_id == filters.instrument_id)
    if filters.date_from is not None:
        stmt = stmt.where(Booking.starts_at >= at_local(filters.date_from, time(0)))
    if filters.date_to is not None:
        stmt = stmt.where(Booking.starts_at < at_local(filters.date_to + timedelta(1), time(0)))
    column = BOOKING_SORTS[sort.lstrip("-")]
    ordered = column.desc() if sort.startswith("-") else column.asc()
    return stmt.order_by(ordered.nulls_last(), Booking.id)


@dataclass
class Dashboard:
    days: list[date]
    instruments: list[Instrument]
    grid: dict[int, list[list[Booking]]]
    pending: int = 0
    in_use: int = 0
    to_record: int = 0
    to_record_list: list[Booking] = field(default_factory=list)


def dashboard_data(provider_id: int, now: datetime, days: int = DASHBOARD_DAYS) -> Dashboard:
    """Today and the following days (Asia/Shanghai): the provider's
    instruments that have bookings, each booking in its day's cell; and the
    counts that need the provider: pending requests, instruments in use,
    bookings whose 上机 or 下机 is due to be recorded."""
    today = local(now).date()
    day_list = [today + timedelta(days=k) for k in range(days)]
    window_from, window_to = at_local(today, time(0)), at_local(today + timedelta(days), time(0))
    bookings = db.session.scalars(
        select(Booking)
        .join(Instrument, Instrument.id == Booking.instrument_id)
        .where(
            Instrument.provider_id == provider_id,
            Booking.starts_at < window_to,
            Booking.ends_at > window_from,
            Booking.status.notin_(ENDED_WITHOUT_SERVICE),
        )
        .options(contains_eager(Booking.instrument), joinedload(Booking.enterprise))
        .order_by(Booking.starts_at, Booking.id)
    ).all()
    instruments: dict[int, Instrument] = {}
    grid: dict[int, list[list[Booking]]] = {}
    for booking in bookings:
        instruments.setdefault(booking.instrument_id, booking.instrument)
        cells = grid.setdefault(booking.instrument_id, [[] for _ in day_list])
        index = max(0, (local(booking.starts_at).date() - today).days)
        cells[min(index, days - 1)].append(booking)

    due = or_(
        and_(Booking.status == OrderStatus.CONFIRMED, Booking.starts_at <= now),
        and_(Booking.status == OrderStatus.IN_USE, Booking.ends_at <= now),
    )
    scoped = (
        select(Booking)
        .join(Instrument, Instrument.id == Booking.instrument_id)
        .where(Instrument.provider_id == provider_id)
    )
    counts = db.session.execute(
        scoped.with_only_columns(
            func.coalesce(func.sum(case((Booking.status == OrderStatus.REQUESTED, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Booking.status == OrderStatus.IN_USE, 1), else_=0)), 0),
            func.coalesce(func.sum(case((due, 1), else_=0)), 0),
        ).where(Booking.status.in_(ACTIVE_STATUSES))
    ).one()
    to_record_list = db.session.scalars(
        scoped.where(due)
        .options(contains_eager(Booking.instrument), joinedload(Booking.enterprise))
        .order_by(Booking.starts_at)
        .limit(20)
    ).all()
    return Dashboard(
        days=day_list,
        instruments=sorted(instruments.values(), key=lambda i: (i.internal_no, i.id)),
        grid=grid,
        pending=int(counts[0]),
        in_use=int(counts[1]),
        to_record=int(counts[2]),
        to_record_list=list(to_record_list),
    )


# --- helpers ------------------------------------------------------------------------------


def _provider_id() -> int:
    return current_actor().organization_id


def _not_found() -> NoReturn:
    abort(404)


def _own_booking(booking_id: int) -> Booking:
    try:
        return provider_booking(_provider_id(), booking_id)
    except NotFound:
        _not_found()


def _own_instruments() -> list[Instrument]:
    return list(
        db.session.scalars(
            select(Instrument)
            .where(Instrument.provider_id == _provider_id())
            .order_by(Instrument.internal_no, Instrument.id)
        )
    )


def _sort_key(allowed: dict[str, Any], default: str) -> str:
    return parse_sort(request.args.get("sort"), allowed, default)


def _page_number() -> int:
    return parse_int(request.args.get("page"), 1, 1, int(current_app.config["CATALOGUE_MAX_PAGE"]))


def _parse_date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw.strip()[:10])
    except ValueError:
        return None
    return day if EARLIEST_YEAR <= day.year <= LATEST_YEAR else None


def _instrument_label(instrument: Instrument) -> str:
    return f"{instrument.internal_no} {instrument.name(current_locale())}"


# --- dashboard and request queue -------------------------------------------------------


@bp.get("/dashboard")
def dashboard() -> ResponseReturnValue:
    """Today and the next six days per instrument, with the counts that need
    the provider's attention."""
    now = utcnow()
    data = dashboard_data(_provider_id(), now)
    return render_template(
        "provider_orders/dashboard.html", data=data, now=now, today=local(now).date()
    )


REQUEST_SORTS = {
    k: BOOKING_SORTS[k] for k in ("respond_by", "starts", "created", "instrument", "firm")
}


@bp.get("/requests")
def requests() -> ResponseReturnValue:
    """Booking requests waiting for a decision, the most urgent (earliest
    respond-by) first, with approve and reject (reason required) buttons."""
    sort = _sort_key(REQUEST_SORTS, "respond_by")
    stmt = provider_bookings(_provider_id(), BookingFilter(status=OrderStatus.REQUESTED), sort)
    page = paginate(stmt, _page_number(), PAGE_SIZE)
    args = {"sort": sort} if sort != "respond_by" else {}
    return render_template(
        "provider_orders/requests.html",
        page=page,
        sort=sort,
        args=args,
        mode_labels=SERVICE_MODE_LABELS,
        now=utcnow(),
    )


# --- all bookings ------------------------------------------------------------------------


def _booking_filter() -> tuple[BookingFilter, dict[str, str], list[str]]:
    """The list's filters from the query string; junk is dropped with a note."""
    problems: list[str] = []
    status = request.args.get("status", "")
    if status and status not in set(OrderStatus):
        problems.append(_("未知的状态，已忽略。"))
        status = ""
    instrument_id: int | None = None
    raw_instrument = request.args.get("instrument", "")
    if raw_instrument:
        own = {i.id for i in _own_instruments()}
        value = parse_int(raw_instrument, 0, 0, MAX_ID)
        if value in own:
            instrument_id = value
        else:
            problems.append(_("未知的仪器，已忽略。"))
    date_from = _parse_date(request.args.get("from"))
    date_to = _parse_date(request.args.get("to"))
    if request.args.get("from") and date_from is None:
        problems.append(_("开始日期格式无效，已忽略。"))
    if request.args.get("to") and date_to is None:
        problems.append(_("结束日期格式无效，已忽略。"))
    if date_from and date_to and date_from > date_to:
        problems.append(_("开始日期晚于结束日期，已交换。"))
        date_from, date_to = date_to, date_from
    filters = BookingFilter(status, instrument_id, date_from, date_to)
    args = {
        "status": status,
        "instrument": str(instrument_id) if instrument_id else "",
        "from": date_from.isoformat() if date_from else "",
        "to": date_to.isoformat() if date_to else "",
    }
    return filters, {k: v for k, v in args.items() if v}, problems


@bp.get("/bookings")
def bookings() -> ResponseReturnValue:
    """Every booking of the provider's instruments: filter by status,
    instrument and date range (start date, Beijing time), sort, page, export."""
    filters, args, problems = _booking_filter()
    sort = _sort_key(BOOKING_SORTS, "-starts")
    page = paginate(provider_bookings(_provider_id(), filters, sort), _page_number(), PAGE_SIZE)
    page_args = dict(args, sort=sort)
    return render_template(
        "provider_orders/bookings.html",
        page=page,
        args=page_args,
        filter_args=args,
        sort=sort,
        filters=filters,
        problems=problems,
        instruments=_own_instruments(),
        statuses=list(OrderStatus),
        mode_labels=SERVICE_MODE_LABELS,
    )


BOOKING_EXPORT_HEADER = (
    _l("预约编号"),
    _l("仪器编号"),
    _l("仪器名称"),
    _l("企业"),
    _l("预约人"),
    _l("服务方式"),
    _l("开始时间"),
    _l("结束时间"),
    _l("状态"),
    _l("报价（元）"),
    _l("上机时间"),
    _l("下机时间"),
    _l("费用（元）"),
    _l("取消费（元）"),
    _l("提交时间"),
)


@bp.get("/bookings/export")
def bookings_export() -> ResponseReturnValue:
    """The filtered booking list as CSV or XLSX (?format=csv|xlsx), times in
    Beijing time, money in yuan."""
    fmt = export_format()
    filters, _args, _problems = _booking_filter()
    sort = _sort_key(BOOKING_SORTS, "-starts")
    stmt = provider_bookings(_provider_id(), filters, sort).limit(EXPORT_MAX_ROWS)
    locale = current_locale()
    rows = [
        [
            b.id,
            b.instrument.internal_no,
            b.instrument.name(locale),
            b.enterprise.display_name(locale),
            b.user.name,
            str(SERVICE_MODE_LABELS.get(b.service_mode, b.service_mode)),
            local_text(b.starts_at),
            local_text(b.ends_at),
            orders.status_label(b.status),
            yuan_text(b.quote_fen),
            local_text(b.checked_in_at),
            local_text(b.checked_out_at),
            yuan_text(b.charge_fen),
            yuan_text(b.cancellation_fee_fen),
            local_text(b.created_at),
        ]
        for b in db.session.scalars(stmt).unique()
    ]
    stamp = local(utcnow()).strftime("%Y%m%d")
    return download(f"bookings-{stamp}", fmt, BOOKING_EXPORT_HEADER, rows, _("预约"))


# --- one booking: detail and actions ----------------------------------------------------


@dataclass(frozen=True)
class HistoryLine:
    event: AuditEvent
    actor: str
    action: str
    details: list[tuple[str, str]]


def _history_lines(booking_id: int) -> list[HistoryLine]:
    events = history("booking", booking_id)
    names = actor_names(events)
    lines = []
    for event in events:
        details = []
        for key, value in (event.detail or {}).items():
            label = DETAIL_LABELS.get(key)
            if label is None:
                continue
            text = orders_money(value) if key.endswith("_fen") else str(value)
            details.append((str(label), text))
        actor = names.get(event.actor_user_id or 0, "") if event.actor_user_id else _("系统")
        lines.append(
            HistoryLine(
                event, actor, str(ORDER_ACTION_LABELS.get(event.action, event.action)), details
            )
        )
    return lines


def orders_money(value: Any) -> str:
    try:
        return money(int(value))
    except (TypeError, ValueError):
        return str(value)


def _detail_page(booking_id: int, status: int = 200, **forms: ProviderForm) -> ResponseReturnValue:
    booking = _own_booking(booking_id)
    now = utcnow()
    minute = local(now).replace(second=0, microsecond=0, tzinfo=None)
    defaults: dict[str, Callable[[], ProviderForm]] = {
        "approve_form": lambda: ApproveForm(formdata=None),
        "reject_form": lambda: RejectForm(formdata=None),
        "cancel_form": lambda: CancelForm(formdata=None),
        "checkin_form": lambda: CheckInForm(formdata=None, data={"checked_in_at": minute}),
        "usage_form": lambda: UsageForm(formdata=None, data={"checked_out_at": minute}),
    }
    for name, make in defaults.items():
        forms.setdefault(name, make())
    return render_template(
        "provider_orders/booking.html",
        booking=booking,
        history=_history_lines(booking.id),
        mode_labels=SERVICE_MODE_LABELS,
        now=now,
        can_cancel=booking.status in (OrderStatus.REQUESTED, OrderStatus.CONFIRMED)
        and now < booking.starts_at,
        local_input_value=local_input_value,
        **forms,
    ), status


@bp.get("/bookings/<int:booking_id>")
def booking(booking_id: int) -> ResponseReturnValue:
    """One booking: snapshot, usage, charge, audit history and the actions
    its state allows."""
    return _detail_page(booking_id)


def _act(
    booking_id: int, form: ProviderForm, form_name: str, apply: Callable[[Booking, datetime], str]
) -> ResponseReturnValue:
    """Run one transition: scoped lookup, shape check, the engine's rules
    (which lock the row); commit and go back, or roll back and show why."""
    booking = _own_booking(booking_id)
    status = 422
    if form.validate_on_submit():
        try:
            message = apply(booking, utcnow())
        except InvalidTransition as error:
            form.attach_domain_error(error)
            status = 409
        except DomainError as error:
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(message, "success")
            if form.target == "requests":
                return redirect(url_for("provider_orders.requests"))
            if form.target == "dashboard":
                return redirect(url_for("provider_orders.dashboard"))
            return redirect(url_for("provider_orders.booking", booking_id=booking_id))
    db.session.rollback()
    return _detail_page(booking_id, status, **{form_name: form})


@bp.post("/bookings/<int:booking_id>/approve")
def approve(booking_id: int) -> ResponseReturnValue:
    """Approve a request: it becomes confirmed."""

    def apply(booking: Booking, now: datetime) -> str:
        orders.approve_booking(booking, current_actor(), now)
        return str(_("已批准预约 #%(id)s。", id=booking.id))

    return _act(booking_id, ApproveForm(), "approve_form", apply)


@bp.post("/bookings/<int:booking_id>/reject")
def reject(booking_id: int) -> ResponseReturnValue:
    """Reject a request; the reason is required and shown to the firm."""
    form = RejectForm()

    def apply(booking: Booking, now: datetime) -> str:
        orders.reject_booking(booking, current_actor(), form.reason.data or "", now)
        return str(_("已拒绝预约 #%(id)s。", id=booking.id))

    return _act(booking_id, form, "reject_form", apply)


@bp.post("/bookings/<int:booking_id>/check-in")
def check_in(booking_id: int) -> ResponseReturnValue:
    """上机: record when the firm started (default now)."""
    form = CheckInForm()

    def apply(booking: Booking, now: datetime) -> str:
        orders.check_in(booking, current_actor(), now, at=form.at(now))
        return str(_("已登记上机。"))

    return _act(booking_id, form, "checkin_form", apply)


@bp.post("/bookings/<int:booking_id>/usage")
def record_usage(booking_id: int) -> ResponseReturnValue:
    """下机: record the end of use; the engine bills it and completes the booking."""
    form = UsageForm()

    def apply(booking: Booking, now: datetime) -> str:
        charge = orders.record_usage(booking, current_actor(), form.at(now), now)
        return str(_("已登记下机，本次费用 %(charge)s。", charge=orders_money(charge)))

    return _act(booking_id, form, "usage_form", apply)


@bp.post("/bookings/<int:booking_id>/cancel")
def cancel(booking_id: int) -> ResponseReturnValue:
    """Cancel by the provider, with a reason; the firm is charged no fee."""
    form = CancelForm()

    def apply(booking: Booking, now: datetime) -> str:
        orders.cancel_booking(
            booking, current_actor(), form.reason.data or "", now, by_provider=True
        )
        return str(_("已取消预约。"))

    return _act(booking_id, form, "cancel_form", apply)


# --- training authorisations --------------------------------------------------------------


@bp.route("/training", methods=["GET", "POST"])
def training() -> ResponseReturnValue:
    """Grant a training authorisation to an enterprise user (by e-mail) for
    one of the provider's instruments; list the current ones with revoke
    buttons. Another provider's instrument answers 404."""
    instruments = _own_instruments()
    form = TrainingGrantForm(instruments=[(i.id, _instrument_label(i)) for i in instruments])
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            try:
                grant = training_service.grant_training(
                    current_actor(),
                    form.instrument_id.data,
                    form.email.data or "",
                    utcnow(),
                    valid_until=form.end(),
                    note=form.note.data or "",
                )
            except NotFound:
                db.session.rollback()
                _not_found()
            except DomainError as error:
                db.session.rollback()
                form.attach_domain_error(error)
            else:
                db.session.commit()
                flash(_("已授予 %(name)s 培训授权。", name=grant.user.name), "success")
                return redirect(url_for("provider_orders.training"))
    now = utcnow()
    grants = list(
        db.session.scalars(
            training_service.current_grants(_provider_id(), now).options(
                joinedload(TrainingAuthorisation.instrument),
                joinedload(TrainingAuthorisation.user).joinedload(User.organization),
            )
        )
    )
    return render_template(
        "provider_orders/training.html",
        form=form,
        grants=grants,
        revoke_form=RevokeForm(formdata=None),
        instruments=instruments,
        now=now,
    ), status


@bp.post("/training/<int:grant_id>/revoke")
def revoke_training(grant_id: int) -> ResponseReturnValue:
    """Revoke one of the provider's training authorisations (audited)."""
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            training_service.revoke_training(current_actor(), grant_id, utcnow())
        except NotFound:
            db.session.rollback()
            _not_found()
        except DomainError as error:
            db.session.rollback()
            flash(str(error), "danger")
            return redirect(url_for("provider_orders.training")), 303
        db.session.commit()
        flash(_("已撤销培训授权。"), "success")
    return redirect(url_for("provider_orders.training"))


# --- utilisation ----------------------------------------------------------------------------


def _month_range() -> tuple[list[date], dict[str, str], list[str]]:
    """Months from ?from=YYYY-MM&to=YYYY-MM; default the last six months.
    Bad input falls back to the default with a note."""
    now = utcnow()
    default = usage.last_months(now, 6)
    problems: list[str] = []
    raw_from, raw_to = request.args.get("from"), request.args.get("to")
    first, last = usage.parse_month(raw_from), usage.parse_month(raw_to)
    if (raw_from and first is None) or (raw_to and last is None):
        problems.append(_("月份格式无效（应为 2026-03），已显示最近 6 个月。"))
        first, last = None, None
    if first is None and last is None:
        months = default
    else:
        first = first or (usage.add_months(last, -5) if last else default[0])
        last = last or default[-1]
        if first > last:
            problems.append(_("开始月份晚于结束月份，已交换。"))
            first, last = last, first
        months = usage.months_between(first, last)
        if len(months) > usage.MAX_MONTHS:
            problems.append(
                _("最多可查看 %(n)d 个月，已显示截至结束月份的 %(n)d 个月。", n=usage.MAX_MONTHS)
            )
            months = months[-usage.MAX_MONTHS :]
    args = {"from": usage.month_label(months[0]), "to": usage.month_label(months[-1])}
    return months, args, problems


def _chart_data(report: usage.UtilisationReport) -> dict[str, Any]:
    return {
        "labels": [usage.month_label(m.month) for m in report.by_month if m.month],
        "effective": [float(m.effective_hours) for m in report.by_month],
        "external": [float(m.external_hours) for m in report.by_month],
        "rate": [
            float(m.sharing_percent) if m.sharing_percent is not None else None
            for m in report.by_month
        ],
        "income": [float(m.income_yuan) for m in report.by_month],
        "text": {
            "effective": _("有效工作机时（小时）"),
            "external": _("对外服务机时（小时）"),
            "rate": _("共享率（%）"),
            "income": _("收入（元）"),
            "hours": _("小时"),
        },
    }


@bp.get("/utilisation")
def utilisation() -> ResponseReturnValue:
    """有效工作机时, 对外服务机时, 共享率 and income per month (chart and
    table) and per instrument (table with totals) for a month range."""
    months, args, problems = _month_range()
    report = usage.utilisation_report(_provider_id(), months)
    return render_template(
        "provider_orders/utilisation.html",
        report=report,
        args=args,
        problems=problems,
        chart=_chart_data(report),
        month_label=usage.month_label,
    )


UTILISATION_HEADER = (
    _l("仪器编号"),
    _l("仪器名称"),
    _l("有效工作机时（小时）"),
    _l("对外服务机时（小时）"),
    _l("共享率（%）"),
    _l("预约次数"),
    _l("服务企业数"),
    _l("收入（元）"),
)
MONTH_HEADER = (
    _l("月份"),
    _l("有效工作机时（小时）"),
    _l("对外服务机时（小时）"),
    _l("共享率（%）"),
    _l("预约次数"),
    _l("服务企业数"),
    _l("收入（元）"),
)


def _figures(row: usage.UtilisationRow, xlsx: bool) -> list[Any]:
    if xlsx:  # numbers stay numbers in a workbook
        return [
            row.effective_hours,
            row.external_hours,
            row.sharing_percent,
            row.bookings,
            row.users_served,
            Decimal(row.income_fen) / 100,
        ]
    return [
        str(row.effective_hours),
        str(row.external_hours),
        "" if row.sharing_percent is None else str(row.sharing_percent),
        row.bookings,
        row.users_served,
        yuan_text(row.income_fen),
    ]


@bp.get("/utilisation/export")
def utilisation_export() -> ResponseReturnValue:
    """The per-instrument utilisation table of the page, with its totals row,
    as CSV or XLSX (the workbook adds a sheet of monthly totals)."""
    fmt = export_format()
    months, args, _problems = _month_range()
    report = usage.utilisation_report(_provider_id(), months)
    xlsx = fmt == "xlsx"
    locale = current_locale()
    rows: list[list[Any]] = [
        [line.instrument.internal_no, line.instrument.name(locale), *_figures(line.figures, xlsx)]
        for line in report.by_instrument
    ]
    rows.append([_("合计"), "", *_figures(report.total, xlsx)])
    monthly = [
        [usage.month_label(m.month) if m.month else "", *_figures(m, xlsx)] for m in report.by_month
    ]
    name = f"utilisation-{args['from']}-{args['to']}"
    return download(
        name,
        fmt,
        UTILISATION_HEADER,
        rows,
        _("按仪器"),
        extra_sheets=[(_("按月"), MONTH_HEADER, monthly)],
    )


# --- internal use (内部使用) ---------------------------------------------------------------


def _own_instrument(instrument_id: int) -> Instrument:
    try:
        return internal_use_service.own_instrument(current_actor(), instrument_id)
    except NotFound:
        _not_found()


def _import_limits() -> dict[str, int]:
    return {
        "max_bytes": int(current_app.config["IMPORT_MAX_BYTES"]),
        "max_rows": int(current_app.config["IMPORT_MAX_ROWS"]),
    }


@bp.get("/internal-use")
def internal_use_index() -> ResponseReturnValue:
    """The provider's instruments, each with its recorded internal use of
    the last six months (entries and hours), linking to its page."""
    months = usage.last_months(utcnow(), 6)
    since = usage.month_bounds(months[0])[0]
    stmt = (
        select(Instrument)
        .where(Instrument.provider_id == _provider_id())
        .order_by(Instrument.internal_no, Instrument.id)
    )
    page = paginate(stmt, _page_number(), PAGE_SIZE)
    ids = [i.id for i in page.items]
    figures: dict[int, tuple[int, int]] = {}
    if ids:
        seconds = usage.seconds_between(InternalUse.starts_at, InternalUse.ends_at)
        rows = db.session.execute(
            select(InternalUse.instrument_id, func.count(), func.sum(seconds))
            .where(
                InternalUse.instrument_id.in_(ids),
                InternalUse.voided_at.is_(None),
                InternalUse.starts_at >= since,
            )
            .group_by(InternalUse.instrument_id)
        ).all()
        figures = {int(i): (int(n), round(float(sec or 0) / 60)) for i, n, sec in rows}
    return render_template(
        "provider_orders/internal_use_index.html",
        page=page,
        figures=figures,
        hours=usage.hours,
        since=months[0],
    )


def _internal_use_page(
    instrument: Instrument,
    status: int = 200,
    *,
    form: InternalUseForm | None = None,
    import_form: InternalUseImportForm | None = None,
    import_result: Any = None,
    void_error: str = "",
) -> ResponseReturnValue:
    sort = _sort_key(internal_use_service.ENTRY_SORTS, "-starts")
    page = paginate(
        internal_use_service.instrument_entries(instrument.id, sort), _page_number(), PAGE_SIZE
    )
    entries: Sequence[InternalUse] = page.items
    recorders = {e.recorded_by_id for e in entries if e.recorded_by_id}
    names = (
        dict(db.session.execute(select(User.id, User.name).where(User.id.in_(recorders))).all())
        if recorders
        else {}
    )
    seconds = usage.seconds_between(InternalUse.starts_at, InternalUse.ends_at)
    total = db.session.scalar(
        select(func.sum(seconds)).where(
            InternalUse.instrument_id == instrument.id, InternalUse.voided_at.is_(None)
        )
    )
    if form is None:
        form = InternalUseForm(formdata=None, data={"date": local(utcnow()).date()})
    return render_template(
        "provider_orders/internal_use.html",
        instrument=instrument,
        page=page,
        sort=sort,
        args={"sort": sort} if sort != "-starts" else {},
        names=names,
        reasons=internal_use_service.void_reasons([e.id for e in entries if e.voided_at]),
        total_hours=usage.hours(round(float(total or 0) / 60)),
        form=form,
        import_form=import_form or InternalUseImportForm(formdata=None),
        import_result=import_result,
        void_form=VoidInternalUseForm(formdata=None),
        void_error=void_error,
        minutes=lambda e: round((e.ends_at - e.starts_at).total_seconds() / 60),
        hours=usage.hours,
        limits=_import_limits(),
    ), status


@bp.get("/instruments/<int:instrument_id>/internal-use")
def internal_use(instrument_id: int) -> ResponseReturnValue:
    """One instrument's internal use: entries (sortable, paginated, voided
    ones struck through with their reason), the form to add one, the void
    action, the file import and its template."""
    return _internal_use_page(_own_instrument(instrument_id))


@bp.post("/instruments/<int:instrument_id>/internal-use")
def add_internal_use(instrument_id: int) -> ResponseReturnValue:
    """Record one session of internal use; refused input is shown on the
    form (422) and nothing is written."""
    instrument = _own_instrument(instrument_id)
    form = InternalUseForm()
    if form.validate_on_submit():
        starts_at, ends_at = form.interval()
        try:
            internal_use_service.record_internal_use(
                current_actor(),
                instrument.id,
                starts_at,
                ends_at,
                form.purpose.data or "",
                utcnow(),
            )
        except NotFound:
            db.session.rollback()
            _not_found()
        except DomainError as error:
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(
                _(
                    "已登记内部使用 %(hours)s 小时。",
                    hours=usage.hours(round((ends_at - starts_at).total_seconds() / 60)),
                ),
                "success",
            )
            return redirect(url_for("provider_orders.internal_use", instrument_id=instrument_id))
    db.session.rollback()
    return _internal_use_page(_own_instrument(instrument_id), 422, form=form)


@bp.post("/internal-use/<int:entry_id>/void")
def void_internal_use(entry_id: int) -> ResponseReturnValue:
    """Void one entry with a reason (audited): it stops counting."""
    try:
        entry = internal_use_service.provider_entry(_provider_id(), entry_id)
    except NotFound:
        _not_found()
    instrument_id = entry.instrument_id
    form = VoidInternalUseForm()
    status = 422
    if form.validate_on_submit():
        try:
            internal_use_service.void_internal_use(
                current_actor(), entry_id, form.reason.data or "", utcnow()
            )
        except InvalidTransition as error:
            message, status = str(error), 409
        except DomainError as error:
            message = str(error)
        else:
            db.session.commit()
            flash(_("已作废该内部使用记录。"), "success")
            return redirect(url_for("provider_orders.internal_use", instrument_id=instrument_id))
    else:
        message = "；".join(str(m) for messages in form.errors.values() for m in messages)
    db.session.rollback()
    return _internal_use_page(_own_instrument(instrument_id), status, void_error=message)


@bp.post("/instruments/<int:instrument_id>/internal-use/import")
def import_internal_use(instrument_id: int) -> ResponseReturnValue:
    """Import a CSV/XLSX file of sessions (date, start, end, purpose): every
    row is checked first; with any error nothing is written and the errors
    are listed by row and column (422)."""
    instrument = _own_instrument(instrument_id)
    form = InternalUseImportForm()
    result = None
    if form.validate_on_submit():
        limits = _import_limits()
        upload = form.file.data
        try:
            result = internal_use_service.import_internal_use(
                current_actor(),
                instrument.id,
                upload.filename or "",
                upload.stream.read(limits["max_bytes"] + 1),
                now=utcnow(),
                **limits,
            )
        except ImportFileError as error:
            form.file.errors = [*form.file.errors, str(error)]
        else:
            if result.ok:
                db.session.commit()
                flash(_("导入完成：登记 %(n)d 条内部使用。", n=result.created), "success")
                return redirect(
                    url_for("provider_orders.internal_use", instrument_id=instrument_id)
                )
    db.session.rollback()
    return _internal_use_page(
        _own_instrument(instrument_id), 422, import_form=form, import_result=result
    )


@bp.get("/internal-use/template")
def internal_use_template() -> ResponseReturnValue:
    """The empty import file (?format=csv|xlsx): one header row."""
    fmt = export_format()
    header = [c.header() for c in internal_use_service.import_columns()]
    return download("internal-use-template", fmt, header, [], _("内部使用"))
